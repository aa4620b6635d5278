"""A warehouse table as an Airflow Asset, so a downstream DAG can `schedule=[Asset(uri)]` on the table a task
loaded. The URI is the one the database's own Airflow provider builds (its `create_asset`), which its OpenLineage
converter maps back to the dataset common-sql names, so the Asset and the lineage of one table agree:

- PostgreSQL: `postgres://host:5432/database/schema/table`
- MySQL/MariaDB: `mysql://host:3306/database/table`
- SQLite (no provider defines one): `sqlite://<absolute file path>/main/table`

The connection is read when the task runs, never at parse time, so the operator declares an `AssetAlias`
(`results_alias`) and, once the rows are loaded, adds the table's Asset to it: Airflow then records an event for
that Asset, which triggers every DAG scheduled on it (and on the alias).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import Asset, AssetAlias

SQLITE_SCHEMA = "main"
"""SQLite's name of the database file's own schema."""


def results_alias(table: str) -> AssetAlias:
    """The alias a results operator writing `table` (as given, before templating) declares as its outlet."""
    return AssetAlias(f"lingxing_results:{table}")


def sqlite_file(connection: Any) -> str:
    """The absolute path of a SQLite connection's database file, as SqliteHook opens it."""
    return str(Path(connection.host or "").expanduser().resolve())


def _split(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return schema or None, name


def table_asset(hook: Any, table: str) -> Asset:
    """The Asset of `table` (`table` or `schema.table`) in the database behind the DbApiHook `hook`."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    connection = hook.get_connection(hook.get_conn_id())
    conn_type = str(getattr(hook, "conn_type", "") or "").lower()
    schema, name = _split(table)
    if conn_type in ("postgres", "postgresql"):
        from airflow.providers.postgres.assets.postgres import create_asset as postgres_asset

        host, _, port = DbApiHook.get_openlineage_authority_part(connection, default_port=5432).rpartition(":")
        database = getattr(hook, "database", None) or connection.schema
        schema = schema or hook.get_openlineage_default_schema()
        return postgres_asset(host=host, port=int(port), database=database, schema=schema, table=name)
    if conn_type in ("mysql", "mariadb"):
        from airflow.providers.mysql.assets.mysql import create_asset as mysql_asset

        host, _, port = DbApiHook.get_openlineage_authority_part(connection, default_port=3306).rpartition(":")
        database = schema or getattr(hook, "schema", None) or connection.schema
        return mysql_asset(host=host, port=int(port), database=database, table=name)
    if conn_type == "sqlite":
        return Asset(f"sqlite://{sqlite_file(connection)}/{schema or SQLITE_SCHEMA}/{name}")
    raise ValueError(f"no Asset naming for a {conn_type or type(hook).__name__!r} connection")
