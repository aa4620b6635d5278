"""A scripted run against the simulator with a StatsD server on loopback: every request, throttle, retry, token
fetch and renewal shows up in the provider's metrics, and the counts are the simulator's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from airflow_provider_lingxing.api.endpoints import ACCESS_TOKEN, GET_FULFILLMENT_RESULT, SUBMIT_FULFILLMENT
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.support.statsd import StatsdListener, simulator_answers

pytestmark = pytest.mark.integration

SUBMIT, RESULTS, TOKEN = SUBMIT_FULFILLMENT.path, GET_FULFILLMENT_RESULT.path, ACCESS_TOKEN.path

SCRIPT = """
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.api.retry import RetryPolicy

hook = LingxingHook(retry_policy=RetryPolicy(base_delay=0.01, max_delay=0.05))
order = {"id": 1001, "platform_order_no": "111-0000000-0000001", "tracking_no": "1Z999", "carrier_code": "UPS",
         "carrier_name": "UPS", "shipping_service": "", "order_item": [{"order_item_no": "OI-1", "quantity": 1}]}
task = hook.submit_fulfillment("NA", "A1MQMW3JWPNCBX", "ATVPDKIKX0DER", [order])
hook.get_fulfillment_results("A1MQMW3JWPNCBX", [task["task_id"]])
hook.close()
"""


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    listener = StatsdListener()
    yield listener
    listener.close()


@pytest.mark.lingxing_simulator(
    latency=0.0, fail_with_code="3001008", fail_times=2, fault_paths={SUBMIT}, rotate_token_every=1
)
def test_the_metrics_of_a_run_count_what_the_simulator_answered(
    lingxing_simulator: LingxingSimulator, statsd: StatsdListener
) -> None:
    """Submit meets two full buckets (3001008) and is retried; a competing client then replaces the token, so the
    results call is refused with 2001005, renews the token (a second fetch) and succeeds."""
    env = {**os.environ, **statsd.env(), "AIRFLOW_CONN_LINGXING_DEFAULT": lingxing_simulator.connection_json()}
    subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], env=env, check=True, timeout=120)

    calls = statsd.counts("lingxing.calls", "path", "outcome")
    assert calls == {
        (TOKEN, "ok"): 2,
        (SUBMIT, "3001008"): 2,
        (SUBMIT, "ok"): 1,
        (RESULTS, "2001005"): 1,
        (RESULTS, "ok"): 1,
    }
    assert calls == simulator_answers(lingxing_simulator.stats())  # what the simulator counted on its side
    assert statsd.counts("lingxing.throttles", "path", "code") == {(SUBMIT, "3001008"): 2}
    assert statsd.counts("lingxing.retries", "path", "outcome") == {(SUBMIT, "3001008"): 2}
    assert statsd.counts("lingxing.token_renewals", "path", "code") == {(RESULTS, "2001005"): 1}
    assert statsd.counts("lingxing.token_fetches", "kind") == {("new",): 2}
    samples = [s for s in statsd.lingxing() if s.tags]
    requests_sent = sum(calls.values())
    assert len([s for s in samples if s.name == "lingxing.limiter_wait"]) == requests_sent
    assert len([s for s in samples if s.name == "lingxing.request_latency"]) == requests_sent
    last_gauge = {s.tags["path"]: s.value for s in samples if s.name == "lingxing.in_flight"}
    assert last_gauge == {TOKEN: 0, SUBMIT: 0, RESULTS: 0}  # every slot released
    tag_values = {value for s in samples for value in s.tags.values()}
    assert tag_values <= {TOKEN, SUBMIT, RESULTS, "ok", "3001008", "2001005", "new"}
