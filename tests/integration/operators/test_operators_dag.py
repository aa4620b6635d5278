"""The operators in real DAG runs (dag.test() on a migrated SQLite metadata DB), against the simulator.

What only a real run shows: Airflow clears a task's XCom when it retries, so the submit operator's record must
live elsewhere (a Variable, kept after success), and a retry must send only what was not sent.
"""

from __future__ import annotations

import configparser
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from airflow_provider_lingxing.operators.fulfillment import SubmissionRecord

pytestmark = [pytest.mark.integration, pytest.mark.lingxing_simulator(latency=0.0, complete_after_polls=1)]

DAG_FILE = Path(__file__).parents[1] / "dags" / "operators_mark_shipped.py"
SELLER_ID = "A1SIMNA0000001"


def progress_key(dag_id: str, run_id: str) -> str:
    """The key of the submit task's progress Variable in that run."""
    return SubmissionRecord(SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id="submit", map_index=-1)).key


def variable_keys(airflow_home) -> list[str]:
    with sqlite3.connect(airflow_home.path / "airflow.db") as db:
        return [k for (k,) in db.execute("SELECT key FROM variable")]


def variable_value(airflow_home, key: str) -> str:
    with sqlite3.connect(airflow_home.path / "airflow.db") as db:
        (value, encrypted) = db.execute("SELECT val, is_encrypted FROM variable WHERE key = ?", (key,)).fetchone()
    if not encrypted:
        return value
    config = configparser.ConfigParser(interpolation=None)
    config.read(airflow_home.path / "airflow.cfg")
    return Fernet(config["core"]["fernet_key"].encode()).decrypt(value.encode()).decode()


@pytest.fixture(autouse=True)
def fresh_token_store(airflow_home):
    """Each test has a simulator of its own: a token the last one issued, left in the shared home, is refused."""
    with sqlite3.connect(airflow_home.path / "airflow.db") as db:
        db.execute("DELETE FROM variable WHERE key LIKE 'lingxing_token__%'")


def test_a_retried_submission_resumes_and_every_message_is_loaded(airflow_home, lingxing_connection, sqlite_warehouse):
    airflow_home.copy_dag(DAG_FILE)
    run = airflow_home.run_dag(DAG_FILE.stem, "operators_mark_shipped_retry", conf={"table": sqlite_warehouse.table})
    assert run.state == "success", run.output[-4000:]
    assert run.tasks["submit"] == {"state": "success", "try_number": 2}
    assert "Returned 2 task(s) this task instance created in an earlier try" in run.output
    submissions = run.xcom["submit"]["return_value"]
    assert sorted(len(s["message_ids"]) for s in submissions) == [5, 10, 10]

    stats = lingxing_connection.stats()
    assert sorted(s["task_id"] for s in stats["submissions"][SELLER_ID]) == sorted(s["task_id"] for s in submissions)
    assert stats["duplicate_order_ids"] == {}
    assert run.xcom["load"]["return_value"] == {"tasks": 3, "rows": 25, "errors": 2, "warnings": 0}
    rows = sqlite_warehouse.rows()
    assert sorted(int(r[2]) for r in rows) == list(range(1, 26))
    record = json.loads(variable_value(airflow_home, progress_key("operators_mark_shipped_retry", run.run_id)))
    assert sorted(t["task_id"] for t in record["accepted"]) == sorted(s["task_id"] for s in submissions), "kept"


def test_a_submission_whose_answer_is_lost_fails_without_retry(airflow_home, lingxing_connection, sqlite_warehouse):
    airflow_home.copy_dag(DAG_FILE)
    run = airflow_home.run_dag(
        DAG_FILE.stem, "operators_mark_shipped_uncertain", conf={"table": sqlite_warehouse.table}
    )
    assert run.state == "failed"
    assert run.tasks["submit"] == {"state": "failed", "try_number": 1}, "retries=2, yet not retried"
    assert run.tasks["load"]["state"] == "upstream_failed"
    created = lingxing_connection.stats()["submissions"][SELLER_ID]
    assert len(created) == 3, "the chunk whose answer was lost was created"
    assert "may have reached Lingxing" in run.output
    record = json.loads(variable_value(airflow_home, progress_key("operators_mark_shipped_uncertain", run.run_id)))
    assert record["uncertain"] == [str(n) for n in range(11, 21)], "no try or clear sends these again"
    assert len(record["accepted"]) == 2


def test_a_successful_submit_run_again_sends_nothing(airflow_home, lingxing_connection, sqlite_warehouse):
    """The worker died after the submission (try 1 failed after its work): try 2 returns what try 1 stored."""
    airflow_home.copy_dag(DAG_FILE)
    run = airflow_home.run_dag(DAG_FILE.stem, "operators_mark_shipped_rerun", conf={"table": sqlite_warehouse.table})
    assert run.state == "success", run.output[-4000:]
    assert run.tasks["submit"] == {"state": "success", "try_number": 2}
    stats = lingxing_connection.stats()
    assert len(stats["submissions"][SELLER_ID]) == 3 and stats["duplicate_order_ids"] == {}
    assert sorted(s["task_id"] for s in run.xcom["submit"]["return_value"]) == sorted(
        s["task_id"] for s in stats["submissions"][SELLER_ID]
    )
    assert "Returned 3 task(s) this task instance created in an earlier try" in run.output
