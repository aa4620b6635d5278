"""SQL warehouses for the results operator's tests: a SQLite file, and the local PostgreSQL server.

PostgreSQL: see tests/local_postgres.py.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from local_postgres import CONNECTION_JSON, connect, require_postgres


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


@pytest.fixture
def postgres_warehouse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    require_postgres()
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_PG", CONNECTION_JSON)
    table = f"lingxing_results_{uuid.uuid4().hex[:12]}"
    warehouse = Warehouse("postgres", "warehouse_pg", table, connect)
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
