"""FulfillmentResultOperator: load Amazon's per-message outcomes into XCom or a SQL table (and the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_lingxing.api import arguments
from airflow_provider_lingxing.api import results as result_rows
from airflow_provider_lingxing.api.progress import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    FulfillmentProgress,
    check_statuses,
    most_advanced,
)
from airflow_provider_lingxing.assets import results_alias, table_asset
from airflow_provider_lingxing.exceptions import LingxingInputError, airflow_errors
from airflow_provider_lingxing.hooks import lingxing_hook
from airflow_provider_lingxing.templated import parse_rendered
from airflow_provider_lingxing.warehouse import results as warehouse
from airflow_provider_lingxing.warehouse.dialects import TableSpec, sql_hook, validate_table
from airflow_provider_lingxing.warehouse.submissions import ERROR_CODE, LEDGER_TABLE, complete_orders, prepare_ledger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

DEFAULT_TABLE = "lingxing_fulfillment_results"
MAX_XCOM_ROWS = 10_000
ERRORS_SHOWN = 5


class FulfillmentResultOperator(BaseOperator):
    """Load the outcome of every message of finished mark-shipped tasks into XCom or a SQL table.

    Rows follow ``api.results.COLUMNS``, one per message; tasks not yet finished are skipped (and named in the
    log). ``sql_conn_id=None`` returns the rows (at most 10,000); otherwise they are upserted into ``table`` in
    one transaction and a summary ``{"tasks", "rows", "errors", "warnings"}`` is returned.

    :param seller_id: the Amazon seller id in Lingxing (templated).
    :param fulfillment_task_ids: task ids, or the submit operator's XCom, which also gives each task's
        message ids so that every submitted message gets a row (templated).
    :param lingxing_conn_id: the Lingxing connection (templated).
    :param sql_conn_id: any Airflow SQL connection of a supported type (postgres, sqlite) (templated).
    :param table: ``table`` or ``schema.table`` (templated).
    :param create_table: create the table when missing.
    :param ledger_table: the submission ledger in the same warehouse (the submit operator's ``ledger_table``):
        each loaded order is marked ``complete`` with its outcome, in the same transaction as the upsert
        (templated).
    :param fail_on_message_errors: after loading, fail when a message has result_code Error.
    :param success_statuses: statuses meaning done, any case (as the sensor's).
    :param failure_statuses: statuses meaning failed, any case (as the sensor's); failed tasks are loaded.
    """

    template_fields: Sequence[str] = (
        "seller_id",
        "fulfillment_task_ids",
        "lingxing_conn_id",
        "sql_conn_id",
        "table",
        "ledger_table",
    )
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
        ledger_table: str | None = None,
        fail_on_message_errors: bool = False,
        success_statuses: Sequence[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        **kwargs: Any,
    ) -> None:
        alias = results_alias(table) if sql_conn_id else None
        if alias is not None:  # once loaded, the table's Asset is added to it (assets.py)
            outlets = kwargs.get("outlets") or []
            kwargs["outlets"] = [*(outlets if isinstance(outlets, list) else [outlets]), alias]
        super().__init__(**kwargs)
        self._alias = alias
        self._written: list[tuple[str, TableSpec, int]] = []
        self.seller_id = seller_id
        self.fulfillment_task_ids = fulfillment_task_ids
        self.lingxing_conn_id = lingxing_conn_id
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.create_table = create_table
        self.ledger_table = ledger_table
        self.fail_on_message_errors = fail_on_message_errors
        self.success_statuses, self.failure_statuses = check_statuses(success_statuses, failure_statuses)
        if isinstance(table, str) and "{{" not in table:
            validate_table(table)
        if ledger_table is not None and not sql_conn_id:
            raise LingxingInputError("ledger_table needs sql_conn_id: the ledger is in the warehouse the rows go to")
        if isinstance(ledger_table, str) and "{{" not in ledger_table:
            validate_table(ledger_table, "ledger_table")

    @cached_property
    def hook(self) -> LingxingHook:
        return lingxing_hook(self.lingxing_conn_id, task=self)

    def _arguments(self) -> tuple[str, list[int], dict[str, list[str]]]:
        """The seller, the task ids and the submitted message ids per task; no task ids: nothing to load."""
        submissions = parse_rendered(self.fulfillment_task_ids)
        seller_id = arguments.seller_id(self.seller_id)
        if not arguments.submission_items(submissions, "fulfillment_task_ids"):
            return seller_id, [], {}
        task_ids = arguments.task_ids(submissions, "fulfillment_task_ids")
        return seller_id, task_ids, result_rows.message_ids_by_task(submissions)

    @airflow_errors
    def execute(self, context: Context) -> list[dict[str, Any]] | dict[str, int]:
        seller_id, task_ids, message_ids = self._arguments()
        warehouse_hook = None
        if self.sql_conn_id:
            validate_table(self.table)
            if self.ledger_table is not None:
                validate_table(self.ledger_table, "ledger_table")
            warehouse_hook = sql_hook(self.sql_conn_id)
        if not task_ids:
            self.log.info("No mark-shipped task to load results for: nothing to do")
            return [] if warehouse_hook is None else result_rows.summary([])
        try:
            answers = self.hook.get_fulfillment_results(seller_id, task_ids)
        finally:
            self.hook.close()
        rows = self._rows(seller_id, task_ids, answers, message_ids)
        summary = result_rows.summary(rows)
        if warehouse_hook is None:
            if len(rows) > MAX_XCOM_ROWS:
                raise AirflowFailException(
                    f"{len(rows)} result rows are more than XCom should carry (at most {MAX_XCOM_ROWS:,}): set "
                    "sql_conn_id (and table) to load them into a SQL table instead"
                )
            output: Any = [result_rows.xcom_row(row) for row in rows]
        else:
            self._load(warehouse_hook, seller_id, rows)
            self._announce(context, warehouse_hook)
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

    def _load(self, hook: Any, seller_id: str, rows: list[result_rows.Row]) -> None:
        """Upsert the rows and, with a ledger, mark their orders complete in the same transaction."""
        ledger_table = self.ledger_table
        completed: list[int] = []
        if ledger_table is not None:
            prepare_ledger(hook, ledger_table)

        def complete(cursor: Any) -> None:
            outcomes = [
                (
                    row["task_id"],
                    row["message_id"],
                    row["result_code"] or (ERROR_CODE if row["failure"] else None),
                    row["result_description"] or row["failure"],
                )
                for row in rows
                if row["message_id"]
            ]
            completed.append(complete_orders(cursor, hook, str(ledger_table), seller_id, outcomes))

        loaded, changed = warehouse.upsert_rows(
            hook, self.table, rows, create_table=self.create_table, also=complete if ledger_table else None
        )
        self.log.info(
            "Upserted %d row(s) into %s: %d new or changed, %d already there",
            loaded,
            self.table,
            changed,
            loaded - changed,
        )
        if completed:
            self.log.info("Marked %d order(s) complete in the ledger %s", completed[0], ledger_table)
        self._written = [(self.table, warehouse.RESULTS_TABLE, changed)]
        if ledger_table is not None:
            self._written.append((ledger_table, LEDGER_TABLE, completed[0] if completed else 0))

    def _announce(self, context: Context, hook: Any) -> None:
        """An event for the table's Asset when the load changed it: DAGs scheduled on that Asset run. (No
        `outlet_events` outside a task run, e.g. `execute()` called by a test: nothing to record then.)"""
        events = context.get("outlet_events")
        if self._alias is None or events is None or not self._written[0][2]:
            return
        try:
            asset = table_asset(hook, self.table)
        except Exception as error:
            self.log.warning("No Asset event for %s: its Asset could not be named (%s)", self.table, error)
            return
        events[self._alias].add(asset, extra={"rows": self._written[0][2]})
        self.log.info("Asset event for %s (%d new or changed row(s))", asset.name, self._written[0][2])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage, with the `[openlineage]` extra (else None, and nothing is imported): getFulfillmentResult
        in; the results table and the ledger out, with their columns and the rows written (lineage.py)."""
        try:
            from airflow_provider_lingxing.lineage import results_lineage
        except ImportError:
            return None
        hook = sql_hook(self.sql_conn_id) if self.sql_conn_id and self._written else None
        return results_lineage(self.hook.settings.base_url, hook, self._written)

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
