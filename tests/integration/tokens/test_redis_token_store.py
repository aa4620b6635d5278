"""The shared token in the local Redis: encrypted with the deployment's Fernet key, beside the fallback store,
and the fetch lock that lets one process at a time fetch a token."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import pytest
import redis
from cryptography.fernet import Fernet

from airflow_provider_lingxing.api.tokens import AccessToken, owner_fingerprint, store_key
from airflow_provider_lingxing.shared_redis import SharedRedis
from airflow_provider_lingxing.tokens import redis as redis_tokens
from airflow_provider_lingxing.tokens.redis import RedisTokenStore
from airflow_provider_lingxing.tokens.stores import MemoryTokenStore
from tests.support.local_redis import connection_json, dead_port

pytestmark = pytest.mark.integration

OWNER = owner_fingerprint("https://openapi.lingxing.com", "ak_redis_token_app")
KEY = store_key(OWNER)


class DeploymentFernet:
    """What Airflow's get_fernet() gives a deployment with a key."""

    is_encrypted = True

    def __init__(self, key: bytes | None = None) -> None:
        self._fernet = Fernet(key or Fernet.generate_key())

    def encrypt(self, msg: bytes) -> bytes:
        return self._fernet.encrypt(msg)

    def decrypt(self, msg: bytes | str, ttl: int | None = None) -> bytes:
        return self._fernet.decrypt(msg, ttl)


class NoFernetKey:
    is_encrypted = False


def token(access: str = "live-access-token-1", expires_in: float = 7200) -> AccessToken:
    return AccessToken(access, "refresh-" + access, time.time() + expires_in, OWNER)


def store(prefix: str, fernet=None, fallback=None, conn_id: str = "redis") -> RedisTokenStore:
    fernet = fernet or DeploymentFernet()
    return RedisTokenStore(SharedRedis(conn_id, prefix=prefix), fallback or MemoryTokenStore(), fernet=lambda: fernet)


def test_the_token_in_redis_is_encrypted_and_expires_with_it(redis_prefix):
    key_material = Fernet.generate_key()
    writer = store(redis_prefix, DeploymentFernet(key_material))
    reader = store(redis_prefix, DeploymentFernet(key_material))  # another process of the deployment
    shared = token()
    writer.put(KEY, shared)

    raw = redis.Redis().get(writer.redis_key(KEY))
    assert raw is not None
    assert b"live-access-token-1" not in raw and b"refresh-" not in raw
    assert reader.get(KEY) == shared
    assert 7100_000 < redis.Redis().pttl(writer.redis_key(KEY)) <= 7200_000
    assert writer.redis_key(KEY) == f"{redis_prefix}:token:{OWNER}"


def test_a_token_under_another_fernet_key_is_not_used(redis_prefix, caplog):
    store(redis_prefix).put(KEY, token())
    with caplog.at_level(logging.WARNING):
        assert store(redis_prefix).get(KEY) is None
    assert "cannot be read with this Fernet key" in caplog.text
    assert "live-access-token" not in caplog.text


def test_without_a_fernet_key_no_token_goes_to_redis(redis_prefix, caplog):
    fallback = MemoryTokenStore()
    plain = store(redis_prefix, NoFernetKey(), fallback)
    with caplog.at_level(logging.WARNING):
        plain.put(KEY, token())
    assert redis.Redis().get(plain.redis_key(KEY)) is None
    assert fallback.get(KEY).access_token == "live-access-token-1"
    assert plain.get(KEY) == fallback.get(KEY)
    assert "no Fernet key" in caplog.text


def test_the_newer_of_redis_and_the_fallback_store_wins(redis_prefix):
    fallback = MemoryTokenStore()
    both = store(redis_prefix, fallback=fallback)
    older, newer = token("older", expires_in=3600), token("newer", expires_in=7000)
    both.put(KEY, older)
    assert fallback.get(KEY) == older, "written to the fallback too, for processes without Redis"
    fallback.put(KEY, newer)  # fetched by a connection of the same app without Redis
    assert both.get(KEY) == newer
    both.put(KEY, token("newest", expires_in=7100))
    assert both.get(KEY).access_token == "newest"


def test_redis_down_the_fallback_store_serves_with_one_warning(redis_prefix, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DOWN", connection_json(dead_port()))
    fallback = MemoryTokenStore()
    down = store(redis_prefix, fallback=fallback, conn_id="redis_down")
    with caplog.at_level(logging.INFO):
        assert down.get(KEY) is None
        down.put(KEY, token())
        assert down.get(KEY).access_token == fallback.get(KEY).access_token == "live-access-token-1"
        with down.fetch_lock(KEY, contextlib.nullcontext):
            pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'redis_down' unreachable" in warnings[0].getMessage()


def test_one_fetch_lock_holder_at_a_time_across_processes(redis_prefix):
    inside, peak, lock = [0], [0], threading.Lock()

    def fetcher() -> None:
        mine = store(redis_prefix)  # each thread a process of its own: its own client
        for _ in range(5):
            with mine.fetch_lock(KEY, contextlib.nullcontext):
                with lock:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                time.sleep(0.005)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=fetcher) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert peak[0] == 1


async def test_the_async_fetch_lock_excludes_the_sync_one(redis_prefix):
    mine = store(redis_prefix)
    order = []

    def sync_holder(entered: threading.Event) -> None:
        with store(redis_prefix).fetch_lock(KEY, contextlib.nullcontext):
            entered.set()
            time.sleep(0.3)
            order.append("sync released")

    entered = threading.Event()
    holder = threading.Thread(target=sync_holder, args=(entered,))
    holder.start()
    await asyncio.to_thread(entered.wait)
    async with mine.afetch_lock(KEY, contextlib.nullcontext):
        order.append("async entered")
    await asyncio.to_thread(holder.join)
    await mine.shared.aclose()
    assert order == ["sync released", "async entered"]


def test_a_stuck_holder_is_waited_for_a_bounded_time_then_named(redis_prefix, monkeypatch, caplog):
    monkeypatch.setattr(redis_tokens, "FETCH_LOCK_WAIT_SECONDS", 0.3)
    stuck = store(redis_prefix)
    redis.Redis().set(stuck.redis_key(KEY) + ":fetch-lock", "worker-7.example:4242:abcd1234", px=60_000)
    with caplog.at_level(logging.WARNING), stuck.fetch_lock(KEY, contextlib.nullcontext):
        pass
    assert "held by worker-7.example:4242; fetching without it" in caplog.text
