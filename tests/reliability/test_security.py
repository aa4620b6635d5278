"""Security beyond the fault matrix (whose every row, and the dag.test() run, is grepped for secrets): TLS
verification, SQL values always bound, and a simulator that listens on loopback only unless told otherwise.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_lingxing.exceptions import LingxingFatalError
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
from airflow_provider_lingxing.testing.simulator import DEFAULT_APP_ID, DEFAULT_APP_SECRET, LingxingSimulator
from airflow_provider_lingxing.tokens import PROCESS_TOKEN_STORE
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger
from tests.reliability.reliability_pipeline import (
    RESULTS_PATH,
    SELLER_ID,
    Transcript,
    capture_logs,
    connection,
    order,
    run_trigger,
)
from tests.support.task_instance import FakeTaskInstance
from tests.support.tls import LoopbackTLS

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

SELLERS_PATH = "/erp/sc/data/seller/lists"


# ---------------------------------------------------------------------------------------------- TLS

TRUSTED_BY = ("ca_bundle", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
"""Where the throwaway CA is given: the connection's extra, or the environment every worker could share."""


@pytest.fixture
def https_sim(loopback_tls: LoopbackTLS) -> Iterator[LingxingSimulator]:
    """The simulator over HTTPS, with a certificate only the throwaway CA vouches for."""
    with LingxingSimulator(
        latency=0.0, complete_after_polls=1, certfile=loopback_tls.cert, keyfile=loopback_tls.key
    ) as sim:
        yield sim


def tls_connection(
    monkeypatch: pytest.MonkeyPatch, base_url: str, conn_id: str = "lingxing_default", **extra: object
) -> None:
    conn = {"conn_type": "lingxing", "host": base_url, "login": DEFAULT_APP_ID, "password": DEFAULT_APP_SECRET}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, "extra": {"max_retries": 3, **extra}}))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)


async def _alist_sellers() -> object:
    hook = LingxingHook()
    try:
        return await hook.arequest("GET", SELLERS_PATH)
    finally:
        await hook.aclose()


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_tls_is_verified_by_default(transport: str, https_sim: LingxingSimulator, monkeypatch):
    tls_connection(monkeypatch, https_sim.base_url)
    transcript = Transcript()
    with capture_logs(transcript), pytest.raises(LingxingFatalError) as raised:
        LingxingHook().list_sellers() if transport == "sync" else asyncio.run(_alist_sellers())
    assert f"the TLS certificate of 127.0.0.1:{https_sim.port} could not be verified" in str(raised.value)
    assert "set the connection's extra ca_bundle to a PEM file" in str(raised.value)
    assert "retry" not in transcript.text, "a certificate that cannot be verified is not retried"


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_verify_false_works_and_says_so(transport: str, https_sim: LingxingSimulator, monkeypatch):
    tls_connection(monkeypatch, https_sim.base_url, verify=False)
    transcript = Transcript()
    with capture_logs(transcript):
        sellers = LingxingHook().list_sellers() if transport == "sync" else asyncio.run(_alist_sellers())
    assert [s["seller_id"] for s in sellers] == [s["seller_id"] for s in https_sim.config.sellers]
    warnings = [line for line in transcript.lines if "TLS verification is off" in line]
    assert warnings and "WARNING" in warnings[0], transcript.text[-2000:]


@pytest.mark.parametrize("trusted_by", [*TRUSTED_BY, None])
@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_one_tls_trust_for_poke_and_deferrable(mode, trusted_by, https_sim, loopback_tls, monkeypatch):
    """Behind a private CA (a corporate TLS proxy), the sensor works the same in poke mode (requests) and in
    deferrable mode (httpx, in the triggerer) when the CA is given once; without it both fail, saying what to do."""
    tls_connection(monkeypatch, https_sim.base_url, "lingxing_setup", ca_bundle=loopback_tls.ca)
    created = LingxingHook("lingxing_setup").submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(31)])
    task_ids = [int(created["task_id"])]
    extra = {"ca_bundle": loopback_tls.ca} if trusted_by == "ca_bundle" else {}
    tls_connection(monkeypatch, https_sim.base_url, **extra)
    if trusted_by in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(trusted_by, loopback_tls.ca)
    PROCESS_TOKEN_STORE.clear()
    outcome: Any
    if mode == "poke":
        sensor = FulfillmentResultSensor(task_id="wait", seller_id=SELLER_ID, fulfillment_task_ids=task_ids)
        try:
            outcome = sensor.poke({"ti": FakeTaskInstance("wait", dag_id="reliability_pipeline")})
        except LingxingFatalError as error:
            outcome = error
    else:
        trigger = FulfillmentResultTrigger(
            lingxing_conn_id="lingxing_default", seller_id=SELLER_ID, fulfillment_task_ids=task_ids, poll_interval=0.01
        )
        outcome = asyncio.run(run_trigger(*trigger.serialize()))
    if trusted_by is not None:
        done = outcome.is_done if mode == "poke" else outcome["status"] == "success"
        assert done, outcome
        return
    if mode == "poke":
        assert isinstance(outcome, LingxingFatalError), outcome
        said = str(outcome)
    else:
        assert (outcome["status"], outcome["error_class"]) == ("error", "LingxingFatalError"), outcome
        said = f"{outcome['message']}. {outcome['hint']}"
    assert f"the TLS certificate of 127.0.0.1:{https_sim.port} could not be verified" in said
    assert "set the connection's extra ca_bundle to a PEM file" in said


# ---------------------------------------------------------------------------------------------- redirects


class _Thief(BaseHTTPRequestHandler):
    """Records whatever reaches it: a redirect followed blindly would bring the token request's body here."""

    received: list[bytes]

    def do_POST(self) -> None:
        self.received.append(self.path.encode() + b"\n" + self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_a_redirect_is_not_followed_and_the_secret_stays_home(transport: str, monkeypatch):
    """A hostile (or misconfigured) proxy answers 307 to another origin: nothing is re-sent there, the call fails
    at once naming the status and the host, and the Location's query (which could carry anything) is not quoted."""
    received: list[bytes] = []
    thief, thief_url = _serve(type("Thief", (_Thief,), {"received": received}))

    class Redirecting(_Thief):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(307)
            self.send_header("Location", f"{thief_url}/steal?note=query-not-to-quote")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

    proxy, proxy_url = _serve(Redirecting)
    try:
        conn = {"conn_type": "lingxing", "host": proxy_url, "login": DEFAULT_APP_ID, "password": DEFAULT_APP_SECRET}
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", json.dumps({**conn, "extra": {"max_retries": 3}}))
        transcript = Transcript()
        with capture_logs(transcript), pytest.raises(LingxingFatalError) as raised:
            LingxingHook().list_sellers() if transport == "sync" else asyncio.run(_alist_sellers())
    finally:
        proxy.shutdown()
        thief.shutdown()
    assert received == [], "the redirect was followed"
    message = str(raised.value)
    assert "HTTP 307" in message and f"127.0.0.1:{thief.server_address[1]}" in message
    assert "query-not-to-quote" not in message and "/steal" not in message
    assert DEFAULT_APP_SECRET not in message + transcript.text
    assert "retry" not in transcript.text, "a redirect is not retried"


# ---------------------------------------------------------------------------------------------- SQL

HOSTILE = "O'Brien \"; DROP TABLE {victim}; -- \\N \t tab \n newline \\ backslash 标发 %s %(x)s ? \x00 nul \ud800"
"""SQL, COPY's escapes, placeholders of every driver, and a NUL and a lone surrogate that no database stores."""
STORED = HOSTILE.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")


@pytest.fixture
def warehouse(request: pytest.FixtureRequest, postgres_table, tmp_path, monkeypatch) -> Iterator[tuple]:
    """(conn id, table, run SQL, victim): a SQL connection of either kind, with a table the hostile SQL names."""
    victim = f"{postgres_table.name}_victim"
    if request.param == "postgres":
        postgres_table.execute(f"CREATE TABLE {victim} (id INTEGER)")
        yield postgres_table.conn_id, postgres_table.name, postgres_table.query, victim
        postgres_table.execute(f"DROP TABLE IF EXISTS {victim}")
        return
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)}))

    def query(sql: str) -> list[tuple]:
        with closing(sqlite3.connect(path)) as db, db:
            return db.execute(sql).fetchall()

    query(f"CREATE TABLE {victim} (id INTEGER)")
    yield "warehouse_sqlite", "results", query, victim


@pytest.mark.parametrize("warehouse", ["postgres", "sqlite"], indirect=True)
def test_sql_values_are_bound_not_spliced(warehouse, monkeypatch):
    """A result text full of SQL and COPY metacharacters lands in the table verbatim (but for the characters no
    database can store, which become U+FFFD); nothing else runs."""
    conn_id, table, query, victim = warehouse
    hostile, stored = HOSTILE.format(victim=victim), STORED.format(victim=victim)
    with LingxingSimulator(latency=0.0, complete_after_polls=1) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", connection(sim))
        created = LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(17)])
        handle = sim.handle

        def hostile_description(request):
            answer = handle(request)
            if request.path == RESULTS_PATH:
                envelope = json.loads(answer.body)
                for task in envelope["data"]:
                    for entry in task["result"]:
                        entry["result_description"] = hostile
                answer = replace(answer, body=json.dumps(envelope).encode())
            return answer

        sim.handle = hostile_description
        FulfillmentResultOperator(
            task_id="load", seller_id=SELLER_ID, fulfillment_task_ids=[created], sql_conn_id=conn_id, table=table
        ).execute({"ti": FakeTaskInstance("load", dag_id="reliability_pipeline")})
    assert query(f"SELECT message_id, result_description FROM {table}") == [("17", stored)]
    assert query(f"SELECT count(*) FROM {victim}") == [(0,)], "the victim table is still there"


# ---------------------------------------------------------------------------------------------- the simulator


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback (where the simulator must not listen unasked)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("198.51.100.1", 9))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if ipaddress.ip_address(address).is_loopback else address


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_simulator_listens_on_loopback_only():
    with LingxingSimulator() as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert reachable("127.0.0.1", sim.port)
        if (address := non_loopback_address()) is not None:
            assert not reachable(address, sim.port), f"the simulator answers on {address}"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "simulator.example.com"])
def test_the_simulator_refuses_other_addresses_unless_told(host: str):
    with pytest.raises(ValueError, match=r"refuses to listen on .*allow_remote=True"):
        LingxingSimulator(host=host)


def test_told_explicitly_the_simulator_listens_on_every_address():
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address other than loopback")
    with LingxingSimulator(host="0.0.0.0", allow_remote=True) as sim:
        assert reachable(address, sim.port)
        assert sim.base_url.startswith("http://127.0.0.1:")


def test_the_simulator_command_refuses_other_addresses_unless_told():
    command = [sys.executable, "-m", "airflow_provider_lingxing.testing.simulator", "--host", "0.0.0.0", "--port", "0"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "refuses to listen on '0.0.0.0'" in refused.stderr and "--allow-remote" in refused.stderr
