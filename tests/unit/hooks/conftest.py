"""Fixtures of the hook's unit tests: a scripted fake on loopback and a connection pointing at it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from lingxing_fake_server import APP_ID, APP_SECRET, FAST_RETRIES, FakeLingxing
from structlog.testing import LogCapture

from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.tokens import PROCESS_TOKEN_STORE


@pytest.fixture(autouse=True)
def fresh_process_store() -> Iterator[None]:
    PROCESS_TOKEN_STORE.clear()
    yield
    PROCESS_TOKEN_STORE.clear()


@pytest.fixture
def fake() -> Iterator[FakeLingxing]:
    server = FakeLingxing()
    yield server
    server.stop()


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point `lingxing_default` at a host with the given fields (defaults: the fake's app, valid)."""

    def set_connection(host: str, *, login: str = APP_ID, password: str = APP_SECRET, **extra: Any) -> None:
        conn = {"conn_type": "lingxing", "host": host, "login": login, "password": password}
        if extra:
            conn["extra"] = extra
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", json.dumps(conn))

    return set_connection


@pytest.fixture
def hook(fake: FakeLingxing, connect: Callable[..., None]) -> Iterator[LingxingHook]:
    """A hook on the fake with 2 retries and millisecond backoff."""
    connect(fake.base_url, max_retries=2, timeout=2)
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    yield hook
    hook.close()


@pytest.fixture
def hook_logs() -> Iterator[list[dict]]:
    """Every structlog event at any level (the hook logs through structlog, as Airflow 3 does)."""
    capture = LogCapture()
    previous = structlog.get_config()
    structlog.configure(processors=[capture], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield capture.entries
    finally:
        structlog.configure(**previous)
