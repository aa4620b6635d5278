"""FulfillmentResultOperator on the XCom path: one row per message, skipped pending tasks, limits, failures."""

from __future__ import annotations

import re

import pendulum
import pytest
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_lingxing.api.results import COLUMNS
from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator
from airflow_provider_lingxing.operators.results import MAX_XCOM_ROWS
from tests.support.samples import task_result
from tests.support.scripted_hook import ScriptedHook


def complete(task_id: str, result: list | None = None, status: str = "Complete", failure: str | None = None) -> dict:
    """A task of three messages; those in `result` with result_code Error are its errors."""
    errors = sum(1 for r in result or [] if r.get("result_code") == "Error")
    summary = {
        "messages_processed": "3",
        "messages_successful": str(3 - errors),
        "messages_with_error": str(errors),
        "messages_with_warning": "",
    }
    return task_result(task_id, status, failure, messages=result, summary=summary, ship_time="1772366400")


ERROR_2 = {
    "message_id": "2",
    "result_code": "Error",
    "result_message_code": "25",
    "result_description": "The order id is not valid.",
}
SUBMITTED = [
    {"task_id": "1003101", "message_ids": ["1", "2", "3"]},
    {"task_id": "1003102", "message_ids": ["4", "5", "6"]},
    {"task_id": "1003103", "message_ids": ["7"]},
]


def operator(task_ids, hook: ScriptedHook, **kwargs) -> FulfillmentResultOperator:
    op = FulfillmentResultOperator(task_id="load", seller_id="A1SELLER", fulfillment_task_ids=task_ids, **kwargs)
    op.hook = hook
    return op


def test_every_submitted_message_gets_a_row_and_pending_tasks_are_skipped(context, captured_log):
    hook = ScriptedHook(
        results=[
            complete("1003101", [ERROR_2]),
            complete("1003102"),
            {"task_id": "1003103", "status_code": "in_process", "result": [], "processing_summary": {}},
        ]
    )
    op = operator(SUBMITTED, hook)
    log = captured_log(op)
    before = pendulum.now("UTC")
    rows = op.execute(context)
    assert hook.result_calls == [("A1SELLER", [1003101, 1003102, 1003103])]
    assert [(r["task_id"], r["message_id"], r["result_code"]) for r in rows] == [
        ("1003101", "1", "Success"),
        ("1003101", "2", "Error"),
        ("1003101", "3", "Success"),
        ("1003102", "4", "Success"),
        ("1003102", "5", "Success"),
        ("1003102", "6", "Success"),
    ]
    assert all(list(r) == list(COLUMNS) for r in rows)
    assert rows[1]["result_description"] == "The order id is not valid." and rows[1]["messages_with_error"] == 1
    assert rows[0]["ship_time"] == "2026-03-01T12:00:00+00:00" and rows[0]["messages_with_warning"] is None
    assert before <= pendulum.parse(rows[0]["fetched_at"]) <= pendulum.now("UTC")
    assert "Skipped 1 task(s) not yet complete (loaded on a later run): 1003103 (in_process)" in log.text
    assert hook.closed == 1


def test_bare_task_ids_give_one_row_per_task_without_message_rows(context):
    hook = ScriptedHook(results=[complete("1003101", [ERROR_2]), complete("1003102")])
    rows = operator("[1003101, '1003102']", hook).execute(context)
    assert [(r["task_id"], r["message_id"], r["result_code"]) for r in rows] == [
        ("1003101", "2", "Error"),
        ("1003102", "", None),
    ]
    assert rows[1]["status_code"] == "Complete" and rows[1]["messages_processed"] == 3


def test_a_task_missing_from_the_answer_is_skipped(context, captured_log):
    op = operator([1003101, 1003999], ScriptedHook(results=[complete("1003101")]))
    log = captured_log(op)
    assert [r["task_id"] for r in op.execute(context)] == ["1003101"]
    assert "1003999 (missing)" in log.text


def test_a_failed_task_is_loaded_with_its_failure(context, captured_log):
    hook = ScriptedHook(results=[complete("1003101", status="fatal", failure="Feed rejected")])
    op = operator(SUBMITTED[:1], hook)
    log = captured_log(op)
    rows = op.execute(context)
    assert [(r["message_id"], r["result_code"], r["failure"]) for r in rows] == [
        ("1", None, "Feed rejected"),
        ("2", None, "Feed rejected"),
        ("3", None, "Feed rejected"),
    ]
    assert "Task 1003101 failed" in log.text


def test_too_many_rows_for_xcom_fail_and_point_at_a_table(context):
    many = [{"task_id": "1003101", "message_ids": [str(i) for i in range(1, MAX_XCOM_ROWS + 2)]}]
    with pytest.raises(AirflowFailException, match="set sql_conn_id") as raised:
        operator(many, ScriptedHook(results=[complete("1003101")])).execute(context)
    assert "10001 result rows" in str(raised.value) and "at most 10,000" in str(raised.value)
    exactly = [{"task_id": "1003101", "message_ids": [str(i) for i in range(1, MAX_XCOM_ROWS + 1)]}]
    assert len(operator(exactly, ScriptedHook(results=[complete("1003101")])).execute(context)) == MAX_XCOM_ROWS


def test_fail_on_message_errors_fails_after_the_rows_are_returned(context):
    errors = [{**ERROR_2, "message_id": str(i), "result_description": f"bad {i}"} for i in range(1, 8)]
    hook = ScriptedHook(results=[complete("1003101", errors)])
    with pytest.raises(AirflowFailException) as raised:
        operator([1003101], hook, fail_on_message_errors=True).execute(context)
    text = str(raised.value)
    assert text.startswith("7 message(s) have result_code Error (the rows are loaded): task 1003101 message 1: bad 1;")
    assert "message 5: bad 5" in text and "message 6" not in text and "… and 2 more" in text
    assert len(context["ti"].xcom["return_value"]) == 7


def test_without_errors_fail_on_message_errors_passes(context):
    hook = ScriptedHook(results=[complete("1003101")])
    assert operator([1003101], hook, fail_on_message_errors=True).execute(context)[0]["result_code"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seller_id": ""}, "^seller_id: must be the Amazon seller id as a string .*, got ''$"),
        ({"seller_id": 123}, "^seller_id: must be the Amazon seller id as a string .*, got 123$"),
        ({"fulfillment_task_ids": ["abc"]}, r"^fulfillment_task_ids\[0\]: must be a positive integer .*, got 'abc'$"),
        ({"fulfillment_task_ids": [b"1003101"]}, r"^fulfillment_task_ids\[0\]: .*, got b'1003101' \(bytes\)$"),
        ({"fulfillment_task_ids": ["١٢"]}, r"^fulfillment_task_ids\[0\]: .*, got '١٢'$"),
        ({"fulfillment_task_ids": [1, True]}, r"^fulfillment_task_ids\[1\]: .*, got True \(bool\)$"),
        (
            {"fulfillment_task_ids": [2**63]},
            r"no larger than 9223372036854775807 \(2\*\*63-1\), got 9223372036854775808$",
        ),
        ({"fulfillment_task_ids": [{"message_ids": ["1"]}]}, r"^fulfillment_task_ids\[0\]\.task_id: .*, got nothing$"),
    ],
)
def test_bad_arguments_are_refused_before_any_call(context, kwargs, message):
    hook = ScriptedHook()
    op = FulfillmentResultOperator(
        task_id="load", **{"seller_id": "A1SELLER", "fulfillment_task_ids": [1003101], **kwargs}
    )
    op.hook = hook
    with pytest.raises(LingxingInputError, match=message):
        op.execute(context)
    assert hook.result_calls == []


@pytest.mark.parametrize(
    ("table", "message"),
    [("x; DROP TABLE y", "^table: must be a table name"), ("order", r"^table: must be a name that is no SQL reserved")],
)
def test_a_bad_table_name_is_refused_when_the_dag_is_parsed(table, message):
    with pytest.raises(LingxingInputError, match=message):
        FulfillmentResultOperator(task_id="load", seller_id="S", fulfillment_task_ids=[1], table=table)


def test_a_templated_table_name_is_checked_before_any_call(context):
    hook = ScriptedHook(results=[complete("1003101")])
    op = operator([1003101], hook, sql_conn_id="warehouse", table="{{ params.table }}")
    op.table = "results where 1=1"
    with pytest.raises(LingxingInputError, match=r"^table: must be a table name"):
        op.execute(context)
    assert hook.result_calls == []


def test_an_unsupported_sql_connection_is_refused_before_any_call(context, monkeypatch):
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    class OracleLike(DbApiHook):
        conn_type = "oracle"
        conn_name_attr = "oracle_conn_id"

    class Connection:
        def get_hook(self):
            return OracleLike()

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, conn_id: Connection()))
    hook = ScriptedHook(results=[complete("1003101")])
    with pytest.raises(LingxingInputError, match="of type 'oracle', which the results table does not support"):
        operator([1003101], hook, sql_conn_id="warehouse").execute(context)
    assert hook.result_calls == []


def test_a_connection_that_is_not_sql_is_refused(context, monkeypatch):
    class Connection:
        def get_hook(self):
            return ScriptedHook()

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, conn_id: Connection()))
    with pytest.raises(LingxingInputError, match=re.escape("not a SQL (DbApiHook) connection")):
        operator([1003101], ScriptedHook(), sql_conn_id="lingxing_default").execute(context)


def test_status_sets_are_checked_like_the_sensor_s():
    with pytest.raises(ValueError, match="both hold"):
        FulfillmentResultOperator(
            task_id="load", seller_id="S", fulfillment_task_ids=[1], failure_statuses=["Complete"]
        )


def test_custom_statuses_decide_what_is_loaded(context):
    hook = ScriptedHook(results=[complete("1003101", status="Done"), complete("1003102")])
    rows = operator([1003101, 1003102], hook, success_statuses=["done"]).execute(context)
    assert [r["task_id"] for r in rows] == ["1003101"]


@pytest.mark.parametrize("task_ids", [[], "[]", [[]]])
def test_nothing_to_load_succeeds_at_once(context, task_ids):
    """A submit task with nothing to send returns []: nothing is fetched, nothing is loaded."""
    hook = ScriptedHook()
    assert operator(task_ids, hook).execute(context) == []
    assert hook.result_calls == []


def test_unreported_messages_are_success_only_when_the_summary_counts_them(context, captured_log):
    """Lingxing lists only the messages Amazon reported on. A silent one is Success when processing_summary says
    enough succeeded; otherwise it is Unreported, with a warning, never a silent Success."""
    agreeing = complete("1003101", [ERROR_2])  # 3 processed, 2 successful: messages 1 and 3 succeeded
    short = complete("1003102")
    short["processing_summary"]["messages_successful"] = "1"  # 3 submitted, Amazon counts 1 success
    missing = complete("1003103")
    missing["processing_summary"]["messages_successful"] = ""
    hook = ScriptedHook(results=[agreeing, short, missing])
    submitted = [
        {"task_id": "1003101", "message_ids": ["1", "2", "3"]},
        {"task_id": "1003102", "message_ids": ["4", "5", "6"]},
        {"task_id": "1003103", "message_ids": ["7"]},
    ]
    op = operator(submitted, hook)
    log = captured_log(op)
    rows = op.execute(context)
    codes = {r["message_id"]: r["result_code"] for r in rows}
    assert codes == {
        "1": "Success",
        "2": "Error",
        "3": "Success",
        "4": "Unreported",
        "5": "Unreported",
        "6": "Unreported",
        "7": "Unreported",
    }
    warnings = [r.getMessage() for r in log.records if r.levelname == "WARNING"]
    assert any("task 1003102: 3 submitted message(s) Lingxing did not report on (4, 5, 6)" in w for w in warnings)
    assert any(
        "task 1003103: 1 submitted message(s)" in w and "processing_summary gives no successful count" in w
        for w in warnings
    )
