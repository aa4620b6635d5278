"""The results table in any supported SQL database, through its Airflow DbApiHook.

`upsert_rows` creates the table if missing and upserts every row in one transaction, keyed on the primary key
(`ON CONFLICT … DO UPDATE`): a re-run or an overlapping run neither duplicates nor loses a row, and a failure
half-way leaves the table as it was. PostgreSQL: COPY into a temporary table, then one INSERT … SELECT;
SQLite: multi-row INSERTs. `DbApiHook.insert_rows(replace=True)` does not fit: it commits every
`commit_every` rows, its executemany path inserts nothing at `commit_every=0` (`chunked(rows, 0)` is empty),
it turns every value into a string, and it logs every row on an error.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from datetime import datetime, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Any

from airflow_provider_lingxing.api.results import COLUMN_TYPES, COLUMNS, PRIMARY_KEY, TIMESTAMP_COLUMNS, Row
from airflow_provider_lingxing.exceptions import LingxingInputError

TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")
"""An identifier, optionally schema-qualified: spliced into SQL, so nothing else is accepted."""
STAGING_TABLE = "lingxing_results_staging"
"""PostgreSQL: each batch is COPYed into this temporary table (dropped at commit) before the one upsert."""
CONTENT_COLUMNS = tuple(c for c in COLUMNS if c not in (*PRIMARY_KEY, "fetched_at"))
DEFAULT_BATCH_ROWS = 1000
"""Rows per statement (COPY or INSERT): 14 columns × 1000 stays under SQLite's bound-parameter limit."""


def validate_table(table: Any) -> str:
    """`table` or `schema.table`; raises LingxingInputError for anything else, before any call."""
    if not isinstance(table, str) or not TABLE_NAME.fullmatch(table):
        raise LingxingInputError(
            f"table {table!r} is not a table name: use letters, digits and _ (not first), at most 63 each, "
            "optionally schema-qualified as schema.table"
        )
    return table


def _column_list(columns: Sequence[str] = COLUMNS) -> str:
    return ", ".join(columns)


def create_table_sql(table: str) -> str:
    columns = ",\n".join(f"    {name} {sql_type}" for name, sql_type in COLUMN_TYPES)
    return (
        f"CREATE TABLE IF NOT EXISTS {validate_table(table)} (\n{columns},\n"
        f"    PRIMARY KEY ({_column_list(PRIMARY_KEY)})\n)"
    )


def _on_conflict(distinct: str) -> str:
    """Update a row already there only when its content changed, so re-loading the same results leaves the
    table (fetched_at included: when this content was first fetched) exactly as it was, and writes nothing."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in PRIMARY_KEY)
    changed = " OR ".join(f"target.{c} {distinct} excluded.{c}" for c in CONTENT_COLUMNS)
    return f"ON CONFLICT ({_column_list(PRIMARY_KEY)}) DO UPDATE SET {updates} WHERE {changed}"


def _insert_into(table: str) -> str:
    return f"INSERT INTO {validate_table(table)} AS target ({_column_list()})"


@lru_cache(maxsize=32)
def upsert_sql(table: str, row_count: int, load_class: type[Load]) -> str:
    """One INSERT of `row_count` bound rows that updates a row already there whose content changed."""
    row = "(" + ", ".join([load_class.placeholder] * len(COLUMNS)) + ")"
    return f"{_insert_into(table)} VALUES {', '.join([row] * row_count)} {_on_conflict(load_class.distinct)}"


def _copy_text(value: Any) -> str:
    """One field of PostgreSQL's COPY text format (used with psycopg2, which has no write_row)."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Load:
    """The writes of one load, in one transaction, for one SQL dialect."""

    placeholder = "%s"
    distinct = "IS DISTINCT FROM"
    """The null-safe `differs from` operator."""

    def __init__(self, cursor: Any, table: str) -> None:
        self.cursor = cursor
        self.table = validate_table(table)
        self.changed = 0
        """Rows inserted or updated (rows whose content was already there are left alone)."""

    @staticmethod
    def timestamp(value: datetime) -> Any:
        """A UTC timestamp as bound to a TIMESTAMP column: a plain naive UTC datetime, so no session time zone
        shifts it and every driver adapts it natively."""
        utc = value.astimezone(timezone.utc)
        return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)

    def begin(self) -> None:
        """Runs first in the transaction, before the CREATE TABLE."""

    def write(self, values: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Runs last, before the commit."""


class PostgresLoad(Load):
    """COPY each batch into a temporary table, then one `INSERT … SELECT … ON CONFLICT` in key order."""

    def begin(self) -> None:
        columns = ", ".join(f"{name} {sql_type.removesuffix(' NOT NULL')}" for name, sql_type in COLUMN_TYPES)
        self.cursor.execute(f"CREATE TEMPORARY TABLE {STAGING_TABLE} ({columns}) ON COMMIT DROP")

    def write(self, values: Sequence[tuple[Any, ...]]) -> None:
        copy_sql = f"COPY {STAGING_TABLE} ({_column_list()}) FROM STDIN"
        if hasattr(self.cursor, "copy"):
            with self.cursor.copy(copy_sql) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            text = "".join("\t".join(map(_copy_text, row)) + "\n" for row in values)
            self.cursor.copy_expert(copy_sql, io.StringIO(text))

    def finish(self) -> None:
        self.cursor.execute(
            f"{_insert_into(self.table)} SELECT {_column_list()} FROM {STAGING_TABLE} "
            f"ORDER BY {_column_list(PRIMARY_KEY)} {_on_conflict(self.distinct)}"
        )
        self.changed = self.cursor.rowcount


class SqliteLoad(Load):
    """Multi-row `INSERT … ON CONFLICT` statements inside one explicit, immediate transaction (SQLite
    would otherwise run the CREATE TABLE outside it)."""

    placeholder = "?"
    distinct = "IS NOT"

    @staticmethod
    def timestamp(value: datetime) -> Any:
        return Load.timestamp(value).isoformat(sep=" ")

    def begin(self) -> None:
        self.cursor.execute("BEGIN IMMEDIATE")

    def write(self, values: Sequence[tuple[Any, ...]]) -> None:
        self.cursor.execute(upsert_sql(self.table, len(values), SqliteLoad), [v for row in values for v in row])
        self.changed += self.cursor.rowcount


LOADS: dict[str, type[Load]] = {"postgres": PostgresLoad, "postgresql": PostgresLoad, "sqlite": SqliteLoad}


def load_for(hook: Any) -> type[Load]:
    """The Load of a DbApiHook's connection type; unsupported types are refused by name."""
    conn_type = str(getattr(hook, "conn_type", "") or "").lower()
    if conn_type not in LOADS:
        raise LingxingInputError(
            f"the SQL connection is of type {conn_type or type(hook).__name__!r}, which the results table does "
            f"not support: use one of {', '.join(sorted(LOADS))}"
        )
    return LOADS[conn_type]


def row_values(rows: Iterable[Row], timestamp: Callable[[datetime], Any]) -> list[tuple[Any, ...]]:
    """Rows as tuples in column order, each distinct timestamp object converted once."""
    columns = itemgetter(*COLUMNS)
    positions = [COLUMNS.index(c) for c in TIMESTAMP_COLUMNS]
    converted: dict[int, tuple[datetime, Any]] = {}
    values = []
    for row in rows:
        cells = list(columns(row))
        for i in positions:
            if (value := cells[i]) is not None:
                if id(value) not in converted:
                    converted[id(value)] = (value, timestamp(value))
                cells[i] = converted[id(value)][1]
        values.append(tuple(cells))
    return values


def unique_rows(rows: Iterable[Row]) -> list[Row]:
    """The last row per primary key: one statement may not touch a key twice."""
    key = itemgetter(*PRIMARY_KEY)
    return list({key(row): row for row in rows}.values())


def upsert_rows(
    hook: Any,
    table: str,
    rows: Iterable[Row],
    *,
    create_table: bool = True,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> tuple[int, int]:
    """Create `table` if asked and missing, upsert `rows`, commit once; roll everything back on any error.

    Returns (rows loaded, rows inserted or changed): a row already there with the same content is left alone.
    """
    table = validate_table(table)
    load_class = load_for(hook)
    values = row_values(unique_rows(rows), load_class.timestamp)
    with closing(hook.get_conn()) as conn:
        if getattr(conn, "autocommit", False) is True:
            conn.autocommit = False
        try:
            with closing(conn.cursor()) as cursor:
                load = load_class(cursor, table)
                load.begin()
                if create_table:
                    cursor.execute(create_table_sql(table))
                for start in range(0, len(values), batch_rows):
                    load.write(values[start : start + batch_rows])
                load.finish()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return len(values), load.changed
