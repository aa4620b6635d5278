"""300 one-id FulfillmentResultTriggers of one seller in one event loop, as in one triggerer, against the simulator.

Each trigger waits for one task that completes on its third poll. Shipped, the triggers of one (app id, seller)
share a poller: a round asks for every waiting trigger's id, 10 per request, so 3 rounds of ceil(300 / 10) = 30
requests do it all, and with a bucket of 10 each round takes ceil(30 / 10) waves of latency L: the bound is
3 x 3 x L. Before, each trigger polled alone: 900 requests, whose bound is 900 x L / 10 (the second set-up gives
each trigger a poller of its own to show it). Printed per set-up: requests against the ideal, the rounds' requests
against ceil(their ids / 10), wall time against the coalesced bound, the longest event-loop stall (a 10 ms ticker's
worst lateness, which every other trigger of the triggerer suffers too) and 3001008 answers (must be 0).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.testing.simulator import SimulatorProcess
from airflow_provider_lingxing.triggers import fulfillment, polling
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger

TRIGGERS = 300
POLLS = 3
LATENCY = 0.2
POLL_INTERVAL = 0.05
"""Shorter than a round, so rounds follow each other as fast as the bucket lets them."""
SELLER_ID = "A1MQMW3JWPNCBX"
TICK = 0.01
CALLS_TARGET, WALL_TARGET = 1.2, 1.3
BATCH = GET_FULFILLMENT_RESULT.batch_limit or 10
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
            return str(event.payload["status"])
        return "none"

    watch = asyncio.ensure_future(ticker())
    start = time.perf_counter()
    statuses = await asyncio.gather(*(first_event(t) for t in triggers))
    wall = time.perf_counter() - start
    done.set()
    await watch
    return wall, stall, statuses


class RoundLog:
    """Wraps `seller_poller` to keep every poller's rounds; `alone` gives each trigger a poller of its own."""

    def __init__(self, alone: bool) -> None:
        self.alone = alone
        self.pollers: list[polling.SellerPoller] = []
        self._shipped = polling.seller_poller

    @asynccontextmanager
    async def __call__(self, key: Hashable, *args: Any, **kwargs: Any) -> AsyncIterator[polling.SellerPoller]:
        async with self._shipped((key, object()) if self.alone else key, *args, **kwargs) as poller:
            if poller not in self.pollers:
                self.pollers.append(poller)
            yield poller

    def rounds(self) -> list[tuple[int, int, int]]:
        return [r for poller in self.pollers for r in poller.rounds]


def results_calls(sim: SimulatorProcess) -> int:
    return sum(sim.stats()["requests"].get(GET_FULFILLMENT_RESULT.path, {}).values())


def main() -> None:
    with SimulatorProcess("--latency", str(LATENCY), "--complete-after-polls", str(POLLS)) as sim:
        os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        task_ids = submit_tasks(2 * TRIGGERS)
        ideal = POLLS * math.ceil(TRIGGERS / BATCH)
        bound = POLLS * math.ceil(math.ceil(TRIGGERS / BATCH) / GET_FULFILLMENT_RESULT.capacity) * LATENCY
        print(
            f"{TRIGGERS} one-id triggers of one seller, {POLLS} polls each, latency {LATENCY * 1000:.0f} ms: "
            f"ideal {ideal} requests, bound {bound:.2f} s (each trigger alone: {TRIGGERS * POLLS} requests, "
            f"{TRIGGERS * POLLS * LATENCY / GET_FULFILLMENT_RESULT.capacity:.1f} s)"
        )
        print(
            f"{'':28} {'requests':>8} {'/ideal':>7} {'rounds':>6} {'/round':>7} {'wall s':>7} {'/bound':>7} "
            f"{'stall ms':>8} {'3001008':>8}"
        )
        for n, (name, alone) in enumerate((("coalesced (shipped)", False), ("each trigger alone (before)", True))):
            log = RoundLog(alone)
            fulfillment.seller_poller = log  # type: ignore[assignment]
            before, limited_before = results_calls(sim), sim.stats()["rate_limited"]
            triggers = [
                FulfillmentResultTrigger(
                    lingxing_conn_id="lingxing_default",
                    seller_id=SELLER_ID,
                    fulfillment_task_ids=[task_id],
                    poll_interval=POLL_INTERVAL,
                )
                for task_id in task_ids[n * TRIGGERS : (n + 1) * TRIGGERS]
            ]
            for trigger in triggers:
                trigger._log = QUIET
            try:
                wall, stall, statuses = asyncio.run(fan_out(triggers))
            finally:
                fulfillment.seller_poller = log._shipped
            calls = results_calls(sim) - before
            rounds = log.rounds()
            per_round = sum(c for _, _, c in rounds) / sum(math.ceil(ids / BATCH) for _, ids, _ in rounds)
            print(
                f"{name:28} {calls:8d} {calls / ideal:7.2f} {len(rounds):6d} {per_round:7.2f} {wall:7.2f} "
                f"{wall / bound:7.2f} {stall * 1000:8.0f} {sim.stats()['rate_limited'] - limited_before:8d}"
                + ("" if statuses.count("success") == TRIGGERS else f"  ONLY {statuses.count('success')} succeeded")
            )
            if not alone:
                met = calls / ideal <= CALLS_TARGET and wall / bound <= WALL_TARGET
                coalesced = f"target: requests <= {CALLS_TARGET} x ideal, wall <= {WALL_TARGET} x bound: "
                coalesced += "ok" if met else "MISSED"
        print(coalesced)


if __name__ == "__main__":
    main()
