"""The token protocol through the hook: shared store first, refresh before expiry, fall back, one fetch."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import structlog.testing

from airflow_provider_lingxing.api.tokens import REFRESH_MARGIN_SECONDS, AccessToken, owner_fingerprint, store_key
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.tokens import PROCESS_TOKEN_STORE, MemoryTokenStore, VariableTokenStore
from airflow_provider_lingxing.tokens import variable as variable_store
from tests.support.canned_lingxing import (
    APP_ID,
    APP_SECRET,
    BASE_URL,
    FAST_RETRIES,
    REFRESH_PATH,
    RESULTS_PATH,
    SELLERS_PATH,
    TOKEN_PATH,
    envelope,
)


@contextmanager
def caplog_records() -> Iterator[list[logging.LogRecord]]:
    """The records of the provider's stdlib loggers (the token lock logs through them), at any level."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("airflow_provider_lingxing")
    logger.addHandler(handler)
    previous, logger.level = logger.level, logging.DEBUG
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


KEY = store_key(owner_fingerprint(BASE_URL, APP_ID))
"""One entry per app id (at its Base URL): every connection of the app shares it."""


@pytest.fixture
def store() -> MemoryTokenStore:
    return MemoryTokenStore()


@pytest.fixture
def new_hook(fake, connect, store):
    connect(fake.base_url, max_retries=1)
    return lambda: LingxingHook(token_store=store, retry_policy=FAST_RETRIES)


def _share(fake, store: MemoryTokenStore, hook: LingxingHook, expires_in: float = 7000) -> AccessToken:
    """What another process does: fetch a token (which supersedes the previous one) and share it."""
    data = fake.issue()
    token = AccessToken(data["access_token"], data["refresh_token"], time.time() + expires_in, hook.token_keeper.owner)
    store.put(KEY, token)
    return token


def test_a_shared_token_is_used_without_fetching(fake, store, new_hook):
    hook = new_hook()
    shared = _share(fake, store, hook)
    hook.get_fulfillment_results("S1", [1])
    assert fake.calls(TOKEN_PATH) == []
    assert fake.calls(RESULTS_PATH)[0].query["access_token"] == shared.access_token


def test_a_fetched_token_is_shared_with_the_next_hook(fake, store, new_hook):
    new_hook().list_sellers()
    new_hook().get_fulfillment_results("S1", [1])
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert store.get(KEY).access_token == fake.live_token


def test_after_2001005_the_newer_shared_token_is_used_without_fetching(fake, store, new_hook):
    hook = new_hook()
    hook.list_sellers()
    newer = _share(fake, store, hook)
    hook.get_fulfillment_results("S1", [1])
    first, second = fake.calls(RESULTS_PATH)
    assert first.query["access_token"] != newer.access_token
    assert second.query["access_token"] == newer.access_token
    assert len(fake.calls(TOKEN_PATH)) == 1


def test_after_2001005_without_a_newer_shared_token_one_new_token_is_fetched(fake, store, new_hook):
    hook = new_hook()
    hook.list_sellers()
    fake.script(RESULTS_PATH, envelope("2001005", message="access token not match"))
    hook.get_fulfillment_results("S1", [1])
    assert len(fake.calls(TOKEN_PATH)) == 2
    assert store.get(KEY).access_token == fake.live_token


def test_a_token_near_expiry_is_refreshed_with_its_refresh_token(fake, store, new_hook):
    hook = new_hook()
    shared = _share(fake, store, hook, expires_in=REFRESH_MARGIN_SECONDS - 60)
    hook.get_fulfillment_results("S1", [1])
    assert fake.calls(TOKEN_PATH) == []
    (refresh,) = fake.calls(REFRESH_PATH)
    assert refresh.form == {"appId": hook.settings.app_id, "refreshToken": shared.refresh_token}
    assert store.get(KEY).access_token == fake.live_token != shared.access_token
    assert fake.calls(RESULTS_PATH)[0].query["access_token"] == fake.live_token


@pytest.mark.parametrize("refusal", ["2001008", "2001009", "3001008"])
def test_a_failed_refresh_falls_back_to_a_new_token(fake, store, new_hook, refusal):
    hook = new_hook()
    _share(fake, store, hook, expires_in=60)
    fake.script(REFRESH_PATH, *[envelope(refusal, message="no")] * 3)
    hook.get_fulfillment_results("S1", [1])
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert fake.calls(RESULTS_PATH)[0].query["access_token"] == fake.live_token


def test_an_expired_shared_token_is_replaced(fake, store, new_hook):
    hook = new_hook()
    _share(fake, store, hook, expires_in=-1)
    hook.get_fulfillment_results("S1", [1])
    assert fake.calls(REFRESH_PATH) == []
    assert len(fake.calls(TOKEN_PATH)) == 1


def test_a_token_of_another_app_in_the_store_is_not_used(fake, store, new_hook):
    store.put(KEY, AccessToken("acc-of-other-app", "ref", time.time() + 7000, owner="someone-else"))
    new_hook().list_sellers()
    assert len(fake.calls(TOKEN_PATH)) == 1


def test_concurrent_hooks_of_a_process_fetch_one_token(fake, store, new_hook):
    fake.latency = 0.02
    hooks = [new_hook() for _ in range(8)]
    threads = [threading.Thread(target=h.get_fulfillment_results, args=("S1", [1])) for h in hooks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert {r.query["access_token"] for r in fake.calls(RESULTS_PATH)} == {fake.live_token}


def test_an_unreadable_store_does_not_fail_the_call(fake, connect):
    class Broken:
        def get(self, key):
            raise OSError("store down")

        def put(self, key, token):
            raise OSError("store down")

    connect(fake.base_url)
    assert LingxingHook(token_store=Broken()).list_sellers()
    assert len(fake.calls(TOKEN_PATH)) == 1


def test_outside_airflow_the_process_store_is_shared_by_default(fake, connect):
    connect(fake.base_url)
    LingxingHook().list_sellers()
    LingxingHook().list_sellers()
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert PROCESS_TOKEN_STORE.get(KEY).access_token == fake.live_token


def test_inside_airflow_the_token_lives_in_a_masked_variable_per_app_id(fake, connect, monkeypatch, variables):
    from airflow.sdk.execution_time import task_runner

    masked: list[str] = []
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    monkeypatch.setattr("airflow.sdk.log.mask_secret", masked.append)
    monkeypatch.setattr(variable_store, "_MASKED", set())
    connect(fake.base_url)

    first = LingxingHook()
    assert isinstance(first.token_keeper.store, VariableTokenStore)
    first.list_sellers()
    stored = json.loads(variables.values[KEY])
    assert stored["access_token"] == fake.live_token
    assert stored["expires_at"] > time.time() + 7000

    LingxingHook().get_fulfillment_results("S1", [1])
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert {fake.live_token, stored["refresh_token"], APP_SECRET} <= set(masked)


def test_garbage_in_the_variable_is_replaced(fake, connect, monkeypatch, variables):
    from airflow.sdk.execution_time import task_runner

    variables.values[KEY] = "not a token"
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    connect(fake.base_url)
    LingxingHook().list_sellers()
    assert json.loads(variables.values[KEY])["access_token"] == fake.live_token


HOLD_THE_LOCK = """
import sys, time
from airflow_provider_lingxing.tokens.locks import exclusive
with exclusive(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_a_stuck_holder_of_the_token_lock_is_waited_for_a_bounded_time(fake, new_hook, monkeypatch, transport):
    """Another process holds this host's token lock and never lets go: the wait ends (30 s in production), the
    log names who held it and for how long, and the token is fetched alone."""
    from airflow_provider_lingxing.tokens import locks

    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.5)
    hook = new_hook()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, hook.token_keeper.owner], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done: list[object] = []
        call = hook.list_sellers if transport == "sync" else lambda: asyncio.run(hook.arequest("GET", SELLERS_PATH))
        with structlog.testing.capture_logs() as logs, caplog_records() as records:
            worker = threading.Thread(target=lambda: done.append(call()))
            started = time.monotonic()
            worker.start()
            worker.join(20)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert done, "the wait for the token lock did not end"
    assert 0.5 <= waited < 10
    said = [r.getMessage() for r in records] + [e["event"] for e in logs]
    assert any(f"pid {holder.pid}" in line and "waiting" in line for line in said), said
    gave_up = [r for r in records if "fetching the token without it" in r.getMessage()]
    assert gave_up and gave_up[0].levelname == "WARNING" and f"pid {holder.pid}" in gave_up[0].getMessage()
    assert len(fake.calls(TOKEN_PATH)) == 1
