"""The UI's and CLI's "Test": one attempt with a short timeout, a fresh token published where the workers read it,
and a message that names the step that failed (DNS, connect, TLS, the answer, or the gateway's code)."""

from __future__ import annotations

import json
import socket

from airflow_provider_lingxing.api.tokens import owner_fingerprint, store_key
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from tests.support.canned_lingxing import APP_ID, BASE_URL, TOKEN_PATH
from tests.support.variables import VariableStore

KEY = store_key(owner_fingerprint(BASE_URL, APP_ID))


def _attempts(hook_logs: list[dict]) -> list[str]:
    return [e["event"] for e in hook_logs if e["log_level"] == "debug" and " attempt " in e["event"]]


def test_success_fetches_a_new_token_and_says_where_it_went(fake, connect):
    connect(fake.base_url)
    ok, message = LingxingHook().test_connection()
    assert ok, message
    assert "a new token was issued" in message and "1 seller(s) visible" in message
    assert "kept in this process only" in message and "no Airflow task, triggerer or API server" in message
    ok, _ = LingxingHook().test_connection()
    assert ok and len(fake.calls(TOKEN_PATH)) == 2, "each test proves the secret with a fetch of its own"


def test_in_a_task_the_token_is_published_to_the_variable_the_workers_read(fake, connect, variables, monkeypatch):
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    connect(fake.base_url)
    ok, message = LingxingHook().test_connection()
    assert ok and f"published to the Airflow Variable {KEY}" in message, message
    assert json.loads(variables.values[KEY])["access_token"] == fake.live_token


def test_in_the_api_server_the_token_is_published_through_the_metadata_database(fake, connect, monkeypatch):
    """No task supervisor relays Variable writes there (`_AIRFLOW_PROCESS_CONTEXT=server`, as the API server and
    the CLI set it): the Variable is written in the metadata database instead."""
    written = VariableStore().serve_metadata_database(monkeypatch).values
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    connect(fake.base_url)
    ok, message = LingxingHook().test_connection()
    assert ok and f"published to the Airflow Variable {KEY}" in message, message
    assert json.loads(written[KEY])["access_token"] == fake.live_token


def test_a_token_that_cannot_be_published_is_said_so(fake, connect, variables, monkeypatch):
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    variables.fail_set_after = 0
    connect(fake.base_url)
    ok, message = LingxingHook().test_connection()
    assert ok and "could NOT be published (ConnectionError)" in message, message


def test_a_refused_secret_names_the_gateway_and_its_code(fake, connect):
    connect(fake.base_url, password="wrong-secret-value")
    ok, message = LingxingHook().test_connection()
    assert not ok
    assert message.startswith("Lingxing connection test failed at the gateway (code 2001002) while fetching a token")
    assert "App Secret" in message and "wrong-secret-value" not in message


def test_bad_settings_are_named(connect):
    connect("ftp://openapi.lingxing.com")
    ok, message = LingxingHook().test_connection()
    assert not ok and message.startswith("Lingxing connection test failed at the connection's settings:")
    assert "host (Base URL)" in message


def test_a_refused_connection_is_tried_once_and_named(connect, hook_logs):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    connect(f"http://127.0.0.1:{port}", max_retries=5)
    ok, message = LingxingHook().test_connection()
    assert not ok and message.startswith("Lingxing connection test failed at connect while fetching a token")
    assert f"could not connect to 127.0.0.1:{port}" in message
    assert len(_attempts(hook_logs)) == 1 and "gave up" not in message


def test_a_host_name_that_does_not_resolve_is_named(connect, hook_logs, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "openapi.lingxing.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    connect("https://openapi.lingxing.invalid")
    ok, message = LingxingHook().test_connection()
    assert not ok and message.startswith("Lingxing connection test failed at DNS while fetching a token")
    assert "cannot resolve the host name openapi.lingxing.invalid" in message
    assert len(_attempts(hook_logs)) == 1


def test_a_host_that_never_answers_is_given_five_seconds_once(connect, hook_logs):
    """The connection allows 30 s per request and 5 retries; the test waits 5 s, once."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
        connect(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=30, max_retries=5)
        ok, message = LingxingHook().test_connection()
    assert not ok and message.startswith("Lingxing connection test failed at the answer while fetching a token")
    assert "no answer within 5 s" in message
    assert len(_attempts(hook_logs)) == 1, "one attempt, not the connection's 30 s with 5 retries"
