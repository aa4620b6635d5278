"""The `pytest11` plugin costs an unrelated pytest session nothing: no Airflow, no simulator at collection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UNRELATED_TEST = """
import sys


def test_the_lingxing_plugin_is_loaded_and_imported_nothing_heavy(request):
    assert request.config.pluginmanager.has_plugin("lingxing")
    assert sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow.")) == []
    assert sorted(m for m in sys.modules if m.startswith("airflow_provider_lingxing")) == [
        "airflow_provider_lingxing",
        "airflow_provider_lingxing.get_provider_info",
        "airflow_provider_lingxing.testing",
        "airflow_provider_lingxing.testing.pytest_plugin",
    ]
"""


def test_a_users_unrelated_pytest_session_does_not_import_airflow_or_the_simulator(tmp_path: Path):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_unrelated.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
