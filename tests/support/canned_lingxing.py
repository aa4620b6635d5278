"""Canned Lingxing answers for the hook's unit tests, without a socket: `responses` answers the sync path
(requests) and `respx` the async one (httpx) from one script, so both transports meet the same answers.

A test says "answer 2001007 once, then succeed" and counts exactly what the hook sent. Anything about real
concurrency, buckets or the wire (timeouts, dropped connections) uses the shipped simulator instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import requests
import responses
import respx

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.api.retry import RetryPolicy

BASE_URL = "https://lingxing.test"
APP_ID = "ak_CannedLingxin"
APP_SECRET = "CaNned+Secret/Value0=="
TOKEN_PATH = endpoints.ACCESS_TOKEN.path
REFRESH_PATH = endpoints.REFRESH_TOKEN.path
RESULTS_PATH = endpoints.GET_FULFILLMENT_RESULT.path
SUBMIT_PATH = endpoints.SUBMIT_FULFILLMENT.path
SELLERS_PATH = endpoints.SELLER_LIST.path
FAST_RETRIES = RetryPolicy(base_delay=0.001, max_delay=0.002)
"""Millisecond backoff, so counting retries costs no time."""


@dataclass
class Seen:
    """One request as it reached the gateway."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    form: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    failure: str | None = None
    """"drop" (the connection breaks after the request left) or "timeout" (no answer in time)."""
    echo: Callable[[Seen], bytes] | None = None
    """Makes the body from the request (a proxy that reflects what it was sent)."""


def envelope(code: Any, data: Any = None, message: str = "error", **extra: Any) -> Reply:
    """A gateway-style answer (string code, msg) or a business one (int code, message)."""
    key = "message" if isinstance(code, int) else "msg"
    body = {"code": code, key: message, "request_id": "rid-1", "data": data, **extra}
    return Reply(200, json.dumps(body, ensure_ascii=False).encode())


DROP = Reply(failure="drop")
TIMEOUT = Reply(failure="timeout")


def http(status: int, body: bytes = b"<html>oops</html>", **headers: str) -> Reply:
    return Reply(status, body, tuple(headers.items()))


def coded(code: str, message: str = "m") -> Reply:
    """The answer of a code as Lingxing gives it: business codes (1xx) as numbers, gateway codes as strings."""
    return (
        envelope(int(code), message=message) if code in ("1", "100", "102", "103") else envelope(code, message=message)
    )


@dataclass
class CannedLingxing:
    """The default answers follow the API (one live token per app, 2001005 for an older one); `script` puts
    other answers first, per path."""

    expires_in: int = 7199
    requests: list[Seen] = field(default_factory=list)
    scripts: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))
    latency: float = 0.0
    issued: list[tuple[str, str]] = field(default_factory=list)
    """(access token, refresh token) pairs, oldest first; only the last access token is live."""
    results_handler: Callable[[dict], list[dict]] | None = None
    base_url: str = BASE_URL

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def script(self, path: str, *replies: Reply) -> None:
        """The next calls of `path` get these replies in order; later calls get the default answers."""
        self.scripts[path].extend(replies)

    def calls(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def issue(self) -> dict[str, Any]:
        """A new token pair, as if someone fetched one: the previous access token is no longer live."""
        pair = (f"acc-{uuid.uuid4()}", f"ref-{uuid.uuid4()}")
        with self._lock:
            self.issued.append(pair)
        return {"access_token": pair[0], "refresh_token": pair[1], "expires_in": self.expires_in}

    @property
    def live_token(self) -> str | None:
        return self.issued[-1][0] if self.issued else None

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            scripted = self.scripts[seen.path].pop(0) if self.scripts[seen.path] else None
        if scripted is not None and scripted.echo is not None:
            return replace(scripted, body=scripted.echo(seen))
        if scripted is not None:
            return scripted
        if seen.path == TOKEN_PATH:
            if seen.form.get("appId") != APP_ID or seen.form.get("appSecret") != APP_SECRET:
                return envelope("2001002", message="app secret not correct")
            return Reply(200, json.dumps({"code": "200", "msg": "OK", "data": self.issue()}).encode())
        if seen.path == REFRESH_PATH:
            if not self.issued or seen.form.get("refreshToken") != self.issued[-1][1]:
                return envelope("2001009", message="refresh token invalid")
            return Reply(200, json.dumps({"code": "200", "msg": "OK", "data": self.issue()}).encode())
        if seen.query.get("access_token") != self.live_token:
            return envelope("2001005", message="access token not match")
        if seen.path == SELLERS_PATH:
            return envelope(0, [{"seller_id": "S1", "name": "Store"}], message="ok")
        if seen.path == SUBMIT_PATH:
            return envelope(0, {"task_id": "77", "task_status": "pending", "failure_reason": None}, message="ok")
        if seen.path == RESULTS_PATH:
            return envelope(0, (self.results_handler or complete_in_reverse)(seen.json()), message="ok")
        return envelope(0, {"echo": seen.query}, message="ok")

    # -- the two mocks -----------------------------------------------------------------------------------

    def _requests_callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        body = request.body or b""
        seen = _seen(
            request.method or "",
            str(request.url),
            body if isinstance(body, bytes) else body.encode(),
            request.headers.get("Content-Type", ""),
        )
        reply = self.answer(seen)
        if reply.delay or self.latency:
            time.sleep(reply.delay + self.latency)
        if reply.failure == "drop":
            raise requests.exceptions.ConnectionError("Connection aborted: remote end closed connection")
        if reply.failure == "timeout":
            raise requests.exceptions.ReadTimeout("read timed out")
        return reply.status, {"Content-Type": "application/json", **dict(reply.headers)}, reply.body

    async def _httpx_side_effect(self, request: httpx.Request) -> httpx.Response:
        seen = _seen(request.method, str(request.url), request.content, request.headers.get("Content-Type", ""))
        reply = self.answer(seen)
        if reply.delay or self.latency:
            await asyncio.sleep(reply.delay + self.latency)
        if reply.failure == "drop":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if reply.failure == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        headers = {"Content-Type": "application/json", **dict(reply.headers)}
        return httpx.Response(reply.status, content=reply.body, headers=headers)

    @contextmanager
    def serving(self) -> Iterator[CannedLingxing]:
        """Answers every request the hook sends to `base_url`, on both transports, while the block runs."""
        pattern = re.compile(re.escape(self.base_url) + r"(/.*)?")
        with (
            responses.RequestsMock(assert_all_requests_are_fired=False) as sync_mock,
            respx.mock(assert_all_called=False) as async_mock,
        ):
            for method in ("GET", "POST", "PUT", "DELETE"):
                sync_mock.add_callback(method, pattern, callback=self._requests_callback)
            async_mock.route(url__regex=pattern.pattern).mock(side_effect=self._httpx_side_effect)
            yield self


def complete_in_reverse(body: dict) -> list[dict]:
    return [{"task_id": str(task_id), "status_code": "Complete"} for task_id in reversed(body["task_id"])]


def _seen(method: str, url: str, body: bytes, content_type: str) -> Seen:
    parts = urlsplit(url)
    return Seen(method, parts.path, dict(parse_qsl(parts.query)), body, _form(content_type, body))


def _form(content_type: str, body: bytes) -> dict[str, str]:
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
        for part in message.iter_parts()
    }
