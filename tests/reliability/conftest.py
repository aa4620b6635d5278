"""Fixtures of the reliability suite (the Airflow home is tests/conftest.py's): a PostgreSQL table per test,
a fresh token store, and the fault matrix printed at the end of the run (also by `make reliability`).

PostgreSQL: see tests/local_postgres.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from airflow_provider_lingxing.tokens import PROCESS_TOKEN_STORE
from tests.local_postgres import CONNECTION_JSON, connect, require_postgres
from tests.reliability.reliability_pipeline import MatrixRow, format_matrix
from tests.support.tls import loopback_tls  # noqa: F401  (a fixture: the throwaway CA of the HTTPS tests)

WAREHOUSE_CONN_ID = "warehouse_pg"
MATRIX: list[MatrixRow] = []
FIGURES: list[str] = []


@dataclass
class PostgresTable:
    """A fresh table name in the local PostgreSQL, reachable as the Airflow connection `warehouse_pg`."""

    conn_id: str
    name: str

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with connect() as conn:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]

    def execute(self, sql: str) -> None:
        with connect() as conn:
            conn.execute(sql)

    def exists(self, name: str | None = None) -> bool:
        return bool(self.query("SELECT 1 FROM pg_tables WHERE tablename = %s", ((name or self.name).lower(),)))


@pytest.fixture
def postgres_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[PostgresTable]:
    require_postgres()
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", CONNECTION_JSON)
    table = PostgresTable(WAREHOUSE_CONN_ID, f"reliability_{uuid.uuid4().hex[:12]}")
    yield table
    with connect() as conn:
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
