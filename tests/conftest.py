"""An Airflow home for DAG-level tests: a migrated SQLite metadata DB and a dags folder.

`dag.test()` runs in a subprocess (tests/integration/run_dag.py), not in the pytest process: Airflow reads
AIRFLOW_HOME and configures its ORM when first imported, and the pytest process has imported Airflow long
before (unit tests, the provider's pytest plugin) with the default home. A fresh interpreter per DAG run
gets this home from its environment, plus whatever the test adds (AIRFLOW_CONN_* of the simulator, ...);
the simulator keeps running in the pytest process and is reached over loopback.

    def test_my_dag(airflow_home, lingxing_connection):
        airflow_home.write_dag("sensor_example.py", SOURCE)          # or copy_dag(path)
        run = airflow_home.run_dag("sensor_example", "sensor_example")  # file stem, dag id
        assert run.state == "success", run.output
        assert run.tasks["wait"]["state"] == "success"; run.xcom["wait"]["return_value"]

DAG files share one folder for the session: name them by owner (`sensor_…`, `operator_…`) and give each a
unique dag id. Each run syncs the whole folder into the DB, as Airflow 3's dag.test() does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.variables import VariableStore

RUNNER = Path(__file__).parent / "integration" / "run_dag.py"
RESULT_PREFIX = "DAG_RUN_RESULT "


@dataclass
class DagRunOutcome:
    """What one dag.test() left behind: run state, each task's state and try number, XComs, the log."""

    state: str
    run_id: str
    tasks: dict[str, dict[str, Any]]
    xcom: dict[str, dict[str, Any]]
    output: str


@dataclass
class AirflowHome:
    path: Path
    dags_folder: Path
    env: dict[str, str]

    def write_dag(self, filename: str, source: str) -> Path:
        target = self.dags_folder / filename
        target.write_text(source)
        return target

    def copy_dag(self, source: str | os.PathLike[str], filename: str | None = None) -> Path:
        target = self.dags_folder / (filename or Path(source).name)
        shutil.copyfile(source, target)
        return target

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The current process environment (so fixtures' AIRFLOW_CONN_* pass through) with this home on top."""
        return {**os.environ, **self.env, **(extra or {})}

    def run_dag(
        self,
        dag_file: str,
        dag_id: str,
        *,
        conf: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 300,
    ) -> DagRunOutcome:
        """`dag.test()` of `dag_id` from `dags_folder/<dag_file>.py` in a fresh interpreter."""
        path = self.dags_folder / (dag_file if dag_file.endswith(".py") else f"{dag_file}.py")
        command = [sys.executable, str(RUNNER), str(path), dag_id]
        if conf is not None:
            command.append(json.dumps(conf))
        done = subprocess.run(
            command,
            env=self.environment(env),
            cwd=self.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            raise AssertionError(f"dag.test() of {dag_id} failed (exit {done.returncode}):\n{done.stdout[-8000:]}")
        outcome = json.loads(lines[-1][len(RESULT_PREFIX) :])
        return DagRunOutcome(output=done.stdout, **outcome)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowHome]:
    """An AIRFLOW_HOME with a migrated SQLite metadata DB and an empty dags folder, for the whole session."""
    path = tmp_path_factory.mktemp("airflow_home")
    dags_folder = path / "dags"
    dags_folder.mkdir()
    env = {
        "AIRFLOW_HOME": str(path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{path / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(path / "logs"),
    }
    home = AirflowHome(path, dags_folder, env)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=home.environment(),
        cwd=path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-8000:]}")
    yield home


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> VariableStore:
    """Airflow Variables in a dict for this test, served through `airflow.sdk.Variable` (tests/support/variables.py)."""
    return VariableStore().serve(monkeypatch)


@pytest.fixture
def captured_log(caplog: pytest.LogCaptureFixture):
    """Route an operator's, sensor's or trigger's logger to caplog (Airflow 3 logs through structlog)."""
    caplog.set_level(logging.INFO, logger="lingxing.test")

    def attach(obj: Any) -> pytest.LogCaptureFixture:
        obj._cached_logger = obj._log = logging.getLogger("lingxing.test")
        return caplog

    return attach
