"""The in-process limiter: one budget per (app id, endpoint) for every hook of the process.

The sync path's budget is one semaphore per (app id, endpoint) shared by every thread; the async path's is one
per event loop (every trigger of a triggerer shares it). What this bounds is one process: several workers or
triggerers each have their own budget.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from airflow_provider_lingxing.api.endpoints import Endpoint


class ProcessLimiter:
    """At most `endpoint.capacity` requests in flight per (app id, endpoint path) in this process."""

    def __init__(self) -> None:
        self._sync: dict[tuple[str, str], threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Semaphore]]
        self._async = weakref.WeakKeyDictionary()

    def slot(self, app_id: str, endpoint: Endpoint) -> threading.BoundedSemaphore:
        key = (app_id, endpoint.path)
        limit = self._sync.get(key)
        if limit is None:
            with self._lock:
                limit = self._sync.setdefault(key, threading.BoundedSemaphore(endpoint.capacity))
        return limit

    def aslot(self, app_id: str, endpoint: Endpoint) -> asyncio.Semaphore:
        limits = self._async.get(asyncio.get_running_loop())
        if limits is None:
            limits = self._async.setdefault(asyncio.get_running_loop(), {})
        key = (app_id, endpoint.path)
        limit = limits.get(key)
        if limit is None:
            limit = limits[key] = asyncio.Semaphore(endpoint.capacity)
        return limit


PROCESS_LIMITER = ProcessLimiter()
"""The one limiter of the process: every hook uses it unless given another."""
