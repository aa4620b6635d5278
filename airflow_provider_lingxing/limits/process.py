"""The in-process limiter: one budget per (app id, endpoint) for every hook, thread and event loop of the process.

The sync transport's threads and the async transport's coroutines (every trigger of a triggerer) draw from the same
slots (`limits/budget.py`). What this bounds is one process: several workers or triggerers each have their own
budget, so together they can exceed Lingxing's bucket; the Redis limiter (`limits/redis.py`) bounds them all.
"""

from __future__ import annotations

from airflow_provider_lingxing.api.endpoints import Endpoint
from airflow_provider_lingxing.limits.budget import PROCESS_BUDGETS, Budget, ProcessBudgets


class ProcessLimiter:
    """At most `endpoint.capacity` requests in flight per (app id, endpoint path) in this process."""

    def __init__(self, budgets: ProcessBudgets = PROCESS_BUDGETS) -> None:
        self._budgets = budgets

    def slot(self, app_id: str, endpoint: Endpoint) -> Budget:
        return self._budgets.budget(app_id, endpoint)

    def aslot(self, app_id: str, endpoint: Endpoint) -> Budget:
        return self._budgets.budget(app_id, endpoint)


PROCESS_LIMITER = ProcessLimiter()
"""The one limiter of the process: every hook without `redis_conn_id` uses it unless given another."""
