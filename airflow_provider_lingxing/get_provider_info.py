"""The provider dict Airflow's ProvidersManager reads through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-lingxing",
        "name": "Lingxing ERP",
        "description": "Lingxing (领星) ERP OpenAPI: Amazon mark-as-shipped tasks and their results.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Lingxing ERP",
                "external-doc-url": "https://openapidoc.lingxing.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Lingxing ERP",
                "python-modules": ["airflow_provider_lingxing.hooks.lingxing"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Lingxing ERP",
                "python-modules": ["airflow_provider_lingxing.sensors.fulfillment"],
            }
        ],
        "operators": [
            {
                "integration-name": "Lingxing ERP",
                "python-modules": ["airflow_provider_lingxing.operators.fulfillment"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Lingxing ERP",
                "python-modules": ["airflow_provider_lingxing.triggers.fulfillment"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "lingxing",
                "hook-class-name": "airflow_provider_lingxing.hooks.lingxing.LingxingHook",
                "hook-name": "Lingxing ERP",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Base URL", "login": "App ID", "password": "App Secret"},
                    "placeholders": {
                        "host": "https://openapi.lingxing.com",
                        "login": "ak_xxxxxxxxxxxxx",
                        "timeout": "30",
                        "max_retries": "5",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (s)",
                        "description": "Seconds to wait for one HTTP answer (default 30).",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of a retryable failure before giving up (default 5).",
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "description": "Verify the server's TLS certificate (default true).",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            }
        ],
    }
