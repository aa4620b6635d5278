"""Without Redis, one budget per (app id, endpoint) for the whole process: a worker's sync calls (threads) and its
async calls (an event loop) together never exceed Lingxing's bucket."""

from __future__ import annotations

import asyncio
import threading

import pytest

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.api.retry import RetryPolicy
from airflow_provider_lingxing.hooks.lingxing import LingxingHook

pytestmark = pytest.mark.integration

SELLER_ID = "A1SIMNA0000001"
RESULTS = GET_FULFILLMENT_RESULT.path


@pytest.mark.lingxing_simulator(latency=0.03)
def test_sync_and_async_calls_of_one_process_share_one_budget(lingxing_connection):
    ids = range(1, 301)  # 30 requests per call
    no_retry = RetryPolicy(max_retries=0)  # a 3001008 would fail the call, not hide behind a retry
    sync_answers: list[list[dict]] = []

    def sync_calls() -> None:
        hook = LingxingHook(retry_policy=no_retry)
        sync_answers.append(hook.get_fulfillment_results(SELLER_ID, ids))
        sync_answers.append(hook.get_fulfillment_results(SELLER_ID, ids))

    async def async_calls() -> list[list[dict]]:
        hook = LingxingHook(retry_policy=no_retry)
        try:
            return list(await asyncio.gather(*(hook.aget_fulfillment_results(SELLER_ID, ids) for _ in range(2))))
        finally:
            await hook.aclose()

    worker = threading.Thread(target=sync_calls)
    worker.start()
    async_answers = asyncio.run(async_calls())
    worker.join(timeout=120)

    stats = lingxing_connection.stats()
    assert len(sync_answers) == 2 and len(async_answers) == 2
    assert stats["rate_limited"] == 0
    assert stats["peak_in_flight"][lingxing_connection.app_id][RESULTS] == GET_FULFILLMENT_RESULT.capacity
    assert stats["requests"][RESULTS] == {"0": 4 * 30}
