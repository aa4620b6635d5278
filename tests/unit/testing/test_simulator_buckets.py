"""The concurrency bucket per (app id, path): documented capacities, 3001008 when full, slots back on answer."""

from __future__ import annotations

import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.support.simulator_client import NA_SELLER, Client

SELLERS = endpoints.SELLER_LIST.path
RESULTS = endpoints.GET_FULFILLMENT_RESULT.path
OTHER_APP_ID, OTHER_SECRET = "ak_OtherApp00001", "T3RoZXI+U2VjcmV0"
QUERY = {"seller_id": NA_SELLER, "task_id": [1]}
RATE_LIMITED = {"code": "3001008", "msg": "requests too frequently", "data": None}


def wait_for_in_flight(sim: LingxingSimulator, app_id: str, path: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while sim.stats()["in_flight"].get(app_id, {}).get(path, 0) < count:
        assert time.monotonic() < deadline, f"never saw {count} requests in flight on {path}"
        time.sleep(0.005)


@pytest.fixture
def slow_sim():
    """Slow enough that requests started in the background are still in flight while the test probes."""
    with LingxingSimulator(
        latency=0.0,
        endpoint_latency={SELLERS: 1.0, RESULTS: 1.0},
        extra_apps={OTHER_APP_ID: OTHER_SECRET},
    ) as sim:
        yield sim


def fill(client: Client, pool: ThreadPoolExecutor, path: str, body: dict | None = None) -> list[Future]:
    """Occupy every slot of the path's bucket for the client's app; returns the in-flight calls."""
    capacity = endpoints.ENDPOINTS[path].capacity
    token = client.token()
    futures = [
        pool.submit(Client(client.sim, client.app_id, client.app_secret).call, path, body, token=token)
        for _ in range(capacity)
    ]
    wait_for_in_flight(client.sim, client.app_id, path, capacity)
    return futures


def codes(futures: list[Future]) -> list:
    return [future.result().json()["code"] for future in futures]


@pytest.mark.parametrize(("path", "body"), [(SELLERS, None), (RESULTS, QUERY)], ids=["seller list", "results"])
def test_a_request_beyond_the_documented_capacity_gets_3001008(slow_sim: LingxingSimulator, path, body):
    client = Client(slow_sim)
    with ThreadPoolExecutor(max_workers=12) as pool:
        in_flight = fill(client, pool, path, body)
        assert client.call(path, body).json() == RATE_LIMITED
        assert codes(in_flight) == [0] * endpoints.ENDPOINTS[path].capacity
    assert client.call(path, body).json()["code"] == 0

    stats = slow_sim.stats()
    assert stats["peak_in_flight"][slow_sim.app_id][path] == endpoints.ENDPOINTS[path].capacity
    assert stats["rate_limited"] == 1 == stats["requests"][path]["3001008"]


def test_buckets_are_per_app_id_and_per_path(slow_sim: LingxingSimulator):
    client, other_app = Client(slow_sim), Client(slow_sim, OTHER_APP_ID, OTHER_SECRET)
    other_app.token()
    with ThreadPoolExecutor(max_workers=4) as pool:
        in_flight = fill(client, pool, SELLERS)
        other_path = pool.submit(client.call, RESULTS, QUERY)
        assert other_app.call(SELLERS).json()["code"] == 0
        assert other_path.result().json()["code"] == 0
        assert codes(in_flight) == [0]
    assert slow_sim.stats()["rate_limited"] == 0


def test_capacities_can_be_overridden():
    with LingxingSimulator(latency=0.0, endpoint_latency={SELLERS: 1.0}, capacities={SELLERS: 2}) as sim:
        client = Client(sim)
        token = client.token()
        with ThreadPoolExecutor(max_workers=3) as pool:
            in_flight = [pool.submit(Client(sim).call, SELLERS, token=token) for _ in range(2)]
            wait_for_in_flight(sim, sim.app_id, SELLERS, 2)
            assert client.call(SELLERS).json() == RATE_LIMITED
            assert codes(in_flight) == [0, 0]


def test_a_client_sending_its_next_request_on_each_answer_never_sees_3001008():
    """The slot is released before the answer is written, as the real bucket returns it on completion."""
    capacity = endpoints.GET_FULFILLMENT_RESULT.capacity
    with LingxingSimulator(latency=0.002) as sim:
        token = Client(sim).token()

        def sequential() -> list:
            client = Client(sim)
            return [client.call(RESULTS, QUERY, token=token).json()["code"] for _ in range(40)]

        with ThreadPoolExecutor(max_workers=capacity) as pool:
            answers = [code for codes_ in pool.map(lambda _: sequential(), range(capacity)) for code in codes_]

    assert answers == [0] * (40 * capacity)
    assert sim.stats()["peak_in_flight"][sim.app_id][RESULTS] <= capacity


def test_the_slot_is_free_before_the_answer_is_written():
    """Deterministic form of the above: a reader that stalls mid-answer still finds the bucket empty."""
    sellers = [{"sid": i, "seller_id": f"A{i:013d}", "name": "x" * 200} for i in range(40_000)]
    with LingxingSimulator(latency=0.0, sellers=sellers) as sim:
        url = Client(sim).signed_url(SELLERS, {}, method="GET").removeprefix(sim.base_url)
        with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as conn:
            conn.sendall(f"GET {url} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n".encode())
            first = conn.recv(1024)
            in_flight_while_unread = sim.stats()["in_flight"]
            while conn.recv(1 << 20):
                pass
    assert first.startswith(b"HTTP/1.1 200")
    assert in_flight_while_unread == {}
