"""The app secret, tokens and signs never reach a log line or an exception, on either transport."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import traceback
from urllib.parse import quote, quote_plus, urlencode

import pytest

from airflow_provider_lingxing import exceptions as exc
from airflow_provider_lingxing.api import calls
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from tests.support.canned_lingxing import FAST_RETRIES, RESULTS_PATH, TOKEN_PATH, Reply, Seen


@pytest.fixture
def signs(monkeypatch) -> list[str]:
    """Every sign the hook computes (the wire form is URL-encoded; both forms are checked)."""
    seen: list[str] = []
    build = calls.build_business_request

    def recording(*args, **kwargs):
        request = build(*args, **kwargs)
        seen.append(request.url.rsplit("sign=", 1)[1])
        return request

    monkeypatch.setattr(calls, "build_business_request", recording)
    return seen


def _secrets(sim, signs: list[str]) -> set[str]:
    from urllib.parse import unquote

    assert signs, "the test must have signed something"
    tokens = {value for issued in sim.issued_tokens().values() for value in issued}
    return {sim.app_secret, *tokens, *signs, *(unquote(s) for s in signs)}


def _everything_said(caplog, capsys, hook_logs, error: BaseException) -> str:
    captured = capsys.readouterr()
    return "\n".join(
        [
            caplog.text,
            captured.out,
            captured.err,
            repr(hook_logs),
            str(error),
            repr(error),
            "".join(traceback.format_exception(error)),
        ]
    )


def test_sync_failing_call_leaks_nothing(hook_logs, sim, connect_sim, signs, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    connect_sim(max_retries=1)
    hook = LingxingHook(retry_policy=FAST_RETRIES)
    hook.list_sellers()
    sim.stop()
    with pytest.raises(exc.LingxingTransientError) as raised:
        hook.get_fulfillment_results("S1", [1, 2, 3])
    assert "could not connect" in str(raised.value)
    said = _everything_said(caplog, capsys, hook_logs, raised.value)
    assert "Lingxing /pb/mp/order/getFulfillmentResult attempt 2: code no answer" in said
    assert "access_token=***" in said, "urllib3's request line is logged, redacted"
    for secret in _secrets(sim, signs):
        assert secret not in said


def test_async_failing_call_leaks_nothing(hook_logs, sim, connect_sim, signs, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # Airflow quiets it to WARNING; a deployment may not
    connect_sim(max_retries=1)

    async def scenario() -> BaseException:
        hook = LingxingHook(retry_policy=FAST_RETRIES)
        await hook.arequest("GET", "/erp/sc/data/seller/lists")
        sim.stop()
        try:
            await hook.aget_fulfillment_results("S1", [1, 2, 3])
        except exc.LingxingTransientError as error:
            return error
        finally:
            await hook.aclose()
        raise AssertionError("the call should have failed")

    error = asyncio.run(scenario())
    said = _everything_said(caplog, capsys, hook_logs, error)
    assert "HTTP Request: GET" in said and "sign=***" in said, "httpx's request line is logged, redacted"
    for secret in _secrets(sim, signs):
        assert secret not in said


def test_a_refused_secret_is_not_repeated(hook_logs, sim, connect, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    connect(sim.base_url, login=sim.app_id, password="Wrong+Secret/Value==")
    with pytest.raises(exc.LingxingAuthError, match=r"2001002.*App Secret") as raised:
        LingxingHook().list_sellers()
    said = _everything_said(caplog, capsys, hook_logs, raised.value)
    assert "Wrong+Secret/Value==" not in said and "Wrong%2BSecret" not in said
    assert sim.stats()["requests"] == {TOKEN_PATH: {"2001002": 1}}
    assert RESULTS_PATH not in sim.stats()["requests"]


def test_secrets_are_registered_with_airflows_masker(sim, connect_sim):
    from airflow.sdk._shared.secrets_masker import _secrets_masker

    connect_sim()
    LingxingHook().list_sellers()
    (access,), (refresh,) = sim.issued_tokens()["access"], sim.issued_tokens()["refresh"]
    redacted = _secrets_masker().redact(f"a={access} r={refresh} s={sim.app_secret}")
    assert access not in redacted and refresh not in redacted and sim.app_secret not in redacted


@pytest.mark.parametrize(("status", "shape"), [(200, "envelope"), (502, "html")])
def test_server_text_reflecting_the_request_is_scrubbed_and_capped(hook, fake, hook_logs, status, shape):
    """A proxy echoing the request (query string, token, sign) into its error text: the exception and the log
    quote that text without any of them, cut to 300 characters."""

    def reflect(seen: Seen) -> bytes:
        token, sign = seen.query["access_token"], seen.query["sign"]
        text = f"denied {seen.path}?{urlencode(seen.query)} token={token} sign {sign} {quote(sign)} " + "x" * 900
        if shape == "envelope":
            return json.dumps({"code": "3001001", "msg": text, "request_id": f"rid {token}"}).encode()
        return f"<html><body><h1>Bad Gateway</h1><p>{text}</p></body></html>".encode()

    fake.script(RESULTS_PATH, *[Reply(status, echo=reflect)] * 3)
    with pytest.raises(exc.LingxingApiError) as raised:
        hook.get_fulfillment_results("S1", [1])
    said = str(raised.value) + repr(hook_logs)
    sent = fake.calls(RESULTS_PATH)
    assert sent
    for request in sent:
        token, sign = request.query["access_token"], request.query["sign"]
        assert not [secret for secret in (token, sign, quote(sign, safe=""), quote_plus(sign)) if secret in said]
    assert "denied /pb/mp/order/getFulfillmentResult?" in str(raised.value)
    assert re.search(r"… \(\d+ more characters\)", str(raised.value))
    assert len(str(raised.value)) < 700
