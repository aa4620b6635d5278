"""FulfillmentResultTrigger against the simulator: transient errors retried inside it, a fatal code ends it."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_lingxing.api.compact_ids import pack_task_ids
from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger
from tests.support.samples import MARKETPLACE_ID, SELLER_ID, order
from tests.support.triggerer import first_event


def submit(hook: LingxingHook, n: int, tracking_no: str) -> str:
    return hook.submit_fulfillment(
        "NA", SELLER_ID, MARKETPLACE_ID, [order(n, tracking_no=tracking_no, shipping_service="")]
    )["task_id"]


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
        lingxing_conn_id="lingxing_default", seller_id=SELLER_ID, fulfillment_task_ids=task_ids, poll_interval=0.01
    )
    event = asyncio.run(first_event(trigger))
    assert event == {
        "status": "success",
        "seller_id": SELLER_ID,
        "fulfillment_task_ids": pack_task_ids(map(int, task_ids)),
    }
    codes = lingxing_connection.stats()["requests"][GET_FULFILLMENT_RESULT.path]
    assert codes.get("http_503", 0) + codes.get("103", 0) > 0


@pytest.mark.lingxing_simulator(latency=0.0)
def test_a_fatal_code_ends_the_trigger_with_an_error_event_the_sensor_raises(lingxing_connection):
    from airflow_provider_lingxing.exceptions import LingxingAuthError
    from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor

    lingxing_connection.config.fail_with_code = "3001002"
    trigger = FulfillmentResultTrigger(
        lingxing_conn_id="lingxing_default", seller_id=SELLER_ID, fulfillment_task_ids=[1003100], poll_interval=0
    )
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "error"
    assert event["reason"] == "api_error"
    assert event["error_class"] == "LingxingAuthError"
    assert event["code"] == "3001002"
    assert lingxing_connection.stats()["requests"][GET_FULFILLMENT_RESULT.path] == {"3001002": 1}

    sensor = FulfillmentResultSensor(task_id="wait", seller_id=SELLER_ID, fulfillment_task_ids=[1003100])
    with pytest.raises(LingxingAuthError, match="whitelist"):
        sensor.execute_complete({}, event)
