"""SimulatorProcess: the simulator in a child process, as load tests and benchmarks run it."""

from __future__ import annotations

import json

import pytest

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import SimulatorProcess
from tests.support.simulator_client import Client, submission

SUBMIT = endpoints.SUBMIT_FULFILLMENT.path
RESULTS = endpoints.GET_FULFILLMENT_RESULT.path


def test_it_serves_signed_calls_is_steered_over_http_and_is_gone_after_the_block():
    with SimulatorProcess("--latency", "0", "--complete-after-polls", "1") as sim:
        process = sim.process
        assert process is not None and process.poll() is None
        assert json.loads(sim.connection_json()) == {
            "conn_type": "lingxing",
            "host": sim.base_url,
            "login": sim.app_id,
            "password": sim.app_secret,
        }
        client = Client(sim)  # type: ignore[arg-type]  # it needs base_url, app_id and app_secret only
        task_id = client.submit(submission())
        assert client.results([task_id])[0]["status_code"] == "Complete"

        stats = sim.stats()
        assert stats["requests"][SUBMIT] == {"0": 1} and stats["requests"][RESULTS] == {"0": 1}
        assert stats["peak_in_flight"][sim.app_id][SUBMIT] == 1
        assert sim.configure(latency=0.01)["latency"] == 0.01
        with pytest.raises(ValueError, match="drop_probability"):
            sim.configure(drop_probability=2)
        sim.reset()
        assert sim.stats()["requests_total"] == 0
    assert process.poll() == 0  # stopped by SIGTERM, cleanly
    assert sim.process is None


def test_it_is_stopped_when_the_block_raises():
    with pytest.raises(KeyError), SimulatorProcess("--latency", "0") as sim:
        process = sim.process
        raise KeyError("boom")
    assert process is not None and process.poll() is not None


def test_a_simulator_that_does_not_start_fails_with_its_output():
    with pytest.raises(RuntimeError, match=r"exited with code \d+; its output:\n(.|\n)*drop_probability"):
        SimulatorProcess("--drop-probability", "3").start()
    not_ready = SimulatorProcess("--latency", "0", start_timeout=0)
    with pytest.raises(RuntimeError, match="not ready in 0 s"):
        not_ready.start()
    assert not_ready.process is None
