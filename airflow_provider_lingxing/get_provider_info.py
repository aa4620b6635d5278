"""The provider dict Airflow's ProvidersManager reads through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from importlib import metadata
from typing import Any

PACKAGE_NAME = "airflow-provider-lingxing"


def documentation_url() -> str | None:
    """The `Documentation` URL of pyproject's [project.urls], as installed: the UI's link to the docs."""
    try:
        project_urls = metadata.metadata(PACKAGE_NAME).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in project_urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation":
            return url.strip()
    return None


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_lingxing import __version__

    return {
        "package-name": PACKAGE_NAME,
        "name": "Lingxing ERP",
        "description": "Lingxing (领星) ERP OpenAPI: Amazon mark-as-shipped tasks and their results.",
        "versions": [__version__],
        "documentation-url": documentation_url(),
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
                        "password": "the app secret from the Lingxing ERP",
                        "extra": '{"timeout": 30, "max_retries": 5, "verify": true}',
                        "timeout": "30",
                        "max_retries": "5",
                        "ca_bundle": "/etc/ssl/certs/company-proxy-ca.pem",
                        "redis_conn_id": "redis_default",
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
                        "description": "Verify the server's TLS certificate (default true; false logs a warning).",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "ca_bundle": {
                        "label": "CA bundle (PEM path)",
                        "description": (
                            "Path to a PEM file of the CA certificates to trust (e.g. a TLS-inspecting proxy's CA), "
                            "present on every worker and the triggerer. Empty: REQUESTS_CA_BUNDLE or SSL_CERT_FILE, "
                            "else certifi."
                        ),
                        "schema": {"type": ["string", "null"]},
                    },
                    "redis_conn_id": {
                        "label": "Redis connection id",
                        "description": (
                            "An Airflow `redis` connection every worker and triggerer reaches (extra [redis]): one "
                            "concurrency budget and one token per app id for the whole deployment. Empty: each "
                            "process keeps its own budget (fine for one worker)."
                        ),
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
