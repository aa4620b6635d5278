"""Submit mark-shipped orders to Lingxing, and load Amazon's per-message outcomes into XCom or a table."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import BaseHook, BaseOperator, Variable
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_lingxing.api import arguments, errors
from airflow_provider_lingxing.api import results as result_rows
from airflow_provider_lingxing.api.orders import chunks, message_id, submission
from airflow_provider_lingxing.api.progress import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    FulfillmentProgress,
    check_statuses,
    most_advanced,
)
from airflow_provider_lingxing.api.signing import compact_json
from airflow_provider_lingxing.exceptions import (
    LingxingApiError,
    LingxingInputError,
    LingxingSubmissionUncertainError,
    airflow_errors,
)
from airflow_provider_lingxing.hooks import lingxing_hook
from airflow_provider_lingxing.templated import parse_rendered
from airflow_provider_lingxing.warehouse import results as warehouse

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

DEFAULT_MAX_ORDERS_PER_TASK = 100
DEFAULT_TABLE = "lingxing_fulfillment_results"
MAX_XCOM_ROWS = 10_000
ERRORS_SHOWN = 5
IDS_SHOWN = 5
RECORD_PREFIX = "lingxing_submit_progress."


def _lingxing_hook(task: Any) -> LingxingHook:
    """The task's hook, sending at most as many requests at once as the task holds pool slots."""
    return lingxing_hook(task.lingxing_conn_id, task=task)


def _id_list(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:IDS_SHOWN])
    return shown + (f" … ({len(ids)} in all)" if len(ids) > IDS_SHOWN else "")


def _created(submitted: list[dict[str, Any]]) -> str:
    """The tasks already created, with the orders (message ids) each holds."""
    return "; ".join(f"task {s['task_id']} (ids {_id_list(s['message_ids'])})" for s in submitted)


class SubmissionRecord:
    """What one submit task instance has sent, kept in an Airflow Variable across its tries.

    XCom cannot carry it: Airflow clears a task instance's XCom when a new try starts. Before each chunk is
    sent the record marks it in flight; once Lingxing answers, the chunk's task id replaces the mark. A try
    that finds a mark left behind cannot know whether that chunk arrived, so it sends nothing. The Variable
    is deleted when the task succeeds.
    """

    def __init__(self, ti: Any) -> None:
        identity = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index}
        self.identity = identity
        self.key = RECORD_PREFIX + hashlib.sha256(compact_json(identity).encode()).hexdigest()[:24]
        self.description = (
            f"Mark-shipped chunks already submitted by {ti.dag_id}.{ti.task_id} (map_index {ti.map_index}) "
            f"in run {ti.run_id}; deleted when that task succeeds"
        )

    def load(self) -> dict[str, Any] | None:
        return Variable.get(self.key, default=None, deserialize_json=True)

    def save(self, fingerprint: str, submitted: list[dict[str, Any]], in_flight: dict[str, Any] | None) -> None:
        value = {**self.identity, "fingerprint": fingerprint, "submitted": submitted, "in_flight": in_flight}
        Variable.set(self.key, value, description=self.description, serialize_json=True)

    def delete(self) -> None:
        Variable.delete(self.key)


class LingxingSubmitFulfillmentOperator(BaseOperator):
    """Submit orders to mark as shipped on Amazon, in chunks of ``max_orders_per_task`` (one Lingxing task each).

    Every order is checked before the first call, and every problem is reported at once. Returns (XCom) one
    ``{"task_id": "...", "message_ids": ["...", ...]}`` per chunk, which FulfillmentResultSensor and
    FulfillmentResultOperator take as ``fulfillment_task_ids``.

    submitFulfillment is not idempotent, so a chunk that may have reached Lingxing is never sent again: progress
    is kept per chunk (see SubmissionRecord), a retry resumes after the chunks already accepted, and a chunk
    whose fate is unknown fails the task without retry, naming the tasks already created.

    :param region: NA, EU or FE, any case; left out (or blank), derived from ``marketplace_id`` (templated).
    :param seller_id: the Amazon seller id in Lingxing, a string (templated).
    :param marketplace_id: the Amazon marketplace id, e.g. ATVPDKIKX0DER (templated).
    :param orders: submitFulfillment ``order_list`` items, or an XComArg giving them (templated).
    :param max_orders_per_task: orders per submission (templated).
    :param lingxing_conn_id: the Lingxing connection (templated).
    """

    template_fields: Sequence[str] = (
        "region",
        "seller_id",
        "marketplace_id",
        "orders",
        "max_orders_per_task",
        "lingxing_conn_id",
    )
    ui_color = "#f0eee4"

    def __init__(
        self,
        *,
        region: str | None = None,
        seller_id: str,
        marketplace_id: str,
        orders: Any,
        max_orders_per_task: int | str = DEFAULT_MAX_ORDERS_PER_TASK,
        lingxing_conn_id: str = "lingxing_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.region = region
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.orders = orders
        self.max_orders_per_task = max_orders_per_task
        self.lingxing_conn_id = lingxing_conn_id

    @cached_property
    def hook(self) -> LingxingHook:
        return _lingxing_hook(self)

    def _chunks(self) -> tuple[str, list[list[dict[str, Any]]]]:
        """The body's region and the orders in chunks; a bad argument raises before anything is sent."""
        size = arguments.positive_int(self.max_orders_per_task, "max_orders_per_task")
        body = submission(self.region, self.seller_id, self.marketplace_id, parse_rendered(self.orders))
        self.region, self.seller_id, self.marketplace_id = body["region"], body["seller_id"], body["marketplace_id"]
        return body["region"], chunks(body["order_list"], size)

    @airflow_errors
    def execute(self, context: Context) -> list[dict[str, Any]]:
        region, chunks = self._chunks()
        fingerprint = hashlib.sha256(
            compact_json([region, self.seller_id, self.marketplace_id, chunks]).encode()
        ).hexdigest()
        record = SubmissionRecord(context["ti"])
        submitted = self._resume(record, fingerprint, chunks)
        try:
            for k in range(len(submitted), len(chunks)):
                submitted.append(self._submit_chunk(record, fingerprint, chunks, submitted, k))
        finally:
            self.hook.close()
        try:
            record.delete()
        except Exception as error:
            self.log.warning("Could not delete the progress Variable %s: %s", record.key, error)
        self.log.info(
            "Submitted %d order(s) as %d Lingxing task(s): %s",
            sum(map(len, chunks)),
            len(chunks),
            ", ".join(s["task_id"] for s in submitted),
        )
        return submitted

    def _resume(self, record: SubmissionRecord, fingerprint: str, chunks: list[list[dict]]) -> list[dict]:
        """The chunks an earlier try of this task instance already submitted; refuses what cannot be resumed."""
        state = record.load()
        if not state:
            return []
        submitted = list(state.get("submitted") or [])
        created = _created(submitted)
        if state.get("fingerprint") != fingerprint:
            raise AirflowFailException(
                f"An earlier try of this task instance submitted a different order list (region, seller, "
                f"marketplace, orders or chunking changed). Already created in Lingxing: {created or 'none'}. "
                f"Nothing was sent. Check those tasks in Lingxing, then delete Variable {record.key} to submit "
                "this order list as new."
            )
        if (in_flight := state.get("in_flight")) is not None:
            k = int(in_flight["chunk"])
            raise AirflowFailException(
                f"An earlier try of this task instance was sending chunk {k + 1} of {len(chunks)} "
                f"({self._orders_of(chunks, k)}) when it ended: that chunk may or may not have reached Lingxing, "
                f"so nothing was sent. Already created: {created or 'none'}. Check in Lingxing whether a task "
                f"holds those orders; then edit Variable {record.key}: if it does, append "
                '{"task_id": "<id>", "message_ids": [...]} to "submitted"; either way set "in_flight" to null; '
                "and clear this task to send the remaining chunks."
            )
        if submitted:
            self.log.info(
                "Resuming: an earlier try already submitted %d of %d chunk(s): %s",
                len(submitted),
                len(chunks),
                created,
            )
        return submitted

    def _submit_chunk(
        self,
        record: SubmissionRecord,
        fingerprint: str,
        chunks: list[list[dict[str, Any]]],
        submitted: list[dict[str, Any]],
        k: int,
    ) -> dict[str, Any]:
        chunk = chunks[k]
        message_ids = [message_id(order) for order in chunk]
        try:
            record.save(fingerprint, submitted, {"chunk": k, "message_ids": message_ids})
        except Exception as error:
            raise self._failure(
                AirflowFailException,
                f"could not record progress in Variable {record.key} before sending it ({error})",
                chunks,
                submitted,
                k,
                retry_note="Nothing more was sent.",
            ) from error
        try:
            answer = self.hook.submit_fulfillment(self.region, self.seller_id, self.marketplace_id, chunk)
        except LingxingApiError as error:
            if isinstance(error, LingxingSubmissionUncertainError):
                raise self._uncertain(str(error), chunks, submitted, k, record) from error
            self._clear_in_flight(record, fingerprint, submitted)
            retry = error.retryable
            raise self._failure(
                AirflowException if retry else AirflowFailException,
                f"Lingxing refused it: {error}",
                chunks,
                submitted,
                k,
                retry_note=(
                    f"A retry of this task resumes at chunk {k + 1} (progress in Variable {record.key})."
                    if retry
                    else f"Not retried: fix the cause, then clear this task to resume at chunk {k + 1}."
                ),
            ) from error
        except LingxingInputError as error:
            self._clear_in_flight(record, fingerprint, submitted)
            raise self._failure(
                LingxingInputError, str(error), chunks, submitted, k, retry_note="Nothing more was sent."
            ) from error
        except Exception as error:
            raise self._uncertain(f"{type(error).__name__}: {error}", chunks, submitted, k, record) from error
        number = arguments.id_or_none(answer.get("task_id")) if isinstance(answer, Mapping) else None
        if number is None:
            raise self._uncertain(f"the answer {answer!r} carries no task id", chunks, submitted, k, record)
        task_id = str(number)
        entry = {"task_id": task_id, "message_ids": message_ids}
        status = answer.get("task_status")
        if answer.get("failure_reason"):
            self.log.warning("Task %s was created with status %s: %s", task_id, status, answer["failure_reason"])
        self.log.info("Chunk %d/%d: %d order(s) → task %s (%s)", k + 1, len(chunks), len(chunk), task_id, status)
        try:
            record.save(fingerprint, [*submitted, entry], None)
        except Exception as error:
            raise self._failure(
                AirflowFailException,
                f"it was created as task {task_id}, but that could not be recorded in Variable {record.key} ({error})",
                chunks,
                [*submitted, entry],
                k,
                retry_note="Nothing more was sent; the Variable still marks this chunk in flight.",
            ) from error
        return entry

    def _clear_in_flight(self, record: SubmissionRecord, fingerprint: str, submitted: list[dict]) -> None:
        """The chunk was refused, so it surely did not create a task: a later try may send it."""
        try:
            record.save(fingerprint, submitted, None)
        except Exception as error:
            self.log.warning("Could not clear the in-flight mark in Variable %s: %s", record.key, error)

    @staticmethod
    def _orders_of(chunks: list[list[dict]], k: int) -> str:
        start = sum(len(c) for c in chunks[:k])
        ids = [message_id(order) for order in chunks[k]]
        return f"orders[{start}:{start + len(ids)}], ids {_id_list(ids)}"

    def _failure(
        self,
        cls: type[Exception],
        what: str,
        chunks: list[list[dict]],
        submitted: list[dict],
        k: int,
        *,
        retry_note: str,
    ) -> Exception:
        where = f"chunk {k + 1} of {len(chunks)} ({self._orders_of(chunks, k)})"
        created = _created(submitted)
        return cls(
            f"Mark-shipped submission stopped at {where}: {what}. "
            f"Already created in Lingxing, do not submit these orders again: {created or 'none'}. {retry_note}"
        )

    def _uncertain(
        self, what: str, chunks: list[list[dict]], submitted: list[dict], k: int, record: SubmissionRecord
    ) -> Exception:
        return self._failure(
            AirflowFailException,
            f"it may have reached Lingxing ({what})",
            chunks,
            submitted,
            k,
            retry_note=(
                f"Not retried: check in Lingxing whether a task holds these orders. Variable {record.key} marks "
                "the chunk in flight, so no retry or clear sends anything until it is edited."
            ),
        )


class FulfillmentResultOperator(BaseOperator):
    """Load the outcome of every message of finished mark-shipped tasks into XCom or a SQL table.

    Rows follow ``api.results.COLUMNS``, one per message; tasks not yet finished are skipped (and named in the
    log). ``sql_conn_id=None`` returns the rows (at most 10,000); otherwise they are upserted into ``table`` in
    one transaction and a summary ``{"tasks", "rows", "errors", "warnings"}`` is returned.

    :param seller_id: the Amazon seller id in Lingxing (templated).
    :param fulfillment_task_ids: task ids, or the submit operator's XCom, which also gives each task's
        message ids so that every submitted message gets a row (templated).
    :param lingxing_conn_id: the Lingxing connection (templated).
    :param sql_conn_id: any Airflow SQL connection of a supported type (postgres, mysql, sqlite) (templated).
    :param table: ``table`` or ``schema.table`` (templated).
    :param create_table: create the table when missing.
    :param fail_on_message_errors: after loading, fail when a message has result_code Error.
    :param success_statuses: statuses meaning done, any case (as the sensor's).
    :param failure_statuses: statuses meaning failed, any case (as the sensor's); failed tasks are loaded.
    """

    template_fields: Sequence[str] = ("seller_id", "fulfillment_task_ids", "lingxing_conn_id", "sql_conn_id", "table")
    ui_color = "#e4f0e8"

    def __init__(
        self,
        *,
        seller_id: str,
        fulfillment_task_ids: Any,
        lingxing_conn_id: str = "lingxing_default",
        sql_conn_id: str | None = None,
        table: str = DEFAULT_TABLE,
        create_table: bool = True,
        fail_on_message_errors: bool = False,
        success_statuses: Sequence[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.seller_id = seller_id
        self.fulfillment_task_ids = fulfillment_task_ids
        self.lingxing_conn_id = lingxing_conn_id
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.create_table = create_table
        self.fail_on_message_errors = fail_on_message_errors
        self.success_statuses, self.failure_statuses = check_statuses(success_statuses, failure_statuses)
        if isinstance(table, str) and "{{" not in table:
            warehouse.validate_table(table)

    @cached_property
    def hook(self) -> LingxingHook:
        return _lingxing_hook(self)

    def _arguments(self) -> tuple[str, list[int], dict[str, list[str]]]:
        submissions = parse_rendered(self.fulfillment_task_ids)
        try:
            seller_id = arguments.seller_id(self.seller_id)
            task_ids = arguments.task_ids(submissions, "fulfillment_task_ids")
        except errors.LingxingInputError as error:
            raise LingxingInputError(str(error)) from None
        return seller_id, task_ids, result_rows.message_ids_by_task(submissions)

    def _sql_hook(self, sql_conn_id: str) -> Any:
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        hook = BaseHook.get_connection(sql_conn_id).get_hook()
        if not isinstance(hook, DbApiHook):
            raise LingxingInputError(
                f"sql_conn_id {sql_conn_id!r} gives a {type(hook).__name__}, not a SQL (DbApiHook) connection"
            )
        warehouse.load_for(hook)
        return hook

    def execute(self, context: Context) -> list[dict[str, Any]] | dict[str, int]:
        seller_id, task_ids, message_ids = self._arguments()
        sql_hook = None
        if self.sql_conn_id:
            warehouse.validate_table(self.table)
            sql_hook = self._sql_hook(self.sql_conn_id)
        try:
            answers = self.hook.get_fulfillment_results(seller_id, task_ids)
        finally:
            self.hook.close()
        rows = self._rows(seller_id, task_ids, answers, message_ids)
        summary = result_rows.summary(rows)
        if sql_hook is None:
            if len(rows) > MAX_XCOM_ROWS:
                raise AirflowFailException(
                    f"{len(rows)} result rows are more than XCom should carry (at most {MAX_XCOM_ROWS:,}): set "
                    "sql_conn_id (and table) to load them into a SQL table instead"
                )
            output: Any = [result_rows.xcom_row(row) for row in rows]
        else:
            loaded, changed = warehouse.upsert_rows(sql_hook, self.table, rows, create_table=self.create_table)
            self.log.info(
                "Upserted %d row(s) into %s: %d new or changed, %d already there",
                loaded,
                self.table,
                changed,
                loaded - changed,
            )
            output = summary
        self.log.info(
            "Loaded %(tasks)d task(s): %(rows)d row(s), %(errors)d error(s), %(warnings)d warning(s)", summary
        )
        if self.fail_on_message_errors and (errors := result_rows.error_rows(rows)):
            context["ti"].xcom_push(key="return_value", value=output)
            shown = "; ".join(
                f"task {r['task_id']} message {r['message_id']}: {r['result_description'] or r['result_message_code']}"
                for r in errors[:ERRORS_SHOWN]
            )
            more = f" … and {len(errors) - ERRORS_SHOWN} more" if len(errors) > ERRORS_SHOWN else ""
            raise AirflowFailException(
                f"{len(errors)} message(s) have result_code Error (the rows are loaded): {shown}{more}"
            )
        return output

    def _rows(
        self,
        seller_id: str,
        task_ids: list[int],
        answers: list[dict[str, Any]],
        message_ids: dict[str, list[str]],
    ) -> list[result_rows.Row]:
        progress = FulfillmentProgress(
            task_ids, success_statuses=self.success_statuses, failure_statuses=self.failure_statuses
        )
        for warning in progress.record(answers):
            self.log.warning("%s", warning)
        if progress.pending_ids:
            self.log.warning(
                "Skipped %d task(s) not yet complete (loaded on a later run): %s",
                len(progress.pending_ids),
                ", ".join(f"{i} ({progress.last_status[i]})" for i in progress.pending_ids),
            )
        for task_id, reason in sorted(progress.failed.items()):
            self.log.warning("Task %s failed (%s): loaded with its failure", task_id, reason)
        chosen = most_advanced(answers, progress.success_list, progress.failure_list)
        fetched_at = pendulum.now("UTC")
        notes: list[str] = []
        rows = []
        for task_id in task_ids:
            if task_id in progress.done or task_id in progress.failed:
                rows += result_rows.task_rows(
                    seller_id,
                    chosen[task_id],
                    fetched_at=fetched_at,
                    message_ids=message_ids.get(str(task_id), ()),
                    completed=task_id in progress.done,
                    notes=notes,
                )
        for note in notes:
            self.log.warning("%s", note)
        return rows
