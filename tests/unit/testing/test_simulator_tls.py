"""HTTPS serving with a throwaway CA: trusted through the CA file only, in-process and as a child process."""

from __future__ import annotations

import ssl

import httpx
import pytest
import requests

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import STATS_PATH, LingxingSimulator, SimulatorProcess
from tests.support.simulator_client import Client, submission
from tests.support.tls import LoopbackTLS

SELLERS = endpoints.SELLER_LIST.path


def test_https_with_a_private_ca_is_trusted_through_that_ca_only(loopback_tls: LoopbackTLS):
    with LingxingSimulator(latency=0.0, certfile=loopback_tls.cert, keyfile=loopback_tls.key) as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            requests.get(sim.base_url + STATS_PATH, timeout=5)

        client = Client(sim, verify=loopback_tls.ca)
        assert client.ok(SELLERS)
        assert client.submit(submission())
        assert httpx.get(sim.base_url + STATS_PATH, verify=loopback_tls.ca, timeout=5).json()["tasks"]["created"] == 1


def test_an_ssl_context_can_be_given_instead_of_files(loopback_tls: LoopbackTLS):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(loopback_tls.cert, loopback_tls.key)
    with LingxingSimulator(latency=0.0, tls=context) as sim:
        client = Client(sim, verify=loopback_tls.ca)
        assert client.ok(SELLERS)
        with pytest.raises(requests.ConnectionError):
            requests.get(sim.base_url.replace("https://", "http://") + STATS_PATH, timeout=5)
        assert client.ok(SELLERS), "a plain-HTTP client does not disturb the server"


def test_the_child_process_serves_https_and_is_steered_with_the_ca(loopback_tls: LoopbackTLS):
    files = ("--certfile", loopback_tls.cert, "--keyfile", loopback_tls.key)
    with SimulatorProcess("--latency", "0", *files, cafile=loopback_tls.ca) as sim:
        assert sim.base_url.startswith("https://")
        assert sim.configure(latency=0.01)["latency"] == 0.01
        assert sim.stats()["requests_total"] == 0


@pytest.mark.parametrize(
    ("settings", "culprit"),
    [
        ({"certfile": "/no/such/cert.pem"}, "/no/such/cert.pem"),
        ({"keyfile": "key.pem"}, "keyfile needs a certfile"),
        ({"tls": ssl.create_default_context(), "certfile": "cert.pem"}, "either tls"),
    ],
)
def test_bad_tls_settings_are_refused_naming_the_culprit(settings, culprit):
    with pytest.raises(ValueError, match=culprit):
        LingxingSimulator(**settings)
