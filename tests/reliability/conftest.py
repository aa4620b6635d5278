"""Fixtures of the reliability suite: the Airflow home of the integration tests, a PostgreSQL table per test,
a fresh token store, and the fault matrix printed at the end of the run (also by `make reliability`).

PostgreSQL tests skip when the server is absent, unless LINGXING_REQUIRE_POSTGRES=1 (as .ci/run sets).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_pipeline import MatrixRow, format_matrix

from airflow_provider_lingxing.api.tokens import PROCESS_TOKEN_STORE


def _integration_conftest():
    path = Path(__file__).parents[1] / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("lingxing_integration_conftest", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


airflow_home = _integration_conftest().airflow_home
"""The integration tests' fixture (a migrated SQLite metadata DB, a dags folder, `run_dag`), for this folder."""

POSTGRES = {"host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
REQUIRE_POSTGRES = "LINGXING_REQUIRE_POSTGRES"
WAREHOUSE_CONN_ID = "warehouse_pg"
MATRIX: list[MatrixRow] = []
FIGURES: list[str] = []


def postgres_connect():
    import psycopg

    return psycopg.connect(
        host=POSTGRES["host"],
        port=POSTGRES["port"],
        user=POSTGRES["login"],
        dbname=POSTGRES["schema"],
        connect_timeout=3,
    )


@dataclass
class PostgresTable:
    """A fresh table name in the local PostgreSQL, reachable as the Airflow connection `warehouse_pg`."""

    conn_id: str
    name: str

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with postgres_connect() as conn:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]

    def execute(self, sql: str) -> None:
        with postgres_connect() as conn:
            conn.execute(sql)

    def exists(self, name: str | None = None) -> bool:
        return bool(self.query("SELECT 1 FROM pg_tables WHERE tablename = %s", ((name or self.name).lower(),)))


@pytest.fixture
def postgres_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[PostgresTable]:
    try:
        postgres_connect().close()
    except Exception as error:
        why = f"PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} (db {POSTGRES['schema']}) is absent: {error}"
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{why}; {REQUIRE_POSTGRES}=1 requires it")
        pytest.skip(why)
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", json.dumps({"conn_type": "postgres", **POSTGRES}))
    table = PostgresTable(WAREHOUSE_CONN_ID, f"reliability_{uuid.uuid4().hex[:12]}")
    yield table
    with postgres_connect() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table.name}")


@pytest.fixture(autouse=True)
def fresh_process_token_store() -> Iterator[None]:
    """Each test starts without a token, as a fresh deployment would (the simulator is new too)."""
    PROCESS_TOKEN_STORE.clear()
    yield
    PROCESS_TOKEN_STORE.clear()


@pytest.fixture
def matrix() -> list[MatrixRow]:
    """Rows appended here are printed as one table after the run."""
    return MATRIX


@pytest.fixture
def figures() -> list[str]:
    """Lines appended here are printed after the run (measured figures: no test asserts on timings)."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_sep("=", "Lingxing reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
    if MATRIX:
        order = {row.fault: i for i, row in enumerate(MATRIX)}
        rows = sorted(MATRIX, key=lambda r: (order[r.fault], r.mode))
        terminalreporter.write_sep("=", "Lingxing fault matrix (20% of calls; calls = requests the simulator served)")
        terminalreporter.write_line(format_matrix(rows))
