"""The concurrency budget: at most `capacity` requests in flight per (app id, endpoint), whoever sends them.

Lingxing counts requests in flight per app id and endpoint path (its token bucket, docs/lingxing-openapi.md); a
request over the capacity is refused with 3001008. Every request the provider sends first takes a slot from a
`Limiter`, holds it while the request is in flight, and is signed only then (a sign's two-minute clock starts
when the request can leave). One interface, so a distributed implementation can replace the in-process one.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol

from airflow_provider_lingxing.api.endpoints import Endpoint
from airflow_provider_lingxing.limits.process import PROCESS_LIMITER, ProcessLimiter

__all__ = ["PROCESS_LIMITER", "Limiter", "ProcessLimiter"]


class Limiter(Protocol):
    """Slots of the (app id, endpoint) budget, capacity `endpoint.capacity`, for threads and event loops."""

    def slot(self, app_id: str, endpoint: Endpoint) -> AbstractContextManager[object]:
        """Blocks until a slot is free; holds it for the `with` block."""
        ...

    def aslot(self, app_id: str, endpoint: Endpoint) -> AbstractAsyncContextManager[object]:
        """Waits (without blocking the event loop) until a slot is free; holds it for the `async with` block."""
        ...
