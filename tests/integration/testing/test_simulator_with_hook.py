"""The simulator through the provider's own hook: the two were written apart and must agree on the protocol."""

from __future__ import annotations

import pytest

from airflow_provider_lingxing.api.retry import RetryPolicy
from airflow_provider_lingxing.exceptions import (
    LingxingAuthError,
    LingxingBadRequestError,
    LingxingSubmissionUncertainError,
)
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.testing.simulator import LingxingSimulator

pytestmark = pytest.mark.integration

NA_SELLER, NA_MARKETPLACE = "A1SIMNA0000001", "ATVPDKIKX0DER"
FAST_RETRIES = RetryPolicy(base_delay=0.01, max_delay=0.05)


def orders(*tracking_numbers: str) -> list[dict]:
    return [
        {
            "id": 7000 + i,
            "platform_order_no": f"113-{i:07d}-0000000",
            "tracking_no": tracking_no,
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "shipping_service": "",
            "order_item": [{"order_item_no": f"item-{i}", "quantity": 1}],
        }
        for i, tracking_no in enumerate(tracking_numbers)
    ]


@pytest.fixture
def hook(lingxing_connection: LingxingSimulator):
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    yield hook
    hook.close()


@pytest.mark.lingxing_simulator(latency=0.0)
def test_submit_then_poll_until_complete_through_the_hook(hook: LingxingHook, lingxing_connection):
    sim = lingxing_connection
    assert hook.test_connection()[0]
    assert [s["seller_id"] for s in hook.list_sellers()] == [NA_SELLER, "A1SIMEU0000002"]

    task = hook.submit_fulfillment("NA", NA_SELLER, NA_MARKETPLACE, orders("ERR-1", "WARN-2", "1Z-3"))
    assert hook.get_fulfillment_results(NA_SELLER, [task])[0]["status_code"] == "pending"
    (done,) = hook.get_fulfillment_results(NA_SELLER, [task])

    assert done["status_code"] == "Complete"
    assert {r["message_id"]: r["result_code"] for r in done["result"]} == {"7000": "Error", "7001": "Warning"}
    stats = sim.stats()
    assert stats["tokens_issued"]["access"] == 1
    assert stats["duplicate_order_ids"] == {}
    assert stats["internal_errors"] == 0


@pytest.mark.lingxing_simulator(latency=0.0)
def test_the_hook_recovers_when_another_process_rotates_the_token(hook: LingxingHook, lingxing_connection):
    sim = lingxing_connection
    hook.list_sellers()
    sim.rotate_token()

    assert hook.list_sellers()
    assert sim.stats()["requests"]["/erp/sc/data/seller/lists"]["2001005"] == 1


@pytest.mark.lingxing_simulator(latency=0.0)
def test_the_hook_raises_the_classified_error_of_a_gateway_code(hook: LingxingHook, lingxing_connection):
    lingxing_connection.config.fail_with_code = "2001004"
    with pytest.raises(LingxingAuthError, match="2001004"):
        hook.list_sellers()


@pytest.mark.lingxing_simulator(latency=0.0)
def test_an_invalid_submission_is_refused_by_the_simulator_and_surfaces_as_bad_request(
    hook: LingxingHook, lingxing_connection
):
    bad = orders("1Z")
    bad[0]["carrier_code"] = " "
    body = {"region": "NA", "seller_id": NA_SELLER, "marketplace_id": NA_MARKETPLACE, "order_list": bad}
    with pytest.raises(LingxingBadRequestError, match="carrierCode") as refused:
        hook.request("POST", "/pb/mp/order/submitFulfillment", body=body)  # submit_fulfillment would refuse it first
    assert refused.value.code == "102"
    assert lingxing_connection.stats()["tasks"]["created"] == 0


@pytest.mark.lingxing_simulator(
    latency=0.0, seed=1, http_503_probability=0.4, fault_paths={"/pb/mp/order/getFulfillmentResult"}
)
def test_transient_faults_are_retried_and_results_still_arrive(hook: LingxingHook, lingxing_connection):
    task = hook.submit_fulfillment("NA", NA_SELLER, NA_MARKETPLACE, orders("1Z"))
    statuses = [hook.get_fulfillment_results(NA_SELLER, [task])[0]["status_code"] for _ in range(3)]
    assert statuses[-1] == "Complete"
    assert lingxing_connection.stats()["requests"]["/pb/mp/order/getFulfillmentResult"].get("http_503", 0) > 0


@pytest.mark.lingxing_simulator(latency=0.0, drop_probability=1.0, fault_paths={"/pb/mp/order/submitFulfillment"})
def test_a_dropped_submission_is_not_sent_twice(hook: LingxingHook, lingxing_connection):
    with pytest.raises(LingxingSubmissionUncertainError):
        hook.submit_fulfillment("NA", NA_SELLER, NA_MARKETPLACE, orders("1Z"))
    submissions = lingxing_connection.stats()["submissions"]
    assert [s["order_ids"] for s in submissions[NA_SELLER]] == [["7000"]]


@pytest.mark.lingxing_simulator(latency=0.01, complete_after_polls=1)
async def test_the_async_path_reads_results_in_batches_of_ten(hook: LingxingHook, lingxing_connection):
    tasks = [hook.submit_fulfillment("NA", NA_SELLER, NA_MARKETPLACE, orders(f"1Z-{i}"))["task_id"] for i in range(12)]
    try:
        results = await hook.aget_fulfillment_results(NA_SELLER, tasks)
    finally:
        await hook.aclose()
    assert [r["task_id"] for r in results] == sorted(tasks, key=int)
    assert {r["status_code"] for r in results} == {"Complete"}
    assert lingxing_connection.stats()["rate_limited"] == 0
