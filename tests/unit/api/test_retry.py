"""Every documented code and failure → the right exception and the right next step."""

from __future__ import annotations

import json

import pytest

from airflow_provider_lingxing.api import errors as exc
from airflow_provider_lingxing.api.envelope import ERROR_CODES, parse_response
from airflow_provider_lingxing.api.retry import Action, RetryPolicy, TransportFailure, decide

PATH = "/pb/mp/order/getFulfillmentResult"
POLICY = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=30.0)

# code → (exception class, what an idempotent call does next). Written out, not derived from the table.
EXPECTED = {
    "2001001": (exc.LingxingAuthError, Action.RAISE),
    "2001002": (exc.LingxingAuthError, Action.RAISE),
    "2001003": (exc.LingxingTokenError, Action.RENEW_TOKEN),
    "2001004": (exc.LingxingAuthError, Action.RAISE),
    "2001005": (exc.LingxingTokenError, Action.RENEW_TOKEN),
    "2001006": (exc.LingxingBadRequestError, Action.RAISE),
    "2001007": (exc.LingxingSignExpiredError, Action.RESIGN),
    "2001008": (exc.LingxingTokenError, Action.RENEW_TOKEN),
    "2001009": (exc.LingxingTokenError, Action.RENEW_TOKEN),
    "3001001": (exc.LingxingBadRequestError, Action.RAISE),
    "3001002": (exc.LingxingAuthError, Action.RAISE),
    "3001008": (exc.LingxingRateLimitError, Action.RETRY),
    "103": (exc.LingxingRateLimitError, Action.RETRY),
    "102": (exc.LingxingBadRequestError, Action.RAISE),
    "0001001": (exc.LingxingAuthError, Action.RAISE),
    "400": (exc.LingxingBadRequestError, Action.RAISE),
    "404": (exc.LingxingBadRequestError, Action.RAISE),
    "405": (exc.LingxingBadRequestError, Action.RAISE),
    "401": (exc.LingxingAuthError, Action.RAISE),
    "403": (exc.LingxingAuthError, Action.RAISE),
    "1": (exc.LingxingTransientError, Action.RETRY),
    "100": (exc.LingxingTransientError, Action.RETRY),
    "500": (exc.LingxingTransientError, Action.RETRY),
}


def _answer(code: str, message: str = "m") -> bytes:
    if code in ("1", "100", "102", "103"):
        return json.dumps({"code": int(code), "message": message, "request_id": "r", "data": None}).encode()
    return json.dumps({"code": code, "msg": "m", "data": None}).encode()


def _error(status: int, body: bytes) -> exc.LingxingApiError:
    with pytest.raises(exc.LingxingApiError) as raised:
        parse_response(status, body, path=PATH)
    return raised.value


def test_every_code_of_the_table_is_expected_here():
    assert set(ERROR_CODES) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_code_is_classified_and_decided(code):
    cls, action = EXPECTED[code]
    error = _error(200, _answer(code))
    assert type(error) is cls
    assert error.code == code and error.path == PATH
    decision = decide(error, retries_done=0, renewals_done=0, idempotent=True, policy=POLICY)
    assert decision.action is action
    if action is Action.RAISE:
        assert decision.error is error


def test_wrong_path_answer_is_fatal():
    error = _error(200, json.dumps({"code": "500", "msg": "404 NOT_FOUND"}).encode())
    assert isinstance(error, exc.LingxingBadRequestError)
    assert decide(error, retries_done=0, renewals_done=0, idempotent=True, policy=POLICY).action is Action.RAISE


@pytest.mark.parametrize("code", ["1", "100", "500"])
def test_an_internal_error_is_retried_on_reads_and_uncertain_on_a_submission(code):
    error = _error(200, _answer(code, "服务内部错误"))
    assert isinstance(error, exc.LingxingTransientError) and "服务内部错误" in str(error)
    assert decide(error, retries_done=0, renewals_done=0, idempotent=True, policy=POLICY).action is Action.RETRY
    submission = decide(error, retries_done=0, renewals_done=0, idempotent=False, policy=POLICY)
    assert submission.action is Action.RAISE
    assert isinstance(submission.error, exc.LingxingSubmissionUncertainError) and submission.error.code == code


def test_ip_whitelist_error_tells_what_to_do():
    assert "whitelist" in str(_error(200, _answer("3001002"))).lower()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"<html>500</html>"),
        (502, b""),
        (503, b"{}"),
        (502, b'{"code": 502, "msg": "Bad Gateway"}'),
        (500, b'{"code": "500", "msg": "internal error"}'),
        (200, b"<html>wait</html>"),
        (200, b"[1, 2]"),
    ],
)
def test_5xx_and_non_json_answers_are_transient(status, body):
    error = _error(status, body)
    assert isinstance(error, exc.LingxingTransientError)
    decision = decide(error, retries_done=0, renewals_done=0, idempotent=True, policy=POLICY)
    assert decision.action is Action.RETRY


def test_backoff_is_exponential_with_full_jitter_and_capped():
    assert [POLICY.backoff(n, rand=lambda: 1.0) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert POLICY.backoff(3, rand=lambda: 0.0) == 0.0
    assert POLICY.backoff(3, rand=lambda: 0.25) == 1.0


def test_rate_limits_back_off_and_sign_expiry_resigns_at_once():
    limited = _error(200, _answer("3001008"))
    expired = _error(200, _answer("2001007"))
    assert decide(limited, retries_done=2, renewals_done=0, idempotent=True, policy=POLICY, rand=lambda: 1.0).delay == 2
    resign = decide(expired, retries_done=0, renewals_done=0, idempotent=True, policy=POLICY)
    assert (resign.action, resign.delay) == (Action.RESIGN, 0.0)


NOW = 1_790_000_000.0
CLOCK = lambda: NOW  # noqa: E731


def _expired(**headers_or_time: str) -> exc.LingxingApiError:
    body = {"code": "2001007", "msg": "api sign has expired"}
    if "response_time" in headers_or_time:
        body["response_time"] = headers_or_time.pop("response_time")
    with pytest.raises(exc.LingxingSignExpiredError) as raised:
        parse_response(200, json.dumps(body).encode(), path=PATH, headers=headers_or_time)
    return raised.value


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            _expired(Date="Mon, 21 Sep 2026 14:23:20 GMT"),
            "the gateway's 2026-09-21 14:23:20 UTC: this worker is 600 s behind",
        ),
        (
            _expired(response_time="2026-09-21 22:03:20"),
            "the gateway's 2026-09-21 14:03:20 UTC: this worker is 600 s ahead",
        ),
        (_expired(), "the gateway sent no clock"),
    ],
    ids=["Date header", "response_time (Beijing)", "no clock"],
)
def test_a_second_expiry_our_clock_explains_is_fatal_and_names_both_clocks(error, says):
    decision = decide(
        error, retries_done=0, renewals_done=0, resigns_done=1, idempotent=True, policy=POLICY, clock=lambda: NOW
    )
    assert decision.action is Action.RAISE and isinstance(decision.error, exc.LingxingFatalError)
    text = str(decision.error)
    assert "this worker's clock reads 2026-09-21 14:13:20 UTC" in text and says in text and "NTP" in text
    assert decision.error.code == "2001007"


def test_a_second_expiry_our_clock_does_not_explain_backs_off_within_the_retries():
    error = _expired(Date="Mon, 21 Sep 2026 14:13:25 GMT")
    again = decide(
        error, retries_done=0, renewals_done=0, resigns_done=1, idempotent=True, policy=POLICY, clock=lambda: NOW
    )
    assert again.action is Action.RETRY and again.delay >= 0
    spent = decide(
        error, retries_done=5, renewals_done=0, resigns_done=1, idempotent=True, policy=POLICY, clock=lambda: NOW
    )
    assert spent.action is Action.RAISE and isinstance(spent.error, exc.LingxingSignExpiredError)


def test_retries_stop_at_max_retries_with_a_message_that_says_so():
    error = _error(503, b"")
    decision = decide(error, retries_done=5, renewals_done=0, idempotent=True, policy=POLICY)
    assert decision.action is Action.RAISE
    assert isinstance(decision.error, exc.LingxingTransientError)
    assert "gave up after 5 retries" in str(decision.error)


def test_the_first_renewal_is_free_and_the_next_ones_draw_on_the_retries_with_backoff():
    error = _error(200, _answer("2001005"))
    first = decide(error, retries_done=5, renewals_done=0, idempotent=True, policy=POLICY)
    assert (first.action, first.delay) == (Action.RENEW_TOKEN, 0.0)
    again = decide(error, retries_done=2, renewals_done=4, idempotent=True, policy=POLICY, rand=lambda: 1.0)
    assert (again.action, again.delay) == (Action.RENEW_TOKEN, 2.0)
    spent = decide(error, retries_done=5, renewals_done=6, idempotent=True, policy=POLICY)
    assert spent.action is Action.RAISE and isinstance(spent.error, exc.LingxingTokenError)
    assert "gave up after 5 retries" in str(spent.error) and "its own app id" in str(spent.error)
    token_call = decide(error, retries_done=0, renewals_done=0, idempotent=True, policy=POLICY, can_renew_token=False)
    assert token_call.action is Action.RAISE


@pytest.mark.parametrize(
    "error",
    [
        TransportFailure("no answer within 30 s", delivered=True, path=PATH),
        TransportFailure("the connection broke", delivered=True, path=PATH),
        exc.LingxingTransientError("HTTP 502", path=PATH),
    ],
    ids=["read timeout", "dropped after sending", "5xx or non-JSON"],
)
def test_non_idempotent_call_is_not_resent_when_it_may_have_arrived(error):
    decision = decide(error, retries_done=0, renewals_done=0, idempotent=False, policy=POLICY)
    assert decision.action is Action.RAISE
    assert isinstance(decision.error, exc.LingxingSubmissionUncertainError)
    text = str(decision.error)
    assert "NOT re-sent" in text and "Check in Lingxing" in text


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (TransportFailure("could not connect", delivered=False, path=PATH), Action.RETRY),
        (_error(200, _answer("3001008")), Action.RETRY),
        (_error(200, _answer("103")), Action.RETRY),
        (_error(200, _answer("2001007")), Action.RESIGN),
        (_error(200, _answer("2001005")), Action.RENEW_TOKEN),
        (_error(200, _answer("2001003")), Action.RENEW_TOKEN),
    ],
    ids=["connect error", "3001008", "103", "2001007", "2001005", "2001003"],
)
def test_non_idempotent_call_is_resent_when_the_server_certainly_did_not_process_it(error, action):
    assert decide(error, retries_done=0, renewals_done=0, idempotent=False, policy=POLICY).action is action


def test_errors_survive_pickling_for_airflow():
    import pickle

    failure = TransportFailure("no answer within 3 s", delivered=True, path=PATH)
    copy = pickle.loads(pickle.dumps(failure))
    assert (type(copy), copy.delivered, str(copy)) == (TransportFailure, True, str(failure))


@pytest.mark.parametrize(
    ("location", "named"),
    [
        ("http://127.0.0.1:9999/steal?access_token=abc", "redirected to 127.0.0.1:9999;"),
        ("https://evil.example/x?sign=s", "redirected to evil.example;"),
        ("http://[::1]:8080/y?appSecret=z", "redirected to [::1]:8080;"),
        ("/elsewhere?sign=s", "redirected on the same host;"),
        (None, "HTTP 302: redirected;"),
    ],
)
def test_a_redirect_is_fatal_and_names_only_the_host(location, named):
    headers = {} if location is None else {"Location": location}
    with pytest.raises(exc.LingxingFatalError) as raised:
        parse_response(302, b'{"code": 0, "data": []}', path=PATH, headers=headers)
    assert named in str(raised.value)
    assert not any(secret in str(raised.value) for secret in ("abc", "sign=", "appSecret", "/steal", "/x", "/y"))
    assert decide(raised.value, retries_done=0, renewals_done=0, idempotent=True, policy=POLICY).action is Action.RAISE
