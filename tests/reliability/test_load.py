"""Load: 500 deferred sensors in one triggerer process, and worker processes polling the same app id at once.

The simulator runs in its own process here, so what is measured in this one (memory, in-flight requests)
is the triggerer's or the workers' alone. Figures are printed after the run; the
assertions are what a user would notice: a 3001008, a failed wait, more requests in flight than the bucket.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airflow_provider_lingxing.api.compact_ids import unpack_task_ids
from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
from airflow_provider_lingxing.testing.simulator import SimulatorProcess
from airflow_provider_lingxing.tokens import PROCESS_TOKEN_STORE
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger
from tests.reliability.reliability_pipeline import RESULTS_PATH, SELLER_ID, order
from tests.support.task_instance import FakeTaskInstance
from tests.support.triggerer import first_event

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

TRIGGERS = 500
IDS_PER_TRIGGER = 5
CAPACITY = GET_FULFILLMENT_RESULT.capacity
POOL_SLOTS = CAPACITY
"""The documented pool: one per app id, sized to the endpoint's capacity (README, Pools and rate limits)."""


@pytest.fixture
def simulator_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorProcess]:
    """The simulator in its own process (10 ms per call); the default connection points at it (10 s timeout)."""
    with SimulatorProcess("--latency", "0.01") as simulator:
        conn = json.loads(simulator.connection_json())
        conn["extra"] = {"timeout": 10}
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", json.dumps(conn))
        yield simulator


def create_tasks(count: int) -> list[int]:
    """`count` mark-shipped tasks, submitted as many at once as the endpoint allows."""
    hook = LingxingHook()
    with ThreadPoolExecutor(max_workers=10) as pool:
        created = pool.map(
            lambda n: hook.submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(n)])["task_id"],
            range(1, count + 1),
        )
        task_ids = [int(task_id) for task_id in created]
    hook.close()
    return task_ids


# ---------------------------------------------------------------------------------------------- the triggerer


def test_500_deferred_sensors_share_one_bucket(simulator_process: SimulatorProcess, figures: list[str]):
    task_ids = create_tasks(TRIGGERS * IDS_PER_TRIGGER)  # on submitFulfillment: the results bucket stays untouched
    payloads = [
        FulfillmentResultTrigger(
            lingxing_conn_id="lingxing_default",
            seller_id=SELLER_ID,
            fulfillment_task_ids=task_ids[i : i + IDS_PER_TRIGGER],
            poll_interval=0.5,
            end_time=time.time() + 120,
        ).serialize()
        for i in range(0, len(task_ids), IDS_PER_TRIGGER)
    ]
    measured: dict[str, float] = {}

    async def triggerer() -> list[dict[str, Any]]:
        """What a triggerer does with 500 deferred tasks: rebuild each trigger, run them all, await the events."""

        started = time.monotonic()
        runs = [asyncio.ensure_future(first_event(FulfillmentResultTrigger(**kwargs))) for _, kwargs in payloads]
        await asyncio.sleep(0.25)  # every trigger started and sleeping before its first poll
        measured["waiting"] = (tracemalloc.get_traced_memory()[0] - base) / TRIGGERS
        events = await asyncio.gather(*runs)
        measured["seconds"] = time.monotonic() - started
        return events

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    try:
        events = asyncio.run(triggerer())
        measured["peak"] = (tracemalloc.get_traced_memory()[1] - base) / TRIGGERS
        gc.collect()
        measured["after"] = (tracemalloc.get_traced_memory()[0] - base) / TRIGGERS
    finally:
        tracemalloc.stop()
    stats = simulator_process.stats()
    peak = stats["peak_in_flight"][simulator_process.app_id][RESULTS_PATH]
    figures.append(
        f"{TRIGGERS} triggers × {IDS_PER_TRIGGER} ids in one event loop: {measured['seconds']:.1f} s, "
        f"{stats['requests'][RESULTS_PATH]} getFulfillmentResult answers, peak {peak} in flight "
        f"(capacity {CAPACITY}), 3001008: {stats['rate_limited']}; memory per trigger: "
        f"{measured['waiting'] / 1024:.1f} KiB while waiting (traced), {measured['peak'] / 1024:.1f} KiB at the peak, "
        f"{measured['after'] / 1024:.2f} KiB left after the loop closed (its event kept)"
    )
    assert [e["status"] for e in events] == ["success"] * TRIGGERS
    assert sorted(i for e in events for i in unpack_task_ids(e["fulfillment_task_ids"])) == sorted(task_ids)
    assert stats["rate_limited"] == 0
    assert peak <= CAPACITY
    assert set(stats["requests"][RESULTS_PATH]) == {"0"}
    assert 0 < measured["waiting"] < 1024**2, "sanity: a waiting trigger costs something, and not a megabyte"


# ---------------------------------------------------------------------------------------------- workers

WORKERS = 16
"""More worker tasks than the pool has slots."""
POKES = 3
IDS_PER_WORKER = 20
"""Two batches of 10: a sensor waiting for one 200-order submission."""
LATENCY = 0.05
"""Seconds each call holds its slot in the bucket, so that the workers' calls overlap."""


def _worker(
    pool: Any, start: Any, pooled: bool, task_ids: list[int], token: tuple[str, str], conn: str, outcome: Any
) -> None:
    """One worker process: a reschedule-mode sensor poking POKES times, all workers at once (the scheduler
    starting them together); in the pool, each poke runs only while it holds a slot, as Airflow's pool does."""
    os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = conn
    from airflow_provider_lingxing.api.tokens import AccessToken

    key, stored = token
    PROCESS_TOKEN_STORE.put(key, AccessToken.from_json(stored))  # the shared Variable
    failures = []
    for _ in range(POKES):
        sensor = FulfillmentResultSensor(
            task_id="wait",
            seller_id=SELLER_ID,
            fulfillment_task_ids=task_ids,
            mode="reschedule",
            **({"pool": "lingxing_api", "pool_slots": 1} if pooled else {}),
        )
        start.wait()
        try:
            if pooled:
                with pool:
                    sensor.poke({"ti": FakeTaskInstance("wait", dag_id="reliability_pipeline")})
            else:
                sensor.poke({"ti": FakeTaskInstance("wait", dag_id="reliability_pipeline")})
        except Exception as error:
            failures.append(f"{type(error).__name__}: {error}")
        time.sleep(0.05)
    outcome.put(failures)


def run_workers(simulator: SimulatorProcess, *, pooled: bool) -> tuple[dict[str, Any], list]:
    """A fresh simulator state (so its peak counts this run), the tasks, one token all workers share, the run."""
    simulator.reset()
    simulator.configure(latency=LATENCY)
    PROCESS_TOKEN_STORE.clear()
    task_ids = create_tasks(WORKERS * IDS_PER_WORKER)
    keeper = LingxingHook().token_keeper
    token = (keeper.key, keeper.current().to_json())
    conn = os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"]  # the fixture's, with its timeout
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool, start, outcome = context.BoundedSemaphore(POOL_SLOTS), context.Barrier(WORKERS), context.Queue()
    shares = [task_ids[i * IDS_PER_WORKER : (i + 1) * IDS_PER_WORKER] for i in range(WORKERS)]
    workers = [
        context.Process(target=_worker, args=(pool, start, pooled, share, token, conn, outcome)) for share in shares
    ]
    for worker in workers:
        worker.start()
    failures = [failure for _ in workers for failure in outcome.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=30)
    return simulator.stats(), failures


def test_worker_processes_in_the_pool_stay_under_the_bucket_and_without_it_absorb_3001008(
    simulator_process: SimulatorProcess, figures: list[str]
):
    app_id = simulator_process.app_id
    for pooled in (True, False):
        started = time.monotonic()
        stats, failures = run_workers(simulator_process, pooled=pooled)
        peak = stats["peak_in_flight"][app_id][RESULTS_PATH]
        answers = stats["requests"][RESULTS_PATH]
        figures.append(
            f"{'with' if pooled else 'without'} the pool ({POOL_SLOTS} slots): {WORKERS} workers × {POKES} pokes of "
            f"{IDS_PER_WORKER} ids in {time.monotonic() - started:.1f} s: {sum(answers.values())} answers, "
            f"3001008: {stats['rate_limited']}, peak in flight {peak}, failed pokes {len(failures)}"
        )
        assert failures == [], failures
        if pooled:
            assert stats["rate_limited"] == 0, figures[-1]
            assert peak <= CAPACITY, figures[-1]
        else:
            assert stats["rate_limited"] > 0, f"the test proves nothing unless the bucket overflows: {figures[-1]}"
