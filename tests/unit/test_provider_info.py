"""The installed Airflow discovers the provider, its hook and its connection form."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow.providers_manager import ProvidersManager

from airflow_provider_lingxing import __version__

HOOK_CLASS = "airflow_provider_lingxing.hooks.lingxing.LingxingHook"


def test_providers_manager_knows_the_provider_and_its_form():
    manager = ProvidersManager()
    provider = manager.providers["airflow-provider-lingxing"]
    assert provider.version == __version__

    hook = manager.hooks["lingxing"]
    assert hook.hook_class_name == HOOK_CLASS
    assert hook.hook_name == "Lingxing ERP"
    assert hook.connection_id_attribute_name == "lingxing_conn_id"

    behaviour = manager.field_behaviours["lingxing"]
    assert behaviour["relabeling"] == {"host": "Base URL", "login": "App ID", "password": "App Secret"}
    assert set(behaviour["hidden_fields"]) == {"schema", "port"}

    widgets = manager.connection_form_widgets
    assert {"extra__lingxing__timeout", "extra__lingxing__max_retries", "extra__lingxing__verify"} <= set(widgets)
    assert widgets["extra__lingxing__verify"].field["schema"]["type"] == ["boolean", "null"]


def test_every_module_named_in_provider_info_imports():
    info = ProvidersManager().providers["airflow-provider-lingxing"].data
    for kind in ("hooks", "sensors", "operators", "triggers"):
        for module in info[kind][0]["python-modules"]:
            __import__(module)


def test_airflow_providers_list_shows_it(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    listed = {p["package_name"]: p for p in json.loads(out[out.index("[") :])}
    assert listed["airflow-provider-lingxing"]["version"] == __version__
