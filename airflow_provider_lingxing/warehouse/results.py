"""The results table in any supported SQL database, through its Airflow DbApiHook.

`upsert_rows` creates the table if missing (race-free, see dialects) and upserts every row in one transaction,
keyed on the primary key: a re-run or an overlapping run neither duplicates nor loses a row, and a failure
half-way leaves the table as it was. A row whose content is already there is left alone (its `fetched_at`
included). PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT; SQLite: multi-row
INSERT … ON CONFLICT; MySQL: multi-row INSERT … ON DUPLICATE KEY UPDATE. The caller may add writes of its own
to the same transaction (the submission ledger's `complete` marks).

`DbApiHook.insert_rows(replace=True)` does not fit: it commits every `commit_every` rows (a failure half-way
leaves half a load, and nothing else can join its transaction), its executemany path inserts nothing at
`commit_every=0`, it turns every value into a string, its replace overwrites unchanged rows, and it logs
every row on an error.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from airflow_provider_lingxing.api.results import COLUMN_TYPES, COLUMNS, PRIMARY_KEY, TIMESTAMP_COLUMNS, Row
from airflow_provider_lingxing.warehouse.dialects import (
    STAGING_TABLE,
    Dialect,
    MySqlDialect,
    SqliteDialect,
    TableSpec,
    dialect_for,
    validate_table,
)

RESULTS_TABLE = TableSpec(COLUMN_TYPES, PRIMARY_KEY)
CONTENT_COLUMNS = tuple(c for c in COLUMNS if c not in (*PRIMARY_KEY, "fetched_at"))
"""A row is rewritten only when one of these changed."""
DEFAULT_BATCH_ROWS = 1000
"""Rows per statement (COPY or INSERT): 14 columns × 1000 stays under SQLite's bound-parameter limit."""
STAGING = f"pg_temp.{STAGING_TABLE}"
"""Schema-qualified, so that no table of the user's search path can stand in for it."""


def create_table_sql(table: str, dialect: Dialect | None = None) -> str:
    return (dialect or Dialect()).create_table_sql(table, RESULTS_TABLE)


def _column_list(columns: Sequence[str] = COLUMNS) -> str:
    return ", ".join(columns)


@lru_cache(maxsize=32)
def upsert_sql(table: str, row_count: int, dialect: Dialect) -> str:
    """One INSERT of `row_count` bound rows that updates a row already there whose content changed."""
    values = dialect.rows_placeholders(len(COLUMNS), row_count)
    alias = "" if isinstance(dialect, MySqlDialect) else " AS target"
    conflict = dialect.upsert_clause(PRIMARY_KEY, COLUMNS, CONTENT_COLUMNS, "target")
    return f"INSERT INTO {validate_table(table)}{alias} ({_column_list()}) VALUES {values} {conflict}"


def _copy_text(value: Any) -> str:
    """One field of PostgreSQL's COPY text format (used with psycopg2, which has no write_row)."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Load:
    """The writes of one load, in one transaction: `begin`, `write` per batch, `finish`."""

    dialect: Dialect = Dialect()

    def __init__(self, cursor: Any, table: str) -> None:
        self.cursor = cursor
        self.table = validate_table(table)
        self.changed = 0
        """Rows inserted or updated (rows whose content was already there are left alone)."""

    def begin(self) -> None:
        """Runs first in the transaction, before the CREATE TABLE."""
        self.dialect.begin(self.cursor)

    def write(self, values: Sequence[tuple[Any, ...]]) -> None:
        self.cursor.execute(upsert_sql(self.table, len(values), self.dialect), [v for row in values for v in row])
        self.changed += self.cursor.rowcount

    def finish(self) -> None:
        """Runs last, before the caller's own writes and the commit."""


class PostgresLoad(Load):
    """COPY each batch into a temporary table, then one `INSERT … SELECT … ON CONFLICT` in key order."""

    def begin(self) -> None:
        columns = ", ".join(f"{name} {sql_type.removesuffix(' NOT NULL')}" for name, sql_type in COLUMN_TYPES)
        self.cursor.execute(f"CREATE TEMPORARY TABLE {STAGING_TABLE} ({columns}) ON COMMIT DROP")

    def write(self, values: Sequence[tuple[Any, ...]]) -> None:
        copy_sql = f"COPY {STAGING} ({_column_list()}) FROM STDIN"
        if hasattr(self.cursor, "copy"):
            with self.cursor.copy(copy_sql) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            text = "".join("\t".join(map(_copy_text, row)) + "\n" for row in values)
            self.cursor.copy_expert(copy_sql, io.StringIO(text))

    def finish(self) -> None:
        conflict = self.dialect.upsert_clause(PRIMARY_KEY, COLUMNS, CONTENT_COLUMNS, "target")
        self.cursor.execute(
            f"INSERT INTO {self.table} AS target ({_column_list()}) SELECT {_column_list()} FROM {STAGING} "
            f"ORDER BY {_column_list(PRIMARY_KEY)} {conflict}"
        )
        self.changed = self.cursor.rowcount


class SqliteLoad(Load):
    """Multi-row `INSERT … ON CONFLICT` statements inside one explicit, immediate transaction."""

    dialect = SqliteDialect()


class MySqlLoad(Load):
    """Multi-row `INSERT … ON DUPLICATE KEY UPDATE`. MySQL counts an inserted row 1 and an updated one 2 (an
    unchanged one 0), so the rows already there are counted first to tell the two apart."""

    dialect = MySqlDialect()

    def write(self, values: Sequence[tuple[Any, ...]]) -> None:
        keys = [row[: len(PRIMARY_KEY)] for row in values]
        keys_in = self.dialect.rows_placeholders(len(PRIMARY_KEY), len(keys))
        self.cursor.execute(
            f"SELECT COUNT(*) FROM {self.table} WHERE ({_column_list(PRIMARY_KEY)}) IN ({keys_in})",
            [v for key in keys for v in key],
        )
        existing = self.cursor.fetchone()[0]
        self.cursor.execute(upsert_sql(self.table, len(values), self.dialect), [v for row in values for v in row])
        inserted = len(values) - existing
        self.changed += inserted + (self.cursor.rowcount - inserted) // 2


LOADS: dict[str, type[Load]] = {"postgres": PostgresLoad, "sqlite": SqliteLoad, "mysql": MySqlLoad}


def load_for(hook: Any) -> type[Load]:
    """The Load of a DbApiHook's connection type; unsupported types are refused by name."""
    return LOADS[dialect_for(hook).name]


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
    also: Callable[[Any], None] | None = None,
) -> tuple[int, int]:
    """Create `table` if asked and missing, upsert `rows`, run `also(cursor)`, commit once; roll everything back
    on any error.

    Returns (rows loaded, rows inserted or changed): a row already there with the same content is left alone.
    """
    table = validate_table(table)
    load_class = load_for(hook)
    dialect = load_class.dialect
    values = row_values(unique_rows(rows), dialect.timestamp)
    with closing(hook.get_conn()) as conn:
        if getattr(conn, "autocommit", False) is True:
            conn.autocommit = False
        if create_table and dialect.ddl_commits:
            dialect.prepare_table(conn, table, RESULTS_TABLE)
        try:
            with closing(conn.cursor()) as cursor:
                load = load_class(cursor, table)
                load.begin()
                if create_table and not dialect.ddl_commits:
                    dialect.create_table(cursor, table, RESULTS_TABLE)
                for start in range(0, len(values), batch_rows):
                    load.write(values[start : start + batch_rows])
                load.finish()
                if also is not None:
                    also(cursor)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return len(values), load.changed
