"""Under Airflow (dag.test on a migrated SQLite metadata DB) the token lives in a masked Variable, and the
"Test" button of the API server (or `airflow connections test`) publishes its fresh token there.

Runs in a child process: Airflow's home, DB and dags folder must be set before Airflow is imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_lingxing.api.tokens import owner_fingerprint, store_key

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
DAG_FILE = HERE / "dags" / "lingxing_token_variable.py"


@pytest.mark.lingxing_simulator(latency=0)
def test_tasks_share_the_token_through_a_variable_and_never_log_it(lingxing_simulator, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_LINGXING_DEFAULT": lingxing_simulator.connection_json(),
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    variable = store_key(owner_fingerprint(lingxing_simulator.base_url, lingxing_simulator.app_id))  # per app id
    run = subprocess.run(
        [sys.executable, str(HERE / "run_token_dag.py"), str(dags / DAG_FILE.name), variable],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    *logs, summary_line = run.stdout.strip().splitlines()
    summary = json.loads(summary_line)

    assert summary["state"] == "success"
    assert summary["returned"] == ["VariableTokenStore", "VariableTokenStore", 0]
    stored = json.loads(summary["variable"])
    assert lingxing_simulator.stats()["tokens_issued"]["access"] == 1
    assert lingxing_simulator.stats()["requests"]["/pb/mp/order/getFulfillmentResult"] == {"0": 1}

    said = "\n".join(logs) + run.stderr
    assert "Done. Returned value was" in said, "the task logs were captured"
    for secret in (stored["access_token"], stored["refresh_token"], lingxing_simulator.app_secret):
        assert secret not in said


TEST_AS_THE_API_SERVER_DOES = """
import json, os
os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"  # what the API server (and the CLI) set: no task supervisor here
from airflow.models import Connection
print(json.dumps(Connection.get_connection_from_secrets("lingxing_default").test_connection()))
"""


@pytest.mark.lingxing_simulator(latency=0)
def test_the_test_button_publishes_its_token_so_the_workers_do_not_fetch_again(lingxing_simulator, tmp_path):
    """A token fetched by the "Test" button invalidates the workers' one. Published to the Variable, the next
    task run uses it: no new fetch and no 2001005 (before, each worker paid a refusal and a fetch of its own)."""
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_LINGXING_DEFAULT": lingxing_simulator.connection_json(),
    }

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done

    run("-m", "airflow", "db", "migrate")
    variable = store_key(owner_fingerprint(lingxing_simulator.base_url, lingxing_simulator.app_id))
    run(str(HERE / "run_token_dag.py"), str(dags / DAG_FILE.name), variable)
    assert lingxing_simulator.stats()["tokens_issued"]["access"] == 1

    ok, message = json.loads(run("-c", TEST_AS_THE_API_SERVER_DOES).stdout.strip().splitlines()[-1])
    assert ok and f"published to the Airflow Variable {variable}" in message, message
    assert "Connection success!" in run("-m", "airflow", "connections", "test", "lingxing_default").stdout
    assert lingxing_simulator.stats()["tokens_issued"]["access"] == 3, "each test fetched a token of its own"

    summary = json.loads(
        run(str(HERE / "run_token_dag.py"), str(dags / DAG_FILE.name), variable).stdout.strip().splitlines()[-1]
    )
    stats = lingxing_simulator.stats()
    assert summary["state"] == "success" and summary["returned"][2] == 0, summary
    assert stats["tokens_issued"]["access"] == 3, "the tasks used the published token: no fetch of their own"
    assert all("2001005" not in codes for codes in stats["requests"].values()), stats["requests"]
    assert json.loads(summary["variable"])["access_token"] == lingxing_simulator.issued_tokens()["access"][-1]
