"""What differs between the supported warehouses (PostgreSQL, MySQL/MariaDB, SQLite), in one place.

Every SQL statement of the results table and the submission ledger is built from these few facts: the
placeholder, the null-safe "differs" test, how a timestamp is bound, the column types, the upsert and
insert-if-absent clauses, and a race-free create:

- PostgreSQL: `CREATE TABLE IF NOT EXISTS` run by two sessions at once fails in one of them (a `pg_type` unique
  violation), so the creating transaction first takes a transaction-scoped advisory lock on the table's name.
  A table that exists already is seen first, and nothing is locked.
- SQLite: the transaction begins IMMEDIATE (the database's write lock) before it creates.
- MySQL/MariaDB: `CREATE TABLE IF NOT EXISTS` is atomic under the server's metadata lock. DDL commits
  implicitly there, so the table is created before the transaction that writes into it begins (a first load
  that fails leaves an empty table behind on MySQL only), with its indexes inline.

Table names are validated before any call (see `validate_table`); the names spliced into SQL are ours or
validated ones, every value is bound.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from airflow_provider_lingxing.api import errors
from airflow_provider_lingxing.api.arguments import problem, table_name
from airflow_provider_lingxing.exceptions import LingxingInputError

STAGING_TABLE = "lingxing_results_staging"
"""The results load's temporary table (PostgreSQL): a user table may not have its name."""


def validate_table(table: Any, argument: str = "table") -> str:
    """`table` or `schema.table` (the rule: `api.arguments.table_name`), and not the staging table's name;
    raises LingxingInputError naming `argument` for anything else, before any call."""
    try:
        name = table_name(table, argument)
    except errors.LingxingInputError as error:
        raise LingxingInputError(str(error)) from None
    if name.split(".")[-1].casefold() == STAGING_TABLE:
        rule = f"a name other than {STAGING_TABLE}, the provider's own staging table"
        raise LingxingInputError(problem(argument, rule, table))
    return name


class Index(NamedTuple):
    """A secondary index: `<table>_<suffix>` on `columns`; partial (`WHERE where`) where the database can."""

    suffix: str
    columns: tuple[str, ...]
    where: str = ""
    """PostgreSQL and SQLite index only the rows this holds for, and use the index only for a query that says it
    (MySQL indexes every row)."""

    def sql(self, name: str, table: str) -> str:
        where = f" WHERE {self.where}" if self.where else ""
        return f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(self.columns)}){where}"


@dataclass(frozen=True)
class TableSpec:
    """A table the provider creates: (name, portable type) columns, its primary key, its secondary indexes."""

    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    fillfactor: int | None = None
    """PostgreSQL: the share of each page filled on insert, leaving room for in-page (HOT) updates."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


class Dialect:
    """PostgreSQL's SQL; the other dialects override what differs."""

    name = "postgres"
    placeholder = "%s"
    text_type = "TEXT"
    ddl_commits = False
    """True where DDL commits the transaction it runs in: tables are then created before it begins."""

    @staticmethod
    def named(name: str) -> str:
        """A named placeholder (the driver's `pyformat` or `named` style)."""
        return f"%({name})s"

    @staticmethod
    def differs(left: str, right: str) -> str:
        """SQL true when the two values differ, NULLs compared as values."""
        return f"{left} IS DISTINCT FROM {right}"

    @staticmethod
    def timestamp(value: datetime) -> Any:
        """A UTC timestamp as bound to a TIMESTAMP column: a naive UTC datetime, so no session time zone shifts
        it and every driver adapts it natively."""
        utc = value.astimezone(timezone.utc)
        return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)

    def column_type(self, sql_type: str) -> str:
        return sql_type

    def placeholders(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def in_list(self, column: str, count: int) -> str:
        """`column` is one of `count` bound values (their parameters: `in_values`). PostgreSQL binds them as one
        array (`= ANY`), so that the statement's text, and the driver's parse of it, do not grow with the list."""
        return f"{column} = ANY({self.placeholder})"

    def in_values(self, values: Sequence[Any]) -> list[Any]:
        return [list(values)]

    def rows_placeholders(self, columns: int, rows: int) -> str:
        row = f"({self.placeholders(columns)})"
        return ", ".join([row] * rows)

    # transactions and tables

    def begin(self, cursor: Any) -> None:
        """Runs first in every writing transaction."""

    def create_table(self, cursor: Any, table: str, spec: TableSpec) -> None:
        """Create `table` if missing, race-free, inside the caller's transaction."""
        cursor.execute("SELECT to_regclass(%s)", (table,))
        if cursor.fetchone()[0] is not None:
            return
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"lingxing create {table.casefold()}",))
        cursor.execute(self.create_table_sql(table, spec))
        for index in spec.indexes:
            cursor.execute(index.sql(f"{table.rpartition('.')[2]}_{index.suffix}", table))

    def create_table_sql(self, table: str, spec: TableSpec, inline_indexes: bool = False) -> str:
        lines = [f"    {name} {self.column_type(sql_type)}" for name, sql_type in spec.columns]
        lines.append(f"    PRIMARY KEY ({', '.join(spec.primary_key)})")
        if inline_indexes:
            lines += [f"    INDEX {index.suffix} ({', '.join(index.columns)})" for index in spec.indexes]
        storage = self.storage(spec)
        return f"CREATE TABLE IF NOT EXISTS {validate_table(table)} (\n" + ",\n".join(lines) + f"\n){storage}"

    def storage(self, spec: TableSpec) -> str:
        return f" WITH (fillfactor = {spec.fillfactor})" if spec.fillfactor else ""

    def prepare_table(self, conn: Any, table: str, spec: TableSpec) -> None:
        """Create `table` if missing before a transaction writes into it: its own short transaction."""
        with closing(conn.cursor()) as cursor:
            try:
                self.begin(cursor)
                self.create_table(cursor, table, spec)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    # writes

    def json_rows(self, columns: Sequence[tuple[str, str]]) -> str:
        """A FROM item `src` over one bound parameter, a JSON array of rows (arrays of strings), with the named
        columns: many rows in one statement whose text and parameters do not grow with them."""
        fields = ", ".join(f"e->>{i} AS {name}" for i, (name, _) in enumerate(columns))
        return f"(SELECT {fields} FROM json_array_elements(CAST({self.placeholder} AS json)) AS e) AS src"

    def insert_absent(self, table: str, columns: Sequence[str], key: Sequence[str], rows: str) -> str:
        """INSERT the `rows` query's rows, leaving a row whose key is taken alone (and waiting for a concurrent
        one)."""
        return f"INSERT INTO {table} ({', '.join(columns)}) {rows} ON CONFLICT ({', '.join(key)}) DO NOTHING"

    def upsert_clause(self, key: Sequence[str], columns: Sequence[str], content: Sequence[str], target: str) -> str:
        """`ON CONFLICT … DO UPDATE` of every non-key column, only where one of `content` changed (`target` is
        the table's alias in the INSERT)."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
        changed = " OR ".join(self.differs(f"{target}.{c}", f"excluded.{c}") for c in content)
        return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {changed}"


class SqliteDialect(Dialect):
    name = "sqlite"
    placeholder = "?"

    def in_list(self, column: str, count: int) -> str:
        return f"{column} IN ({self.placeholders(count)})"

    def in_values(self, values: Sequence[Any]) -> list[Any]:
        return list(values)

    def storage(self, spec: TableSpec) -> str:
        return ""

    @staticmethod
    def named(name: str) -> str:
        return f":{name}"

    @staticmethod
    def differs(left: str, right: str) -> str:
        return f"{left} IS NOT {right}"

    @staticmethod
    def timestamp(value: datetime) -> Any:
        """ISO text (its text order is time order)."""
        return Dialect.timestamp(value).isoformat(sep=" ")

    def json_rows(self, columns: Sequence[tuple[str, str]]) -> str:
        fields = ", ".join(f"json_extract(value, '$[{i}]') AS {name}" for i, (name, _) in enumerate(columns))
        return f"(SELECT {fields} FROM json_each({self.placeholder})) AS src"

    def insert_absent(self, table: str, columns: Sequence[str], key: Sequence[str], rows: str) -> str:
        """`WHERE true`: SQLite reads an INSERT … SELECT's ON CONFLICT as a join's ON without it."""
        return super().insert_absent(table, columns, key, f"{rows} WHERE true")

    def begin(self, cursor: Any) -> None:
        """An explicit, immediate transaction: SQLite would otherwise run DDL outside it, and two writers would
        find out about each other only at commit."""
        cursor.execute("BEGIN IMMEDIATE")

    def create_table(self, cursor: Any, table: str, spec: TableSpec) -> None:
        cursor.execute(self.create_table_sql(table, spec))
        schema, _, name = table.rpartition(".")
        prefix = f"{schema}." if schema else ""
        for index in spec.indexes:
            cursor.execute(index.sql(f"{prefix}{name}_{index.suffix}", name))


class MySqlDialect(Dialect):
    name = "mysql"
    text_type = "CHAR"
    ddl_commits = True
    in_list = SqliteDialect.in_list
    in_values = SqliteDialect.in_values
    storage = SqliteDialect.storage

    @staticmethod
    def differs(left: str, right: str) -> str:
        return f"NOT ({left} <=> {right})"

    def column_type(self, sql_type: str) -> str:
        """DATETIME(6) for TIMESTAMP: MySQL's TIMESTAMP ends in 2038 and converts through the session zone."""
        return re.sub(r"^TIMESTAMP\b", "DATETIME(6)", sql_type)

    def create_table(self, cursor: Any, table: str, spec: TableSpec) -> None:
        cursor.execute(
            self.create_table_sql(table, spec, inline_indexes=True) + " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        )

    def json_rows(self, columns: Sequence[tuple[str, str]]) -> str:
        fields = ", ".join(f"{name} {sql_type} PATH '$[{i}]'" for i, (name, sql_type) in enumerate(columns))
        return f"JSON_TABLE({self.placeholder}, '$[*]' COLUMNS ({fields})) AS src"

    def insert_absent(self, table: str, columns: Sequence[str], key: Sequence[str], rows: str) -> str:
        first = f"{table}.{key[0]}"
        return f"INSERT INTO {table} ({', '.join(columns)}) {rows} ON DUPLICATE KEY UPDATE {first} = {first}"

    def upsert_clause(self, key: Sequence[str], columns: Sequence[str], content: Sequence[str], target: str) -> str:
        """`ON DUPLICATE KEY UPDATE`: MySQL assigns left to right, each assignment seeing the ones before, so the
        columns outside `content` (e.g. fetched_at) are assigned first, while the row still holds its old content."""
        changed = " OR ".join(self.differs(c, f"VALUES({c})") for c in content)
        rest = [c for c in columns if c not in key and c not in content]
        updates = [f"{c} = IF({changed}, VALUES({c}), {c})" for c in rest] + [f"{c} = VALUES({c})" for c in content]
        return f"ON DUPLICATE KEY UPDATE {', '.join(updates)}"


DIALECTS: dict[str, Dialect] = {
    "postgres": Dialect(),
    "postgresql": Dialect(),
    "sqlite": SqliteDialect(),
    "mysql": MySqlDialect(),
}


def dialect_for(hook: Any, what: str = "the results table") -> Dialect:
    """The Dialect of a DbApiHook's connection type; unsupported types are refused by name."""
    conn_type = str(getattr(hook, "conn_type", "") or "").lower()
    if conn_type not in DIALECTS:
        raise LingxingInputError(
            f"the SQL connection is of type {conn_type or type(hook).__name__!r}, which {what} does not "
            f"support: use one of {', '.join(sorted(DIALECTS))}"
        )
    return DIALECTS[conn_type]


def sql_hook(conn_id: Any, argument: str = "sql_conn_id", what: str = "the results table") -> Any:
    """The DbApiHook of an Airflow SQL connection of a supported type; a missing connection, another kind of
    connection or an unsupported database is refused by name, before anything is written."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    if not isinstance(conn_id, str) or not conn_id.strip():
        raise LingxingInputError(f"{argument} {conn_id!r} is not a connection id")
    try:
        hook = BaseHook.get_connection(conn_id).get_hook()
    except Exception as error:
        raise LingxingInputError(f"{argument} {conn_id!r}: the connection could not be used ({error})") from None
    if not isinstance(hook, DbApiHook):
        raise LingxingInputError(
            f"{argument} {conn_id!r} gives a {type(hook).__name__}, not a SQL (DbApiHook) connection"
        )
    dialect_for(hook, what)
    return hook
