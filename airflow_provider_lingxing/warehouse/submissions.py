"""The submission ledger's table: its states, columns and the task identity that claims; the results
operator's `complete` marks. The claim and the chunk transitions are in warehouse/ledger.py; the states and
how to release an uncertain order in docs/ledger.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_lingxing.warehouse.dialects import Index, TableSpec, dialect_for, validate_table

CLAIMED, SENDING, ACCEPTED, REFUSED, UNCERTAIN, COMPLETE = (
    "claimed",
    "sending",
    "accepted",
    "refused",
    "uncertain",
    "complete",
)
RELEASED = "released"
"""Not a state: a released row is deleted, and any run may claim the order."""
DEFAULT_LEDGER_TABLE = "lingxing_fulfillment_submissions"
RESUBMIT_NEVER, RESUBMIT_ON_ERROR = "never", "on_error"
ERROR_CODE = "Error"
LEDGER_TABLE = TableSpec(
    columns=(
        ("seller_id", "VARCHAR(64) NOT NULL"),
        ("marketplace_id", "VARCHAR(64) NOT NULL"),
        ("order_id", "VARCHAR(32) NOT NULL"),
        ("state", "VARCHAR(16) NOT NULL"),
        ("task_id", "VARCHAR(32)"),
        ("fingerprint", "VARCHAR(64) NOT NULL"),
        ("dag_id", "VARCHAR(250) NOT NULL"),
        ("run_id", "VARCHAR(250) NOT NULL"),
        ("airflow_task_id", "VARCHAR(250) NOT NULL"),
        ("map_index", "INTEGER NOT NULL"),
        ("try_number", "INTEGER NOT NULL"),
        ("claim_id", "VARCHAR(32) NOT NULL"),
        ("claimed_at", "TIMESTAMP NOT NULL"),
        ("updated_at", "TIMESTAMP NOT NULL"),
        ("refusal", "TEXT"),
        ("result_code", "VARCHAR(32)"),
        ("result_description", "TEXT"),
        ("outstanding", "INTEGER"),
    ),
    primary_key=("order_id", "seller_id", "marketplace_id"),
    indexes=(Index("outstanding_idx", ("outstanding", "seller_id", "marketplace_id"), where="outstanding = 1"),),
    fillfactor=70,
)
"""The key leads with the order id: the claim, every transition, the SQL filter and the complete marks look
orders up by id. `outstanding` is 1 until the order's outcome is loaded (NULL once complete): its index serves
the reads by state (open tasks, uncertain orders, sends left by a task that died) without touching the history.
It is partial where the database can (PostgreSQL, SQLite), so only a read that says `outstanding = 1` uses it: on
a table with no statistics yet (a first load), PostgreSQL's planner would otherwise scan the whole seller through
it for every lookup by id (100 ids among 10,000 rows: 2.6 ms instead of 0.3 ms).
No index holds a column a chunk's transitions change (state, task id, times), so on PostgreSQL they can be HOT
updates, in the pages' free space (fillfactor 70), with no index write."""
IDS_PER_STATEMENT = 1000
"""Order ids bound in one statement: a claim batch (10 chunks of 100) goes in one; far within every driver's and
SQLite's (32,766) parameter limits."""
MAX_TEXT = 1000


@dataclass
class Claim:
    """The outcome of claiming a list of orders."""

    mine: list[str] = field(default_factory=list)
    """Order ids claimed by this execution: to be sent."""
    skipped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Reason → order ids not claimed."""
    uncertain_now: list[str] = field(default_factory=list)
    """Orders found `sending` by a task that died (this task's earlier try, or any after claim_timeout): now
    uncertain."""


@dataclass
class OpenTasks:
    tasks: list[dict[str, Any]]
    """`{"task_id", "message_ids"}` per accepted task whose results are not loaded (and this task's own)."""
    stale: list[str]
    """Accepted task ids older than max_task_age: not returned, reported."""
    own: list[str] = field(default_factory=list)
    """Task ids this task instance created (in any try)."""

    def including(self, created: Mapping[str, Sequence[str]]) -> OpenTasks:
        """These tasks (read while the last requests were in flight) and the tasks (task id → message ids) this
        execution created, read or not."""
        known = {task["task_id"] for task in self.tasks}
        added = [
            {"task_id": task_id, "message_ids": sorted(ids, key=by_number)}
            for task_id, ids in created.items()
            if task_id not in known
        ]
        tasks = sorted(self.tasks + added, key=lambda task: by_number(task["task_id"]))
        return OpenTasks(tasks, self.stale, sorted({*self.own, *created}, key=by_number))


def by_number(digits: str) -> tuple[int, str]:
    """Order digit strings as numbers."""
    return (len(digits), digits)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TaskIdentity:
    """The Airflow task instance that claims: its retries and clears share everything but try_number."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    @classmethod
    def of(cls, ti: Any) -> TaskIdentity:
        map_index = getattr(ti, "map_index", -1)
        return cls(
            str(ti.dag_id),
            str(ti.run_id),
            str(ti.task_id),
            map_index if isinstance(map_index, int) else -1,
            int(getattr(ti, "try_number", 1) or 1),
        )

    def owns(self, row: Mapping[str, Any]) -> bool:
        return (row["dag_id"], row["run_id"], row["airflow_task_id"], int(row["map_index"])) == (
            self.dag_id,
            self.run_id,
            self.task_id,
            self.map_index,
        )


@dataclass(frozen=True)
class Transition:
    """One chunk's move: to SENDING (from claimed, before its request), ACCEPTED (with its task id), REFUSED or
    UNCERTAIN (with the message), CLAIMED (back from sending: sent again by this execution) or RELEASED."""

    ids: tuple[str, ...]
    to: str
    task_id: str | None = None
    message: str = ""


def as_utc(value: Any) -> datetime:
    """A timestamp read back (a naive UTC datetime, or SQLite's ISO text) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def batches(ids: Sequence[str], size: int = IDS_PER_STATEMENT) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def statements(moves: Sequence[Transition]) -> Iterator[list[tuple[Transition, Sequence[str]]]]:
    """The moves packed into statements of at most IDS_PER_STATEMENT ids: (move, its ids in this statement) each;
    a move with more ids is split over several."""
    group: list[tuple[Transition, Sequence[str]]] = []
    size = 0
    for move in moves:
        for ids in batches(move.ids):
            if group and size + len(ids) > IDS_PER_STATEMENT:
                yield group
                group, size = [], 0
            group.append((move, ids))
            size += len(ids)
    if group:
        yield group


def literal(text: str) -> str:
    """A string literal for a statement shown to a person (never executed by the provider)."""
    return "'" + text.replace("'", "''") + "'"


def complete_orders(
    cursor: Any, hook: Any, table: str, seller_id: str, outcomes: Iterable[tuple[str, str, str | None, str | None]]
) -> int:
    """Mark orders `complete` with their outcome, (task id, order id, result_code, result_description) each, in
    the caller's transaction (the results upsert's). Returns the rows changed; orders not accepted (or already
    complete with that outcome) are left alone."""
    dialect = dialect_for(hook, "the submission ledger")
    table = validate_table(table, "ledger_table")
    groups: dict[tuple[str, str | None, str | None], list[str]] = defaultdict(list)
    for task_id, order_id, code, description in outcomes:
        groups[(task_id, code, description)].append(order_id)
    p = dialect.placeholder
    now = dialect.timestamp(utc_now())
    changed = 0
    for (task_id, code, description), ids in groups.items():
        outcome_differs = f"{dialect.differs('result_code', p)} OR {dialect.differs('result_description', p)}"
        for batch in batches(ids):
            cursor.execute(
                f"UPDATE {table} SET state = '{COMPLETE}', outstanding = NULL, result_code = {p}, "
                f"result_description = {p}, updated_at = {p} WHERE {dialect.in_list('order_id', len(batch))} "
                f"AND seller_id = {p} AND task_id = {p} "
                f"AND (state = '{ACCEPTED}' OR (state = '{COMPLETE}' AND ({outcome_differs})))",
                [code, description, now, *dialect.in_values(batch), seller_id, task_id, code, description],
            )
            changed += max(int(cursor.rowcount), 0)
    return changed


def prepare_ledger(hook: Any, table: str) -> None:
    """Create the ledger table if missing (race-free), e.g. before the results operator writes into it."""
    dialect = dialect_for(hook, "the submission ledger")
    with closing(hook.get_conn()) as conn:
        dialect.prepare_table(conn, validate_table(table, "ledger_table"), LEDGER_TABLE)
