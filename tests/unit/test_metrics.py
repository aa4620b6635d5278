"""The provider's metrics reach a StatsD server through Airflow's own Stats, named and tagged as the README says."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from airflow_provider_lingxing import metrics
from tests.support.statsd import StatsdListener

SUBMIT = "/pb/mp/order/submitFulfillment"
RESULTS = "/pb/mp/order/getFulfillmentResult"

SCRIPT = f"""
import time
from airflow_provider_lingxing import metrics
metrics.CALLS.answered({SUBMIT!r}, "3001008")
metrics.CALLS.retrying({SUBMIT!r}, "3001008")
metrics.CALLS.answered({SUBMIT!r}, "ok")
metrics.CALLS.answered({RESULTS!r}, "2001005")
metrics.CALLS.renewing_token({RESULTS!r}, "2001005")
metrics.token_fetched("new")
metrics.CALLS.answered({RESULTS!r}, "ok")
with metrics.holding_slot({RESULTS!r}, time.perf_counter() - 1.5):
    time.sleep(0.25)
"""


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    listener = StatsdListener()
    yield listener
    listener.close()


def run_in_airflow_process(script: str, env: dict[str, str]) -> None:
    """A fresh interpreter, so Airflow reads `[metrics]` from `env` as a task or the triggerer would at start."""
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env={**os.environ, **env}, check=True, timeout=120)


def test_counters_timers_and_gauge_arrive_tagged_by_path_and_outcome(statsd: StatsdListener) -> None:
    run_in_airflow_process(SCRIPT, statsd.env())

    assert statsd.counts("lingxing.calls", "path", "outcome") == {
        (SUBMIT, "3001008"): 1,
        (SUBMIT, "ok"): 1,
        (RESULTS, "2001005"): 1,
        (RESULTS, "ok"): 1,
    }
    assert statsd.counts("lingxing.throttles", "path", "code") == {(SUBMIT, "3001008"): 1}
    assert statsd.counts("lingxing.retries", "path", "outcome") == {(SUBMIT, "3001008"): 1}
    assert statsd.counts("lingxing.token_renewals", "path", "code") == {(RESULTS, "2001005"): 1}
    assert statsd.counts("lingxing.token_fetches", "kind") == {("new",): 1}
    tagged = [s for s in statsd.lingxing() if s.tags]
    [wait] = [s for s in tagged if s.name == "lingxing.limiter_wait"]
    assert (wait.tags, wait.kind) == ({"path": RESULTS}, "ms") and 1500 <= wait.value < 2500
    [latency] = [s for s in tagged if s.name == "lingxing.request_latency"]
    assert (latency.tags, latency.kind) == ({"path": RESULTS}, "ms") and 250 <= latency.value < 1250
    gauge = [(s.tags, s.kind, s.value) for s in tagged if s.name == "lingxing.in_flight"]
    assert gauge == [({"path": RESULTS}, "g", 1.0), ({"path": RESULTS}, "g", 0.0)]  # taken, then released


def test_plain_statsd_keeps_path_and_outcome_in_the_name(statsd: StatsdListener) -> None:
    """StatsD without tag support (Graphite) drops tags: Airflow's legacy names (on by default) fold them in."""
    run_in_airflow_process(SCRIPT, statsd.env(influxdb_tags=False))

    names = [s.name for s in statsd.lingxing()]
    assert "lingxing.calls.pb_mp_order_submitFulfillment.3001008" in names
    assert "lingxing.throttles.pb_mp_order_submitFulfillment.3001008" in names
    assert "lingxing.token_renewals.pb_mp_order_getFulfillmentResult.2001005" in names
    assert "lingxing.token_fetches.new" in names
    assert "lingxing.in_flight.pb_mp_order_getFulfillmentResult" in names
    assert names.count("lingxing.calls") == 4  # the untagged total


def test_legacy_names_off_sends_only_the_tagged_names(statsd: StatsdListener) -> None:
    run_in_airflow_process(SCRIPT, {**statsd.env(), "AIRFLOW__METRICS__LEGACY_NAMES_ON": "False"})

    assert {s.name for s in statsd.lingxing()} == {
        "lingxing.calls",
        "lingxing.request_latency",
        "lingxing.throttles",
        "lingxing.retries",
        "lingxing.token_renewals",
        "lingxing.token_fetches",
        "lingxing.limiter_wait",
        "lingxing.in_flight",
    }


def test_text_that_is_not_a_code_never_becomes_a_tag(statsd: StatsdListener) -> None:
    secret = "token 4dcaa78e-a8b1 for order 111-2223333-4444444"
    run_in_airflow_process(
        f"""
        from airflow_provider_lingxing import metrics
        metrics.CALLS.answered("/pb/mp/order/submitFulfillment?access_token=4dcaa78e", {secret!r})
        """,
        statsd.env(),
    )

    lines = [f"{s.name} {s.tags}" for s in statsd.lingxing()]
    assert lines, "nothing was sent"
    assert not [line for line in lines if "4dcaa78e" in line or "111-2223333" in line]
    assert statsd.counts("lingxing.calls", "outcome") == {("other",): 1}


def test_a_failing_metrics_backend_never_fails_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __getattr__(self, name: str) -> object:
            raise OSError("statsd socket closed")

    monkeypatch.setattr(metrics, "_stats", lambda: Broken())

    metrics.CALLS.answered(SUBMIT, "ok")
    with metrics.holding_slot(SUBMIT, 0.0):
        pass
