"""Fixtures of the hook's unit tests: canned answers (or the simulator) and a connection pointing at them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from airflow_provider_lingxing.tokens import PROCESS_TOKEN_STORE
from tests.support.canned_lingxing import APP_ID, APP_SECRET, FAST_RETRIES, CannedLingxing


@pytest.fixture(autouse=True)
def fresh_process_store() -> Iterator[None]:
    PROCESS_TOKEN_STORE.clear()
    yield
    PROCESS_TOKEN_STORE.clear()


@pytest.fixture
def fake() -> Iterator[CannedLingxing]:
    """Canned answers for every request the hook sends to `fake.base_url` (sync and async)."""
    with CannedLingxing().serving() as canned:
        yield canned


@pytest.fixture
def sim() -> Iterator[LingxingSimulator]:
    with LingxingSimulator(latency=0.0) as simulator:
        yield simulator


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point `lingxing_default` at a host with the given fields (defaults: the canned app, valid)."""

    def set_connection(host: str, *, login: str = APP_ID, password: str = APP_SECRET, **extra: Any) -> None:
        conn = {"conn_type": "lingxing", "host": host, "login": login, "password": password}
        if extra:
            conn["extra"] = extra
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", json.dumps(conn))

    return set_connection


@pytest.fixture
def connect_sim(sim: LingxingSimulator, connect: Callable[..., None]) -> Callable[..., None]:
    """Point `lingxing_default` at the simulator's app, with the given extras."""
    return lambda **extra: connect(sim.base_url, login=sim.app_id, password=sim.app_secret, **extra)


@pytest.fixture
def hook(fake: CannedLingxing, connect: Callable[..., None]) -> Iterator[LingxingHook]:
    """A hook on the canned answers with 2 retries and millisecond backoff."""
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
