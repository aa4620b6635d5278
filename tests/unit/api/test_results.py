"""getFulfillmentResult answers → one row per message, in the documented column order."""

from __future__ import annotations

import pendulum
import pytest

from airflow_provider_lingxing.api.results import (
    COLUMN_TYPES,
    COLUMNS,
    PRIMARY_KEY,
    error_rows,
    message_ids_by_task,
    summary,
    task_rows,
    xcom_row,
)
from tests.support.samples import task_result

FETCHED_AT = pendulum.datetime(2026, 3, 1, 12, 0, 0, tz="UTC")

# The documentation's example answer (§6).
DOCUMENTED = {
    "result": [
        {
            "message_id": "2725",
            "result_code": "Error",
            "result_message_code": "25",
            "result_description": "We are unable to process the XML feed because one or more items are invalid.",
        }
    ],
    "task_id": "1003085",
    "status_code": "Complete",
    "ship_time": "1675848605",
    "processing_summary": {
        "messages_processed": "1",
        "messages_successful": "0",
        "messages_with_error": "1",
        "messages_with_warning": "0",
    },
    "failure": None,
}


def complete(task_id: str = "1003100", result: list | None = None, **summary_counts) -> dict:
    counts = {"messages_processed": "3", "messages_successful": "2", "messages_with_error": "1"}
    counts.update(summary_counts)
    counts["messages_with_warning"] = "0"
    return task_result(task_id, messages=result, summary=counts, ship_time="1772366400")


def test_the_columns_are_the_issue_s_in_order_with_one_type_each():
    assert COLUMNS == (
        "seller_id",
        "task_id",
        "message_id",
        "status_code",
        "result_code",
        "result_message_code",
        "result_description",
        "ship_time",
        "messages_processed",
        "messages_successful",
        "messages_with_error",
        "messages_with_warning",
        "failure",
        "fetched_at",
    )
    assert [name for name, _ in COLUMN_TYPES] == list(COLUMNS)
    assert PRIMARY_KEY == ("seller_id", "task_id", "message_id")


def test_the_documented_answer_gives_one_typed_row():
    (row,) = task_rows("A1SELLER", DOCUMENTED, fetched_at=FETCHED_AT)
    assert list(row) == list(COLUMNS)
    assert row["seller_id"] == "A1SELLER" and row["task_id"] == "1003085" and row["message_id"] == "2725"
    assert row["status_code"] == "Complete" and row["result_code"] == "Error" and row["result_message_code"] == "25"
    assert row["result_description"].startswith("We are unable to process the XML feed")
    assert row["ship_time"] == pendulum.datetime(2023, 2, 8, 9, 30, 5, tz="UTC")
    assert row["ship_time"].timezone_name == "UTC"
    assert (row["messages_processed"], row["messages_successful"]) == (1, 0)
    assert (row["messages_with_error"], row["messages_with_warning"]) == (1, 0)
    assert row["failure"] is None and row["fetched_at"] == FETCHED_AT


def test_known_message_ids_each_get_a_row_and_unreported_ones_succeeded():
    result = complete(result=[{"message_id": "12", "result_code": "Error", "result_message_code": "25"}])
    rows = task_rows("S", result, fetched_at=FETCHED_AT, message_ids=["11", "12", "9"])
    assert [(r["message_id"], r["result_code"]) for r in rows] == [("9", "Success"), ("11", "Success"), ("12", "Error")]
    assert all(r["messages_processed"] == 3 and r["status_code"] == "Complete" for r in rows)
    assert rows[0]["result_message_code"] is None and rows[0]["result_description"] is None


def test_without_known_ids_only_reported_messages_get_rows():
    result = complete(result=[{"message_id": "12", "result_code": "Warning", "result_message_code": "5001"}])
    assert [r["message_id"] for r in task_rows("S", result, fetched_at=FETCHED_AT)] == ["12"]


def test_a_task_without_message_rows_still_gets_one_row():
    (row,) = task_rows("S", complete("1003101"), fetched_at=FETCHED_AT)
    assert row["task_id"] == "1003101" and row["message_id"] == ""
    assert row["status_code"] == "Complete" and row["result_code"] is None and row["messages_processed"] == 3


def test_a_failed_task_keeps_its_failure_and_does_not_claim_success():
    failed = {
        "task_id": "1003102",
        "status_code": "fatal",
        "ship_time": "",
        "processing_summary": {k: "" for k in ("messages_processed", "messages_successful")},
        "result": [],
        "failure": "Feed processing failed",
    }
    rows = task_rows("S", failed, fetched_at=FETCHED_AT, message_ids=["5", "6"], completed=False)
    assert [(r["message_id"], r["result_code"]) for r in rows] == [("5", None), ("6", None)]
    assert rows[0]["failure"] == "Feed processing failed" and rows[0]["ship_time"] is None
    assert rows[0]["messages_processed"] is None and rows[0]["messages_with_error"] is None


def test_empty_counts_are_null_and_unreadable_values_are_null_with_a_note():
    notes: list[str] = []
    result = complete(messages_processed="", messages_successful="n/a")
    result["ship_time"] = "yesterday"
    (row,) = task_rows("S", result, fetched_at=FETCHED_AT, notes=notes)
    assert row["messages_processed"] is None and row["messages_successful"] is None and row["ship_time"] is None
    assert notes == [
        "task 1003100 ship_time 'yesterday' is not Unix seconds: loaded as NULL",
        "task 1003100 messages_successful 'n/a' is not a count: loaded as NULL",
    ]


def test_counts_given_as_numbers_are_kept():
    (row,) = task_rows("S", complete(messages_processed=3, messages_with_error=0), fetched_at=FETCHED_AT)
    assert row["messages_processed"] == 3 and row["messages_with_error"] == 0


def test_several_results_for_one_message_merge_under_the_most_severe():
    result = complete(
        result=[
            {"message_id": "7", "result_code": "Warning", "result_message_code": "5001", "result_description": "w"},
            {"message_id": "7", "result_code": "Error", "result_message_code": "25", "result_description": "e"},
            {"message_id": "7", "result_code": "Warning", "result_message_code": "5001", "result_description": "w"},
        ]
    )
    (row,) = task_rows("S", result, fetched_at=FETCHED_AT)
    assert row["result_code"] == "Error"
    assert row["result_message_code"] == "25; 5001" and row["result_description"] == "e; w"


def test_ids_are_written_as_the_api_writes_them():
    result = complete(task_id=1003100, result=[{"message_id": 42, "result_code": "Error"}])
    rows = task_rows("S", result, fetched_at=FETCHED_AT, message_ids=["0042", "43"])
    assert [(r["task_id"], r["message_id"]) for r in rows] == [("1003100", "42"), ("1003100", "43")]
    assert rows[0]["result_code"] == "Error"


def test_xcom_rows_carry_iso_timestamps_in_column_order():
    (row,) = task_rows("S", DOCUMENTED, fetched_at=FETCHED_AT)
    out = xcom_row(row)
    assert list(out) == list(COLUMNS)
    assert out["ship_time"] == "2023-02-08T09:30:05+00:00"
    assert out["fetched_at"] == "2026-03-01T12:00:00+00:00"
    assert pendulum.parse(out["ship_time"]) == row["ship_time"]


def test_summary_counts_tasks_rows_errors_and_warnings():
    rows = task_rows(
        "S",
        complete(result=[{"message_id": "1", "result_code": "Error"}, {"message_id": "2", "result_code": "warning"}]),
        fetched_at=FETCHED_AT,
        message_ids=["1", "2", "3"],
    ) + task_rows("S", complete("1003101"), fetched_at=FETCHED_AT)
    assert summary(rows) == {"tasks": 2, "rows": 4, "errors": 1, "warnings": 1}
    assert [r["message_id"] for r in error_rows(rows)] == ["1"]


@pytest.mark.parametrize(
    ("value", "known"),
    [
        ([{"task_id": "1003100", "message_ids": ["1", "2"]}], {"1003100": ["1", "2"]}),
        ({"task_id": 1003100, "message_ids": [1, 2, 2]}, {"1003100": ["1", "2"]}),
        (
            [[{"task_id": "5", "message_ids": ["1"]}], [{"task_id": "6", "message_ids": ["2"]}]],
            {"5": ["1"], "6": ["2"]},
        ),
        ([1003100, "1003101"], {}),
        ([{"task_id": "1003100"}], {}),
    ],
)
def test_message_ids_come_from_the_submit_operator_s_xcom(value, known):
    assert message_ids_by_task(value) == known
