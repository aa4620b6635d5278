"""The hook a task uses, made when the task runs (never at DAG parse time: the hook's module is heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

DEFAULT_POOL = "default_pool"
"""Airflow's pool for the tasks that name none."""


def pool_slots_limit(task: Any) -> int | None:
    """The requests an operator may have in flight at once: its `pool_slots` when it runs in a pool it names,
    so that one pool sized to an endpoint's capacity keeps every worker together under it; None (up to the
    capacity) in the default pool. Airflow counts tasks in a pool, not their requests: this makes them equal."""
    if getattr(task, "pool", None) in (None, "", DEFAULT_POOL):
        return None
    slots = getattr(task, "pool_slots", 1)
    return slots if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0 else 1


def lingxing_hook(lingxing_conn_id: str, *, task: Any = None) -> LingxingHook:
    """A hook on the connection; for an operator or sensor (`task`), sending at most its pool slots at once."""
    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

    return LingxingHook(lingxing_conn_id=lingxing_conn_id, max_in_flight=pool_slots_limit(task))
