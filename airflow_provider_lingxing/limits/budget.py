"""One process's budget per (app id, endpoint): `capacity` slots shared by every thread and every event loop.

Lingxing counts a worker's requests together, whichever transport sends them, so the sync path (threads) and the
async path (event loops) of one process draw from the same slots. Waiters are served first come, first served,
whatever kind they are: a freed slot is handed to the longest waiter, never taken by a newcomer.
What this bounds is one process; across processes see `limits/redis.py` and docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from types import TracebackType

from airflow_provider_lingxing.api.endpoints import Endpoint


class _Waiter:
    """One queued request for a slot: a thread (event) or a coroutine (future on its loop)."""

    __slots__ = ("event", "future", "granted", "loop")

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, future: asyncio.Future[None] | None = None
    ) -> None:
        self.loop, self.future = loop, future
        self.event = threading.Event() if future is None else None
        self.granted = False

    def wake(self) -> bool:
        """Hands the slot over; False if the waiter can no longer take it (its loop is closed)."""
        if self.event is not None:
            self.granted = True
            self.event.set()
            return True
        assert self.loop is not None and self.future is not None
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:
            return False
        self.granted = True
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Budget:
    """`capacity` slots for threads and coroutines of one process, handed out in arrival order.

    `with budget:` in a thread, `async with budget:` in a coroutine (never blocks the event loop).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._held = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def in_use(self) -> int:
        return self._held

    def acquire(self) -> None:
        with self._lock:
            if self._held < self.capacity and not self._waiters:
                self._held += 1
                return
            waiter = _Waiter()
            self._waiters.append(waiter)
        assert waiter.event is not None
        try:
            waiter.event.wait()
        except BaseException:
            self._abandon(waiter)
            raise

    async def aacquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._held < self.capacity and not self._waiters:
                self._held += 1
                return
            future: asyncio.Future[None] = loop.create_future()
            waiter = _Waiter(loop, future)
            self._waiters.append(waiter)
        try:
            await future
        except BaseException:
            self._abandon(waiter)
            raise

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                if self._waiters.popleft().wake():
                    return
            if self._held <= 0:
                raise RuntimeError("Budget released more often than acquired")
            self._held -= 1

    def _abandon(self, waiter: _Waiter) -> None:
        """A waiter interrupted (cancelled, KeyboardInterrupt): leave the queue, or pass on a slot just handed over."""
        with self._lock:
            if not waiter.granted:
                self._waiters.remove(waiter)
                return
        self.release()

    def __enter__(self) -> Budget:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    async def __aenter__(self) -> Budget:
        await self.aacquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class ProcessBudgets:
    """The budgets of one process, one per (app id, endpoint path), created on first use."""

    def __init__(self) -> None:
        self._budgets: dict[tuple[str, str], Budget] = {}
        self._lock = threading.Lock()

    def budget(self, app_id: str, endpoint: Endpoint) -> Budget:
        key = (app_id, endpoint.path)
        budget = self._budgets.get(key)
        if budget is None:
            with self._lock:
                budget = self._budgets.setdefault(key, Budget(endpoint.capacity))
        return budget


PROCESS_BUDGETS = ProcessBudgets()
"""Every limiter of the process draws from these: the in-process one, and the Redis one as its local gate."""
