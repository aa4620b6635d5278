"""Coalesced polling: the triggers of one (app id, Base URL, seller) in one triggerer share a poller.

Each trigger asks for its pending ids when its poll interval has passed; the poller answers them in rounds. A round
merges the pending ids of every trigger due by then, sends them in requests of 10 (as many at once as the endpoint's
budget allows) and hands each trigger the answers for its own ids. Rounds come at most every `P` seconds, P being the
shortest poll interval of the triggers present; a trigger is due its interval after the start of the round that last
answered it, so triggers of one interval share every round, one of a longer interval joins fewer rounds, and none is
asked for more often than its interval (nor later than a tenth of P after it, unless the rounds are busy). A trigger
that ends or is cancelled leaves: its ids go out of the next round, and the last one out closes the poller.
Requests per round: ceil(distinct pending ids / 10).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_lingxing.api.arguments import id_or_none

BATCH_SIZE = 10
ALIGN = 0.1
"""A round waits up to this share of P for triggers due just after the first one (which then polls that late)."""
SETTLE_YIELDS = 3
"""Event-loop turns a round waits before it starts, so triggers answered together can all ask again first."""

Fetch = Callable[[list[int]], Awaitable[list[dict[str, Any]]]]
"""Sends one request for at most BATCH_SIZE ids; returns one result per task id Lingxing returned."""

_log = logging.getLogger(__name__)


@dataclass(eq=False)
class Member:
    """One trigger in a poller: its poll interval, and when the round that last answered it started."""

    interval: float
    last_round: float


@dataclass(eq=False)
class _Request:
    member: Member
    ids: list[int]
    due: float
    """Its interval has passed (or its deadline has come)."""
    deadline: float
    """It must be in a round by then (its trigger's end time), however recent the last round."""
    answer: asyncio.Future[list[dict[str, Any]]] = field(repr=False)


class SellerPoller:
    """The rounds of one (app id, Base URL, seller) in one event loop; `fetch` sends one request of <= 10 ids."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._sleep = sleep
        self.members: set[Member] = set()
        self._waiting: list[_Request] = []
        self._changed = asyncio.Event()
        self._previous_round: float | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self.rounds: deque[tuple[int, int, int]] = deque(maxlen=1000)
        """(triggers, distinct ids, calls) of the latest rounds, for logs and benchmarks."""

    # -- membership ----------------------------------------------------------------------------------

    def join(self, interval: float) -> Member:
        member = Member(max(0.0, interval), self._clock())
        self.members.add(member)
        if self._scheduler is None or self._scheduler.done():
            self._scheduler = asyncio.ensure_future(self._schedule())
        return member

    @asynccontextmanager
    async def membership(self, interval: float) -> AsyncIterator[Member]:
        """A trigger's time in the poller: it joins, and leaves however it ends (done, failed, cancelled)."""
        member = self.join(interval)
        try:
            yield member
        finally:
            self.leave(member)

    def leave(self, member: Member) -> None:
        self.members.discard(member)
        self._waiting = [r for r in self._waiting if r.member is not member]
        self._changed.set()

    async def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)

    # -- asking ----------------------------------------------------------------------------------------

    async def results(self, member: Member, ids: Iterable[int], *, not_after: float | None = None) -> list[dict]:
        """The results for `ids`, from the first round once `member`'s interval has passed (or `not_after`, a
        monotonic time, if sooner). Raises what the request for one of its ids raised."""
        deadline = math.inf if not_after is None else not_after
        due = min(member.last_round + member.interval, deadline)
        request = _Request(member, sorted(set(ids)), due, deadline, asyncio.get_running_loop().create_future())
        self._waiting.append(request)
        self._changed.set()
        try:
            return await request.answer
        finally:
            if request in self._waiting:
                self._waiting.remove(request)

    # -- the rounds ----------------------------------------------------------------------------------

    def _period(self) -> float:
        return min((m.interval for m in self.members), default=0.0)

    def _next_round(self) -> float | None:
        """When the earliest due request is due (no sooner than P after the last round), or a little later to take
        the requests due within ALIGN x P of it along; never after a request's deadline."""
        waiting = [r for r in self._waiting if not r.answer.done()]
        if not waiting:
            return None
        period = self._period()
        earliest = min(r.due for r in waiting)
        if self._previous_round is not None:
            earliest = max(earliest, self._previous_round + period)
        start = max(max(r.due for r in waiting if r.due <= earliest + ALIGN * period), earliest)
        return min(start, min(r.deadline for r in waiting))

    async def _schedule(self) -> None:
        while self.members:
            start = self._next_round()
            now = self._clock()
            if start is None or start > now:
                self._changed.clear()
                await self._until_changed(None if start is None else start - now)
                continue
            for _ in range(SETTLE_YIELDS):
                await asyncio.sleep(0)
            await self._round(self._clock())

    async def _until_changed(self, seconds: float | None) -> None:
        """Until a trigger asks or leaves, or `seconds` (on this poller's clock) have passed."""
        changed = asyncio.ensure_future(self._changed.wait())
        waits: set[asyncio.Future[Any]] = {changed}
        if seconds is not None:
            waits.add(asyncio.ensure_future(self._sleep(seconds)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _round(self, started: float) -> None:
        due = [r for r in self._waiting if r.due <= started and not r.answer.done()]
        self._waiting = [r for r in self._waiting if r not in due]
        self._previous_round = started
        ids = sorted({task_id for r in due for task_id in r.ids})
        batches = [ids[n : n + BATCH_SIZE] for n in range(0, len(ids), BATCH_SIZE)]
        self.rounds.append((len(due), len(ids), len(batches)))
        _log.debug("Lingxing poll round: %d triggers, %d task ids, %d requests", len(due), len(ids), len(batches))
        outcomes = await asyncio.gather(*(self._fetch(batch) for batch in batches), return_exceptions=True)
        results: dict[int, dict[str, Any]] = {}
        failed: dict[int, BaseException] = {}
        for batch, outcome in zip(batches, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                failed.update(dict.fromkeys(batch, outcome))
                continue
            for result in outcome:
                task_id = id_or_none(result.get("task_id")) if isinstance(result, Mapping) else None
                if task_id is not None:
                    results.setdefault(task_id, result)
        for request in due:
            request.member.last_round = started
            if request.answer.done():
                continue
            error = next((failed[i] for i in request.ids if i in failed), None)
            if error is not None:
                request.answer.set_exception(error)
            else:
                request.answer.set_result([results[i] for i in request.ids if i in results])


@dataclass
class _Shared:
    poller: SellerPoller
    resources: AsyncExitStack
    users: int = 0


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Shared]] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def seller_poller(
    key: Hashable,
    open_fetch: Callable[[], AbstractAsyncContextManager[Fetch]],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[SellerPoller]:
    """The event loop's poller for `key` (app id, Base URL, seller) while any trigger uses it. The first trigger's
    `open_fetch` gives the poller its way to send (a hook it holds open), and its clock (deadlines are on it); it
    is closed after the last one leaves."""
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    shared = pollers.get(key)
    if shared is None:
        resources = AsyncExitStack()
        fetch = await resources.enter_async_context(open_fetch())
        shared = pollers.setdefault(key, _Shared(SellerPoller(fetch, clock=clock, sleep=sleep), resources))
        if shared.resources is not resources:  # another trigger opened one meanwhile
            await resources.aclose()
    shared.users += 1
    try:
        yield shared.poller
    finally:
        shared.users -= 1
        if shared.users == 0:
            del pollers[key]
            await shared.poller.close()
            await shared.resources.aclose()


def calls_per_round_bound(pending_ids: int) -> int:
    """The fewest requests a round of `pending_ids` distinct ids can take."""
    return math.ceil(pending_ids / BATCH_SIZE)
