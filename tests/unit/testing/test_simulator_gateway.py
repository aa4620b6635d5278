"""The gateway checks of every business call, the sign check against independent vectors, and bad requests."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import pytest
import requests

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.sign_vectors import VECTORS
from tests.support.simulator_client import NA_SELLER, Client, submission

SELLERS = endpoints.SELLER_LIST.path
RESULTS = endpoints.GET_FULFILLMENT_RESULT.path
SUBMIT = endpoints.SUBMIT_FULFILLMENT.path
LOGGER = "airflow_provider_lingxing.testing.simulator"


def query_value(value):
    """A GET business parameter as the client puts it in the query string (and signs it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return value


def vector_request(sim: LingxingSimulator, vector: dict, *, sign: str, params: dict) -> dict:
    """Send a vector's params with its (independently computed) sign, as a client following §3 would."""
    gateway = {
        "access_token": vector["access_token"],
        "app_key": vector["app_id"],
        "timestamp": vector["timestamp"],
        "sign": sign,
    }
    if "task_id" in params or "order_list" in params:
        path = RESULTS if "task_id" in params else SUBMIT
        url = f"{sim.base_url}{path}?{urlencode(gateway)}"
        body = json.dumps(params, ensure_ascii=False).encode()
        return requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=5).json()
    flat = {key: query_value(value) for key, value in params.items()}
    return requests.get(f"{sim.base_url}{SELLERS}?{urlencode({**flat, **gateway})}", timeout=5).json()


def nudge(value):
    """The same value with one character (one bit of an int) changed."""
    if isinstance(value, list):
        return [*value[:-1], nudge(value[-1])]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value ^ 1
    return value[:-1] + ("x" if value[-1:] != "x" else "y")


def simulator_for(vector: dict) -> LingxingSimulator:
    """A simulator accepting the vector's app id, issuing its token, with its clock at the vector's timestamp."""
    return LingxingSimulator(
        latency=0.0,
        app_id=vector["app_id"],
        token_factory=lambda app_id: vector["access_token"],
        clock=lambda: int(vector["timestamp"]) + 1.0,
    )


@pytest.fixture(params=VECTORS, ids=[v["name"] for v in VECTORS])
def vector_sim(request):
    with simulator_for(request.param) as sim:
        assert Client(sim).token() == request.param["access_token"]
        yield request.param, sim


def test_a_sign_vector_passes_the_gateway_and_a_one_byte_change_does_not(vector_sim):
    vector, sim = vector_sim
    params = vector["business_params"]

    accepted = vector_request(sim, vector, sign=vector["sign"], params=params)
    assert accepted["code"] == 0, accepted

    flipped = vector["sign"][:10] + ("A" if vector["sign"][10] != "A" else "B") + vector["sign"][11:]
    assert vector_request(sim, vector, sign=flipped, params=params)["code"] == "2001006"

    changed = {**params, "offset": 1} if not params else {**params, max(params): nudge(params[max(params)])}
    assert vector_request(sim, vector, sign=vector["sign"], params=changed)["code"] == "2001006"


def test_a_sign_sent_without_url_encoding_fails_with_2001006():
    vector = next(v for v in VECTORS if "+" in v["sign"] and "task_id" in v["business_params"])
    with simulator_for(vector) as sim:
        Client(sim).token()
        gateway = {k: vector[k] for k in ("access_token", "timestamp")}
        url = f"{sim.base_url}{RESULTS}?{urlencode(gateway)}&app_key={vector['app_id']}&sign={vector['sign']}"
        body = json.dumps(vector["business_params"]).encode()
        assert requests.post(url, data=body, timeout=5).json()["code"] == "2001006"
        encoded = (
            f"{sim.base_url}{RESULTS}?{urlencode({**gateway, 'app_key': vector['app_id'], 'sign': vector['sign']})}"
        )
        assert requests.post(encoded, data=body, timeout=5).json()["code"] == 0


@pytest.mark.parametrize("missing", ["access_token", "app_key", "timestamp", "sign"])
def test_a_missing_gateway_parameter_is_3001001(client: Client, missing: str):
    answer = client.call(SELLERS, query={missing: None}).json()
    assert answer == {
        "code": "3001001",
        "msg": "missing query param(access_token,sign,timestamp,app_key)",
        "data": None,
    }


def test_an_unknown_app_key_is_2001001(client: Client):
    assert client.call(SELLERS, query={"app_key": "ak_NoSuchApp0000"}).json()["code"] == "2001001"


def test_a_sign_older_than_two_minutes_is_2001007():
    now = 1_700_000_000
    with LingxingSimulator(latency=0.0, clock=lambda: now + 0.5) as sim:
        client = Client(sim)
        assert client.ok(SELLERS, timestamp=str(now - 119))
        assert client.call(SELLERS, timestamp=str(now - 121)).json() == {
            "code": "2001007",
            "msg": "api sign has expired",
            "data": None,
        }
        assert client.call(SELLERS, timestamp="17000000xx").json()["code"] == "2001007"


def test_a_body_that_differs_from_what_was_signed_is_2001006(client: Client):
    body = {"seller_id": NA_SELLER, "task_id": [1003083]}
    tampered = json.dumps({"seller_id": NA_SELLER, "task_id": [1003084]}).encode()
    assert client.call(RESULTS, body, raw_body=tampered).json()["code"] == "2001006"


def test_the_body_is_parsed_not_compared_byte_for_byte(client: Client):
    body = {"task_id": [1], "seller_id": NA_SELLER}
    spaced = json.dumps(body, indent=2).encode()
    assert client.call(RESULTS, body, raw_body=spaced).json()["code"] == 0


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_102(client: Client, garbage: bytes):
    answer = client.call(RESULTS, {}, raw_body=garbage).json()
    assert answer["code"] == 102 and answer["message"].startswith("参数不合法")


def test_a_wrong_path_or_doubled_slash_is_the_gateway_404(client: Client, sim: LingxingSimulator):
    for path in ("/erp/sc/data/seller/list", "//erp/sc/data/seller/lists", "/pb/mp/order/submitFulfillment/"):
        response = client.session.get(sim.base_url + path, timeout=5)
        assert response.status_code == 404
        assert response.json() == {"code": "500", "msg": "404 NOT_FOUND", "data": None}


def test_a_wrong_method_is_405(client: Client):
    response = client.call(SUBMIT, submission(), method="GET")
    assert response.status_code == 405 and response.json()["code"] == "405"


def test_fail_with_code_fails_every_business_call_but_not_the_token_endpoint(client: Client, sim):
    sim.config.fail_with_code = "2001004"
    assert client.call(SELLERS).json() == {"code": "2001004", "msg": "api not authorized", "data": None}
    assert client.call(RESULTS, {"seller_id": NA_SELLER, "task_id": [1]}).json()["code"] == "2001004"

    sim.config.fail_with_code = "3001002"
    assert client.call(SELLERS).json()["msg"] == "ip not permit, add ip to white list"

    sim.config.fail_with_code = "102"
    assert client.call(SELLERS).json()["code"] == 102

    sim.config.fail_with_code = None
    assert client.ok(SELLERS)
    assert sim.stats()["tokens_issued"]["access"] == 1


def raw_exchange(sim: LingxingSimulator, payload: bytes, *, half_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(payload)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def envelope_of(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"THIS IS NOT HTTP\r\n\r\n", 400),
        (b"BREW /erp/sc/data/seller/lists HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"POST /pb/mp/order/submitFulfillment HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"POST /pb/mp/order/submitFulfillment HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    ],
    ids=["garbage request line", "unknown method", "chunked body", "bad content-length"],
)
def test_malformed_requests_get_a_json_envelope_and_a_closed_connection(sim: LingxingSimulator, payload, status):
    answer_status, envelope = envelope_of(raw_exchange(sim, payload))
    assert answer_status == status
    assert envelope["code"] == str(status) and "Traceback" not in envelope["msg"]


def test_a_body_shorter_than_its_content_length_is_answered_not_hung(sim: LingxingSimulator):
    payload = b'POST /pb/mp/order/submitFulfillment HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"a":'
    status, envelope = envelope_of(raw_exchange(sim, payload, half_close=True))
    assert status == 400 and envelope["code"] == "400"


def test_a_huge_body_gets_413_and_nothing_is_processed():
    with LingxingSimulator(latency=0.0, max_body_bytes=10_000) as sim:
        client = Client(sim)
        response = client.call(SUBMIT, submission(), raw_body=b" " * 50_000)
        assert response.status_code == 413
        assert response.json() == {"code": "413", "msg": "413 PAYLOAD_TOO_LARGE", "data": None}
        assert sim.stats()["tasks"]["created"] == 0


def test_an_internal_error_is_an_envelope_without_a_stack_trace(client: Client, sim: LingxingSimulator):
    def broken(body):
        raise RuntimeError("bug in a test predicate")

    sim.config.fail_task_predicate = broken
    response = client.call(SUBMIT, submission())
    assert response.status_code == 500
    assert response.json() == {"code": "500", "msg": "simulator internal error", "data": None}
    assert sim.stats()["internal_errors"] == 1


def test_keep_alive_connections_are_reused_and_cut_when_the_simulator_stops(client: Client, sim):
    assert client.ok(SELLERS)
    url = client.call(SELLERS).request.url
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        client.session.get(url, timeout=5)


def test_a_malformed_request_line_is_not_echoed_so_its_token_cannot_leak(sim: LingxingSimulator):
    raw = raw_exchange(sim, b"GET /erp/sc/data/seller/lists?access_token=TOKEN-123&sign=SIGN-456 HTTP/9.9\r\n\r\n")
    assert envelope_of(raw)[0] in (400, 505)
    assert b"TOKEN-123" not in raw and b"SIGN-456" not in raw
    assert "TOKEN-123" not in json.dumps(sim.stats())


def test_the_simulator_logs_no_token_sign_or_secret(client: Client, sim: LingxingSimulator, caplog):
    caplog.set_level("DEBUG", logger=LOGGER)
    client.ok(SELLERS)
    client.call(SELLERS, query={"timestamp": "1"})
    raw_exchange(sim, f"BREW /x?access_token={client.token()} HTTP/1.1\r\n\r\n".encode())
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert "GET /erp/sc/data/seller/lists" in logged
    for secret in (client.token(), sim.app_secret, "sign="):
        assert secret not in logged


def test_a_gateway_clock_ahead_refuses_every_fresh_sign_and_tells_its_time():
    host_now, offset = 1_700_000_000, 600
    with LingxingSimulator(latency=0.0, clock=lambda: host_now + 0.5, clock_offset=offset) as sim:
        client = Client(sim)
        refused = [client.call(SELLERS, timestamp=str(host_now)) for _ in range(3)]
        assert [r.json()["code"] for r in refused] == ["2001007"] * 3
        gateway_time = parsedate_to_datetime(refused[0].headers["Date"]).timestamp()
        assert gateway_time == host_now + offset

        answer = client.call(RESULTS, {"seller_id": NA_SELLER, "task_id": [1]}, timestamp=str(host_now + offset))
        assert answer.json()["code"] == 0
        beijing = datetime.fromtimestamp(host_now + offset, timezone(timedelta(hours=8)))
        assert answer.json()["response_time"] == beijing.strftime("%Y-%m-%d %H:%M:%S")


def test_every_answer_carries_the_date_header(client: Client, sim: LingxingSimulator):
    for response in (client.fetch_token(), client.call(SELLERS), client.session.get(sim.base_url + "/nowhere")):
        assert abs(parsedate_to_datetime(response.headers["Date"]).timestamp() - time.time()) < 5
