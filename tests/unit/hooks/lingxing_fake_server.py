"""A scripted Lingxing stand-in on loopback: each answer can be chosen per call, every request is recorded.

The simulator plays the service faithfully; this fake lets a test say "answer 2001007 once, then succeed"
and count exactly what the hook sent, in-flight requests included.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.api.retry import RetryPolicy

APP_ID = "ak_FakeLingxing1"
APP_SECRET = "FaKe+Secret/Value0=="
TOKEN_PATH = endpoints.ACCESS_TOKEN.path
REFRESH_PATH = endpoints.REFRESH_TOKEN.path
RESULTS_PATH = endpoints.GET_FULFILLMENT_RESULT.path
SUBMIT_PATH = endpoints.SUBMIT_FULFILLMENT.path
SELLERS_PATH = endpoints.SELLER_LIST.path
FAST_RETRIES = RetryPolicy(base_delay=0.001, max_delay=0.002)
"""Millisecond backoff, so counting retries costs no time."""


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    form: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    drop: bool = False


def envelope(code: Any, data: Any = None, message: str = "error") -> Reply:
    """A gateway-style answer (string code, msg) or a business one (int code, message)."""
    key = "message" if isinstance(code, int) else "msg"
    return Reply(200, json.dumps({"code": code, key: message, "request_id": "rid-1", "data": data}).encode())


DROP = Reply(drop=True)


def http(status: int, body: bytes = b"<html>oops</html>") -> Reply:
    return Reply(status, body)


def slow(seconds: float) -> Reply:
    """Answer normally, but only after `seconds` (longer than the client's timeout: a read timeout)."""
    return Reply(delay=seconds)


@dataclass
class FakeLingxing:
    expires_in: int = 7199
    requests: list[Seen] = field(default_factory=list)
    scripts: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))
    latency: float = 0.0
    peak_in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    issued: list[tuple[str, str]] = field(default_factory=list)
    """(access token, refresh token) pairs, oldest first; only the last access token is live."""
    results_handler: Callable[[dict], list[dict]] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = defaultdict(int)
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and cut the open keep-alive connections: nothing answers any more."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def script(self, path: str, *replies: Reply) -> None:
        """The next calls of `path` get these replies in order; later calls get the default behaviour."""
        self.scripts[path].extend(replies)

    def calls(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def issue(self) -> dict[str, Any]:
        pair = (f"acc-{uuid.uuid4()}", f"ref-{uuid.uuid4()}")
        self.issued.append(pair)
        return {"access_token": pair[0], "refresh_token": pair[1], "expires_in": self.expires_in}

    @property
    def live_token(self) -> str | None:
        return self.issued[-1][0] if self.issued else None

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            scripted = self.scripts[seen.path].pop(0) if self.scripts[seen.path] else None
        if scripted is not None and (scripted.body or scripted.drop or scripted.status != 200):
            return scripted
        if scripted is not None and scripted.delay:
            time.sleep(scripted.delay)
        if seen.path == TOKEN_PATH:
            if seen.form.get("appId") != APP_ID or seen.form.get("appSecret") != APP_SECRET:
                return envelope("2001002", message="app secret not correct")
            with self._lock:
                return Reply(200, json.dumps({"code": "200", "msg": "OK", "data": self.issue()}).encode())
        if seen.path == REFRESH_PATH:
            with self._lock:
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
            body = seen.json()
            handler = self.results_handler or _complete_in_reverse
            return envelope(0, handler(body), message="ok")
        return envelope(0, {"echo": seen.query}, message="ok")

    def enter(self, path: str) -> None:
        with self._lock:
            self._in_flight[path] += 1
            self.peak_in_flight[path] = max(self.peak_in_flight[path], self._in_flight[path])

    def leave(self, path: str) -> None:
        with self._lock:
            self._in_flight[path] -= 1


def _complete_in_reverse(body: dict) -> list[dict]:
    return [{"task_id": str(task_id), "status_code": "Complete"} for task_id in reversed(body["task_id"])]


def _form(content_type: str, body: bytes) -> dict[str, str]:
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
        for part in message.iter_parts()
    }


def _handler(fake: FakeLingxing) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake._connections.add(self.connection)

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type = self.headers.get("Content-Type", "")
            seen = Seen(self.command, path, dict(parse_qsl(query)), body, _form(content_type, body))
            fake.enter(path)
            try:
                if fake.latency:
                    time.sleep(fake.latency)
                reply = fake.answer(seen)
            finally:
                fake.leave(path)
            if reply.drop:
                self.close_connection = True
                with suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            with suppress(OSError):
                self.wfile.write(reply.body)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the default would print query strings."""

    return Handler
