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


def test_the_readme_states_the_airflow_floor_and_the_pythons_the_classifiers_list():
    pyproject = (REPO / "pyproject.toml").read_text()
    (floor,) = re.findall(r'"apache-airflow>=([\d.]+)"', pyproject)
    pythons = sorted(int(minor) for minor in re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', pyproject))
    (python_floor,) = re.findall(r'requires-python = ">=3\.(\d+)"', pyproject)
    assert pythons[0] == int(python_floor)
    supported = (REPO / "README.md").read_text().split("## Supported versions", 1)[1]
    assert f"Python 3.{pythons[0]} to 3.{pythons[-1]}, Apache Airflow **{floor}** and newer" in supported
