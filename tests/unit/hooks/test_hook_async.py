"""The async path (httpx) behaves as the sync one: same errors, same retries, same limits, a free event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from airflow_provider_lingxing import exceptions as exc
from airflow_provider_lingxing.api.endpoints import ACCESS_TOKEN
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.tokens import PROCESS_TOKEN_STORE
from tests.support.canned_lingxing import (
    DROP,
    FAST_RETRIES,
    RESULTS_PATH,
    SELLERS_PATH,
    SUBMIT_PATH,
    TIMEOUT,
    TOKEN_PATH,
    CannedLingxing,
    Reply,
    coded,
    envelope,
    http,
)

ORDER = {
    "id": 9,
    "platform_order_no": "111-9",
    "tracking_no": "1Z9",
    "carrier_code": "UPS",
    "carrier_name": "UPS",
    "order_item": [{"order_item_no": "1", "quantity": 1}],
}


async def _async_call(method: str, args: tuple) -> object:
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    try:
        if method == "results":
            return await hook.aget_fulfillment_results(*args)
        return await hook.arequest(*args)
    finally:
        await hook.aclose()


def _sync_call(method: str, args: tuple) -> object:
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    if method == "results":
        return hook.get_fulfillment_results(*args)
    return hook.request(*args)


SUBMIT_BODY = {"region": "NA", "seller_id": "S1", "marketplace_id": "M1", "order_list": [ORDER]}
RESULTS = ("results", ("S1", [*range(1, 24), "5"]))
ONE_BATCH = ("results", ("S1", [3, "1", 2, 2]))
"""Where every batch fails, one batch keeps the call count deterministic (a failed batch cancels the rest)."""
SUBMIT = ("request", ("POST", SUBMIT_PATH, None, SUBMIT_BODY))

SCENARIOS: dict[str, tuple[tuple, str, list[Reply]]] = {
    "ok": (RESULTS, RESULTS_PATH, []),
    **{f"results {code}": (ONE_BATCH, RESULTS_PATH, [coded(code)] * 12) for code in ("2001002", "3001002", "102")},
    **{f"results {code} once": (RESULTS, RESULTS_PATH, [coded(code)]) for code in ("2001007", "3001008", "103")},
    **{f"results {code} always": (ONE_BATCH, RESULTS_PATH, [coded(code)] * 30) for code in ("3001008", "2001005")},
    "results 503 then drop": (RESULTS, RESULTS_PATH, [http(503), DROP]),
    "results non-JSON always": (ONE_BATCH, RESULTS_PATH, [http(200, b"<html/>")] * 30),
    "results timeout": (RESULTS, RESULTS_PATH, [TIMEOUT]),
    "submit 2001003": (SUBMIT, SUBMIT_PATH, [coded("2001003")]),
    "submit 3001008": (SUBMIT, SUBMIT_PATH, [coded("3001008")]),
    "submit 502": (SUBMIT, SUBMIT_PATH, [http(502)]),
    "submit dropped": (SUBMIT, SUBMIT_PATH, [DROP]),
    "submit timeout": (SUBMIT, SUBMIT_PATH, [TIMEOUT]),
    "wrong path": (
        ("request", ("GET", "/erp/nothing/here")),
        "/erp/nothing/here",
        [envelope("500", message="404 NOT_FOUND")],
    ),
}


def _observe(connect, run: Callable[[str, tuple], object], scenario: str) -> tuple:
    (method, args), path, replies = SCENARIOS[scenario]
    PROCESS_TOKEN_STORE.clear()
    with CannedLingxing().serving() as fake:
        connect(fake.base_url, max_retries=2, timeout=0.3)
        fake.script(path, *replies)
        try:
            outcome = ("ok", run(method, args))
        except exc.LingxingApiError as error:
            outcome = (type(error).__name__, error.code, str(error))
        counts = {p: len(fake.calls(p)) for p in (TOKEN_PATH, path)}
        return outcome, counts


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_async_path_matches_the_sync_path(connect, scenario):
    sync = _observe(connect, _sync_call, scenario)
    async_ = _observe(connect, lambda m, a: asyncio.run(_async_call(m, a)), scenario)
    assert async_ == sync
    if scenario.startswith("submit") and scenario.split()[1] in ("502", "dropped", "timeout"):
        assert sync[0][0] == "LingxingSubmissionUncertainError" and sync[1][SUBMIT_PATH] == 1


async def test_async_results_are_batched_ordered_and_limited(fake, connect):
    connect(fake.base_url)
    fake.latency = 0.02
    first, second = LingxingHook(), LingxingHook()
    try:
        a, b = await asyncio.gather(
            first.aget_fulfillment_results("S1", range(150, 0, -1)),
            second.aget_fulfillment_results("S1", [*range(1, 101), "100"]),
        )
    finally:
        await first.aclose()
        await second.aclose()
    assert [r["task_id"] for r in a] == [str(i) for i in range(1, 151)]
    assert [r["task_id"] for r in b] == [str(i) for i in range(1, 101)]
    assert len(fake.calls(RESULTS_PATH)) == 25
    assert all(len(r.json()["task_id"]) <= 10 for r in fake.calls(RESULTS_PATH))
    assert len(fake.calls(TOKEN_PATH)) == 1


async def test_async_requests_in_flight_stay_within_the_bucket(sim, connect_sim):
    connect_sim()
    sim.config.latency = 0.02
    hooks = [LingxingHook(), LingxingHook()]
    try:
        await asyncio.gather(*(hook.aget_fulfillment_results("S1", range(1, 151)) for hook in hooks))
        await asyncio.gather(*(hooks[0].arequest("GET", SELLERS_PATH) for _ in range(4)))
    finally:
        for hook in hooks:
            await hook.aclose()
    stats = sim.stats()
    assert stats["requests"][RESULTS_PATH] == {"0": 30} and stats["requests"][SELLERS_PATH] == {"0": 4}
    assert 2 <= stats["peak_in_flight"][sim.app_id][RESULTS_PATH] <= 10
    assert stats["peak_in_flight"][sim.app_id][SELLERS_PATH] == 1
    assert stats["tokens_issued"]["access"] == 1


async def test_async_bad_input_and_connection_fail_before_any_call(fake, connect):
    connect(fake.base_url, login="ak_too_short")
    with pytest.raises(exc.LingxingInputError, match="login"):
        await LingxingHook().aget_fulfillment_results("S1", [1])
    connect(fake.base_url)
    with pytest.raises(exc.LingxingInputError, match="task_ids"):
        await LingxingHook().aget_fulfillment_results("S1", ["x"])
    with pytest.raises(exc.LingxingInputError, match="seller_id"):
        await LingxingHook().aget_fulfillment_results("", [1])
    assert fake.requests == []


async def test_a_slow_token_fetch_does_not_block_the_event_loop(sim, connect_sim):
    """The token is fetched with httpx and the store is read in a thread: other triggers keep running meanwhile."""
    connect_sim()
    sim.config.endpoint_latency = {ACCESS_TOKEN.path: 0.4}
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        end = time.monotonic() + 0.35
        while time.monotonic() < end:
            await asyncio.sleep(0.01)
            ticks += 1

    hook = LingxingHook()
    try:
        await asyncio.gather(hook.aget_fulfillment_results("S1", [1]), heartbeat())
    finally:
        await hook.aclose()
    assert ticks >= 10
    assert sim.stats()["tokens_issued"]["access"] == 1


async def test_concurrent_triggers_share_one_token_fetch(sim, connect_sim):
    connect_sim()
    sim.config.latency = 0.01
    hooks = [LingxingHook() for _ in range(6)]
    try:
        await asyncio.gather(*(h.aget_fulfillment_results("S1", [i]) for i, h in enumerate(hooks, 1)))
    finally:
        for h in hooks:
            await h.aclose()
    assert sim.stats()["tokens_issued"]["access"] == 1
