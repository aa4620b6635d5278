"""The shared poller of one (app id, Base URL, seller): rounds that merge every due trigger's ids into requests of 10,
each trigger answered for its own ids at its own interval, and triggers that leave without disturbing the rest."""

from __future__ import annotations

import asyncio
import math
from contextlib import asynccontextmanager

import pytest

from airflow_provider_lingxing.api.errors import LingxingApiError
from airflow_provider_lingxing.triggers.polling import SellerPoller, seller_poller


class FakeLingxing:
    """Answers each request with one result per id; records every request; can hold requests or fail some."""

    def __init__(self) -> None:
        self.requests: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.failing: set[int] = set()

    async def fetch(self, ids: list[int]) -> list[dict]:
        assert len(ids) <= 10
        self.requests.append(ids)
        await self.release.wait()
        if self.failing & set(ids):
            raise LingxingApiError("bucket empty", code="3001008")
        return [{"task_id": str(i), "status_code": "in_process"} for i in ids]


def answered(results: list[dict]) -> list[int]:
    return [int(r["task_id"]) for r in results]


async def test_one_round_merges_every_due_trigger_into_requests_of_ten():
    lingxing = FakeLingxing()
    poller = SellerPoller(lingxing.fetch)
    wanted = {n: list(range(100 * n + 1, 100 * n + 2 + n % 4)) for n in range(30)}  # 1 to 4 ids each (ids > 0)
    members = {n: poller.join(0) for n in wanted}
    answers = await asyncio.gather(*(poller.results(members[n], ids) for n, ids in wanted.items()))
    await poller.close()

    assert [answered(a) for a in answers] == list(wanted.values())
    total = sum(len(ids) for ids in wanted.values())
    assert len(lingxing.requests) == math.ceil(total / 10)
    assert poller.rounds[-1] == (30, total, math.ceil(total / 10))


async def test_rounds_keep_each_triggers_interval_and_a_longer_one_joins_fewer_rounds():
    lingxing = FakeLingxing()
    poller = SellerPoller(lingxing.fetch)
    fast, slow = poller.join(0.05), poller.join(0.15)
    asked: dict[str, list[float]] = {"fast": [], "slow": []}

    async def poll(name: str, member, ids: list[int], times: int) -> None:
        for _ in range(times):
            await poller.results(member, ids)
            asked[name].append(member.last_round)

    await asyncio.gather(poll("fast", fast, [1, 2], 9), poll("slow", slow, [3], 3))
    await poller.close()

    for name, interval in (("fast", 0.05), ("slow", 0.15)):
        gaps = [b - a for a, b in zip(asked[name], asked[name][1:], strict=False)]
        assert all(gap >= interval for gap in gaps), (name, gaps)
    slow_rounds = set(asked["slow"])
    assert slow_rounds <= set(asked["fast"]), "the slower trigger joins rounds the faster one has anyway"
    assert len(lingxing.requests) == 9, "each round is one request: the ids of both fit in one"


async def test_a_cancelled_trigger_leaves_and_the_others_are_answered():
    lingxing = FakeLingxing()
    poller = SellerPoller(lingxing.fetch)
    staying, leaving = poller.join(0), poller.join(0)
    lingxing.release.clear()  # the first round stays in flight

    async def trigger(member, ids: list[int]) -> list[dict]:
        try:
            return await poller.results(member, ids)
        finally:
            poller.leave(member)

    stay = asyncio.ensure_future(poller.results(staying, [1]))
    leave = asyncio.ensure_future(trigger(leaving, [2]))
    while not lingxing.requests:
        await asyncio.sleep(0)
    leave.cancel()  # cancelled mid-round
    lingxing.release.set()
    assert answered(await stay) == [1]
    with pytest.raises(asyncio.CancelledError):
        await leave
    assert poller.members == {staying}

    queued = asyncio.ensure_future(trigger(poller.join(0), [3]))  # cancelled while it waits for a round
    await asyncio.sleep(0)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert answered(await poller.results(staying, [1])) == [1]
    assert lingxing.requests[-1] == [1], "no id of a trigger that left is asked for again"
    assert poller.members == {staying}
    await poller.close()


async def test_a_failed_request_fails_only_the_triggers_with_ids_in_it():
    lingxing = FakeLingxing()
    lingxing.failing = {15}
    poller = SellerPoller(lingxing.fetch)
    first, second = poller.join(0), poller.join(0)
    one, other = await asyncio.gather(
        poller.results(first, range(1, 11)), poller.results(second, [15, 16]), return_exceptions=True
    )
    await poller.close()
    assert answered(one) == list(range(1, 11))
    assert isinstance(other, LingxingApiError) and other.code == "3001008"


async def test_a_deadline_comes_before_a_long_interval():
    lingxing = FakeLingxing()
    poller = SellerPoller(lingxing.fetch)
    member = poller.join(3600)
    deadline = asyncio.get_running_loop().time() + 0.05
    answer = await asyncio.wait_for(poller.results(member, [7], not_after=deadline), timeout=5)
    await poller.close()
    assert answered(answer) == [7]


async def test_the_last_trigger_out_closes_the_poller_and_what_it_sends_with():
    lingxing, opened, closed = FakeLingxing(), [], []

    @asynccontextmanager
    async def open_fetch():
        opened.append(1)
        try:
            yield lingxing.fetch
        finally:
            closed.append(1)

    async def trigger(ids: list[int]) -> list[int]:
        async with (
            seller_poller(("app", "https://openapi", "SELLER"), open_fetch) as poller,
            poller.membership(0) as member,
        ):
            return answered(await poller.results(member, ids))

    assert await asyncio.gather(trigger([1]), trigger([2, 3])) == [[1], [2, 3]]
    assert opened == [1] and closed == [1]
    assert len(lingxing.requests) == 1, "both triggers in one round"
