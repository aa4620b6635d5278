"""Introspection and control: stats, reset, the config endpoint, connections, the pytest fixtures, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.pytest_plugin import CONNECTION_ENV
from airflow_provider_lingxing.testing.simulator import (
    CONFIG_PATH,
    RESET_PATH,
    STATS_PATH,
    LingxingSimulator,
    build_parser,
    config_from_args,
)
from tests.support.simulator_client import NA_SELLER, Client, order, submission

SELLERS = endpoints.SELLER_LIST.path
SUBMIT = endpoints.SUBMIT_FULFILLMENT.path


def test_stats_count_requests_per_path_and_code_and_are_served_unsigned(client: Client, sim: LingxingSimulator):
    client.ok(SELLERS)
    client.call(SELLERS, query={"sign": None})
    client.submit(submission(order(1), order(2)))

    served = requests.get(sim.base_url + STATS_PATH, timeout=5).json()
    assert served == sim.stats()
    assert served["requests"] == {
        endpoints.ACCESS_TOKEN.path: {"200": 1},
        SELLERS: {"0": 1, "3001001": 1},
        SUBMIT: {"0": 1},
    }
    assert served["requests_total"] == 4
    assert served["tokens_issued"] == {"access": 1, "refresh": 0, "rotated": 0}
    assert served["peak_in_flight"] == {sim.app_id: {endpoints.ACCESS_TOKEN.path: 1, SELLERS: 1, SUBMIT: 1}}
    assert served["submissions"][NA_SELLER][0]["order_ids"] == ["1", "2"]


def test_reset_forgets_tokens_tasks_and_stats_but_never_reuses_a_task_id(client: Client, sim: LingxingSimulator):
    before = client.submit(submission())
    sim.reset()

    assert sim.stats()["requests_total"] == 0 and sim.stats()["submissions"] == {}
    assert client.call(SELLERS).json()["code"] == "2001003"
    client._token = None
    after = client.submit(submission())
    assert int(after) > int(before)
    assert client.results([before]) == []


def test_reset_and_config_over_http(client: Client, sim: LingxingSimulator):
    client.ok(SELLERS)
    assert requests.post(sim.base_url + RESET_PATH, timeout=5).json() == {"reset": True}
    assert sim.stats()["requests_total"] == 0

    changed = requests.post(sim.base_url + CONFIG_PATH, json={"fail_with_code": 2001004, "latency": "0"}, timeout=5)
    assert changed.json()["fail_with_code"] == "2001004"
    assert sim.config.fail_with_code == "2001004"
    client._token = None
    assert client.call(SELLERS).json()["code"] == "2001004"

    refused = requests.post(sim.base_url + CONFIG_PATH, json={"drop_probability": 2, "latency": 9}, timeout=5)
    assert refused.status_code == 400 and "drop_probability" in refused.json()["msg"]
    assert sim.config.latency == 0.0
    unknown = requests.post(sim.base_url + CONFIG_PATH, json={"clock": 1}, timeout=5)
    assert unknown.status_code == 400 and "clock" in unknown.json()["msg"]


def test_the_connection_forms_resolve_to_the_simulator(sim: LingxingSimulator):
    from airflow.models.connection import Connection

    for connection in (Connection.from_json(sim.connection_json()), Connection(uri=sim.connection_uri())):
        assert connection.conn_type == "lingxing"
        assert (connection.host, connection.login, connection.password) == (sim.base_url, sim.app_id, sim.app_secret)


def test_the_connection_fixture_points_the_default_connection_at_the_simulator(lingxing_connection):
    assert json.loads(os.environ[CONNECTION_ENV]) == {
        "conn_type": "lingxing",
        "host": lingxing_connection.base_url,
        "login": lingxing_connection.app_id,
        "password": lingxing_connection.app_secret,
    }
    assert Client(lingxing_connection).ok(SELLERS)


@pytest.mark.lingxing_simulator(latency=0.0, complete_after_polls=1)
def test_the_marker_configures_the_fixture(lingxing_simulator: LingxingSimulator):
    assert lingxing_simulator.config.complete_after_polls == 1
    client = Client(lingxing_simulator)
    task_id = client.submit(submission())
    assert client.results([task_id])[0]["status_code"] == "Complete"


def test_the_command_line_serves_until_terminated_and_prints_what_a_client_needs():
    command = [
        sys.executable,
        "-m",
        "airflow_provider_lingxing.testing.simulator",
        "--port",
        "0",
        "--latency",
        "0",
        "--complete-after-polls",
        "1",
        "--capacity",
        f"{SELLERS}=3",
        "--no-single-token-per-app",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline().strip() for _ in range(4)]
        base_url = lines[0].rsplit(" ", 1)[1]
        assert base_url.startswith("http://127.0.0.1:")
        app_id, app_secret = lines[1].split(": ", 1)[1], lines[2].split(": ", 1)[1]
        config = requests.get(base_url + CONFIG_PATH, timeout=5).json()
        assert config["complete_after_polls"] == 1 and config["single_token_per_app"] is False
        assert config["app_id"] == app_id and config["app_secret"] == app_secret
        form = {"appId": (None, app_id), "appSecret": (None, app_secret)}
        token = requests.post(base_url + endpoints.ACCESS_TOKEN.path, files=form, timeout=5).json()
        assert token["code"] == "200"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_bad_command_line_settings_exit_with_a_message():
    command = [sys.executable, "-m", "airflow_provider_lingxing.testing.simulator", "--drop-probability", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "drop_probability" in result.stderr


def test_the_competing_client_skew_and_scripted_failures_are_command_line_switches():
    argv = ["--rotate-token-every", "3", "--clock-offset", "-30", "--fail-with-code", "1", "--fail-times", "2"]
    config = config_from_args(build_parser().parse_args([*argv, "--fail-after-work", "--fail-message", "服务内部错误"]))
    assert (config.rotate_token_every, config.clock_offset, config.fail_with_code, config.fail_times) == (
        3,
        -30.0,
        "1",
        2,
    )
    assert config.fail_after_work is True and config.fail_message == "服务内部错误"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--rotate-token-every", "often"])
