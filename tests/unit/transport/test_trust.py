"""One TLS trust for requests and httpx: the connection's choice, its ca_bundle, the environment, then certifi."""

from __future__ import annotations

import ssl

import certifi
import pytest

from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.transport.tls import CA_BUNDLE_ENVIRONMENT, trust_for
from tests.support.tls import issue_loopback_tls

APP_ID = "ak_3fK9pQ2xLm7Za"


@pytest.fixture(autouse=True)
def no_ca_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CA_BUNDLE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def _settings(**fields: object) -> LingxingSettings:
    return LingxingSettings("c", "https://openapi.lingxing.com", APP_ID, "secret", **fields)  # type: ignore[arg-type]


def test_the_sources_in_order_and_both_transports_get_the_same_file(tmp_path, monkeypatch):
    ours, theirs = issue_loopback_tls(tmp_path / "ours"), issue_loopback_tls(tmp_path / "theirs")
    assert (trust_for(_settings()).ca_path, trust_for(_settings()).source) == (certifi.where(), "certifi")
    monkeypatch.setenv("CURL_CA_BUNDLE", theirs.ca)
    monkeypatch.setenv("SSL_CERT_FILE", theirs.ca)
    assert trust_for(_settings()).source == "SSL_CERT_FILE"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", theirs.ca)
    assert trust_for(_settings()).source == "REQUESTS_CA_BUNDLE"
    trust = trust_for(_settings(ca_bundle=ours.ca))
    assert (trust.source, trust.requests_verify) == ("the connection's extra ca_bundle", ours.ca)
    assert isinstance(trust.ssl_context, ssl.SSLContext)
    assert [c["subject"] for c in trust.ssl_context.get_ca_certs()] == [((("commonName", "Throwaway Test CA"),),)]
    off = trust_for(_settings(verify=False))
    assert (off.requests_verify, off.ssl_context) == (False, False)


def test_a_ca_file_that_is_not_pem_is_named(tmp_path):
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(
        LingxingInputError, match=r"the connection's extra ca_bundle: '.*ca\.pem'\) cannot be read as PEM"
    ):
        assert trust_for(_settings(ca_bundle=str(garbage))).ssl_context
