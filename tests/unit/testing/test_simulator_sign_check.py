"""The simulator's own sign check: the independent vectors, its independence from the client, double encoding."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import quote_plus

import httpx
import pytest

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import LingxingSimulator, gateway, parameters, signing
from tests.sign_vectors import VECTORS
from tests.support.simulator_client import NA_SELLER, Client, order, submission

RESULTS = endpoints.GET_FULFILLMENT_RESULT.path
SUBMIT = endpoints.SUBMIT_FULFILLMENT.path
SELLERS = endpoints.SELLER_LIST.path
PLUS_APP_ID = "ak_3fK9pQ2xLm7Za"
"""An app id (of the vectors) whose constant last sign block, the encrypted padding, holds a `+`."""


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_the_simulators_own_signer_reproduces_every_vector(vector: dict):
    gateway_params = {"access_token": vector["access_token"], "app_key": vector["app_id"]}
    params = {**vector["business_params"], **gateway_params, "timestamp": vector["timestamp"]}
    assert signing.string_to_sign(params) == vector["canonical_string"]
    assert signing.digest(vector["canonical_string"]) == vector["md5_upper"]
    expected = signing.expected_sign(
        vector["business_params"],
        app_id=vector["app_id"],
        access_token=vector["access_token"],
        timestamp=vector["timestamp"],
    )
    assert expected == vector["sign"]


def test_the_simulator_imports_nothing_of_the_client_nor_airflow():
    code = (
        "import sys, airflow_provider_lingxing.testing.simulator; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow' "
        "or m.startswith('airflow_provider_lingxing.') and not m.startswith('airflow_provider_lingxing.testing')"
        " and m != 'airflow_provider_lingxing.get_provider_info'))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_simulator_and_the_client_read_the_same_endpoint_table():
    """Written apart on purpose; a difference means one of them misread the documentation."""
    assert {p: (r.method, r.capacity) for p, r in gateway.ROUTES.items()} == {
        p: (e.method, e.capacity) for p, e in endpoints.ENDPOINTS.items()
    }
    assert endpoints.GET_FULFILLMENT_RESULT.batch_limit == parameters.RESULTS_BATCH_LIMIT


def vector_sim(vector: dict) -> LingxingSimulator:
    return LingxingSimulator(
        latency=0.0,
        app_id=vector["app_id"],
        token_factory=lambda app_id: vector["access_token"],
        clock=lambda: int(vector["timestamp"]) + 1.0,
    )


def post_as_lingxingapi_httpx(sim: LingxingSimulator, vector: dict, sign: str) -> httpx.Response:
    """The way `lingxingapi-httpx` sends a call: `quote_plus(sign)` handed to httpx's `params=`."""
    params = {
        "access_token": vector["access_token"],
        "app_key": vector["app_id"],
        "timestamp": vector["timestamp"],
        "sign": quote_plus(sign),
    }
    body = json.dumps(vector["business_params"]).encode()
    headers = {"Content-Type": "application/json"}
    return httpx.post(sim.base_url + RESULTS, params=params, content=body, headers=headers, timeout=5)


RESULT_VECTORS = [v for v in VECTORS if "task_id" in v["business_params"]]


@pytest.mark.parametrize("vector", RESULT_VECTORS, ids=[v["name"] for v in RESULT_VECTORS])
def test_a_sign_url_encoded_twice_is_accepted_and_a_wrong_one_is_still_refused(vector: dict):
    with vector_sim(vector) as sim:
        Client(sim).token()
        accepted = post_as_lingxingapi_httpx(sim, vector, vector["sign"])
        assert accepted.json()["code"] == 0, accepted.json()
        assert "%25" in accepted.request.url.query.decode(), "the sign did not travel encoded twice"

        wrong = vector["sign"][:10] + ("A" if vector["sign"][10] != "A" else "B") + vector["sign"][11:]
        assert post_as_lingxingapi_httpx(sim, vector, wrong).json()["code"] == "2001006"
        encoded_three_times = post_as_lingxingapi_httpx(sim, vector, quote_plus(vector["sign"]))
        assert encoded_three_times.json()["code"] == "2001006"


def test_an_app_whose_every_sign_holds_a_plus_works_with_a_sign_encoded_twice():
    assert "+" in signing.encrypt(signing.digest("any"), PLUS_APP_ID)[44:], "the padding block must hold a +"
    with LingxingSimulator(latency=0.0, app_id=PLUS_APP_ID, complete_after_polls=1) as sim:
        client = Client(sim, sign_quoted=True)
        task_ids = [client.submit(submission(order(n))) for n in range(1, 6)]
        assert [r["status_code"] for r in client.results(task_ids)] == ["Complete"] * 5
        assert client.ok(SELLERS)
        tampered = client.call(RESULTS, {"seller_id": NA_SELLER, "task_id": [1]}, raw_body=b'{"seller_id":"x"}')
        assert tampered.json()["code"] == "2001006"
        assert sim.stats()["requests"][SUBMIT] == {"0": 5}
