"""The Airflow floor is declared once in pyproject.toml and tested with exactly that version (`make test-min`)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_make_test_min_installs_the_airflow_floor_pyproject_declares():
    (floor,) = re.findall(r'"apache-airflow>=([\d.]+)"', (REPO / "pyproject.toml").read_text())
    pins = dict(re.findall(r"^([\w-]+)==(\S+)$", (REPO / "constraints" / "airflow-min.txt").read_text(), re.M))
    assert pins["apache-airflow"] == floor
    assert pins["apache-airflow-core"] == floor
