"""Metrics of every Lingxing call, through Airflow's own `Stats`: they land in the deployment's StatsD,
OpenTelemetry or Datadog backend, as its `[metrics]` section configures (nothing is sent when it is off).

Every metric is `lingxing.<metric>` with tags (`path`, `outcome`, `code`, `kind`); with Airflow's
`[metrics] legacy_names_on` (its default) the tags are also folded into the name, as Airflow does for its own
metrics, so plain StatsD/Graphite, which drops tags, still tells endpoints and outcomes apart:
`lingxing.calls.pb_mp_order_submitFulfillment.3001008`. The README's "Monitoring" section lists them.

A tag value is an endpoint path, a Lingxing or HTTP code, or a fixed word: never a secret, a token, a sign, an
order id or a task id. Emitting never raises: a metrics backend that fails must not fail a call.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import timedelta
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "lingxing"
THROTTLE_CODES = frozenset({"3001008", "103"})
"""The endpoint's concurrency bucket is full (3001008) / the second limiter refused (103)."""

_CODE = re.compile(r"[A-Za-z0-9_]{1,24}")


def outcome_tag(outcome: str) -> str:
    """A code or outcome word as a tag: a value the server sent that does not look like a code becomes
    `other`, so no free text (which could carry anything) reaches a metric."""
    outcome = outcome.replace(" ", "_")
    return outcome if _CODE.fullmatch(outcome) else "other"


def path_tag(path: str) -> str:
    """An endpoint path as a tag: `/pb/mp/order/submitFulfillment`. A query string (where a token would go) is
    cut off, and only characters every backend keeps remain."""
    path = re.split(r"[?#]", path, maxsplit=1)[0].strip("/")
    return "/" + re.sub(r"[^A-Za-z0-9_./-]", "_", path)[:120]


def name_segment(tag: str) -> str:
    """A tag value as a segment of a dotted name: `/pb/mp/order/submitFulfillment` → `pb_mp_order_submitFulfillment`
    (Graphite makes a folder of every `.` and cannot store a `/`)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", tag.strip("/")) or "_"


@cache
def _stats() -> Any:
    """The Task SDK's Stats, configured from `[metrics]`. Airflow configures it when `airflow.sdk.serde` is first
    imported (3.2 and 3.3 alike): every task runner and the 3.3 triggerer have imported it by the time a call is
    made, a 3.2 triggerer or a plain script may not have, so it is imported here (a no-op when it was)."""
    import airflow.sdk.serde  # noqa: F401
    from airflow.sdk.observability.stats import Stats

    return Stats


@cache
def _legacy_names() -> bool:
    try:
        from airflow.sdk.configuration import conf

        return conf.getboolean("metrics", "legacy_names_on", fallback=True)
    except Exception:
        return True


def _emit(kind: str, metric: str, value: Any, tags: dict[str, str]) -> None:
    name = f"{PREFIX}.{metric}"
    try:
        send = getattr(_stats(), kind)
        send(name, value, tags=tags)
        if _legacy_names():
            send(".".join((name, *map(name_segment, tags.values()))), value)
    except Exception:
        log.debug("Could not emit metric %s", name, exc_info=True)


class CallMetrics:
    """What the call plans report (`api/calls.py` takes it as its `meter`): each answer, retry and renewal."""

    def answered(self, path: str, outcome: str) -> None:
        """One attempt ended: `outcome` is `ok`, the Lingxing or HTTP code of an error answer, or a word for no
        usable answer (`no_answer`, `transient`). Counts `calls`, and `throttles` for 3001008/103."""
        tags = {"path": path_tag(path), "outcome": outcome_tag(outcome)}
        _emit("incr", "calls", 1, tags)
        if outcome in THROTTLE_CODES:
            _emit("incr", "throttles", 1, {"path": tags["path"], "code": outcome})

    def retrying(self, path: str, outcome: str) -> None:
        """A failed attempt will be sent again (after a backoff, or re-signed at once)."""
        _emit("incr", "retries", 1, {"path": path_tag(path), "outcome": outcome_tag(outcome)})

    def renewing_token(self, path: str, code: str) -> None:
        """A call was refused for its token (2001003 expired, 2001005 replaced by another process, ...) and gets
        the shared token or a new one before it is sent again."""
        _emit("incr", "token_renewals", 1, {"path": path_tag(path), "code": outcome_tag(code)})


CALLS = CallMetrics()


def token_fetched(kind: str) -> None:
    """The token endpoint issued a token: `kind` `new` (asked with the secret: every other holder's token stops
    working) or `refresh`."""
    _emit("incr", "token_fetches", 1, {"kind": outcome_tag(kind)})


_in_flight: dict[str, int] = {}
_in_flight_lock = threading.Lock()


def _count_in_flight(path: str, change: int) -> int:
    with _in_flight_lock:
        _in_flight[path] = slots = _in_flight.get(path, 0) + change
    return slots


class SlotHeld:
    """A request holding its endpoint's concurrency slot (see `holding_slot`)."""

    def __init__(self, path: str, queued_since: float) -> None:
        self.tags = {"path": path_tag(path)}
        self.queued_since = queued_since
        self.sent = queued_since

    def __enter__(self) -> None:
        self.sent = time.perf_counter()
        _emit("timing", "limiter_wait", timedelta(seconds=self.sent - self.queued_since), self.tags)
        _emit("gauge", "in_flight", _count_in_flight(self.tags["path"], +1), self.tags)

    def __exit__(self, *exc_info: object) -> None:
        _emit("timing", "request_latency", timedelta(seconds=time.perf_counter() - self.sent), self.tags)
        _emit("gauge", "in_flight", _count_in_flight(self.tags["path"], -1), self.tags)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()


def holding_slot(path: str, queued_since: float) -> SlotHeld:
    """Enter once the request has its concurrency slot, leave when the slot is released (`with` or `async with`):
    times the wait for it (`limiter_wait`, from `queued_since`, a `time.perf_counter()`) and the request in flight
    (`request_latency`), and gauges this process's requests holding a slot of the endpoint (`in_flight`)."""
    return SlotHeld(path, queued_since)
