"""LingxingHook on canned answers (and the simulator where concurrency matters): validation first, error codes,
retries, batching, the limiter."""

from __future__ import annotations

import email.utils
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from airflow_provider_lingxing import exceptions as exc
from airflow_provider_lingxing.api.endpoints import SELLER_LIST
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.limits import PROCESS_LIMITER
from tests.support.canned_lingxing import (
    APP_ID,
    DROP,
    FAST_RETRIES,
    RESULTS_PATH,
    SELLERS_PATH,
    SUBMIT_PATH,
    TIMEOUT,
    TOKEN_PATH,
    coded,
    envelope,
    http,
)

ORDER = {
    "id": 1,
    "platform_order_no": "111-1",
    "tracking_no": "1Z1",
    "carrier_code": "UPS",
    "carrier_name": "UPS",
    "shipping_service": "",
    "order_item": [{"order_item_no": "1", "quantity": 1}],
}


def _submit(hook: LingxingHook) -> dict:
    return hook.submit_fulfillment("NA", "S1", "ATVPDKIKX0DER", [ORDER])


# -- the connection, checked before any call --------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "culprit"),
    [
        ({"host": "ftp://openapi.lingxing.com"}, "host (Base URL)"),
        ({"host": "http://"}, "host (Base URL)"),
        ({"host": "https://openapi.lingxing.com:notaport"}, "host (Base URL)"),
        ({"login": ""}, "login (App ID)"),
        ({"login": "ak_short"}, "login (App ID) must be 16, 24 or 32 bytes"),
        ({"password": ""}, "password (App Secret)"),
        ({"timeout": "soon"}, "extra `timeout`"),
        ({"timeout": 0}, "extra `timeout`"),
        ({"max_retries": "2.5"}, "extra `max_retries`"),
        ({"max_retries": -1}, "extra `max_retries`"),
        ({"verify": "maybe"}, "extra `verify`"),
        ({"extra__lingxing__timeout": "x"}, "extra `timeout`"),
    ],
)
def test_bad_connection_is_named_before_any_call(fake, connect, fields, culprit):
    conn = {"login": APP_ID, "password": "secret-value", **fields}
    host = conn.pop("host", fake.base_url)
    connect(host, **conn)
    hook = LingxingHook()
    with pytest.raises(exc.LingxingInputError, match=f"'lingxing_default'.*{re.escape(culprit)}") as raised:
        hook.get_fulfillment_results("S1", [1])
    assert fake.requests == []
    assert "secret-value" not in str(raised.value)


# -- bad arguments, before any call -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("seller_id", "task_ids", "culprit"),
    [
        ("", [1], "seller_id"),
        (None, [1], "seller_id"),
        ("  ", [1], "seller_id"),
        ("S1", [], "task_ids: must be a non-empty list of task ids"),
        ("S1", None, "task_ids"),
        ("S1", [1, 0], "task_ids"),
        ("S1", ["12a"], "task_ids"),
        ("S1", [-3], "task_ids"),
        ("S1", [True], "task_ids"),
        ("S1", [1.5], "task_ids"),
    ],
)
def test_bad_result_arguments_are_named_before_any_call(hook, fake, seller_id, task_ids, culprit):
    with pytest.raises(exc.LingxingInputError, match=culprit):
        hook.get_fulfillment_results(seller_id, task_ids)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (("XX", "S1", "M1", [ORDER]), "region"),
        (("NA", "", "M1", [ORDER]), "seller_id"),
        (("NA", "S1", None, [ORDER]), "marketplace_id"),
        (("NA", "S1", "M1", []), "order_list"),
        (("NA", "S1", "M1", ["x"]), r"order_list\[0\]"),
        (("NA", "S1", "M1", [ORDER, {**ORDER, "id": 0}]), r"order_list\[1\]\.id"),
        (("NA", "S1", "M1", [{**ORDER, "id": "1" * 21}]), r"order_list\[0\]\.id"),
    ],
)
def test_bad_submission_is_named_before_any_call(hook, fake, args, culprit):
    with pytest.raises(exc.LingxingInputError, match=culprit):
        hook.submit_fulfillment(*args)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (("PUT", SELLERS_PATH), "method"),
        (("GET", ""), "path"),
        (("GET", SELLERS_PATH, None, {"a": 1}), "body must be None"),
        (("POST", RESULTS_PATH, {"a": 1}), "params must be None"),
        (("GET", RESULTS_PATH), "must be POST"),
        (("POST", TOKEN_PATH, None, {}), "token endpoint"),
        (("POST", RESULTS_PATH, None, [1]), "body must be a dict"),
    ],
)
def test_bad_request_arguments_are_named_before_any_call(hook, fake, args, culprit):
    with pytest.raises(exc.LingxingInputError, match=culprit):
        hook.request(*args)
    assert fake.requests == []


# -- every code: classified, retried or not (calls counted) ---------------------------------------

FATAL = ["2001001", "2001002", "2001004", "2001006", "3001001", "3001002", "102", "0001001", "400", "405", "401", "403"]
RETRIED = ["3001008", "103"]
TOKEN = ["2001003", "2001005", "2001008", "2001009"]


@pytest.mark.parametrize("code", FATAL)
def test_fatal_code_raises_after_one_call(hook, fake, code):
    fake.script(RESULTS_PATH, *[coded(code)] * 5)
    with pytest.raises(exc.LingxingFatalError) as raised:
        hook.get_fulfillment_results("S1", [1])
    assert raised.value.code == code and raised.value.hint
    assert len(fake.calls(RESULTS_PATH)) == 1


def test_wrong_path_answer_is_fatal(hook, fake):
    fake.script(RESULTS_PATH, envelope("500", message="404 NOT_FOUND"))
    with pytest.raises(exc.LingxingBadRequestError, match="Base URL"):
        hook.get_fulfillment_results("S1", [1])
    assert len(fake.calls(RESULTS_PATH)) == 1


@pytest.mark.parametrize("code", RETRIED)
def test_retryable_code_is_retried_up_to_max_retries(hook, fake, code):
    fake.script(RESULTS_PATH, *[coded(code)] * 5)
    with pytest.raises(exc.LingxingRetryableError, match="gave up after 2 retries") as raised:
        hook.get_fulfillment_results("S1", [1])
    assert raised.value.code == code
    assert len(fake.calls(RESULTS_PATH)) == 3


def test_a_sign_expired_again_with_this_clock_in_step_backs_off_up_to_max_retries(hook, fake):
    in_step = {"Date": email.utils.formatdate(usegmt=True)}
    fake.script(RESULTS_PATH, *[http(200, coded("2001007").body, **in_step)] * 5)
    with pytest.raises(exc.LingxingSignExpiredError, match="gave up after 2 retries"):
        hook.get_fulfillment_results("S1", [1])
    assert len(fake.calls(RESULTS_PATH)) == 4, "one re-sign, then two retries"


def test_a_sign_expired_again_without_the_gateways_clock_is_fatal(hook, fake):
    fake.script(RESULTS_PATH, *[coded("2001007")] * 5)
    with pytest.raises(exc.LingxingFatalError, match=r"re-sign.*gateway sent no clock.*NTP"):
        hook.get_fulfillment_results("S1", [1])
    assert len(fake.calls(RESULTS_PATH)) == 2


@pytest.mark.parametrize("code", [*RETRIED, "2001007"])
def test_retryable_code_then_success(hook, fake, code):
    fake.script(RESULTS_PATH, coded(code))
    assert hook.get_fulfillment_results("S1", [5]) == [{"task_id": "5", "status_code": "Complete"}]
    assert len(fake.calls(RESULTS_PATH)) == 2


@pytest.mark.parametrize("code", TOKEN)
def test_token_code_renews_the_token_a_bounded_number_of_times(hook, fake, code):
    fake.script(RESULTS_PATH, *[coded(code)] * 10)
    with pytest.raises(exc.LingxingTokenError):
        hook.get_fulfillment_results("S1", [1])
    renewals = 1 + 2  # the first renewal is free, the next ones draw on the connection's 2 retries
    assert len(fake.calls(RESULTS_PATH)) == 1 + renewals
    assert len(fake.calls(TOKEN_PATH)) == 1 + renewals
    sent_tokens = [r.query["access_token"] for r in fake.calls(RESULTS_PATH)]
    assert len(set(sent_tokens)) == 1 + renewals


@pytest.mark.parametrize("code", TOKEN)
def test_token_code_then_success_with_a_new_token(hook, fake, code):
    fake.script(RESULTS_PATH, coded(code))
    assert hook.get_fulfillment_results("S1", [5])[0]["task_id"] == "5"
    first, second = (r.query["access_token"] for r in fake.calls(RESULTS_PATH))
    assert first != second == fake.live_token


@pytest.mark.parametrize(
    "reply",
    [http(500), http(502, b'{"code": 502, "msg": "Bad Gateway"}'), http(503), http(200, b"<html>wait</html>"), DROP],
    ids=["500", "502 json", "503", "non-JSON", "dropped"],
)
def test_transient_failures_are_retried_for_results(hook, fake, reply):
    fake.script(RESULTS_PATH, reply, reply)
    assert hook.get_fulfillment_results("S1", [5])[0]["task_id"] == "5"
    assert len(fake.calls(RESULTS_PATH)) == 3


def test_read_timeout_is_retried_for_results(fake, connect):
    connect(fake.base_url, timeout=0.3, max_retries=2)
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    fake.script(RESULTS_PATH, TIMEOUT)
    assert hook.get_fulfillment_results("S1", [5])[0]["task_id"] == "5"
    assert len(fake.calls(RESULTS_PATH)) == 2


# -- submitFulfillment is not idempotent ------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [http(500), http(503), http(200, b"<html/>"), DROP, TIMEOUT],
    ids=["500", "503", "non-JSON", "dropped", "timeout"],
)
def test_submission_that_may_have_arrived_is_not_resent(fake, connect, reply):
    connect(fake.base_url, timeout=0.3, max_retries=3)
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    fake.script(SUBMIT_PATH, reply)
    with pytest.raises(exc.LingxingSubmissionUncertainError) as raised:
        _submit(hook)
    assert "NOT re-sent" in str(raised.value) and "Check in Lingxing" in str(raised.value)
    assert len(fake.calls(SUBMIT_PATH)) == 1


@pytest.mark.parametrize("first", ["3001008", "103", "2001005", "2001003", "2001007"])
def test_submission_refused_by_the_gateway_is_resent(hook, fake, first):
    fake.script(SUBMIT_PATH, coded(first))
    assert _submit(hook) == {"task_id": "77", "task_status": "pending", "failure_reason": None}
    assert len(fake.calls(SUBMIT_PATH)) == 2


def test_submission_that_never_connected_is_retried_then_reported(connect):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    connect(f"http://127.0.0.1:{port}", max_retries=2)
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    with pytest.raises(
        exc.LingxingTransientError, match=f"could not connect to 127.0.0.1:{port}.*gave up after 2"
    ) as raised:
        _submit(hook)
    assert not isinstance(raised.value, exc.LingxingSubmissionUncertainError)


def test_submission_body_is_exactly_what_was_signed(hook, fake):
    _submit(hook)
    sent = fake.calls(SUBMIT_PATH)[0]
    assert sent.json() == {"region": "NA", "seller_id": "S1", "marketplace_id": "ATVPDKIKX0DER", "order_list": [ORDER]}
    assert sent.body == json.dumps(sent.json(), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


# -- signing on the wire ----------------------------------------------------------------------------


def test_retry_is_signed_again_with_a_fresh_timestamp(hook, fake):
    ticks = iter(range(1_700_000_000, 1_700_000_100, 3))
    hook._clock = lambda: next(ticks)
    fake.script(RESULTS_PATH, envelope("2001007", message="api sign has expired"))
    hook.get_fulfillment_results("S1", [5])
    first, second = fake.calls(RESULTS_PATH)
    assert first.query["timestamp"] != second.query["timestamp"]
    assert first.query["sign"] != second.query["sign"]
    assert first.body == second.body


def test_a_request_queued_for_a_concurrency_slot_is_signed_when_it_leaves(hook, fake):
    now = [1_700_000_000]
    hook._clock = lambda: now[0]
    hook.list_sellers()  # the token, fetched before the slot is taken away
    slot = PROCESS_LIMITER.slot(hook.settings.app_id, SELLER_LIST)  # the seller list's capacity is 1
    slot.acquire()
    waiting = threading.Thread(target=hook.list_sellers)
    waiting.start()
    waiting.join(0.3)
    now[0] += 600  # ten minutes in the queue: a sign made before would have expired (2001007)
    slot.release()
    waiting.join(10)
    assert fake.calls(SELLERS_PATH)[-1].query["timestamp"] == str(now[0])


def test_seller_list_is_a_signed_get(hook, fake):
    assert hook.list_sellers() == [{"seller_id": "S1", "name": "Store"}]
    sent = fake.calls(SELLERS_PATH)[0]
    assert sent.method == "GET" and set(sent.query) == {"access_token", "app_key", "timestamp", "sign"}
    assert sent.query["app_key"] == APP_ID


def test_generic_request_reaches_any_endpoint(hook, fake):
    echo = hook.request("GET", "//erp/sc/other/list/", params={"offset": 0, "ids": [1, 2], "skip": None})
    assert urlsplit(fake.requests[-1].path).path == "/erp/sc/other/list"
    assert echo["echo"]["offset"] == "0" and echo["echo"]["ids"] == "[1,2]" and "skip" not in echo["echo"]


# -- batching, ordering, the limiter --------------------------------------------------------------


def test_ids_are_deduplicated_batched_by_ten_and_results_come_back_in_task_id_order(hook, fake):
    ids = [*range(25, 0, -1), "7", " 8 ", 25, {"task_id": "3"}]
    results = hook.get_fulfillment_results("S1", ids)
    batches = [r.json()["task_id"] for r in fake.calls(RESULTS_PATH)]
    assert sorted(len(b) for b in batches) == [5, 10, 10]
    assert sorted(i for b in batches for i in b) == list(range(1, 26))
    assert all(r.json()["seller_id"] == "S1" for r in fake.calls(RESULTS_PATH))
    assert [r["task_id"] for r in results] == [str(i) for i in range(1, 26)]


def test_one_dict_per_distinct_task_id_as_returned(hook, fake):
    fake.results_handler = lambda body: [
        {"task_id": "1003085", "status_code": "Complete", "processing_summary": {"messages_processed": ""}},
        {"task_id": "1003084", "status_code": "pending"},
        {"task_id": "1003085", "status_code": "Complete", "processing_summary": {"messages_processed": ""}},
    ]
    results = hook.get_fulfillment_results("S1", [1003084, 1003085, 1003086])
    assert results == [
        {"task_id": "1003084", "status_code": "pending"},
        {"task_id": "1003085", "status_code": "Complete", "processing_summary": {"messages_processed": ""}},
    ]


def _create_tasks(count: int) -> list[str]:
    hook = LingxingHook()
    orders = [{**ORDER, "id": n, "platform_order_no": f"111-{n}"} for n in range(1, count + 1)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        created = pool.map(lambda order: hook.submit_fulfillment("NA", "S1", "ATVPDKIKX0DER", [order]), orders)
        return [answer["task_id"] for answer in created]


def test_in_flight_requests_never_exceed_the_capacity_across_hooks(sim, connect_sim):
    connect_sim(max_retries=0)
    task_ids = _create_tasks(120)
    sim.config.latency = 0.03
    hooks = [LingxingHook(retry_policy=FAST_RETRIES) for _ in range(3)]
    failures: list[BaseException] = []

    def fetch(hook: LingxingHook) -> None:
        try:
            assert len(hook.get_fulfillment_results("S1", task_ids)) == 120
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=fetch, args=(hook,)) for hook in hooks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = sim.stats()
    assert failures == []
    assert stats["requests"][RESULTS_PATH] == {"0": 36}, "36 requests of 10 ids, none refused (3001008)"
    assert 2 <= stats["peak_in_flight"][sim.app_id][RESULTS_PATH] <= 10
    assert stats["tokens_issued"]["access"] == 1, "one token, fetched while creating the tasks, shared by all"


def test_seller_list_capacity_of_one_serialises_calls(sim, connect_sim):
    connect_sim()
    sim.config.latency = 0.02
    threads = [threading.Thread(target=LingxingHook().list_sellers) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = sim.stats()
    assert stats["requests"][SELLERS_PATH] == {"0": 4}
    assert stats["peak_in_flight"][sim.app_id][SELLERS_PATH] == 1


def test_one_failing_batch_fails_the_call(hook, fake):
    fake.script(RESULTS_PATH, envelope(102, message="taskId任务id数组不能为空"))
    with pytest.raises(exc.LingxingBadRequestError, match="taskId"):
        hook.get_fulfillment_results("S1", range(1, 31))


# -- Airflow integration points ---------------------------------------------------------------------


def test_connection_test_reports_success_and_failure(fake, connect):
    connect(fake.base_url)
    ok, message = LingxingHook().test_connection()
    assert ok and "1 seller" in message

    connect(fake.base_url, password="wrong-secret-value")
    ok, message = LingxingHook().test_connection()
    assert not ok and "2001002" in message and "App Secret" in message
    assert "wrong-secret-value" not in message
    assert len(fake.calls(TOKEN_PATH)) == 2, "the test proves the secret: it fetches a token even if one is shared"


def test_one_debug_line_per_call_with_path_attempt_code_and_time(hook_logs, fake, connect):
    connect(fake.base_url, max_retries=2)
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    fake.script(RESULTS_PATH, envelope("3001008", message="requests too frequently"))
    hook.get_fulfillment_results("S1", [1])
    lines = [e["event"] for e in hook_logs if e["log_level"] == "debug" and e["event"].startswith("Lingxing /")]
    assert len(lines) == 3
    assert lines[0].startswith(f"Lingxing {TOKEN_PATH} attempt 1: code 0, ")
    assert lines[1].startswith(f"Lingxing {RESULTS_PATH} attempt 1: code 3001008, ")
    assert lines[2].startswith(f"Lingxing {RESULTS_PATH} attempt 2: code 0, ")
    assert all(line.endswith(" ms") for line in lines)
