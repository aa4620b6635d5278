"""Lingxing keeps one live token per app id: every connection of one app id shares one token and one fetch lock,
in one process (the process's store) and across processes (the deployment's Redis)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.shared_redis import SharedRedis
from airflow_provider_lingxing.tokens.redis import RedisTokenStore
from airflow_provider_lingxing.tokens.stores import MemoryTokenStore
from tests.support.local_redis import connection_json

pytestmark = pytest.mark.integration

SELLER_ID = "A1SIMNA0000001"
CONNECTIONS = ("lingxing_orders", "lingxing_results", "lingxing_reports")


class DeploymentFernet:
    is_encrypted = True

    def __init__(self) -> None:
        from cryptography.fernet import Fernet

        self._fernet = Fernet(Fernet.generate_key())

    def encrypt(self, msg: bytes) -> bytes:
        return self._fernet.encrypt(msg)

    def decrypt(self, msg: bytes | str, ttl: int | None = None) -> bytes:
        return self._fernet.decrypt(msg, ttl)


@pytest.mark.parametrize("shared_through", ["process store", "redis"])
@pytest.mark.lingxing_simulator(latency=0.005, single_token_per_app=True)
def test_three_connections_of_one_app_share_one_token(lingxing_simulator, monkeypatch, redis_prefix, shared_through):
    for conn_id in CONNECTIONS:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", lingxing_simulator.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_REDIS", connection_json(key_prefix=redis_prefix))
    fernet = DeploymentFernet()

    def hook(conn_id: str) -> LingxingHook:
        if shared_through == "process store":
            return LingxingHook(conn_id, token_store=PROCESS_STORE)
        # a process of its own per hook: its own fallback store, only Redis in common
        return LingxingHook(
            conn_id, token_store=RedisTokenStore(SharedRedis("redis"), MemoryTokenStore(), fernet=lambda: fernet)
        )

    PROCESS_STORE = MemoryTokenStore()
    hooks = [hook(conn_id) for conn_id in CONNECTIONS for _ in range(2)]
    failures: list[BaseException] = []

    def sync_calls(one: LingxingHook) -> None:
        try:
            for _ in range(3):
                one.get_fulfillment_results(SELLER_ID, range(1, 51))
        except BaseException as error:
            failures.append(error)

    async def async_calls() -> None:
        async_hooks = [hook(conn_id) for conn_id in CONNECTIONS]
        try:
            await asyncio.gather(*(h.aget_fulfillment_results(SELLER_ID, range(1, 51)) for h in async_hooks * 2))
        finally:
            for h in async_hooks:
                await h.aclose()

    threads = [threading.Thread(target=sync_calls, args=(h,)) for h in hooks]
    for thread in threads:
        thread.start()
    asyncio.run(async_calls())
    for thread in threads:
        thread.join(timeout=120)

    stats = lingxing_simulator.stats()
    answers = stats["requests"][GET_FULFILLMENT_RESULT.path]
    assert failures == []
    assert stats["tokens_issued"]["access"] == 1, stats["tokens_issued"]
    assert "2001005" not in answers and answers["0"] == (len(hooks) * 3 + len(CONNECTIONS) * 2) * 5
