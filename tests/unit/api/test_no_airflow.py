"""api/ is the protocol alone: importing every module of it, in a fresh interpreter, loads no Airflow module."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import airflow_provider_lingxing.api

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))))
"""


def test_every_api_module_imports_without_airflow():
    package = airflow_provider_lingxing.api
    modules = [f"{package.__name__}.{module.name}" for module in pkgutil.iter_modules(package.__path__)]
    assert {f"{package.__name__}.{name}" for name in ("calls", "connection", "envelope", "errors")} <= set(modules)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, timeout=120, check=False
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert json.loads(probe.stdout) == [], "an api/ module imports Airflow"
