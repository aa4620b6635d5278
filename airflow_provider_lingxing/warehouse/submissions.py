"""The submission ledger's table: its states, columns and the task identity that claims; the results
operator's `complete` marks. The claim and the chunk transitions are in warehouse/ledger.py; the states and
how to release an uncertain order in docs/ledger.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_lingxing.warehouse.dialects import TableSpec, dialect_for, validate_table

CLAIMED, SENDING, ACCEPTED, REFUSED, UNCERTAIN, COMPLETE = (
    "claimed",
    "sending",
    "accepted",
    "refused",
    "uncertain",
    "complete",
)
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
    ),
    primary_key=("seller_id", "marketplace_id", "order_id"),
    indexes=(
        ("state_idx", ("state", "seller_id", "marketplace_id")),
        ("task_idx", ("task_id",)),
        ("run_idx", ("run_id", "dag_id")),
    ),
)
IDS_PER_STATEMENT = 500
MAX_TEXT = 1000


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


def as_utc(value: Any) -> datetime:
    """A timestamp read back (a naive UTC datetime, or SQLite's ISO text) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def batches(ids: Sequence[str], size: int = IDS_PER_STATEMENT) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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
                f"UPDATE {table} SET state = '{COMPLETE}', result_code = {p}, result_description = {p}, "
                f"updated_at = {p} WHERE task_id = {p} AND seller_id = {p} AND order_id IN "
                f"({dialect.placeholders(len(batch))}) AND (state = '{ACCEPTED}' OR (state = '{COMPLETE}' "
                f"AND ({outcome_differs})))",
                [code, description, now, task_id, seller_id, *batch, code, description],
            )
            changed += max(int(cursor.rowcount), 0)
    return changed


def prepare_ledger(hook: Any, table: str) -> None:
    """Create the ledger table if missing (race-free), e.g. before the results operator writes into it."""
    dialect = dialect_for(hook, "the submission ledger")
    with closing(hook.get_conn()) as conn:
        dialect.prepare_table(conn, validate_table(table, "ledger_table"), LEDGER_TABLE)
