"""Many FulfillmentResultTriggers in one event loop against the simulator, as in one triggerer process."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger

SELLER = "A1MQMW3JWPNCBX"
TRIGGERS = 500
FAILING = 7


def submit(hook: LingxingHook, n: int, tracking_no: str) -> str:
    order = {
        "id": n,
        "platform_order_no": f"111-0000000-{n:07d}",
        "tracking_no": tracking_no,
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "shipping_service": "",
        "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1}],
    }
    return hook.submit_fulfillment("NA", SELLER, "ATVPDKIKX0DER", [order])["task_id"]


async def first_event(trigger: FulfillmentResultTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


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
            lingxing_conn_id="lingxing_default", seller_id=SELLER, fulfillment_task_ids=[task_id], poll_interval=0.05
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
    assert stats["requests"][GET_FULFILLMENT_RESULT.path] == {"0": TRIGGERS * 3}


@pytest.mark.lingxing_simulator(
    latency=0.0,
    complete_after_polls=2,
    seed=7,
    http_503_probability=0.2,
    limiter_103_probability=0.2,
    fault_paths={GET_FULFILLMENT_RESULT.path},
)
def test_transient_errors_are_retried_inside_the_trigger(lingxing_connection):
    hook = LingxingHook()
    task_ids = [submit(hook, n, f"1Z{n}") for n in range(1, 4)]
    hook.close()
    trigger = FulfillmentResultTrigger(
        lingxing_conn_id="lingxing_default", seller_id=SELLER, fulfillment_task_ids=task_ids, poll_interval=0.01
    )
    event = asyncio.run(first_event(trigger))
    assert event == {"status": "success", "seller_id": SELLER, "fulfillment_task_ids": sorted(map(int, task_ids))}
    codes = lingxing_connection.stats()["requests"][GET_FULFILLMENT_RESULT.path]
    assert codes.get("http_503", 0) + codes.get("103", 0) > 0


@pytest.mark.lingxing_simulator(latency=0.0)
def test_a_fatal_code_ends_the_trigger_with_an_error_event_the_sensor_raises(lingxing_connection):
    from airflow_provider_lingxing.exceptions import LingxingAuthError
    from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor

    lingxing_connection.config.fail_with_code = "3001002"
    trigger = FulfillmentResultTrigger(
        lingxing_conn_id="lingxing_default", seller_id=SELLER, fulfillment_task_ids=[1003100], poll_interval=0
    )
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "error"
    assert event["reason"] == "api_error"
    assert event["error_class"] == "LingxingAuthError"
    assert event["code"] == "3001002"
    assert lingxing_connection.stats()["requests"][GET_FULFILLMENT_RESULT.path] == {"3001002": 1}

    sensor = FulfillmentResultSensor(task_id="wait", seller_id=SELLER, fulfillment_task_ids=[1003100])
    with pytest.raises(LingxingAuthError, match="whitelist"):
        sensor.execute_complete({}, event)
