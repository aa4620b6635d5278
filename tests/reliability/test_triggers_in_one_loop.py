"""500 FulfillmentResultTriggers in one event loop against the in-process simulator, as in one triggerer."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger
from tests.support.samples import MARKETPLACE_ID, SELLER_ID, order
from tests.support.triggerer import first_event

pytestmark = pytest.mark.reliability

TRIGGERS = 500
FAILING = 7


def submit(hook: LingxingHook, n: int, tracking_no: str) -> str:
    order_n = order(n, tracking_no=tracking_no, shipping_service="")
    return hook.submit_fulfillment("NA", SELLER_ID, MARKETPLACE_ID, [order_n])["task_id"]


@pytest.mark.lingxing_simulator(latency=0.005, complete_after_polls=3)
def test_500_triggers_share_the_concurrency_limit_and_all_finish(lingxing_connection):
    hook = LingxingHook()
    tracking = ["FAIL-1Z999" if n % (TRIGGERS // FAILING) == 0 else f"1Z999{n:08d}" for n in range(1, TRIGGERS + 1)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        task_ids = list(pool.map(lambda n: submit(hook, n, tracking[n - 1]), range(1, TRIGGERS + 1)))
    hook.close()
    failing = {task_ids[i] for i, t in enumerate(tracking) if t.startswith("FAIL")}
    assert len(failing) == FAILING
    assert lingxing_connection.stats()["rate_limited"] == 0

    triggers = [
        FulfillmentResultTrigger(
            lingxing_conn_id="lingxing_default", seller_id=SELLER_ID, fulfillment_task_ids=[task_id], poll_interval=0.05
        )
        for task_id in task_ids
    ]

    async def run_all() -> list[dict]:
        return await asyncio.gather(*(first_event(t) for t in triggers))

    events = asyncio.run(run_all())

    stats = lingxing_connection.stats()
    assert stats["rate_limited"] == 0
    assert "3001008" not in stats["requests"][GET_FULFILLMENT_RESULT.path]
    assert stats["peak_in_flight"][lingxing_connection.app_id][GET_FULFILLMENT_RESULT.path] <= 10
    assert len(events) == TRIGGERS
    outcomes = {task_id: event["status"] for task_id, event in zip(task_ids, events, strict=True)}
    assert {t for t, status in outcomes.items() if status == "failure"} == failing
    assert {t for t, status in outcomes.items() if status == "success"} == set(task_ids) - failing
    assert (stats["tasks"]["complete"], stats["tasks"]["fatal"]) == (TRIGGERS - FAILING, FAILING)
    rounds = math.ceil(TRIGGERS / 10)  # the 500 triggers of one seller poll together: 10 ids per request
    assert set(stats["requests"][GET_FULFILLMENT_RESULT.path]) == {"0"}
    assert stats["requests"][GET_FULFILLMENT_RESULT.path]["0"] <= 1.2 * 3 * rounds, "each id asked 3 times, 10 a call"
