"""Token endpoints: form fields or query parameters, one live token per app, single-use refresh tokens."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import (
    CONFIG_PATH,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    LingxingSimulator,
)
from tests.support.simulator_client import Client

SELLERS = endpoints.SELLER_LIST.path


def access_token_by_query(sim: LingxingSimulator, query: str) -> dict:
    return requests.post(f"{sim.base_url}{endpoints.ACCESS_TOKEN.path}?{query}", timeout=5).json()


def refresh(sim: LingxingSimulator, app_id: str, refresh_token: str) -> dict:
    fields = {"appId": (None, app_id), "refreshToken": (None, refresh_token)}
    return requests.post(sim.base_url + endpoints.REFRESH_TOKEN.path, files=fields, timeout=5).json()


def test_default_credentials_look_like_real_ones():
    assert len(DEFAULT_APP_ID.encode()) == 16 and DEFAULT_APP_ID.startswith("ak_")
    assert {"+", "/", "="} & set(DEFAULT_APP_SECRET)


def test_multipart_form_fields_get_a_token_in_the_documented_shape(client: Client):
    answer = client.fetch_token().json()

    assert answer["code"] == "200" and answer["msg"] == "OK"
    assert set(answer["data"]) == {"access_token", "refresh_token", "expires_in"}
    assert answer["data"]["expires_in"] == 7199
    assert client.ok(SELLERS, token=answer["data"]["access_token"])


def test_url_encoded_form_body_gets_a_token(sim: LingxingSimulator):
    form = {"appId": sim.app_id, "appSecret": sim.app_secret}
    answer = requests.post(sim.base_url + endpoints.ACCESS_TOKEN.path, data=form, timeout=5).json()
    assert answer["code"] == "200"


def test_query_parameters_work_when_the_secret_is_url_encoded(sim: LingxingSimulator):
    answer = access_token_by_query(sim, f"appId={sim.app_id}&appSecret={quote(sim.app_secret, safe='')}")
    assert answer["code"] == "200"


def test_a_raw_plus_in_a_query_secret_is_decoded_to_a_space_and_fails_like_the_real_service(sim):
    assert "+" in sim.app_secret
    answer = access_token_by_query(sim, f"appId={sim.app_id}&appSecret={sim.app_secret}")
    assert answer == {"code": "0001001", "msg": "rsa private decrypt error", "data": None}


def test_unknown_app_id_is_2001001_and_wrong_secret_is_2001002(sim: LingxingSimulator):
    assert Client(sim, app_id="ak_NoSuchApp0000").fetch_token().json() == {
        "code": "2001001",
        "msg": "app not exist",
        "data": None,
    }
    assert Client(sim, app_secret="V3JvbmdTZWNyZXQ=").fetch_token().json()["code"] == "2001002"


def test_a_new_token_makes_the_previous_one_answer_2001005(sim: LingxingSimulator):
    first, second = Client(sim), Client(sim)
    assert first.ok(SELLERS)
    assert second.ok(SELLERS)

    assert first.call(SELLERS).json() == {"code": "2001005", "msg": "access token not match", "data": None}
    assert second.ok(SELLERS)


def test_several_live_tokens_when_single_token_per_app_is_off():
    with LingxingSimulator(latency=0.0, single_token_per_app=False) as sim:
        first, second = Client(sim), Client(sim)
        first.token(), second.token()
        assert first.ok(SELLERS) and second.ok(SELLERS)


def test_rotate_token_acts_like_another_process_fetching_one(client: Client, sim: LingxingSimulator):
    assert client.ok(SELLERS)
    newest = sim.rotate_token()

    assert client.call(SELLERS).json()["code"] == "2001005"
    assert client.ok(SELLERS, token=newest)
    assert sim.stats()["tokens_issued"] == {"access": 1, "refresh": 0, "rotated": 1}


def test_an_expired_or_unknown_token_is_2001003(client: Client, sim: LingxingSimulator):
    assert client.ok(SELLERS)
    sim.expire_tokens()
    assert client.call(SELLERS).json()["code"] == "2001003"
    assert client.call(SELLERS, token="not-a-token").json()["code"] == "2001003"


def test_token_ttl_follows_the_clock():
    now = [1_700_000_000.0]
    with LingxingSimulator(latency=0.0, token_ttl=60, sign_ttl=10**9, clock=lambda: now[0]) as sim:
        client = Client(sim)
        assert client.ok(SELLERS, timestamp=str(int(now[0])))
        now[0] += 61
        assert client.call(SELLERS, timestamp=str(int(now[0]))).json()["code"] == "2001003"


def test_refresh_returns_a_working_token_and_each_refresh_token_is_single_use(client: Client, sim):
    issued = client.fetch_token().json()["data"]

    renewed = refresh(sim, sim.app_id, issued["refresh_token"])
    assert renewed["code"] == "200"
    assert renewed["data"]["refresh_token"] != issued["refresh_token"]
    assert client.ok(SELLERS, token=renewed["data"]["access_token"])
    assert client.call(SELLERS, token=issued["access_token"]).json()["code"] == "2001005"

    assert refresh(sim, sim.app_id, issued["refresh_token"])["code"] == "2001009"
    assert refresh(sim, sim.app_id, "never-issued")["code"] == "2001009"
    assert refresh(sim, "ak_NoSuchApp0000", renewed["data"]["refresh_token"])["code"] == "2001001"
    assert sim.stats()["tokens_issued"]["refresh"] == 1


def test_an_expired_refresh_token_is_2001008():
    now = [1_700_000_000.0]
    with LingxingSimulator(latency=0.0, refresh_token_ttl=100, clock=lambda: now[0]) as sim:
        issued = Client(sim).fetch_token().json()["data"]
        now[0] += 101
        assert refresh(sim, sim.app_id, issued["refresh_token"])["code"] == "2001008"


def test_each_extra_app_has_its_own_token(sim_with_two_apps: LingxingSimulator):
    main, other = Client(sim_with_two_apps), Client(sim_with_two_apps, "ak_OtherApp00001", "T3RoZXI+U2VjcmV0")
    assert main.ok(SELLERS) and other.ok(SELLERS)
    assert main.ok(SELLERS)
    assert other.call(SELLERS, token=main.token()).json()["code"] == "2001005"


@pytest.fixture
def sim_with_two_apps():
    with LingxingSimulator(latency=0.0, extra_apps={"ak_OtherApp00001": "T3RoZXI+U2VjcmV0"}) as sim:
        yield sim


def calls_until_refused(client: Client, count: int) -> list:
    """Codes of `count` seller-list calls; after a 2001005 the client fetches a new token, as a hook does."""
    codes = []
    for _ in range(count):
        code = client.call(SELLERS).json()["code"]
        codes.append(code)
        if code == "2001005":
            client._token = None
    return codes


def test_a_competing_client_rotates_the_token_after_every_n_accepted_calls():
    with LingxingSimulator(latency=0.0, rotate_token_every=3) as sim:
        client = Client(sim)
        assert calls_until_refused(client, 8) == [0, 0, 0, "2001005", 0, 0, 0, "2001005"]
        stats = sim.stats()
        assert stats["tokens_rotated"] == {sim.app_id: 2}
        assert stats["token_fetches"] == {sim.app_id: 2}
        assert stats["tokens_issued"] == {"access": 2, "refresh": 0, "rotated": 2}


def test_the_competing_client_is_switched_over_http_and_off_again(client: Client, sim: LingxingSimulator):
    changed = requests.post(sim.base_url + CONFIG_PATH, json={"rotate_token_every": 1}, timeout=5).json()
    assert changed["rotate_token_every"] == 1
    assert calls_until_refused(client, 4) == [0, "2001005", 0, "2001005"]

    refused = requests.post(sim.base_url + CONFIG_PATH, json={"rotate_token_every": 0}, timeout=5)
    assert refused.status_code == 400 and "rotate_token_every" in refused.json()["msg"]
    sim.configure({"rotate_token_every": None})
    assert calls_until_refused(client, 3) == [0, 0, 0]
    assert sim.stats()["tokens_rotated"] == {sim.app_id: 2}


def test_token_fetches_count_access_and_refresh_per_app(sim_with_two_apps: LingxingSimulator):
    main, other = Client(sim_with_two_apps), Client(sim_with_two_apps, "ak_OtherApp00001", "T3RoZXI+U2VjcmV0")
    issued = main.fetch_token().json()["data"]
    assert refresh(sim_with_two_apps, sim_with_two_apps.app_id, issued["refresh_token"])["code"] == "200"
    other.token()
    assert Client(sim_with_two_apps, app_secret="V3JvbmdTZWNyZXQ=").fetch_token().json()["code"] == "2001002"
    sim_with_two_apps.rotate_token()
    stats = sim_with_two_apps.stats()
    assert stats["token_fetches"] == {sim_with_two_apps.app_id: 2, "ak_OtherApp00001": 1}
    assert stats["tokens_rotated"] == {sim_with_two_apps.app_id: 1}
