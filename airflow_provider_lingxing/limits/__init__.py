"""The concurrency budget: at most `capacity` requests in flight per (app id, endpoint), whoever sends them.

Lingxing counts requests in flight per app id and endpoint path (its token bucket, docs/lingxing-openapi.md); a
request over the capacity is refused with 3001008. Every request the provider sends first takes a slot from a
`Limiter`, holds it while the request is in flight, and is signed only then (a sign's two-minute clock starts
when the request can leave). Two implementations behind one interface: the process's own budget, and leases in the
deployment's Redis (connection extra `redis_conn_id`) that bound every worker and triggerer together.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol

from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.api.endpoints import Endpoint
from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.limits.process import PROCESS_LIMITER, ProcessLimiter

__all__ = ["PROCESS_LIMITER", "Limiter", "ProcessLimiter", "fallback_note", "limiter_for"]


class Limiter(Protocol):
    """Slots of the (app id, endpoint) budget, capacity `endpoint.capacity`, for threads and event loops."""

    def slot(self, app_id: str, endpoint: Endpoint) -> AbstractContextManager[object]:
        """Blocks until a slot is free; holds it for the `with` block."""
        ...

    def aslot(self, app_id: str, endpoint: Endpoint) -> AbstractAsyncContextManager[object]:
        """Waits (without blocking the event loop) until a slot is free; holds it for the `async with` block."""
        ...


def limiter_for(settings: LingxingSettings) -> Limiter:
    """The connection's limiter: Redis leases when it names a `redis_conn_id`, else the process's budget."""
    if settings.redis_conn_id is None:
        return PROCESS_LIMITER
    try:
        from airflow_provider_lingxing.limits.redis import RedisLimiter
        from airflow_provider_lingxing.shared_redis import shared_redis
    except ImportError as error:
        raise LingxingInputError(
            f"Lingxing connection {settings.conn_id!r}: extra `redis_conn_id` needs the Redis provider: "
            f"pip install 'airflow-provider-lingxing[redis]' ({error})"
        ) from None
    shared = shared_redis(settings.redis_conn_id)
    try:
        shared.options()  # a missing or unusable Redis connection fails here, before any request
    except LingxingInputError as error:
        raise LingxingInputError(f"Lingxing connection {settings.conn_id!r}: extra {error}") from None
    return RedisLimiter.for_timeout(shared, settings.timeout)


def fallback_note(settings: LingxingSettings) -> str:
    """For the progress line: "" unless the connection's Redis is unreachable and this process's budget serves."""
    if settings.redis_conn_id is None:
        return ""
    from airflow_provider_lingxing.shared_redis import shared_redis

    if not shared_redis(settings.redis_conn_id).falling_back:
        return ""
    return (
        f" [Redis {settings.redis_conn_id!r} unreachable: this process's own concurrency budget and token store "
        "in use; other workers are not counted]"
    )
