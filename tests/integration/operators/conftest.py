"""SQL warehouses for the results operator's tests: a SQLite file, and the local PostgreSQL server.

PostgreSQL tests skip when the server is absent, unless LINGXING_REQUIRE_POSTGRES=1 (as .ci/run sets): then
they fail, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

POSTGRES = {"host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
REQUIRE_POSTGRES = "LINGXING_REQUIRE_POSTGRES"


@dataclass
class Warehouse:
    """An Airflow SQL connection (set as AIRFLOW_CONN_<ID>) and a fresh table name in it."""

    name: str
    conn_id: str
    table: str
    connect: Any

    def query(self, sql: str) -> list[tuple]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
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

    def execute(self, sql: str) -> None:
        conn = self.connect()
        try:
            conn.cursor().execute(sql)
            conn.commit()
        finally:
            conn.close()


def _postgres_connect():
    import psycopg

    return psycopg.connect(
        host=POSTGRES["host"],
        port=POSTGRES["port"],
        user=POSTGRES["login"],
        dbname=POSTGRES["schema"],
        connect_timeout=3,
    )


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        _postgres_connect().close()
    except Exception as error:
        return f"PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} (db {POSTGRES['schema']}) is absent: {error}"
    return None


@pytest.fixture
def postgres_warehouse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    if (why := postgres_available()) is not None:
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{why}; {REQUIRE_POSTGRES}=1 requires it")
        pytest.skip(why)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_PG", json.dumps({"conn_type": "postgres", **POSTGRES}))
    table = f"lingxing_results_{uuid.uuid4().hex[:12]}"
    warehouse = Warehouse("postgres", "warehouse_pg", table, _postgres_connect)
    yield warehouse
    warehouse.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def sqlite_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return Warehouse(
        "sqlite", "warehouse_sqlite", f"lingxing_results_{uuid.uuid4().hex[:12]}", lambda: sqlite3.connect(path)
    )


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """Each warehouse test runs on both databases."""
    return request.getfixturevalue(f"{request.param}_warehouse")
