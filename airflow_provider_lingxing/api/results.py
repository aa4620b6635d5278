"""getFulfillmentResult answers → one row per message: the columns, their SQL types and the row rules.

`result[]` lists only the messages Amazon reported on, so a message of a completed task with no entry
succeeded; when the submitted message ids are known, each of them gets a row. A task with no message row
still gets one (`message_id` "") so that every loaded task is visible. The answer's shape: docs/lingxing-openapi.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pendulum

from airflow_provider_lingxing.api.arguments import MAX_SELLER_ID_CHARS, id_or_none, submission_items
from airflow_provider_lingxing.api.errors import LingxingFatalError
from airflow_provider_lingxing.api.progress import advancement
from airflow_provider_lingxing.api.redaction import scrub

COLUMN_TYPES: tuple[tuple[str, str], ...] = (
    ("seller_id", f"VARCHAR({MAX_SELLER_ID_CHARS}) NOT NULL"),
    ("task_id", "VARCHAR(32) NOT NULL"),
    ("message_id", "VARCHAR(32) NOT NULL"),
    ("status_code", "TEXT"),
    ("result_code", "TEXT"),
    ("result_message_code", "TEXT"),
    ("result_description", "TEXT"),
    ("ship_time", "TIMESTAMP"),
    ("messages_processed", "INTEGER"),
    ("messages_successful", "INTEGER"),
    ("messages_with_error", "INTEGER"),
    ("messages_with_warning", "INTEGER"),
    ("failure", "TEXT"),
    ("fetched_at", "TIMESTAMP NOT NULL"),
)
"""The one definition of the output: column order, and the portable types the table is created with."""
COLUMNS = tuple(name for name, _ in COLUMN_TYPES)
PRIMARY_KEY = ("seller_id", "task_id", "message_id")
TIMESTAMP_COLUMNS = tuple(name for name, sql_type in COLUMN_TYPES if sql_type.startswith("TIMESTAMP"))
COUNT_FIELDS = ("messages_processed", "messages_successful", "messages_with_error", "messages_with_warning")
MAX_COUNT = 2**31 - 1
"""The largest INTEGER (the counts' column type): a larger count is garbage, and would abort the load."""
SHIP_TIME_BEFORE = 4102444800
"""2100-01-01 in Unix seconds: a ship_time of 0, below or past it (milliseconds, a sentinel) is garbage."""

SUCCESS = "Success"
ERROR = "Error"
WARNING = "Warning"
UNREPORTED = "Unreported"
"""A submitted message Lingxing did not report on, where processing_summary does not count it successful."""
SEVERITY = {ERROR.casefold(): 0, WARNING.casefold(): 1}
"""Several results for one message are merged into one row under the most severe result_code."""
TASK_ROW_MESSAGE_ID = ""

Row = dict[str, Any]


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""NUL and lone surrogates (JSON can carry both): no PostgreSQL text column or UTF-8 encoder takes them."""


def _text(value: Any) -> str | None:
    """The value as text, stripped, `None` when empty; characters no database stores become U+FFFD."""
    if value is None:
        return None
    text = UNSTORABLE.sub("\ufffd", str(value).strip())
    return text or None


def _count(value: Any, where: str, notes: list[str]) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_COUNT))
    if isinstance(value, bool) or not digits or int(text) > MAX_COUNT:
        notes.append(f"{where} {value!r} is not a count: loaded as NULL")
        return None
    return int(text)


def _ship_time(value: Any, where: str, notes: list[str]) -> pendulum.DateTime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(SHIP_TIME_BEFORE))
    if isinstance(value, bool) or not digits or not 0 < int(text) < SHIP_TIME_BEFORE:
        notes.append(f"{where} {value!r} is not Unix seconds: loaded as NULL")
        return None
    return pendulum.from_timestamp(int(text), tz="UTC")


def normalize_id(value: Any) -> str:
    """A task or message id as the API writes it in answers: digits without leading zeros."""
    text = "" if value is None else str(value).strip()
    return (text.lstrip("0") or "0") if text.isascii() and text.isdigit() else text


def _is_message_id(message_id: str) -> bool:
    """Message ids come back as the submitted order ids, so they follow the order id rule."""
    return id_or_none(message_id) is not None


def _message_key(message_id: str) -> tuple[int, str]:
    return (len(message_id), message_id)


def _merged(entries: list[Mapping[str, Any]]) -> dict[str, str | None]:
    """One message's results (Amazon may report several) as one: the most severe code, every text kept."""
    ordered = sorted(entries, key=lambda e: SEVERITY.get((_text(e.get("result_code")) or "").casefold(), 2))

    def joined(field: str) -> str | None:
        values = [v for e in ordered if (v := _text(e.get(field))) is not None]
        return "; ".join(dict.fromkeys(values)) or None

    return {
        "result_code": _text(ordered[0].get("result_code")),
        "result_message_code": joined("result_message_code"),
        "result_description": joined("result_description"),
    }


def _unreported_code(
    successful: int | None, reported: Mapping[str, Mapping[str, Any]], silent: list[str], where: str, notes: list[str]
) -> str | None:
    """Success for the messages Lingxing did not report only when processing_summary agrees: its successful
    count, less the reported messages that succeeded (warnings), covers them. Otherwise Unreported, noted."""
    if not silent:
        return None
    reported_ok = sum((m["result_code"] or "").casefold() != ERROR.casefold() for m in reported.values())
    if successful is not None and successful - reported_ok >= len(silent):
        return SUCCESS
    shown = ", ".join(silent[:5]) + (f" … ({len(silent)} in all)" if len(silent) > 5 else "")
    counted = "gives no successful count" if successful is None else f"counts {successful} successful"
    notes.append(
        f"{where}: {len(silent)} submitted message(s) Lingxing did not report on ({shown}) are loaded as "
        f"{UNREPORTED}, not {SUCCESS}: processing_summary {counted}, {reported_ok} of them reported; check these "
        "orders in Seller Central"
    )
    return UNREPORTED


def task_rows(
    seller_id: str,
    result: Mapping[str, Any],
    *,
    fetched_at: pendulum.DateTime,
    message_ids: Sequence[str] = (),
    completed: bool = True,
    notes: list[str] | None = None,
) -> list[Row]:
    """The rows of one finished task, sorted by message id.

    `message_ids` are the ids submitted in it, if known. `completed` is False for a failed task: its
    unreported messages did not succeed, so their result_code stays NULL instead of `Success`. So it does when
    `result` is not a list or holds an entry without a valid message_id (noted): which message it meant is unknown.
    """
    notes = [] if notes is None else notes
    task_id = normalize_id(result.get("task_id"))
    where = f"task {task_id}"
    summary = result.get("processing_summary") or {}
    if not isinstance(summary, Mapping):
        notes.append(f"{where} processing_summary {summary!r} is not an object: counts loaded as NULL")
        summary = {}
    ship_time = _ship_time(result.get("ship_time"), f"{where} ship_time", notes)
    counts = {field: _count(summary.get(field), f"{where} {field}", notes) for field in COUNT_FIELDS}
    task_fields = {
        "status_code": _text(result.get("status_code")),
        "ship_time": ship_time,
        **counts,
        "failure": _text(result.get("failure")),
        "fetched_at": fetched_at,
    }
    entries = result.get("result") or []
    if not isinstance(entries, list):
        notes.append(f"{where} result {entries!r:.100} is not a list: message outcomes loaded as NULL")
        entries, completed = [], False
    reported: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        message_id = normalize_id(entry.get("message_id")) if isinstance(entry, Mapping) else ""
        if not _is_message_id(message_id):
            notes.append(
                f"{where} result entry {entry!r:.100} has no valid message_id: not loaded, and the messages "
                "it could belong to are loaded with result_code NULL"
            )
            completed = False
            continue
        reported.setdefault(message_id, []).append(entry)
    merged = {mid: _merged(entries) for mid, entries in reported.items()}
    silent = [mid for mid in dict.fromkeys(map(normalize_id, message_ids)) if mid not in merged]
    code = _unreported_code(counts["messages_successful"], merged, silent, where, notes) if completed else None
    outcomes = {mid: {"result_code": code, "result_message_code": None, "result_description": None} for mid in silent}
    outcomes.update(merged)
    if not outcomes:
        outcomes[TASK_ROW_MESSAGE_ID] = {"result_code": None, "result_message_code": None, "result_description": None}
    return [
        {
            "seller_id": seller_id,
            "task_id": task_id,
            "message_id": mid,
            "status_code": task_fields["status_code"],
            **outcomes[mid],
            **{k: v for k, v in task_fields.items() if k != "status_code"},
        }
        for mid in sorted(outcomes, key=_message_key)
    ]


def xcom_row(row: Row) -> dict[str, Any]:
    """The row with its timestamps as ISO-8601 strings, in column order."""
    return {
        column: row[column].isoformat() if column in TIMESTAMP_COLUMNS and row[column] else row[column]
        for column in COLUMNS
    }


def summary(rows: Iterable[Row]) -> dict[str, int]:
    rows = list(rows)
    codes = [(row["result_code"] or "").casefold() for row in rows]
    return {
        "tasks": len({row["task_id"] for row in rows}),
        "rows": len(rows),
        "errors": codes.count(ERROR.casefold()),
        "warnings": codes.count(WARNING.casefold()),
    }


def error_rows(rows: Iterable[Row]) -> list[Row]:
    return [row for row in rows if (row["result_code"] or "").casefold() == ERROR.casefold()]


def message_ids_by_task(value: Any) -> dict[str, list[str]]:
    """{task id: submitted message ids} from the submit operator's XCom; {} for bare task ids."""
    known: dict[str, list[str]] = {}
    for _, item in submission_items(value, "fulfillment_task_ids"):
        if isinstance(item, Mapping) and isinstance(item.get("message_ids"), (list, tuple)):
            known.setdefault(normalize_id(item.get("task_id")), []).extend(str(m) for m in item["message_ids"])
    return {task_id: list(dict.fromkeys(ids)) for task_id, ids in known.items()}


def one_per_task(answers: list[Any], path: str) -> list[dict]:
    """Every batch's results, one dict per distinct task id (its most advanced copy), in task-id order.

    An item that is not a task result with a task id is refused: ignored, its task would look pending forever.
    """
    by_task: dict[int, dict] = {}
    for answer in answers:
        if answer is None:
            continue
        if not isinstance(answer, list):
            raise LingxingFatalError(f"expected a list of task results, got {type(answer).__name__}", path=path)
        for result in answer:
            if not isinstance(result, Mapping):
                raise LingxingFatalError(
                    f"expected each task result to be an object, got {scrub(repr(result))}", path=path
                )
            key = id_or_none(result.get("task_id"))
            if key is None:
                raise LingxingFatalError(f"a task result has task_id {scrub(repr(result.get('task_id')))}", path=path)
            if key not in by_task or advancement(result) > advancement(by_task[key]):
                by_task[key] = dict(result)
    return [by_task[key] for key in sorted(by_task)]
