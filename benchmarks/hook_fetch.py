"""LingxingHook against the simulator: batched fetch wall time, and CPU per request vs bare requests.

The simulator runs in its own process, as the real service is remote: its CPU must not compete with the
hook's for this process's GIL, and `time.process_time()` then counts the client alone.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from airflow_provider_lingxing.api.calls import HttpRequest, build_business_request
from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.testing.simulator import SimulatorProcess

LATENCY = 0.05
TASK_IDS = 2000
SELLER_ID = "A1SIMNA0000001"
TIMED_RUNS = 5
CPU_REQUESTS = 400
WALL_TARGET = 1.15
CPU_TARGET = 1.3


def _create_tasks(hook: LingxingHook, count: int) -> list[str]:
    def submit(n: int) -> str:
        order = {
            "id": n,
            "platform_order_no": f"113-{n:07d}",
            "tracking_no": f"1Z{n:08d}" if n % 50 else f"ERR{n:06d}",
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "shipping_service": "",
            "order_item": [{"order_item_no": f"item-{n}", "quantity": 1}],
        }
        return hook.submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order])["task_id"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        return list(pool.map(submit, range(1, count + 1)))


def _signed_results_request(hook: LingxingHook, task_ids: list) -> HttpRequest:
    return build_business_request(
        GET_FULFILLMENT_RESULT,
        base_url=hook.settings.base_url,
        app_id=hook.settings.app_id,
        access_token=hook.token_keeper.current().access_token,
        payload={"seller_id": SELLER_ID, "task_id": task_ids},
        timestamp=str(int(time.time())),
    )


def wall_time(sim: SimulatorProcess, hook: LingxingHook) -> None:
    task_ids = _create_tasks(hook, TASK_IDS)
    sim.configure(latency=LATENCY)
    requests_needed = math.ceil(TASK_IDS / GET_FULFILLMENT_RESULT.batch_limit)
    waves = math.ceil(requests_needed / GET_FULFILLMENT_RESULT.capacity)
    bound = requests_needed / GET_FULFILLMENT_RESULT.capacity * LATENCY
    hook.get_fulfillment_results(SELLER_ID, task_ids)  # warm: keep-alive connections open, tasks complete
    limited_before = sim.stats()["rate_limited"]
    walls = []
    for _ in range(TIMED_RUNS):
        started = time.perf_counter()
        results = hook.get_fulfillment_results(SELLER_ID, task_ids)
        walls.append(time.perf_counter() - started)
        assert len(results) == TASK_IDS
    limited = sim.stats()["rate_limited"] - limited_before

    signed = _signed_results_request(hook, task_ids[:10])
    session = requests.Session()
    round_trips = []
    for _ in range(20):
        started = time.perf_counter()
        assert session.post(signed.url, data=signed.body, headers=signed.headers).content
        round_trips.append(time.perf_counter() - started)
    floor = waves * statistics.median(round_trips)

    async def fetch_async() -> float:
        started = time.perf_counter()
        assert len(await hook.aget_fulfillment_results(SELLER_ID, task_ids)) == TASK_IDS
        return time.perf_counter() - started

    async def async_runs() -> list[float]:
        try:
            await fetch_async()
            return [await fetch_async() for _ in range(TIMED_RUNS)]
        finally:
            await hook.aclose()

    async_walls = asyncio.run(async_runs())

    wall = statistics.median(walls)
    print(
        f"get_fulfillment_results of {TASK_IDS:,} task ids ({requests_needed} requests of 10, capacity "
        f"{GET_FULFILLMENT_RESULT.capacity}, {LATENCY * 1000:.0f} ms latency): median wall {wall:.3f} s over "
        f"{TIMED_RUNS} runs ({', '.join(f'{w:.3f}' for w in walls)})"
    )
    print(f"  ratio to the bound {bound:.3f} s: {wall / bound:.3f} (target <= {WALL_TARGET})")
    print(f"  3001008 answers: {limited} (target 0)")
    print(
        f"  the async path (aget_fulfillment_results, httpx): median {statistics.median(async_walls):.3f} s, "
        f"ratio {statistics.median(async_walls) / bound:.3f}; 3001008 answers: "
        f"{sim.stats()['rate_limited'] - limited_before - limited}"
    )
    print(
        f"  for scale: {waves} sequential bare round trips on this machine take {floor:.3f} s "
        f"(ratio of the hook to that floor: {wall / floor:.3f})"
    )


def _cpu_per_call(call, n: int = CPU_REQUESTS) -> float:
    for _ in range(20):
        call()
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) / n


def cpu_per_request(sim: SimulatorProcess, hook: LingxingHook) -> None:
    sim.configure(latency=0)
    task_ids = list(range(1, 11))
    signed = _signed_results_request(hook, task_ids)
    session = requests.Session()
    figures = {"hook": [], "post": [], "session": []}
    for _ in range(3):
        figures["hook"].append(_cpu_per_call(lambda: hook.get_fulfillment_results(SELLER_ID, task_ids)))
        figures["post"].append(
            _cpu_per_call(lambda: requests.post(signed.url, data=signed.body, headers=signed.headers).content)
        )
        figures["session"].append(
            _cpu_per_call(lambda: session.post(signed.url, data=signed.body, headers=signed.headers).content)
        )
    hook_cpu, post_cpu, session_cpu = (statistics.median(figures[k]) for k in ("hook", "post", "session"))
    print(
        f"CPU per request (10 task ids, median of 3 x {CPU_REQUESTS}): hook {hook_cpu * 1e6:.0f} us "
        f"(signing, parsing, limiter, token check included)"
    )
    print(
        f"  vs bare requests.post of the same signed body {post_cpu * 1e6:.0f} us: ratio "
        f"{hook_cpu / post_cpu:.2f} (target <= {CPU_TARGET})"
    )
    print(
        f"  vs a keep-alive requests.Session().post of it {session_cpu * 1e6:.0f} us: ratio "
        f"{hook_cpu / session_cpu:.2f}"
    )


def main() -> None:
    with SimulatorProcess("--latency", "0", "--complete-after-polls", "1") as sim:
        previous = os.environ.get("AIRFLOW_CONN_LINGXING_DEFAULT")
        os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        hook = LingxingHook()
        try:
            wall_time(sim, hook)
            cpu_per_request(sim, hook)
        finally:
            hook.close()
            if previous is None:
                os.environ.pop("AIRFLOW_CONN_LINGXING_DEFAULT", None)
            else:
                os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = previous


if __name__ == "__main__":
    main()
