"""Mark orders shipped on Amazon through Lingxing's submitFulfillment: every order reaches Lingxing at most once.

With `sql_conn_id` each order is claimed in the submission ledger (warehouse/ledger.py) before it is sent, so
runs, retries, clears, mapped instances and workers never send one twice; without it a Variable per task
instance does the same for that task instance's tries (operators/submission_record.py). States: docs/ledger.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_lingxing.api import arguments
from airflow_provider_lingxing.api.endpoints import SUBMIT_FULFILLMENT
from airflow_provider_lingxing.api.errors import LingxingError
from airflow_provider_lingxing.api.orders import message_id, normalize_order, order_problems
from airflow_provider_lingxing.api.signing import compact_json
from airflow_provider_lingxing.exceptions import LingxingInputError, airflow_errors
from airflow_provider_lingxing.hooks import lingxing_hook
from airflow_provider_lingxing.operators.chunks import (
    ACCEPTED,
    NOT_SENT,
    ChunkOutcome,
    SubmissionBook,
    UnclaimedOrders,
    failure_report,
    id_list,
    log_standing,
    send_chunks,
)
from airflow_provider_lingxing.operators.submission_record import SubmissionRecord
from airflow_provider_lingxing.templated import parse_rendered
from airflow_provider_lingxing.warehouse.dialects import sql_hook, validate_table
from airflow_provider_lingxing.warehouse.ledger import SubmissionLedger
from airflow_provider_lingxing.warehouse.orders import orders_from_rows, orders_queries, read_rows
from airflow_provider_lingxing.warehouse.submissions import (
    DEFAULT_LEDGER_TABLE,
    LEDGER_TABLE,
    RESUBMIT_NEVER,
    RESUBMIT_ON_ERROR,
    UNCERTAIN,
    Claim,
    OpenTasks,
    TaskIdentity,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

DEFAULT_MAX_ORDERS_PER_TASK = 100
DEFAULT_CLAIM_TIMEOUT = timedelta(hours=1)
DEFAULT_MAX_TASK_AGE = timedelta(days=3)
MAX_PROBLEMS_SHOWN = 50


def fingerprint(order: dict[str, Any]) -> str:
    """The order's content as sent (normalised): a changed tracking number changes it."""
    return hashlib.sha256(compact_json(order).encode()).hexdigest()


def _duration(value: Any, argument: str) -> timedelta:
    if isinstance(value, timedelta) and value >= timedelta(0):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    raise LingxingInputError(f"{argument} must be a timedelta or a number of seconds ≥ 0, got {value!r}")


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


class LingxingSubmitFulfillmentOperator(BaseOperator):
    """Submit orders to mark as shipped on Amazon, in chunks of ``max_orders_per_task`` (one Lingxing task each),
    up to the endpoint's capacity at once.

    Every order is checked before anything is claimed or sent, and every problem is reported at once. Returns
    (XCom) one ``{"task_id": "...", "message_ids": ["...", ...]}`` per open task, which FulfillmentResultSensor
    and FulfillmentResultOperator take as ``fulfillment_task_ids``: the tasks accepted now, plus (with a ledger)
    those accepted earlier whose results are not loaded yet, up to ``max_task_age``; ``[]`` when there is none.

    :param region: NA, EU or FE, any case; left out (or blank), derived from ``marketplace_id`` (templated).
    :param seller_id: the Amazon seller id in Lingxing, a string (templated).
    :param marketplace_id: the Amazon marketplace id, e.g. ATVPDKIKX0DER (templated).
    :param orders: submitFulfillment ``order_list`` items, or an XComArg giving them (templated).
    :param orders_sql: instead of ``orders``: a query (or ``.sql`` file) on ``sql_conn_id`` returning one row per
        order item with columns id, platform_order_no, tracking_no, carrier_code, carrier_name,
        shipping_service, order_item_no, quantity (templated). Orders the ledger settled are dropped in SQL.
    :param orders_sql_parameters: its parameters, a dict or a list, in the driver's style (templated).
    :param max_orders_per_task: orders per submission (templated).
    :param lingxing_conn_id: the Lingxing connection (templated).
    :param sql_conn_id: the warehouse holding the submission ledger (PostgreSQL, MySQL/MariaDB, SQLite)
        (templated). Without it, a Variable per task instance keeps what it sent.
    :param ledger_table: the ledger's table, created on first use (templated).
    :param resubmit: ``"never"`` (an order id is sent once, ever) or ``"on_error"`` (an order whose outcome was
        Error, or that Lingxing refused, is sent again once its content changed).
    :param claim_timeout: after this, a claim or a send left by a run that died is taken over (or, if it may
        have been sent, reported uncertain) by any run; the same task's retry or clear does so at once.
    :param max_task_age: accepted tasks older than this are no longer returned for their results (reported).
    """

    template_fields: Sequence[str] = (
        "region",
        "seller_id",
        "marketplace_id",
        "orders",
        "max_orders_per_task",
        "lingxing_conn_id",
        "sql_conn_id",
        "ledger_table",
        "orders_sql",
        "orders_sql_parameters",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"orders_sql": "sql", "orders_sql_parameters": "json"}
    ui_color = "#f0eee4"

    def __init__(
        self,
        *,
        region: str | None = None,
        seller_id: str,
        marketplace_id: str,
        orders: Any = None,
        max_orders_per_task: int | str = DEFAULT_MAX_ORDERS_PER_TASK,
        lingxing_conn_id: str = "lingxing_default",
        sql_conn_id: str | None = None,
        ledger_table: str = DEFAULT_LEDGER_TABLE,
        orders_sql: str | None = None,
        orders_sql_parameters: Any = None,
        resubmit: str = RESUBMIT_NEVER,
        claim_timeout: timedelta | float = DEFAULT_CLAIM_TIMEOUT,
        max_task_age: timedelta | float = DEFAULT_MAX_TASK_AGE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (orders is None) == (orders_sql is None):
            raise LingxingInputError("give the orders either as orders (a list or an XCom) or as orders_sql")
        if orders_sql is not None and not sql_conn_id:
            raise LingxingInputError("orders_sql needs sql_conn_id: the warehouse it runs on")
        if resubmit not in (RESUBMIT_NEVER, RESUBMIT_ON_ERROR):
            raise LingxingInputError(f"resubmit must be {RESUBMIT_NEVER!r} or {RESUBMIT_ON_ERROR!r}, got {resubmit!r}")
        if resubmit == RESUBMIT_ON_ERROR and not sql_conn_id:
            raise LingxingInputError("resubmit='on_error' needs sql_conn_id: outcomes are kept in the ledger")
        if not _templated(ledger_table):
            validate_table(ledger_table, "ledger_table")
        self.region = region
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.orders = orders
        self.max_orders_per_task = max_orders_per_task
        self.lingxing_conn_id = lingxing_conn_id
        self.sql_conn_id = sql_conn_id
        self.ledger_table = ledger_table
        self.orders_sql = orders_sql
        self.orders_sql_parameters = orders_sql_parameters
        self.resubmit = resubmit
        self.claim_timeout = _duration(claim_timeout, "claim_timeout")
        self.max_task_age = _duration(max_task_age, "max_task_age")
        self._claimed, self._sent = 0, False
        self._standing: tuple[OpenTasks, tuple[int, list[str]]] | None = None
        """Open tasks and uncertain orders, read once every batch is claimed (while requests are in flight)."""

    @cached_property
    def hook(self) -> LingxingHook:
        return lingxing_hook(self.lingxing_conn_id, task=self)

    def _arguments(self, orders: Any = None) -> tuple[str, int]:
        """The region (derived from the marketplace when left out) and the chunk size; seller and marketplace as
        the rules read them. Every problem, with the given `orders`' own, raises at once before any call."""
        problems: list[str] = []

        def check(rule: Any, *values: Any) -> Any:
            try:
                return rule(*values)
            except LingxingError as error:
                problems.append(str(error))
                return None

        size = arguments.positive_int(self.max_orders_per_task, "max_orders_per_task")
        seller = check(arguments.seller_id, self.seller_id)
        marketplace = check(arguments.marketplace_id, self.marketplace_id)
        region = check(arguments.submission_region, self.region, marketplace) if marketplace else None
        if self.sql_conn_id:
            check(validate_table, self.ledger_table, "ledger_table")
        if orders is not None:
            problems += order_problems(orders)
        if problems:
            shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
            more = f"\n  … and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
            raise LingxingInputError(
                f"{len(problems)} problem(s) in the mark-shipped submission, nothing was claimed or sent:\n  "
                f"{shown}{more}"
            )
        self.seller_id, self.marketplace_id = seller, marketplace
        return str(region), size

    def _sql_orders(self, ledger: SubmissionLedger) -> tuple[list[dict[str, Any]], int]:
        """The orders orders_sql returns that the ledger has not settled, and how many it had settled."""
        (query, parameters), count = orders_queries(
            str(self.orders_sql), parameters_of(self.orders_sql_parameters), ledger
        )
        columns, rows = read_rows(ledger.conn, query, parameters)
        orders = orders_from_rows(columns, rows)
        (total,) = read_rows(ledger.conn, *count)[1][0]
        settled = int(total) - len(orders)
        return orders, settled

    def _token_before_sending(self, book: SubmissionBook, claimed: list[str]) -> None:
        """The access token, got here once rather than by every chunk's thread at once; if that fails, nothing
        was sent: the claims are released and the error raised."""
        keeper = getattr(self.hook, "token_keeper", None)
        if keeper is None:
            return
        try:
            keeper.current()
        except BaseException:
            book.release(claimed)
            raise

    def _check_connection(self) -> None:
        """A missing or wrong Lingxing connection fails here, before anything is claimed or recorded."""
        try:
            _ = self.hook.settings
        except LingxingInputError:
            raise
        except Exception as error:
            raise LingxingInputError(
                f"lingxing_conn_id {self.lingxing_conn_id!r}: the connection could not be read ({error}); nothing "
                "was claimed or sent"
            ) from None

    @airflow_errors
    def execute(self, context: Context) -> list[dict[str, Any]]:
        given = None if self.orders_sql is not None else parse_rendered(self.orders)
        region, size = self._arguments(given)
        orders = given  # validated; each batch is normalised as it is claimed (_claimed_batches)
        if orders is not None and not self.sql_conn_id:
            self._check_connection()
            return self._submit(SubmissionRecord(context["ti"]), region, orders, size, settled=0)
        warehouse = sql_hook(self.sql_conn_id, "sql_conn_id", "the submission ledger")
        self._check_connection()
        ledger = SubmissionLedger(
            warehouse,
            self.ledger_table,
            seller_id=self.seller_id,
            marketplace_id=self.marketplace_id,
            identity=TaskIdentity.of(context["ti"]),
            claim_timeout=self.claim_timeout,
            max_task_age=self.max_task_age,
            resubmit=self.resubmit,
        )
        with ledger:
            orders, settled = (orders, 0) if orders is not None else self._sql_orders(ledger)
            return self._submit(ledger, region, orders, size, settled=settled)

    def _submit(
        self, book: SubmissionBook, region: str, orders: list[dict[str, Any]], size: int, *, settled: int
    ) -> list[dict[str, Any]]:
        workers = min(SUBMIT_FULFILLMENT.capacity, self.hook.max_in_flight or SUBMIT_FULFILLMENT.capacity)
        claim = Claim()
        self._standing = None
        try:
            outcomes = send_chunks(
                self.hook,
                book,
                self._claimed_batches(book, orders, size, size * workers, claim),
                region=region,
                seller_id=self.seller_id,
                marketplace_id=self.marketplace_id,
                workers=workers,
                log=self.log,
            )
        finally:
            self.hook.close()
        self._claimed, self._sent = len(claim.mine), any(o.state != NOT_SENT for o in outcomes)
        seen = set(claim.mine).union(*claim.skipped.values())
        if unclaimed := [message_id(order) for order in orders if message_id(order) not in seen]:
            rest = ChunkOutcome(len(outcomes) + 1, unclaimed, NOT_SENT, detail="not claimed: the sending stopped first")
            rest.retryable = True
            outcomes.append(rest)
        accepted = [o for o in outcomes if o.state == ACCEPTED]
        open_tasks, uncertain = self._standing or (book.open_tasks(), book.uncertain_orders())
        open_tasks = open_tasks.including({str(o.task_id): o.order_ids for o in accepted})
        already = settled + sum(len(ids) for reason, ids in claim.skipped.items() if reason.startswith("already"))
        self.log.info(
            "Orders: %d read, %d claimed, %d sent as %d task(s), %d skipped as already sent, %d skipped otherwise",
            len(orders) + settled,
            len(claim.mine),
            sum(len(o.order_ids) for o in accepted),
            len(accepted),
            already,
            sum(map(len, claim.skipped.values())) + settled - already,
        )
        log_standing(
            self.log,
            book,
            open_tasks,
            {o.task_id for o in accepted},
            uncertain,
            where=(self.seller_id, self.marketplace_id),
            max_task_age=self.max_task_age,
        )
        if any(o.state != ACCEPTED or not o.recorded for o in outcomes):
            created = [t for t in open_tasks.tasks if t["task_id"] in open_tasks.own]
            report = failure_report(outcomes, created, lambda ids: book.release_statement(UNCERTAIN, ids))
            failed = [o for o in outcomes if o.state != ACCEPTED or not o.recorded]
            retry = all(o.state == NOT_SENT and o.retryable for o in failed)
            cause = next((o.error for o in failed if o.error is not None), None)
            raise (AirflowException if retry else AirflowFailException)(report) from cause
        return open_tasks.tasks

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage, with the `[openlineage]` extra (else None, and nothing is imported): the tables orders_sql
        read in; submitFulfillment (when orders were sent) and the ledger (the orders claimed) out (lineage.py)."""
        try:
            from airflow_provider_lingxing.lineage import submission_lineage
        except ImportError:
            return None
        hook = sql_hook(self.sql_conn_id, "sql_conn_id", "the submission ledger") if self.sql_conn_id else None
        return submission_lineage(
            self.hook.settings.base_url,
            hook,
            sent=self._sent,
            orders_sql=(str(self.sql_conn_id), str(self.orders_sql)) if self.orders_sql is not None else None,
            ledger=(self.ledger_table, LEDGER_TABLE, self._claimed) if hook is not None else None,
        )

    def _claimed_batches(
        self, book: SubmissionBook, orders: list[dict[str, Any]], size: int, per_batch: int, claim: Claim
    ) -> Iterator[list[list[dict[str, Any]]]]:
        """The orders (validated) in chunks, normalised and claimed a batch (`per_batch` orders) at a time as the
        sending asks for them: the first requests leave after one batch's claim, and the next is claimed while they
        are in flight. `claim` gathers the batches' claims."""
        for start in range(0, max(len(orders), 1), per_batch):
            part = [normalize_order(order) for order in orders[start : start + per_batch]]
            try:
                got = book.claim({message_id(order): fingerprint(order) for order in part})
            except Exception as error:
                if start == 0:
                    raise
                raise UnclaimedOrders([message_id(order) for order in orders[start:]], error) from error
            if got.uncertain_now:
                self.log.error(
                    "%d order(s) were being sent when the task sending them ended, so they may have reached "
                    "Lingxing: now uncertain, never sent again on their own (ids %s)",
                    len(got.uncertain_now),
                    id_list(got.uncertain_now),
                )
            for reason, ids in got.skipped.items():
                self.log.info("Not sent: %d order(s) %s (ids %s)", len(ids), reason, id_list(ids))
                claim.skipped[reason] += ids
            claim.mine += got.mine
            mine = set(got.mine)
            to_send = [order for order in part if message_id(order) in mine]
            if start == 0 and to_send:
                self._token_before_sending(book, got.mine)
            yield [to_send[k : k + size] for k in range(0, len(to_send), size)]
        try:  # every batch is taken: read what the report needs while the last requests are in flight
            self._standing = (book.open_tasks(), book.uncertain_orders())
        except Exception as error:
            self.log.debug("The open tasks are read again after sending: %s", error)


def parameters_of(value: Any) -> Any:
    """orders_sql_parameters as rendered: a dict, a list, or their text (a template renders them as text)."""
    return parse_rendered(value) if isinstance(value, str) else value
