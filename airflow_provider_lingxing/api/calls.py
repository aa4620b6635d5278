"""One API call as a plan of effects (send, sleep, get a token), written once for both transports.

A plan is a generator: it builds and signs each attempt, parses each answer and applies the retry policy;
it yields `Send`, `Sleep` and `GetToken` and is resumed with their result (or their exception thrown in).
The sync hook runs plans with `run`, the async one with `arun`; they differ only in how the effects are
performed, so the two paths share every decision (the sans-I/O shape of h11).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import quote, urlencode

from airflow_provider_lingxing.api.endpoints import Endpoint, join_url
from airflow_provider_lingxing.api.envelope import parse_response
from airflow_provider_lingxing.api.errors import LingxingApiError
from airflow_provider_lingxing.api.retry import Action, RetryPolicy, TransportFailure, decide
from airflow_provider_lingxing.api.signing import drop_none, encode_body, sign_value, signed_query
from airflow_provider_lingxing.api.tokens import AccessToken

JSON_CONTENT_TYPE = "application/json"


class Log(Protocol):
    """What a plan logs through: a `logging.Logger`, or the structlog logger Airflow gives a hook."""

    def debug(self, event: str, *args: Any) -> Any: ...

    def info(self, event: str, *args: Any) -> Any: ...

    def warning(self, event: str, *args: Any) -> Any: ...


class Meter(Protocol):
    """Where a plan reports each attempt's outcome, each retry and each token renewal (the provider's metrics)."""

    def answered(self, path: str, outcome: str) -> None: ...

    def retrying(self, path: str, outcome: str) -> None: ...

    def renewing_token(self, path: str, code: str) -> None: ...


class _Unmetered:
    def answered(self, path: str, outcome: str) -> None:
        pass

    def retrying(self, path: str, outcome: str) -> None:
        pass

    def renewing_token(self, path: str, code: str) -> None:
        pass


UNMETERED: Meter = _Unmetered()


@dataclass(frozen=True)
class HttpRequest:
    """Exactly what goes on the wire. `url` carries the encoded query, so it may hold a token and a sign:
    never log it or put it in an exception."""

    method: str
    url: str
    body: bytes | None
    headers: Mapping[str, str]
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """What it carries that an echo of it must not show (the token and sign, or the app secret)."""


class HttpAnswer(NamedTuple):
    """What came back: the status, the body, and the headers (case-insensitive when a transport made them)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = {}


@dataclass(frozen=True)
class Send:
    endpoint: Endpoint
    build: Callable[[], HttpRequest]
    """Builds (and signs) the request. The transport first takes the endpoint's concurrency slot, holds it
    while the request is in flight, and reads `request` only then: a sign's 2-minute clock starts when the
    request can leave, however long it queued."""

    @cached_property
    def request(self) -> HttpRequest:
        return self.build()


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class GetToken:
    refused: AccessToken | None = None
    """None: the current token. Else the token the server just refused: get a newer shared one or a new one."""


Effect = Send | Sleep | GetToken
Plan = Generator[Effect, Any, Any]
"""Yields effects, is sent each effect's result (a `Send`'s is an `HttpAnswer`), returns the call's result."""

E = TypeVar("E")
R = TypeVar("R")


def encode_query(query: Mapping[str, str]) -> str:
    """Percent-encodes every reserved character once (`/`→%2F, `+`→%2B, `=`→%3D), as the sign needs."""
    return urlencode(query, quote_via=quote, safe="")


def build_business_request(
    endpoint: Endpoint,
    *,
    base_url: str,
    app_id: str,
    access_token: str,
    payload: Mapping[str, Any] | None,
    timestamp: str,
) -> HttpRequest:
    """A signed business request: GET carries the payload in the query, POST in the JSON body it signed."""
    business = drop_none(dict(payload or {}))
    gateway = signed_query(business, app_id=app_id, access_token=access_token, timestamp=timestamp)
    url = join_url(base_url, endpoint.path)
    secrets = (access_token, gateway["sign"])
    if endpoint.method == "GET":
        query = {**{key: sign_value(value) for key, value in business.items()}, **gateway}
        return HttpRequest("GET", f"{url}?{encode_query(query)}", None, {}, secrets)
    return HttpRequest(
        endpoint.method,
        f"{url}?{encode_query(gateway)}",
        encode_body(business),
        {"Content-Type": JSON_CONTENT_TYPE},
        secrets,
    )


def encode_multipart(fields: Mapping[str, str]) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data request: the token endpoints' documented form."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = "".join(parts) + f"--{boundary}--\r\n"
    return f"multipart/form-data; boundary={boundary}", body.encode()


SECRET_FORM_FIELDS = ("appSecret", "refreshToken")


def build_form_request(endpoint: Endpoint, *, base_url: str, fields: Mapping[str, str]) -> HttpRequest:
    content_type, body = encode_multipart(fields)
    secrets = tuple(fields[name] for name in SECRET_FORM_FIELDS if fields.get(name))
    url = join_url(base_url, endpoint.path)
    return HttpRequest(endpoint.method, url, body, {"Content-Type": content_type}, secrets)


def _outcome(error: LingxingApiError) -> str:
    if error.code is not None:
        return error.code
    return "no answer" if isinstance(error, TransportFailure) else "transient"


def _exchange(build: Callable[[], HttpRequest], endpoint: Endpoint, attempt: int, log: Log, meter: Meter) -> Plan:
    """One attempt: send, parse, the one debug line per API call (never the URL: it holds secrets) and its
    outcome to the meter."""
    started = time.perf_counter()
    try:
        send = Send(endpoint, build)
        answer: HttpAnswer = yield send
        data = parse_response(
            answer.status, answer.body, path=endpoint.path, headers=answer.headers, secrets=send.request.secrets
        )
    except LingxingApiError as error:
        _log_attempt(log, endpoint, attempt, _outcome(error), started)
        meter.answered(endpoint.path, _outcome(error))
        raise
    _log_attempt(log, endpoint, attempt, "0", started)
    meter.answered(endpoint.path, "ok")
    return data


def _log_attempt(log: Log, endpoint: Endpoint, attempt: int, code: str, started: float) -> None:
    log.debug(
        "Lingxing %s attempt %d: code %s, %.0f ms", endpoint.path, attempt, code, (time.perf_counter() - started) * 1000
    )


def _retrying(
    endpoint: Endpoint,
    build: Callable[[AccessToken | None], HttpRequest],
    *,
    token: AccessToken | None,
    policy: RetryPolicy,
    log: Log,
    rand: Callable[[], float],
    clock: Callable[[], float] = time.time,
    meter: Meter = UNMETERED,
) -> Plan:
    retries = renewals = resigns = 0
    attempt = 0
    while True:
        attempt += 1
        try:
            return (yield from _exchange(partial(build, token), endpoint, attempt, log, meter))
        except LingxingApiError as failure:
            error = failure
        decision = decide(
            error,
            retries_done=retries,
            renewals_done=renewals,
            idempotent=endpoint.idempotent,
            policy=policy,
            can_renew_token=token is not None,
            resigns_done=resigns,
            clock=clock,
            rand=rand,
        )
        if decision.action is Action.RAISE:
            raise decision.error or error
        if decision.action is Action.RESIGN:
            resigns += 1
            meter.retrying(endpoint.path, _outcome(error))
            log.info("Lingxing %s: %s; signing afresh", endpoint.path, error.message)
            continue
        if decision.action is Action.RENEW_TOKEN:
            if renewals:
                retries += 1
            renewals += 1
            meter.renewing_token(endpoint.path, _outcome(error))
            log.info("Lingxing %s: %s; getting the shared token or a new one", endpoint.path, error.message)
            if decision.delay > 0:
                yield Sleep(decision.delay)
            token = yield GetToken(refused=token)
            continue
        retries += 1
        meter.retrying(endpoint.path, _outcome(error))
        log.warning("%s; retry %d of %d in %.1f s", error, retries, policy.max_retries, decision.delay)
        if decision.delay > 0:
            yield Sleep(decision.delay)


def business_call(
    endpoint: Endpoint,
    payload: Mapping[str, Any] | None,
    *,
    base_url: str,
    app_id: str,
    policy: RetryPolicy,
    log: Log,
    clock: Callable[[], float] = time.time,
    rand: Callable[[], float] = random.random,
    meter: Meter = UNMETERED,
) -> Plan:
    """A signed call returning the envelope's `data`. Every attempt is signed afresh with the clock's time."""
    token = yield GetToken()

    def build(current: AccessToken | None) -> HttpRequest:
        assert current is not None
        return build_business_request(
            endpoint,
            base_url=base_url,
            app_id=app_id,
            access_token=current.access_token,
            payload=payload,
            timestamp=str(int(clock())),
        )

    return (
        yield from _retrying(endpoint, build, token=token, policy=policy, log=log, rand=rand, clock=clock, meter=meter)
    )


def form_call(
    endpoint: Endpoint,
    fields: Mapping[str, str],
    *,
    base_url: str,
    policy: RetryPolicy,
    log: Log,
    rand: Callable[[], float] = random.random,
    meter: Meter = UNMETERED,
) -> Plan:
    """An unsigned multipart call (the token endpoints). Its token errors raise: the caller falls back."""
    return (
        yield from _retrying(
            endpoint,
            lambda _: build_form_request(endpoint, base_url=base_url, fields=fields),
            token=None,
            policy=policy,
            log=log,
            rand=rand,
            meter=meter,
        )
    )


def run(plan: Generator[E, Any, R], perform: Callable[[E], Any]) -> R:
    """Drive a plan, performing each effect synchronously; returns the plan's result or raises its error."""
    value: Any = None
    error: LingxingApiError | None = None
    while True:
        try:
            effect = plan.send(value) if error is None else plan.throw(error)
        except StopIteration as done:
            return done.value
        try:
            value, error = perform(effect), None
        except LingxingApiError as failure:
            value, error = None, failure


async def arun(plan: Generator[E, Any, R], perform: Callable[[E], Awaitable[Any]]) -> R:
    """`run` for an event loop: the same plan, effects awaited."""
    value: Any = None
    error: LingxingApiError | None = None
    while True:
        try:
            effect = plan.send(value) if error is None else plan.throw(error)
        except StopIteration as done:
            return done.value
        try:
            value, error = await perform(effect), None
        except LingxingApiError as failure:
            value, error = None, failure
