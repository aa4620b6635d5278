"""A call as a plan of effects: fresh signs, token renewal, backoff; the sync and async drivers agree."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_lingxing.api import calls
from airflow_provider_lingxing.api import errors as exc
from airflow_provider_lingxing.api.calls import GetToken, HttpAnswer, Send, Sleep
from airflow_provider_lingxing.api.endpoints import ACCESS_TOKEN, GET_FULFILLMENT_RESULT, SUBMIT_FULFILLMENT
from airflow_provider_lingxing.api.retry import RetryPolicy, TransportFailure
from airflow_provider_lingxing.api.tokens import AccessToken

APP_ID = "ak_3fK9pQ2xLm7Za"
LOG = logging.getLogger("lingxing.test.calls")
POLICY = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=30)
OK = HttpAnswer(200, json.dumps({"code": 0, "message": "ok", "data": ["done"]}).encode())


def _code(code: str) -> HttpAnswer:
    return HttpAnswer(200, json.dumps({"code": code, "msg": "m", "data": None}).encode())


def _token(name: str) -> AccessToken:
    return AccessToken(name, f"ref-{name}", 10**10)


class Script:
    """Performs effects from scripted answers and records them."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.effects: list = []
        self.tokens = (f"tok-{n}" for n in itertools.count(1))

    def perform(self, effect):
        self.effects.append(effect)
        if isinstance(effect, GetToken):
            return _token(next(self.tokens))
        if isinstance(effect, Sleep):
            return None
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aperform(self, effect):
        await asyncio.sleep(0)
        return self.perform(effect)

    def sent(self) -> list[dict[str, str]]:
        return [dict(parse_qsl(urlsplit(e.request.url).query)) for e in self.effects if isinstance(e, Send)]

    def wire(self) -> list:
        """The effects with each Send as the request it put on the wire."""
        return [e.request if isinstance(e, Send) else e for e in self.effects]

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.effects]


def _plan(endpoint=GET_FULFILLMENT_RESULT, clock=None):
    ticks = itertools.count(1_700_000_000, 7)
    return calls.business_call(
        endpoint,
        {"seller_id": "S1", "task_id": [1, 2]},
        base_url="https://openapi.lingxing.com",
        app_id=APP_ID,
        policy=POLICY,
        log=LOG,
        clock=clock or (lambda: next(ticks)),
        rand=lambda: 1.0,
    )


def test_every_attempt_is_signed_afresh_with_the_time_of_that_attempt():
    script = Script(_code("2001007"), _code("3001008"), OK)
    assert calls.run(_plan(), script.perform) == ["done"]
    sent = script.sent()
    assert [q["timestamp"] for q in sent] == ["1700000000", "1700000007", "1700000014"]
    assert len({q["sign"] for q in sent}) == 3
    assert script.kinds() == ["GetToken", "Send", "Send", "Sleep", "Send"]


def test_a_refused_token_is_renewed_at_once_without_using_a_retry():
    script = Script(_code("2001005"), *[_code("3001008")] * 3, OK)
    assert calls.run(_plan(), script.perform) == ["done"]
    token_effects = [e for e in script.effects if isinstance(e, GetToken)]
    assert [e.refused and e.refused.access_token for e in token_effects] == [None, "tok-1"]
    assert [q["access_token"] for q in script.sent()] == ["tok-1", "tok-2", "tok-2", "tok-2", "tok-2"]
    assert script.kinds()[:4] == ["GetToken", "Send", "GetToken", "Send"]


def test_a_token_refused_again_is_renewed_after_a_backoff_that_uses_a_retry():
    script = Script(_code("2001005"), _code("2001003"), _code("2001005"), _code("3001008"), OK)
    assert calls.run(_plan(), script.perform) == ["done"]
    assert script.kinds() == [
        "GetToken",
        "Send",
        "GetToken",
        "Send",
        "Sleep",
        "GetToken",
        "Send",
        "Sleep",
        "GetToken",
        "Send",
        "Sleep",
        "Send",
    ]
    assert [e.seconds for e in script.effects if isinstance(e, Sleep)] == [0.5, 1.0, 2.0]
    with pytest.raises(exc.LingxingTokenError, match=r"gave up after 3 retries.*its own app id"):
        calls.run(_plan(), Script(*[_code("2001005")] * 5).perform)


def test_backoff_sleeps_grow_and_the_last_error_is_raised():
    script = Script(*[HttpAnswer(503, b"<html/>")] * 4)
    with pytest.raises(exc.LingxingTransientError, match="gave up after 3 retries"):
        calls.run(_plan(), script.perform)
    assert [e.seconds for e in script.effects if isinstance(e, Sleep)] == [0.5, 1.0, 2.0]
    assert script.kinds().count("Send") == 4


def test_fatal_code_raises_after_one_send():
    script = Script(_code("3001002"), OK)
    with pytest.raises(exc.LingxingAuthError, match="whitelist"):
        calls.run(_plan(), script.perform)
    assert script.kinds() == ["GetToken", "Send"]


def test_submission_is_not_resent_after_a_timeout_but_is_after_a_refused_connection():
    uncertain = Script(TransportFailure("no answer within 30 s", delivered=True, path=SUBMIT_FULFILLMENT.path), OK)
    with pytest.raises(exc.LingxingSubmissionUncertainError, match="NOT re-sent"):
        calls.run(_plan(SUBMIT_FULFILLMENT), uncertain.perform)
    assert uncertain.kinds().count("Send") == 1

    refused = Script(TransportFailure("could not connect", delivered=False, path=SUBMIT_FULFILLMENT.path), OK)
    assert calls.run(_plan(SUBMIT_FULFILLMENT), refused.perform) == ["done"]
    assert refused.kinds().count("Send") == 2


@pytest.mark.parametrize(
    "answers",
    [
        [OK],
        [_code("2001007"), _code("2001005"), HttpAnswer(502, b""), OK],
        [_code("103"), _code("103"), _code("103"), _code("103")],
        [_code("2001002")],
    ],
    ids=["ok", "mixed", "rate limited out", "fatal"],
)
def test_sync_and_async_drivers_perform_the_same_effects(answers):
    def outcome(run):
        try:
            return ("ok", run())
        except exc.LingxingApiError as error:
            return (type(error).__name__, str(error))

    sync = Script(*answers)
    sync_result = outcome(lambda: calls.run(_plan(clock=lambda: 1_700_000_000), sync.perform))
    async_ = Script(*answers)
    async_result = outcome(lambda: asyncio.run(calls.arun(_plan(clock=lambda: 1_700_000_000), async_.aperform)))
    assert sync_result == async_result
    assert sync.wire() == async_.wire()


def test_token_form_is_documented_multipart_and_keeps_the_secret_intact():
    secret = "SimU1at0r+Lingx/Secret0="
    request = calls.build_form_request(
        ACCESS_TOKEN, base_url="https://x.example/", fields={"appId": APP_ID, "appSecret": secret}
    )
    assert request.url == "https://x.example/api/auth-server/oauth/access-token"
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    fields = {p.get_param("name", header="content-disposition"): p.get_content() for p in message.iter_parts()}
    assert fields == {"appId": APP_ID, "appSecret": secret}


def test_token_call_does_not_renew_tokens():
    script = Script(_code("2001009"))
    plan = calls.form_call(ACCESS_TOKEN, {"appId": APP_ID}, base_url="https://x.example", policy=POLICY, log=LOG)
    with pytest.raises(exc.LingxingTokenError):
        calls.run(plan, script.perform)
    assert script.kinds() == ["Send"]


class Meter:
    """Records what a plan reports, in order."""

    def __init__(self):
        self.reports: list[tuple[str, str, str]] = []

    def answered(self, path, outcome):
        self.reports.append(("answered", path, outcome))

    def retrying(self, path, outcome):
        self.reports.append(("retrying", path, outcome))

    def renewing_token(self, path, code):
        self.reports.append(("renewing_token", path, code))


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_the_plan_reports_each_answer_retry_and_renewal_to_its_meter(driver):
    """One place sees every attempt of both paths: the provider's metrics count what it reports."""
    script, meter = Script(_code("2001005"), _code("3001008"), TransportFailure("x", delivered=True), OK), Meter()
    plan = calls.business_call(
        GET_FULFILLMENT_RESULT,
        {"task_id": [1]},
        base_url="https://h",
        app_id=APP_ID,
        policy=POLICY,
        log=LOG,
        rand=lambda: 0.0,
        meter=meter,
    )
    result = calls.run(plan, script.perform) if driver == "sync" else asyncio.run(calls.arun(plan, script.aperform))
    assert result == ["done"]
    path = GET_FULFILLMENT_RESULT.path
    assert meter.reports == [
        ("answered", path, "2001005"),
        ("renewing_token", path, "2001005"),
        ("answered", path, "3001008"),
        ("retrying", path, "3001008"),
        ("answered", path, "no answer"),
        ("retrying", path, "no answer"),
        ("answered", path, "ok"),
    ]
