"""Seeded faults: HTTP 5xx, dropped connections, slow and non-JSON answers, 103, 2001007; switched mid-run."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.support.simulator_client import NA_SELLER, Client, submission

SELLERS = endpoints.SELLER_LIST.path
SUBMIT = endpoints.SUBMIT_FULFILLMENT.path
RESULTS = endpoints.GET_FULFILLMENT_RESULT.path
QUERY = {"seller_id": NA_SELLER, "task_id": [1]}


def outcome(client: Client, path: str = RESULTS, body: dict | None = QUERY) -> str:
    """What a client observes: the envelope code, the HTTP status of a non-JSON answer, or 'dropped'."""
    try:
        response = client.call(path, body)
    except requests.ConnectionError:
        return "dropped"
    try:
        return str(response.json()["code"])
    except ValueError:
        return f"HTTP {response.status_code} {response.headers['Content-Type']}"


@pytest.mark.parametrize(
    ("setting", "observed"),
    [
        ("http_500_probability", "HTTP 500 text/html"),
        ("http_502_probability", "HTTP 502 text/html"),
        ("http_503_probability", "HTTP 503 text/html"),
        ("non_json_probability", "HTTP 200 text/html"),
        ("limiter_103_probability", "103"),
        ("sign_expired_probability", "2001007"),
        ("drop_probability", "dropped"),
    ],
)
def test_each_fault_at_probability_one(client: Client, sim: LingxingSimulator, setting: str, observed: str):
    client.token()
    setattr(sim.config, setting, 1.0)
    assert outcome(client) == observed
    setattr(sim.config, setting, 0.0)
    assert outcome(client) == "0"


def test_the_103_limiter_answers_the_business_envelope(client: Client, sim: LingxingSimulator):
    client.token()
    sim.config.limiter_103_probability = 1.0
    answer = client.call(RESULTS, QUERY).json()
    assert (answer["code"], answer["message"], answer["data"]) == (103, "请求过于频繁", None)


def test_a_dropped_answer_still_created_the_task(client: Client, sim: LingxingSimulator):
    client.token()
    sim.config.drop_probability = 1.0
    assert outcome(client, SUBMIT, submission()) == "dropped"
    stats = sim.stats()
    assert stats["tasks"]["created"] == 1
    assert stats["requests"][SUBMIT] == {"dropped": 1}


def test_a_5xx_answer_created_nothing(client: Client, sim: LingxingSimulator):
    client.token()
    sim.config.http_502_probability = 1.0
    assert outcome(client, SUBMIT, submission()) == "HTTP 502 text/html"
    assert sim.stats()["tasks"]["created"] == 0


def test_a_slow_answer_outlasts_a_client_timeout(client: Client, sim: LingxingSimulator):
    client.token()
    sim.config.slow_probability, sim.config.slow_delay = 1.0, 1.0
    with pytest.raises(requests.ReadTimeout):
        client.call(RESULTS, QUERY, timeout=0.2)
    sim.config.slow_probability = 0.0
    assert outcome(client) == "0"


def observed_sequence(seed: int) -> list[str]:
    with LingxingSimulator(
        latency=0.0,
        seed=seed,
        http_500_probability=0.1,
        http_503_probability=0.1,
        limiter_103_probability=0.1,
        drop_probability=0.1,
        fault_paths={RESULTS},
    ) as sim:
        client = Client(sim)
        return [outcome(client) for _ in range(40)]


def test_faults_are_reproducible_from_the_seed():
    first = observed_sequence(seed=7)
    assert first == observed_sequence(seed=7)
    assert first != observed_sequence(seed=8)
    assert {"0", "HTTP 500 text/html", "HTTP 503 text/html", "103", "dropped"} <= set(first)


def test_reset_reseeds_the_faults(client: Client, sim: LingxingSimulator):
    sim.config.seed, sim.config.http_500_probability, sim.config.fault_paths = 3, 0.5, {SELLERS}
    sim.reset()
    client.token()
    first = [outcome(client, SELLERS, None) for _ in range(20)]
    sim.reset()
    client._token = None
    client.token()
    assert [outcome(client, SELLERS, None) for _ in range(20)] == first


def test_fault_paths_limit_where_faults_happen(client: Client, sim: LingxingSimulator):
    sim.config.fault_paths = {SUBMIT}
    sim.config.http_503_probability = 1.0
    assert client.token()
    assert outcome(client) == "0"
    assert outcome(client, SUBMIT, submission()) == "HTTP 503 text/html"


def test_faults_apply_to_the_token_endpoint_by_default_except_business_ones(sim: LingxingSimulator):
    sim.config.limiter_103_probability = 1.0
    assert Client(sim).fetch_token().json()["code"] == "200"
    sim.config.limiter_103_probability, sim.config.http_500_probability = 0.0, 1.0
    assert Client(sim).fetch_token().status_code == 500


@pytest.mark.parametrize(
    ("settings", "culprit"),
    [
        ({"drop_probability": 1.5}, "drop_probability"),
        ({"http_500_probability": 0.6, "http_502_probability": 0.6}, "add up"),
        ({"complete_after_polls": 0}, "complete_after_polls"),
        ({"app_id": "ak_short"}, "app_id"),
        ({"capacities": {"/no/such/path": 3}}, "/no/such/path"),
    ],
)
def test_bad_settings_are_refused_naming_the_culprit(settings, culprit):
    with pytest.raises(ValueError, match=culprit):
        LingxingSimulator(**settings)


@pytest.mark.parametrize("code", ["1", "100", "500"])
def test_an_internal_error_code_n_times_then_normal_answers(client: Client, sim: LingxingSimulator, code: str):
    client.token()
    sim.config.fail_with_code, sim.config.fail_times = code, 2
    answers = [client.call(RESULTS, QUERY) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json() for a in answers[:2]] == [{"code": code, "msg": "服务内部错误", "data": None}] * 2
    assert answers[2].json()["code"] == 0
    assert sim.config.fail_times == 0
    assert sim.stats()["requests"][RESULTS] == {code: 2, "0": 1}


def test_500_with_a_not_found_message_in_a_200_envelope(client: Client, sim: LingxingSimulator):
    sim.config.fail_with_code, sim.config.fail_message = "500", "404 NOT_FOUND"
    answer = client.call(RESULTS, QUERY)
    assert answer.status_code == 200
    assert answer.json() == {"code": "500", "msg": "404 NOT_FOUND", "data": None}


def test_a_scripted_failure_before_the_work_creates_nothing_and_after_it_creates_the_task(client: Client, sim):
    client.token()
    sim.config.fault_paths = {SUBMIT}
    sim.config.fail_with_code, sim.config.fail_times = "1", 1
    assert client.call(SUBMIT, submission()).json()["code"] == "1"
    assert sim.stats()["tasks"]["created"] == 0

    sim.config.fail_times, sim.config.fail_after_work = 1, True
    assert outcome(client) == "0", "fault_paths keeps the results endpoint out of it"
    assert client.call(SUBMIT, submission()).json()["code"] == "1"
    assert sim.stats()["tasks"]["created"] == 1
    assert client.call(SUBMIT, submission()).json()["code"] == 0
