"""The operators in real DAG runs (dag.test() on a migrated SQLite metadata DB), against the simulator.

What only a real run shows: Airflow clears a task's XCom when it retries, so the submit operator's progress
must live elsewhere (a Variable), and a retry must resume after the chunks already accepted.
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


def test_a_retried_submission_resumes_and_every_message_is_loaded(airflow_home, lingxing_connection, sqlite_warehouse):
    airflow_home.copy_dag(DAG_FILE)
    run = airflow_home.run_dag(DAG_FILE.stem, "operators_mark_shipped_retry", conf={"table": sqlite_warehouse.table})
    assert run.state == "success", run.output[-4000:]
    assert run.tasks["submit"] == {"state": "success", "try_number": 2}
    assert "Resuming: an earlier try already submitted 1 of 3 chunk(s)" in run.output
    submissions = run.xcom["submit"]["return_value"]
    assert [len(s["message_ids"]) for s in submissions] == [10, 10, 5]

    stats = lingxing_connection.stats()
    assert [s["task_id"] for s in stats["submissions"][SELLER_ID]] == [s["task_id"] for s in submissions]
    assert stats["duplicate_order_ids"] == {}
    assert run.xcom["load"]["return_value"] == {"tasks": 3, "rows": 25, "errors": 2, "warnings": 0}
    rows = sqlite_warehouse.rows()
    assert sorted(int(r[2]) for r in rows) == list(range(1, 26))
    assert progress_key("operators_mark_shipped_retry", run.run_id) not in variable_keys(airflow_home), (
        "deleted once submit succeeded"
    )


def test_a_submission_whose_answer_is_lost_fails_without_retry(airflow_home, lingxing_connection, sqlite_warehouse):
    airflow_home.copy_dag(DAG_FILE)
    run = airflow_home.run_dag(
        DAG_FILE.stem, "operators_mark_shipped_uncertain", conf={"table": sqlite_warehouse.table}
    )
    assert run.state == "failed"
    assert run.tasks["submit"] == {"state": "failed", "try_number": 1}, "retries=2, yet not retried"
    assert run.tasks["load"]["state"] == "upstream_failed"
    created = lingxing_connection.stats()["submissions"][SELLER_ID]
    assert len(created) == 2, "the chunk whose answer was lost was created"
    assert "may have reached Lingxing" in run.output
    assert f"do not submit these orders again: task {created[0]['task_id']}" in run.output
    record = json.loads(variable_value(airflow_home, progress_key("operators_mark_shipped_uncertain", run.run_id)))
    assert record["in_flight"]["chunk"] == 1, "the chunk whose answer was lost stays marked: no try re-sends it"
    assert [s["task_id"] for s in record["submitted"]] == [created[0]["task_id"]]
