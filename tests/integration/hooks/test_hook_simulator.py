"""LingxingHook end to end against the simulator: the service as documented, faults included."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import structlog.testing

from airflow_provider_lingxing import exceptions as exc
from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.api.retry import RetryPolicy
from airflow_provider_lingxing.hooks.lingxing import LingxingHook

pytestmark = pytest.mark.integration

SELLER_ID = "A1SIMNA0000001"
MARKETPLACE_ID = "ATVPDKIKX0DER"
RESULTS = endpoints.GET_FULFILLMENT_RESULT.path
SUBMIT = endpoints.SUBMIT_FULFILLMENT.path
QUICK = RetryPolicy(base_delay=0.01, max_delay=0.05)


def _orders(first_id: int, *tracking: str) -> list[dict]:
    return [
        {
            "id": first_id + n,
            "platform_order_no": f"113-{first_id + n}",
            "tracking_no": tracking_no,
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "shipping_service": "",
            "order_item": [{"order_item_no": f"item-{first_id + n}", "quantity": 1}],
        }
        for n, tracking_no in enumerate(tracking)
    ]


@pytest.mark.lingxing_simulator(latency=0, complete_after_polls=1)
def test_submit_then_fetch_results_as_the_api_returns_them(lingxing_connection):
    hook = LingxingHook()
    assert [s["seller_id"] for s in hook.list_sellers()] == ["A1SIMNA0000001", "A1SIMEU0000002"]
    submitted = hook.submit_fulfillment("NA", SELLER_ID, MARKETPLACE_ID, _orders(1, "1Z001", "ERR002", "WARN003"))
    assert submitted["task_status"] == "pending" and submitted["failure_reason"] is None
    other = hook.submit_fulfillment("NA", SELLER_ID, MARKETPLACE_ID, _orders(10, "1Z010"))

    results = hook.get_fulfillment_results(SELLER_ID, [other, submitted["task_id"], 999_999_999])
    assert [r["task_id"] for r in results] == [submitted["task_id"], other["task_id"]]
    first = results[0]
    assert first["status_code"] == "Complete"
    assert first["processing_summary"] == {
        "messages_processed": "3",
        "messages_successful": "2",
        "messages_with_error": "1",
        "messages_with_warning": "1",
    }
    assert {r["message_id"]: r["result_code"] for r in first["result"]} == {"2": "Error", "3": "Warning"}
    assert lingxing_connection.stats()["tokens_issued"]["access"] == 1


@pytest.mark.lingxing_simulator(latency=0.02)
@pytest.mark.parametrize("transport", ["sync", "async"])
def test_the_limiter_keeps_in_flight_requests_within_capacity(lingxing_connection, transport):
    ids = range(1, 301)
    if transport == "sync":
        LingxingHook().get_fulfillment_results(SELLER_ID, ids)
    else:

        async def fetch() -> None:
            hook = LingxingHook()
            try:
                await asyncio.gather(
                    hook.aget_fulfillment_results(SELLER_ID, ids), hook.aget_fulfillment_results(SELLER_ID, ids)
                )
            finally:
                await hook.aclose()

        asyncio.run(fetch())
    stats = lingxing_connection.stats()
    peak = stats["peak_in_flight"][lingxing_connection.app_id][RESULTS]
    assert 2 <= peak <= endpoints.GET_FULFILLMENT_RESULT.capacity
    assert stats["rate_limited"] == 0
    assert stats["requests"][RESULTS] == {"0": 30 if transport == "sync" else 60}


@pytest.mark.lingxing_simulator(
    latency=0,
    seed=7,
    http_503_probability=0.1,
    non_json_probability=0.05,
    limiter_103_probability=0.1,
    sign_expired_probability=0.05,
    fault_paths={RESULTS},
)
def test_results_survive_the_documented_faults(lingxing_connection):
    hook = LingxingHook(retry_policy=QUICK)
    created = [
        hook.submit_fulfillment("NA", SELLER_ID, MARKETPLACE_ID, _orders(n, f"1Z{n}"))["task_id"] for n in range(1, 31)
    ]
    for _ in range(5):
        results = hook.get_fulfillment_results(SELLER_ID, created)
        assert sorted(r["task_id"] for r in results) == sorted(created)
    faults = {k: v for k, v in lingxing_connection.stats()["requests"][RESULTS].items() if k != "0"}
    assert sum(faults.values()) > 0, "faults were drawn and retried through"


@pytest.mark.lingxing_simulator(latency=0, drop_probability=1.0, fault_paths={SUBMIT})
def test_a_submission_whose_answer_is_lost_is_not_sent_twice(lingxing_connection):
    with pytest.raises(exc.LingxingSubmissionUncertainError, match="NOT re-sent"):
        LingxingHook(retry_policy=QUICK).submit_fulfillment("NA", SELLER_ID, MARKETPLACE_ID, _orders(1, "1Z1"))
    stats = lingxing_connection.stats()
    assert stats["tasks"]["created"] == 1, "the simulator did the work; a re-send would have made a second task"
    assert stats["duplicate_order_ids"] == {}


@pytest.mark.lingxing_simulator(latency=0)
def test_rotated_and_expired_tokens_are_recovered_from(lingxing_connection):
    sim = lingxing_connection
    hook = LingxingHook()
    hook.list_sellers()
    sim.rotate_token()  # another process fetched a token: ours now gets 2001005
    hook.get_fulfillment_results(SELLER_ID, [1])
    sim.expire_tokens()  # 2001003
    hook.get_fulfillment_results(SELLER_ID, [1])
    answers = sim.stats()["requests"][RESULTS]
    assert answers.get("2001005") == 1 and answers.get("2001003") == 1 and answers["0"] == 2
    assert sim.stats()["tokens_issued"]["access"] == 3


@pytest.mark.lingxing_simulator(latency=0, fail_with_code="3001002")
def test_ip_whitelist_refusal_is_fatal_and_actionable(lingxing_connection):
    with pytest.raises(exc.LingxingAuthError, match="whitelist"):
        LingxingHook().list_sellers()
    assert lingxing_connection.stats()["requests"][endpoints.SELLER_LIST.path] == {"3001002": 1}


def test_connection_test_against_the_simulator(lingxing_connection, monkeypatch):
    ok, message = LingxingHook().test_connection()
    assert ok and message.startswith(f"Connected to {lingxing_connection.base_url}: a new token was issued and ")
    assert message.endswith("; 2 seller(s) visible")
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINGXING_DEFAULT",
        lingxing_connection.connection_json().replace(lingxing_connection.app_secret, "Wrong+Secret/00=="),
    )
    ok, message = LingxingHook().test_connection()
    assert not ok and "2001002" in message


def test_the_connection_uri_form_works(lingxing_simulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", lingxing_simulator.connection_uri())
    assert LingxingHook().list_sellers()


@pytest.mark.parametrize("code", ["1", "500"])
@pytest.mark.lingxing_simulator(latency=0, complete_after_polls=1)
def test_an_internal_error_once_then_success_answers_every_id(lingxing_simulator, lingxing_connection, code):
    """Lingxing's transient "服务内部错误" in an HTTP 200 envelope: the batch is retried, every id is answered."""
    hook = LingxingHook(retry_policy=QUICK)
    task_ids = [
        hook.submit_fulfillment("NA", SELLER_ID, MARKETPLACE_ID, _orders(100 + n, "1Z"))["task_id"] for n in range(25)
    ]
    lingxing_simulator.configure({"fail_with_code": code, "fail_message": "服务内部错误", "fail_times": 1})
    results = hook.get_fulfillment_results(SELLER_ID, task_ids)
    assert sorted(r["task_id"] for r in results) == sorted(task_ids)
    assert lingxing_simulator.stats()["requests"][RESULTS] == {code: 1, "0": 3}


@pytest.mark.lingxing_simulator(latency=0, clock_offset=600)
def test_a_clock_ten_minutes_off_fails_once_with_both_clocks_and_the_fix(lingxing_simulator, lingxing_connection):
    """Every sign looks ten minutes old to the gateway: one re-sign, then a fatal error (no retry by the hook or by
    Airflow) that gives this clock, the gateway's and the offset, and says to fix NTP."""
    with pytest.raises(exc.LingxingFatalError) as raised:
        LingxingHook(retry_policy=QUICK).list_sellers()
    message = str(raised.value)
    assert "2001007" in message and "re-sign" in message and "NTP" in message
    assert re.search(r"this worker's clock reads \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", message)
    offset = int(re.search(r"is (\d+) s behind", message).group(1))
    assert 598 <= offset <= 602
    assert lingxing_simulator.stats()["requests"][endpoints.SELLER_LIST.path] == {"2001007": 2}


def _create_tasks(hook: LingxingHook, count: int) -> list[str]:
    with ThreadPoolExecutor(max_workers=10) as pool:
        created = pool.map(
            lambda n: hook.submit_fulfillment("NA", SELLER_ID, MARKETPLACE_ID, _orders(1000 + n, "1Z"))["task_id"],
            range(count),
        )
        return list(created)


@pytest.mark.parametrize("ids", [30, 300])
@pytest.mark.lingxing_simulator(latency=0.01, complete_after_polls=1)
def test_a_token_war_with_a_foreign_client_completes_and_says_so_once(lingxing_simulator, lingxing_connection, ids):
    """Another client of the app id fetches a token after every 3 accepted calls (each fetch invalidates ours, each
    of ours invalidates its): the renewals draw on the retries with the default backoff, every id is answered,
    and the log says once what is going on and what to do."""
    hook = LingxingHook()
    task_ids = _create_tasks(hook, ids)
    lingxing_simulator.configure({"rotate_token_every": 3})
    before = lingxing_simulator.stats()
    with structlog.testing.capture_logs() as logs:
        results = hook.get_fulfillment_results(SELLER_ID, task_ids)
    assert sorted(r["task_id"] for r in results) == sorted(task_ids)
    after = lingxing_simulator.stats()
    refused = after["requests"][RESULTS].get("2001005", 0)
    fetched = after["tokens_issued"]["access"] - before["tokens_issued"]["access"]
    warnings = [e["event"] for e in logs if "rotating" in e["event"] and e["log_level"] == "warning"]
    if refused >= 2:
        assert len(warnings) == 1 and "its own app id" in warnings[0] and f"{fetched} renewals" in warnings[0]
    assert after["requests"][RESULTS]["0"] == ids // 10
