"""SQL warehouses for the integration tests: a SQLite file, and the local PostgreSQL and MariaDB/MySQL servers.

Servers: see tests/support/databases.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import DATABASES, Warehouse, drop_tables, make_warehouse


def _warehouse(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    db = make_warehouse(name, tmp_path, monkeypatch)
    yield db
    if name != "sqlite":
        drop_tables(db, db.table)


@pytest.fixture
def postgres_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    yield from _warehouse("postgres", tmp_path, monkeypatch)


@pytest.fixture
def mysql_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    yield from _warehouse("mysql", tmp_path, monkeypatch)


@pytest.fixture
def sqlite_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    yield from _warehouse("sqlite", tmp_path, monkeypatch)


@pytest.fixture(params=DATABASES)
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """Each warehouse test runs on the three databases."""
    return request.getfixturevalue(f"{request.param}_warehouse")
