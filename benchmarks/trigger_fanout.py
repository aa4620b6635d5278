"""500 FulfillmentResultTriggers in one event loop, as in one triggerer process, against the simulator.

Each trigger waits for one task that completes on its third poll: 1,500 getFulfillmentResult calls that the
(app id, endpoint) capacity of 10 lets through 10 at a time, so at latency L the bound is 1,500 × L / 10.
Two set-ups: the triggers as shipped (one hook per connection, shared by the loop's triggers) and one hook per
trigger (each its own HTTP client and TLS context; the sharing is patched out for that run). Printed:
wall time against that bound, the longest stall of the event loop (a 10 ms ticker's worst lateness, which
every other trigger of the triggerer suffers too), and 3001008 answers (must be 0).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.testing.simulator import SimulatorProcess
from airflow_provider_lingxing.triggers import fulfillment
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger

TRIGGERS = 500
POLLS = 3
LATENCY = 0.02
SELLER_ID = "A1MQMW3JWPNCBX"
TICK = 0.01
QUIET = logging.getLogger("benchmarks.trigger_fanout")
QUIET.setLevel(logging.WARNING)


def submit_tasks(count: int) -> list[str]:
    hook = LingxingHook()

    def one(n: int) -> str:
        order = {
            "id": n,
            "platform_order_no": f"111-0000000-{n:07d}",
            "tracking_no": f"1Z{n:010d}",
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "shipping_service": "",
            "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1}],
        }
        return hook.submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order])["task_id"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        task_ids = list(pool.map(one, range(1, count + 1)))
    hook.close()
    return task_ids


async def fan_out(triggers: list[FulfillmentResultTrigger]) -> tuple[float, float, list[str]]:
    """(wall seconds, worst event-loop stall in seconds, event statuses)."""
    stall = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal stall
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            stall = max(stall, time.perf_counter() - before - TICK)

    async def first_event(trigger: FulfillmentResultTrigger) -> str:
        async for event in trigger.run():
            return event.payload["status"]
        return "none"

    watch = asyncio.ensure_future(ticker())
    start = time.perf_counter()
    statuses = await asyncio.gather(*(first_event(t) for t in triggers))
    wall = time.perf_counter() - start
    done.set()
    await watch
    return wall, stall, statuses


@asynccontextmanager
async def hook_per_trigger(conn_id: str, make) -> AsyncIterator[LingxingHook]:
    hook = make()
    try:
        yield hook
    finally:
        await hook.aclose()


def rate_limited(sim: SimulatorProcess) -> int:
    return sim.stats()["requests"].get(GET_FULFILLMENT_RESULT.path, {}).get("3001008", 0)


def main() -> None:
    with SimulatorProcess("--latency", str(LATENCY), "--complete-after-polls", str(POLLS)) as sim:
        os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        task_ids = submit_tasks(2 * TRIGGERS)
        bound = TRIGGERS * POLLS * LATENCY / GET_FULFILLMENT_RESULT.capacity
        print(f"{TRIGGERS} triggers, {POLLS} polls each, latency {LATENCY * 1000:.0f} ms; bound {bound:.2f} s")
        shared = fulfillment._shared_hook
        setups = {"one hook per connection (shipped)": shared, "one hook per trigger": hook_per_trigger}
        for n, (name, provide_hook) in enumerate(setups.items()):
            fulfillment._shared_hook = provide_hook
            triggers = [
                FulfillmentResultTrigger(
                    lingxing_conn_id="lingxing_default",
                    seller_id=SELLER_ID,
                    fulfillment_task_ids=[task_id],
                    poll_interval=0.05,
                )
                for task_id in task_ids[n * TRIGGERS : (n + 1) * TRIGGERS]
            ]
            for trigger in triggers:
                trigger._log = QUIET
            try:
                wall, stall, statuses = asyncio.run(fan_out(triggers))
            finally:
                fulfillment._shared_hook = shared
            print(
                f"{name:36s} wall/bound {wall / bound:5.2f}  worst loop stall {stall * 1000:6.0f} ms  "
                f"success {statuses.count('success')}/{TRIGGERS}  3001008 so far {rate_limited(sim)}"
            )


if __name__ == "__main__":
    main()
