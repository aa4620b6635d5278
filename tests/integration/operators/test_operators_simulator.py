"""Both operators against the Lingxing simulator, loading into XCom, a SQLite file and PostgreSQL.

The operators run in-process (execute with a task-instance stand-in); the submit operator's record Variable
is kept in a dict here (the `variables` fixture). test_operators_dag.py runs them in real DAG runs; the ledger:
test_ledger_loop.py.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_lingxing.api.endpoints import SUBMIT_FULFILLMENT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator
from tests.support import samples
from tests.support.task_instance import FakeTaskInstance

pytestmark = [pytest.mark.integration, pytest.mark.lingxing_simulator(latency=0.0, complete_after_polls=1)]

SELLER_ID = "A1SIMNA0000001"
ERRORS = {3: "ERR-1Z0003", 17: "ERR-1Z0017"}
WARNINGS = {5: "WARN-1Z0005"}


def order(n: int) -> dict:
    return samples.order(n, tracking_no=ERRORS.get(n) or WARNINGS.get(n) or f"1Z{n:08d}")


ORDERS = [order(n) for n in range(1, 26)]


@pytest.fixture
def connection(lingxing_simulator, monkeypatch, variables):
    """The simulator as `lingxing_default`, with no hook-level retry so a refusal shows at once."""
    sim = lingxing_simulator
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINGXING_DEFAULT",
        json.dumps(
            {
                "conn_type": "lingxing",
                "host": sim.base_url,
                "login": sim.app_id,
                "password": sim.app_secret,
                "extra": {"max_retries": 0},
            }
        ),
    )
    return sim


def submit(orders=ORDERS, size: int = 10, hook: LingxingHook | None = None) -> list[dict]:
    op = LingxingSubmitFulfillmentOperator(
        task_id="submit",
        region="na",
        seller_id=SELLER_ID,
        marketplace_id="ATVPDKIKX0DER",
        orders=orders,
        max_orders_per_task=size,
    )
    if hook is not None:
        op.hook = hook
    return op.execute({"ti": FakeTaskInstance(op.task_id)})


def load(task_ids, **kwargs):
    op = FulfillmentResultOperator(task_id="load", seller_id=SELLER_ID, fulfillment_task_ids=task_ids, **kwargs)
    return op.execute({"ti": FakeTaskInstance(op.task_id)})


def submitted_ids(sim) -> list[str]:
    return sorted((i for s in sim.stats()["submissions"].get(SELLER_ID, []) for i in s["order_ids"]), key=int)


def test_submitted_orders_come_back_one_row_per_message_in_xcom(connection):
    submissions = submit()
    assert sorted(len(s["message_ids"]) for s in submissions) == [5, 10, 10], "3 chunks, sent at once"
    assert connection.stats()["tasks"]["created"] == 3
    assert submitted_ids(connection) == [str(n) for n in range(1, 26)]
    rows = load(submissions)
    assert sorted(int(r["message_id"]) for r in rows) == list(range(1, 26))
    codes = {r["message_id"]: r["result_code"] for r in rows}
    assert {m for m, c in codes.items() if c == "Error"} == {"3", "17"}
    assert {m for m, c in codes.items() if c == "Warning"} == {"5"}
    assert {c for m, c in codes.items() if m not in ("3", "17", "5")} == {"Success"}
    first = next(r for r in rows if r["message_id"] == "1")
    assert first["status_code"] == "Complete" and first["messages_processed"] == 10
    assert first["messages_with_error"] == 1 and first["ship_time"].endswith("+00:00")


def test_tasks_not_yet_complete_are_skipped(connection):
    submissions = submit(ORDERS[:3])
    connection.config.complete_after_polls = 5
    assert load(submissions) == []


def test_submitted_orders_are_loaded_into_a_table_idempotently(connection, warehouse):
    submissions = submit()
    summary = load(submissions, sql_conn_id=warehouse.conn_id, table=warehouse.table)
    assert summary == {"tasks": 3, "rows": 25, "errors": 2, "warnings": 1}
    first = warehouse.rows()
    assert len(first) == 25
    assert load(submissions, sql_conn_id=warehouse.conn_id, table=warehouse.table) == summary
    assert warehouse.rows() == first
    errors = warehouse.query(
        f"SELECT message_id, result_description FROM {warehouse.table} WHERE result_code = 'Error'"
    )
    assert sorted(m for m, _ in errors) == ["17", "3"] and all(d for _, d in errors)


def test_message_errors_fail_the_task_after_loading(connection, sqlite_warehouse):
    submissions = submit()
    with pytest.raises(AirflowFailException, match=r"2 message\(s\) have result_code Error") as raised:
        load(
            submissions, sql_conn_id=sqlite_warehouse.conn_id, table=sqlite_warehouse.table, fail_on_message_errors=True
        )
    assert "message 3:" in str(raised.value) and "message 17:" in str(raised.value)
    assert len(sqlite_warehouse.rows()) == 25


class HookWith(LingxingHook):
    """The real hook, one request at a time; `before_submit(n)` runs before the n-th submission (1-based) to
    switch simulator faults."""

    def __init__(self, before_submit) -> None:
        super().__init__(max_in_flight=1)
        self.before_submit = before_submit
        self.calls = 0

    def submit_fulfillment(self, *args):
        self.calls += 1
        self.before_submit(self.calls)
        return super().submit_fulfillment(*args)


def test_a_submission_whose_answer_is_lost_is_never_sent_again(connection):
    sim = connection
    sim.config.fault_paths = {SUBMIT_FULFILLMENT.path}

    def drop_second(n):
        sim.config.drop_probability = 1.0 if n == 2 else 0.0

    with pytest.raises(AirflowFailException) as raised:
        submit(hook=HookWith(drop_second))
    text = str(raised.value)
    assert "chunk 2/3 (ids 11, 12, 13, 14, 15 … (10 in all)): uncertain" in text
    assert "it may have reached Lingxing" in text
    assert "chunk 3/3 (ids 21, 22, 23, 24, 25): not sent" in text, "no new chunk after a lost answer"
    created = sim.stats()["submissions"][SELLER_ID]
    assert len(created) == 2, "the dropped answer's task was created all the same"
    assert f"task {created[0]['task_id']} (ids 1, 2, 3, 4, 5 … (10 in all))" in text

    sim.config.drop_probability = 0.0
    cleared = submit()
    assert [s["message_ids"][0] for s in cleared] == ["1", "21"], "the uncertain chunk is not sent again"
    assert len(sim.stats()["submissions"][SELLER_ID]) == 3
    assert sim.stats()["duplicate_order_ids"] == {}


def test_a_refused_submission_is_resumed_by_the_retry_without_duplicates(connection):
    sim = connection
    sim.config.fault_paths = {SUBMIT_FULFILLMENT.path}

    def limit_second(n):
        sim.config.limiter_103_probability = 1.0 if n >= 2 else 0.0  # after the hook's retries and 3 attempts

    with pytest.raises(AirflowException) as raised:
        submit(hook=HookWith(limit_second))
    assert not isinstance(raised.value, AirflowFailException)
    assert "chunk 2/3 (ids 11, 12, 13, 14, 15 … (10 in all)): not sent" in str(raised.value)
    assert "chunk 3/3 (ids 21, 22, 23, 24, 25): not sent" in str(raised.value)
    assert "a retry or the next run sends it" in str(raised.value)
    assert len(sim.stats()["submissions"][SELLER_ID]) == 1

    sim.config.limiter_103_probability = 0.0
    submissions = submit()
    assert sorted(len(s["message_ids"]) for s in submissions) == [5, 10, 10]
    assert submitted_ids(sim) == [str(n) for n in range(1, 26)]
    assert sim.stats()["duplicate_order_ids"] == {}
