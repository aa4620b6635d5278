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
from datetime import timedelta
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "lingxing"
THROTTLE_CODES = frozenset({"3001008", "103"})
"""The endpoint's concurrency bucket is full (3001008) / the second limiter refused (103)."""
OK = "ok"
"""The outcome of an answered call."""

_CODE = re.compile(r"[A-Za-z0-9_]{1,24}")


def outcome_tag(outcome: str) -> str:
    """A code or outcome word as a tag: a value the server sent that does not look like a code becomes
    `other`, so no free text (which could carry anything) reaches a metric."""
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


def call_answered(path: str, outcome: str, seconds: float) -> None:
    """One HTTP exchange with Lingxing ended: `outcome` is `ok`, the Lingxing or HTTP code of an error
    answer, or a word for no usable answer (`no_answer`, `transient`). Counts `calls`, times
    `request_latency`, and counts `throttles` for 3001008/103."""
    tags = {"path": path_tag(path), "outcome": outcome_tag(outcome)}
    _emit("incr", "calls", 1, tags)
    _emit("timing", "request_latency", timedelta(seconds=seconds), tags)
    if outcome in THROTTLE_CODES:
        _emit("incr", "throttles", 1, {"path": tags["path"], "code": outcome})


def retry_scheduled(path: str, outcome: str) -> None:
    """A failed attempt will be sent again (after a backoff, or re-signed at once)."""
    _emit("incr", "retries", 1, {"path": path_tag(path), "outcome": outcome_tag(outcome)})


def token_renewed(path: str, code: str) -> None:
    """A call was refused for its token (2001003 expired, 2001005 replaced by another process, ...) and gets
    the shared token or a new one before it is sent again."""
    _emit("incr", "token_renewals", 1, {"path": path_tag(path), "code": outcome_tag(code)})


def token_fetched(kind: str, outcome: str) -> None:
    """The token endpoint was asked for a token: `kind` `new` (with the secret) or `refresh`."""
    _emit("incr", "token_fetches", 1, {"kind": outcome_tag(kind), "outcome": outcome_tag(outcome)})


def limiter_waited(path: str, seconds: float) -> None:
    """How long a request queued for its endpoint's concurrency slot before it could be sent."""
    _emit("timing", "limiter_wait", timedelta(seconds=seconds), {"path": path_tag(path)})


def slots_in_flight(path: str, slots: int) -> None:
    """Requests to `path` now holding a concurrency slot, as the limiter counts them (one process's, or the
    deployment's with a shared limiter)."""
    _emit("gauge", "in_flight", slots, {"path": path_tag(path)})
