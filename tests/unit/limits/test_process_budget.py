"""One process's budget: threads and event loops draw from the same slots, first come first served."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, SELLER_LIST
from airflow_provider_lingxing.limits.budget import Budget, ProcessBudgets


class Gauge:
    """Counts holders at once, and the most ever seen."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.002)


def test_threads_and_two_event_loops_never_hold_more_than_the_capacity_together():
    budget, gauge = Budget(3), Gauge()

    def hold() -> None:
        with budget:
            gauge.enter()
            time.sleep(0.01)
            gauge.leave()

    async def ahold() -> None:
        async with budget:
            gauge.enter()
            await asyncio.sleep(0.01)
            gauge.leave()

    async def coroutines() -> None:
        await asyncio.gather(*(ahold() for _ in range(15)))

    workers = [threading.Thread(target=hold) for _ in range(15)]
    workers += [threading.Thread(target=asyncio.run, args=(coroutines(),)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert gauge.peak == 3
    assert budget.in_use == 0


def test_a_freed_slot_goes_to_the_longest_waiter_thread_or_coroutine():
    budget, served = Budget(1), []
    budget.acquire()
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever)
    loop_thread.start()

    def thread_waiter(name: str) -> None:
        with budget:
            served.append(name)

    async def coroutine_waiter(name: str) -> None:
        async with budget:
            served.append(name)

    try:
        pending = []
        for n, kind in enumerate(["thread", "coroutine", "thread", "coroutine", "thread"]):
            name = f"{kind}-{n}"
            if kind == "thread":
                waiter = threading.Thread(target=thread_waiter, args=(name,))
                waiter.start()
                pending.append(waiter.join)
            else:
                future = asyncio.run_coroutine_threadsafe(coroutine_waiter(name), loop)
                pending.append(future.result)
            wait_for(lambda n=n: len(budget._waiters) == n + 1, f"{name} queued")
        newcomer_served = []
        budget.release()
        with budget:  # a newcomer after the release queues behind all five
            newcomer_served.append(list(served))
        for join in pending:
            join(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join()
        loop.close()
    assert served == ["thread-0", "coroutine-1", "thread-2", "coroutine-3", "thread-4"]
    assert newcomer_served == [served]
    assert budget.in_use == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_a_slot_handed_to_it_goes_on():
    budget = Budget(1)
    await budget.aacquire()
    queued = asyncio.ensure_future(budget.aacquire())
    await asyncio.sleep(0)
    assert len(budget._waiters) == 1
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert len(budget._waiters) == 0 and budget.in_use == 1

    granted_then_cancelled = asyncio.ensure_future(budget.aacquire())
    await asyncio.sleep(0)
    budget.release()  # handed over to the waiter, which is cancelled before it runs
    granted_then_cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await granted_then_cancelled
    assert budget.in_use == 0, "the slot handed to the cancelled waiter came back"
    async with budget:
        assert budget.in_use == 1


def test_releasing_more_than_acquired_is_a_bug_reported_at_once():
    budget = Budget(2)
    with pytest.raises(RuntimeError, match="released more often than acquired"):
        budget.release()


def test_one_budget_per_app_id_and_endpoint_with_the_endpoints_capacity():
    budgets = ProcessBudgets()
    results = budgets.budget("ak_app_one_16byt", GET_FULFILLMENT_RESULT)
    assert results is budgets.budget("ak_app_one_16byt", GET_FULFILLMENT_RESULT)
    assert results.capacity == GET_FULFILLMENT_RESULT.capacity
    assert budgets.budget("ak_app_two_16byt", GET_FULFILLMENT_RESULT) is not results
    assert budgets.budget("ak_app_one_16byt", SELLER_LIST).capacity == SELLER_LIST.capacity
