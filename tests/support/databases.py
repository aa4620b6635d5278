"""The warehouses tests load into: a SQLite file, and the local PostgreSQL and MariaDB/MySQL servers.

PostgreSQL at 127.0.0.1:5432 (db test, user postgres), MariaDB/MySQL at 127.0.0.1:3306 (db test, user root, no
password). A test that needs a server skips when it is absent, unless LINGXING_REQUIRE_POSTGRES=1 /
LINGXING_REQUIRE_MYSQL=1 (as .ci/run sets): then it fails, so CI cannot pass by skipping it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SERVERS: dict[str, dict[str, Any]] = {
    "postgres": {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"},
    "mysql": {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": "test"},
}
REQUIRE = {"postgres": "LINGXING_REQUIRE_POSTGRES", "mysql": "LINGXING_REQUIRE_MYSQL"}
DATABASES = ("sqlite", "postgres", "mysql")


def connect_server(name: str) -> Any:
    server = SERVERS[name]
    if name == "postgres":
        import psycopg

        return psycopg.connect(
            host=server["host"], port=server["port"], user=server["login"], dbname=server["schema"], connect_timeout=3
        )
    import MySQLdb

    return MySQLdb.connect(
        host=server["host"],
        port=server["port"],
        user=server["login"],
        database=server["schema"],
        connect_timeout=3,
        charset="utf8mb4",
    )


def require_server(name: str) -> None:
    """Skip the calling test when the server is absent (fail instead under LINGXING_REQUIRE_<NAME>=1)."""
    try:
        connect_server(name).close()
    except Exception as error:
        server = SERVERS[name]
        why = f"{name} at {server['host']}:{server['port']} (db {server['schema']}) is absent: {error}"
        if os.environ.get(REQUIRE[name]) == "1":
            pytest.fail(f"{why}; {REQUIRE[name]}=1 requires it")
        pytest.skip(why)


@dataclass
class Warehouse:
    """An Airflow SQL connection (set as AIRFLOW_CONN_<ID>), a fresh table name in it, and plain access to it."""

    name: str
    conn_id: str
    connection_json: str
    table: str
    connect: Callable[[], Any]

    def query(self, sql: str, parameters: Any = None) -> list[tuple]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, parameters) if parameters is not None else cursor.execute(sql)
            rows = [tuple(row) for row in cursor.fetchall()]
            conn.commit()
            return rows
        finally:
            conn.close()

    def rows(self, table: str | None = None) -> list[tuple]:
        return self.query(f"SELECT * FROM {table or self.table} ORDER BY seller_id, task_id, message_id")

    def exists(self, table: str | None = None) -> bool:
        try:
            self.query(f"SELECT 1 FROM {table or self.table} WHERE 1 = 0")
        except Exception:
            return False
        return True

    def execute(self, sql: str, parameters: Any = None) -> None:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, parameters) if parameters is not None else cursor.execute(sql)
            conn.commit()
        finally:
            conn.close()

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        conn = self.connect()
        try:
            conn.cursor().executemany(sql, rows)
            conn.commit()
        finally:
            conn.close()

    @property
    def placeholder(self) -> str:
        return "?" if self.name == "sqlite" else "%s"

    def new_table(self, prefix: str = "ledger_t") -> str:
        return f"{prefix}_{uuid.uuid4().hex[:12]}"


def make_warehouse(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str = "ledger_results"
) -> Warehouse:
    """The `name` database as an Airflow connection `warehouse_<name>` in this test's environment."""
    table = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if name == "sqlite":
        path = tmp_path / "warehouse.db"
        connection_json = json.dumps({"conn_type": "sqlite", "host": str(path)})
        connect: Callable[[], Any] = lambda: sqlite3.connect(path)  # noqa: E731
    else:
        require_server(name)
        connection_json = json.dumps(SERVERS[name])
        connect = lambda: connect_server(name)  # noqa: E731
    monkeypatch.setenv(f"AIRFLOW_CONN_WAREHOUSE_{name.upper()}", connection_json)
    return Warehouse(name, f"warehouse_{name}", connection_json, table, connect)


def drop_tables(db: Warehouse, *tables: str) -> None:
    for table in tables:
        db.execute(f"DROP TABLE IF EXISTS {table}")
