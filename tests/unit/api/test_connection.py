"""A connection's fields → settings: each problem named by its field before any call, never quoting the secret."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_lingxing.api import errors
from airflow_provider_lingxing.api.connection import settings_from_connection
from airflow_provider_lingxing.api.endpoints import DEFAULT_BASE_URL

APP_ID = "ak_3fK9pQ2xLm7Za"


def test_extra_that_is_not_json_is_named():
    conn = Connection(conn_id="c", conn_type="lingxing", login=APP_ID, password="p" * 8, extra="{oops")
    with pytest.raises(errors.LingxingInputError, match="extra is not valid JSON"):
        settings_from_connection(conn)


def test_connection_defaults_and_host_forms():
    def settings(**fields):
        return settings_from_connection(
            Connection(conn_id="c", conn_type="lingxing", login=APP_ID, password="secret", **fields)
        )

    default = settings()
    assert (default.base_url, default.timeout, default.max_retries, default.verify) == (DEFAULT_BASE_URL, 30, 5, True)
    assert settings(host="openapi.lingxing.com/").base_url == "https://openapi.lingxing.com"
    assert settings(host="127.0.0.1", schema="http", port=8765).base_url == "http://127.0.0.1:8765"
    assert settings(host="HTTPS://Example.com:8443/api/").base_url == "https://Example.com:8443/api"
    tuned = settings(extra=json.dumps({"extra__lingxing__timeout": "2.5", "max_retries": "0", "verify": "false"}))
    assert (tuned.timeout, tuned.max_retries, tuned.verify) == (2.5, 0, False)
    assert "secret" not in repr(tuned)


def test_verify_false_warns(caplog):
    conn = Connection(conn_id="c", conn_type="lingxing", login=APP_ID, password="secret", extra='{"verify": false}')
    settings_from_connection(conn)
    assert "TLS verification is off" in caplog.text


def _with_extra(**extra: object):
    return settings_from_connection(
        Connection(conn_id="c", conn_type="lingxing", login=APP_ID, password="secret", extra=json.dumps(extra))
    )


def test_a_ca_bundle_must_be_a_readable_file_and_is_named_before_any_call(tmp_path):
    pem = tmp_path / "corporate-ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    assert _with_extra(ca_bundle=f" {pem} ").ca_bundle == str(pem)
    assert _with_extra().ca_bundle is None
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(errors.LingxingInputError, match=r"extra `ca_bundle` names '.*nowhere\.pem', which is not a"):
        _with_extra(ca_bundle=str(missing))
    with pytest.raises(errors.LingxingInputError, match=r"extra `ca_bundle` must be the path of a PEM file"):
        _with_extra(ca_bundle=["a.pem"])
    with pytest.raises(errors.LingxingInputError, match=r"`ca_bundle` is set but `verify` is false"):
        _with_extra(ca_bundle=str(pem), verify=False)
