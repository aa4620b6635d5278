"""A faithful local stand-in for the parts of the Lingxing OpenAPI this provider uses (no account needed).

A real HTTP/1.1 server (keep-alive, one daemon thread per connection) bound to 127.0.0.1 that behaves as
``shared/lingxing-openapi.md`` documents: token endpoints (form fields or query parameters), the gateway
checks of every business call (query parameters, token, timestamp, sign), the concurrency bucket per
(app id, path), the seller list, submitFulfillment and getFulfillmentResult, plus seeded faults.

From Python::

    with LingxingSimulator(latency=0.0) as sim:
        sim.base_url, sim.app_id, sim.app_secret, sim.connection_json()
        sim.config.fail_with_code = "2001004"      # switch faults mid-run
        sim.stats(); sim.reset()

From the shell: ``python -m airflow_provider_lingxing.testing.simulator --port 8765 [--help]``; from Python in
a process of its own (load tests, benchmarks): ``with SimulatorProcess("--latency", "0.01") as sim: ...``.

Choices where the documentation is silent (each is what a client must already survive):

- A new task is ``pending``; each getFulfillmentResult answer that includes it counts as one poll of it.
  With ``complete_after_polls=N`` (default 2) poll 1 says ``pending``, polls 2..N-1 ``in_process`` and
  poll N (and later) the final status. With ``complete_after_seconds=S`` the age decides instead:
  ``pending`` before S/2, ``in_process`` before S, final after.
- The final status is ``Complete``, or ``fatal`` with a non-null ``failure`` when an order's tracking_no
  starts with ``FAIL``, when ``fail_task_predicate(body)`` is true at submission, or when the task id is in
  ``fail_task_ids`` when it completes. Until a task is Complete its counts are empty strings and its
  ``result`` is empty; a fatal task keeps empty counts.
- Per-message outcomes: tracking_no starting ``ERR`` → ``Error`` (code 25), ``WARN`` → ``Warning``;
  others succeed and are not listed. ``messages_successful`` = processed − errors (a warning succeeded).
- Faults that replace the answer (HTTP 500/502/503, non-JSON body, 103, 2001007, and 3001008 as if another
  client held the bucket) happen before the request is processed: nothing is created. A dropped connection
  happens after: the request did its work (a task was created and recorded) and the answer is lost, the case a
  non-idempotent client must survive.
- Fault draws come from `random.Random(seed)` in arrival order: a sequential client sees the same faults for
  the same seed; concurrent clients see the same draws, possibly shared out in another order.
- Task ids are never reused, even across ``reset()``, so a stale id cannot point at a new task.
- Seller ids are not checked against the seller list on submission.
- It listens on loopback only: anyone who can reach it gets tokens with the published app secret. Another
  address needs ``allow_remote=True`` (``--allow-remote``).
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import logging
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields, replace
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote

from airflow_provider_lingxing.api import endpoints, signing

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_APP_ID = "ak_SimuLingxing1"
"""16 bytes (`ak_` + 13), so it is a valid AES-128 key like a real app id."""
DEFAULT_APP_SECRET = "SimU1at0r+Lingx/Secret0="
"""Contains `+`, `/` and `=`: a client that forgets to URL-encode it gets 0001001, as from the real service."""

STATS_PATH = "/__simulator__/stats"
RESET_PATH = "/__simulator__/reset"
CONFIG_PATH = "/__simulator__/config"

GATEWAY_PARAMS = ("access_token", "app_key", "timestamp", "sign")
SECRET_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
FIRST_TASK_ID = 1003100

GATEWAY_MESSAGES = {
    "0001001": "rsa private decrypt error",
    "2001001": "app not exist",
    "2001002": "app secret not correct",
    "2001003": "access token is missing or expire",
    "2001004": "api not authorized",
    "2001005": "access token not match",
    "2001006": "api sign not correct",
    "2001007": "api sign has expired",
    "2001008": "refresh token expired",
    "2001009": "refresh token invalid",
    "3001001": "missing query param(access_token,sign,timestamp,app_key)",
    "3001002": "ip not permit, add ip to white list",
    "3001008": "requests too frequently",
    "400": "400 BAD_REQUEST",
    "401": "app id disabled",
    "403": "authorization expired",
    "404": "404 NOT_FOUND",
    "405": "405 METHOD_NOT_ALLOWED",
}
BUSINESS_MESSAGES = {102: "参数不合法", 103: "请求过于频繁"}

RESULT_CODE_ERROR = (
    "ERR",
    "Error",
    "25",
    "We are unable to process the XML feed because one or more items are invalid.",
)
RESULT_CODE_WARNING = (
    "WARN",
    "Warning",
    "5001",
    "The carrier name you provided is not recognized; the shipment was confirmed with it as given.",
)
FAIL_MARKER = "FAIL"
SUMMARY_KEYS = ("messages_processed", "messages_successful", "messages_with_error", "messages_with_warning")

ANSWER_FAULTS = ("http_500", "http_502", "http_503", "non_json", "limiter_103", "sign_expired", "drop", "bucket_full")
BUSINESS_ONLY_FAULTS = ("limiter_103", "sign_expired")


def default_sellers() -> list[dict[str, Any]]:
    """Two authorised stores, one in NA and one in EU."""
    return [
        {
            "sid": 101,
            "mid": 1,
            "name": "Simulated US Store",
            "seller_id": "A1SIMNA0000001",
            "account_name": "sim-na",
            "seller_account_id": 1001,
            "region": "NA",
            "country": "美国",
            "has_ads_setting": 1,
            "marketplace_id": "ATVPDKIKX0DER",
            "status": 1,
        },
        {
            "sid": 102,
            "mid": 4,
            "name": "Simulated DE Store",
            "seller_id": "A1SIMEU0000002",
            "account_name": "sim-eu",
            "seller_account_id": 1002,
            "region": "EU",
            "country": "德国",
            "has_ads_setting": 0,
            "marketplace_id": "A1PA6795UKMFR9",
            "status": 1,
        },
    ]


def new_token(app_id: str) -> str:
    return str(uuid.uuid4())


def _cli(help_text: str, **extra: Any) -> dict[str, Any]:
    return {"help": help_text, **extra}


@dataclass
class SimulatorConfig:
    """Everything the simulator does that a test may want to change; mutate `sim.config` mid-run."""

    app_id: str = field(default=DEFAULT_APP_ID, metadata=_cli("the app id accepted (16, 24 or 32 bytes)"))
    app_secret: str = field(default=DEFAULT_APP_SECRET, metadata=_cli("its app secret"))
    extra_apps: dict[str, str] = field(default_factory=dict)
    """More app id → secret pairs; each app has its own tokens and buckets."""
    latency: float = field(default=0.02, metadata=_cli("seconds each API call takes while holding its slot"))
    endpoint_latency: dict[str, float] = field(default_factory=dict)
    capacities: dict[str, int] = field(default_factory=dict)
    """Overrides of the documented bucket capacities (api/endpoints.py), by path."""
    token_ttl: float = field(default=7199.0, metadata=_cli("access token lifetime in seconds"))
    refresh_token_ttl: float = field(default=7200.0, metadata=_cli("refresh token lifetime in seconds"))
    single_token_per_app: bool = field(
        default=True, metadata=_cli("a new token invalidates the previous one of the app (2001005)")
    )
    sign_ttl: float = field(default=120.0, metadata=_cli("seconds a sign stays valid around its timestamp"))
    sellers: list[dict[str, Any]] = field(default_factory=default_sellers)
    complete_after_polls: int = field(default=2, metadata=_cli("a task completes on this poll of it"))
    complete_after_seconds: float | None = field(
        default=None, metadata=_cli("complete tasks after this age instead of by polls", type=float)
    )
    fail_task_ids: set[int] = field(default_factory=set)
    fail_task_predicate: Callable[[dict[str, Any]], bool] | None = None
    """Called with the submitted body; True makes the task end fatal."""
    seed: int | None = field(default=None, metadata=_cli("seed of the fault draws", type=int))
    http_500_probability: float = field(default=0.0, metadata=_cli("chance of an HTTP 500"))
    http_502_probability: float = field(default=0.0, metadata=_cli("chance of an HTTP 502"))
    http_503_probability: float = field(default=0.0, metadata=_cli("chance of an HTTP 503"))
    non_json_probability: float = field(default=0.0, metadata=_cli("chance of an HTML body with HTTP 200"))
    limiter_103_probability: float = field(default=0.0, metadata=_cli("chance of code 103 (business calls)"))
    sign_expired_probability: float = field(default=0.0, metadata=_cli("chance of 2001007 (business calls)"))
    drop_probability: float = field(default=0.0, metadata=_cli("chance the connection closes unanswered"))
    bucket_full_probability: float = field(
        default=0.0, metadata=_cli("chance of 3001008 as if another client held every slot of the bucket")
    )
    slow_probability: float = field(default=0.0, metadata=_cli("chance an answer takes slow_delay longer"))
    slow_delay: float = field(default=5.0, metadata=_cli("extra seconds of a slow answer"))
    fault_paths: set[str] | None = None
    """Paths the random faults apply to; None: every documented path, the token endpoints included."""
    fail_with_code: str | None = field(
        default=None, metadata=_cli("every business call fails with this code (2001004, 3001002, 102…)", type=str)
    )
    max_body_bytes: int = field(default=10 * 2**20, metadata=_cli("larger request bodies get HTTP 413"))
    clock: Callable[[], float] = time.time
    token_factory: Callable[[str], str] = new_token
    """app id → a new access token; tests inject known tokens (e.g. the sign vectors')."""

    def apps(self) -> dict[str, str]:
        return {**self.extra_apps, self.app_id: self.app_secret}

    def capacity(self, path: str) -> int:
        return self.capacities.get(path, endpoints.ENDPOINTS[path].capacity)

    def latency_for(self, path: str) -> float:
        return self.endpoint_latency.get(path, self.latency)

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        for app_id in self.apps():
            if len(app_id.encode()) not in signing.VALID_APP_ID_BYTES:
                raise ValueError(f"app_id {app_id!r} must be 16, 24 or 32 bytes (it is the AES key of the sign)")
        probabilities = {name: getattr(self, f"{name}_probability") for name in (*ANSWER_FAULTS, "slow")}
        for name, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}_probability must be between 0 and 1, got {value}")
        if sum(probabilities[name] for name in ANSWER_FAULTS) > 1.0:
            raise ValueError("the fault probabilities (all but slow) must add up to at most 1")
        if self.complete_after_polls < 1:
            raise ValueError(f"complete_after_polls must be at least 1, got {self.complete_after_polls}")
        for path in (*self.capacities, *self.endpoint_latency, *(self.fault_paths or ())):
            if path not in endpoints.ENDPOINTS:
                raise ValueError(f"unknown endpoint path {path!r}: expected one of {sorted(endpoints.ENDPOINTS)}")
        if self.fail_with_code is not None:
            self.fail_with_code = str(self.fail_with_code)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    content_type: str = ""


@dataclass
class Answer:
    status: int
    body: bytes
    code: str
    """What stats count it under: the envelope code, or http_5xx / non_json / dropped."""
    content_type: str = "application/json;charset=UTF-8"
    drop: bool = False
    close: bool = False


@dataclass
class _Token:
    app_id: str
    expires_at: float
    superseded: bool = False


@dataclass
class _RefreshToken:
    app_id: str
    expires_at: float
    used: bool = False


@dataclass
class _Task:
    task_id: int
    seller_id: str
    created_at: float
    orders: list[tuple[str, str]]
    """(message id, tracking_no) per order."""
    failure: str | None
    polls: int = 0
    final: dict[str, Any] | None = None


def _coerce(setting: Any, value: Any) -> Any:
    """A settable value from JSON or the CLI, as the type its field declares; ValueError names it."""
    if value is None and setting.default is None:
        return None
    cast = setting.metadata.get("type") or type(setting.default)
    if cast is bool and not isinstance(value, bool):
        raise ValueError(f"{setting.name} must be true or false, got {value!r}")
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise ValueError(f"{setting.name} must be a {cast.__name__}, got {value!r}") from None


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def gateway_answer(code: str, message: str | None = None, *, status: int = 200, close: bool = False) -> Answer:
    """The gateway's envelope: string code, `msg` (§4)."""
    msg = message or GATEWAY_MESSAGES.get(code, "error")
    return Answer(status, _json({"code": code, "msg": msg, "data": None}), code, close=close)


class LingxingSimulator:
    """The simulator; use as a context manager or call start() / stop()."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        port: int = 0,
        host: str = HOST,
        allow_remote: bool = False,
        **settings: Any,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ValueError(
                f"the simulator refuses to listen on {host!r}: anyone reaching it gets tokens with its published "
                "app secret. Use a loopback address, or pass allow_remote=True (--allow-remote) to expose it"
            )
        self.config = replace(config or SimulatorConfig(), **settings)
        self.config.validate()
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._next_task_id = FIRST_TASK_ID
        self._request_counter = 0
        self._in_flight: dict[tuple[str, str], int] = defaultdict(int)
        self.reset()

    # life cycle

    def start(self) -> LingxingSimulator:
        if self._server is not None:
            return self
        self._server = _Server(self, self._host, self._port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="lingxing-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections, so a stopped simulator answers nothing."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LingxingSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # what a client needs

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started: use `with LingxingSimulator() as sim` or start()")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        host = HOST if self._host in ("0.0.0.0", "::", "") else self._host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def app_secret(self) -> str:
        return self.config.app_secret

    def connection_json(self) -> str:
        """The value of AIRFLOW_CONN_LINGXING_DEFAULT (JSON form) pointing at this simulator."""
        return json.dumps(
            {"conn_type": "lingxing", "host": self.base_url, "login": self.app_id, "password": self.app_secret}
        )

    def connection_uri(self) -> str:
        """The same connection as an Airflow URI (host URL-encoded, so it keeps its scheme and port)."""
        return (
            f"lingxing://{quote(self.app_id, safe='')}:{quote(self.app_secret, safe='')}"
            f"@{quote(self.base_url, safe='')}"
        )

    # introspection and control

    def reset(self) -> None:
        """Forget tokens, tasks and statistics and reseed the faults; task ids keep counting up."""
        with self._lock:
            self._rng = random.Random(self.config.seed)
            self._tokens: dict[str, _Token] = {}
            self._live_token: dict[str, str] = {}
            self._refresh_tokens: dict[str, _RefreshToken] = {}
            self._tasks: dict[int, _Task] = {}
            self._requests: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            self._tokens_issued = {"access": 0, "refresh": 0, "rotated": 0}
            self._issued: dict[str, list[str]] = {"access": [], "refresh": []}
            self._peak: dict[tuple[str, str], int] = {key: n for key, n in self._in_flight.items() if n}
            self._rate_limited = 0
            self._internal_errors = 0
            self._submissions: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def stats(self) -> dict[str, Any]:
        """A plain, JSON-ready snapshot (also served unsigned at GET /__simulator__/stats).

        Keys: requests {path: {code: n}}, requests_total, tokens_issued {access, refresh, rotated},
        peak_in_flight {app id: {path: n}}, in_flight (same shape), rate_limited (3001008 answers),
        submissions {seller_id: [{task_id, order_ids}]} (order ids as strings, as message_id comes back),
        duplicate_order_ids {seller_id: [ids submitted more than once]}, tasks {created, unfinished (not yet
        reported final), complete, fatal}, internal_errors.
        """
        with self._lock:
            peak: dict[str, dict[str, int]] = defaultdict(dict)
            for (app_id, path), n in self._peak.items():
                peak[app_id][path] = n
            in_flight: dict[str, dict[str, int]] = defaultdict(dict)
            for (app_id, path), n in self._in_flight.items():
                if n:
                    in_flight[app_id][path] = n
            duplicates = {}
            for seller_id, submissions in self._submissions.items():
                counted = Counter(order_id for s in submissions for order_id in s["order_ids"])
                if repeated := sorted((i for i, n in counted.items() if n > 1), key=int):
                    duplicates[seller_id] = repeated
            finals = [t.final["status_code"] for t in self._tasks.values() if t.final]
            return {
                "requests": {path: dict(codes) for path, codes in self._requests.items()},
                "requests_total": sum(sum(codes.values()) for codes in self._requests.values()),
                "tokens_issued": dict(self._tokens_issued),
                "peak_in_flight": dict(peak),
                "in_flight": dict(in_flight),
                "rate_limited": self._rate_limited,
                "submissions": {
                    seller: [{"task_id": s["task_id"], "order_ids": list(s["order_ids"])} for s in subs]
                    for seller, subs in self._submissions.items()
                },
                "duplicate_order_ids": duplicates,
                "tasks": {
                    "created": len(self._tasks),
                    "unfinished": len(self._tasks) - len(finals),
                    "complete": finals.count("Complete"),
                    "fatal": finals.count("fatal"),
                },
                "internal_errors": self._internal_errors,
            }

    def issued_tokens(self) -> dict[str, list[str]]:
        """Every access and refresh token issued since the last reset, for tests that prove none leaked."""
        with self._lock:
            return {kind: list(tokens) for kind, tokens in self._issued.items()}

    def expire_tokens(self, app_id: str | None = None) -> None:
        """Make every access token (of one app, or all) expired: the next business call gets 2001003."""
        with self._lock:
            now = self.config.clock()
            for token in self._tokens.values():
                if app_id is None or token.app_id == app_id:
                    token.expires_at = min(token.expires_at, now - 1)

    def rotate_token(self, app_id: str | None = None) -> str:
        """Issue a token as if another process had fetched one; returns it (the old one now gets 2001005)."""
        app_id = app_id or self.config.app_id
        if app_id not in self.config.apps():
            raise ValueError(f"app_id {app_id!r} is not one of the simulator's apps")
        with self._lock:
            self._tokens_issued["rotated"] += 1
            return self._issue_token(app_id)["access_token"]

    def task_status(self, task_id: int | str) -> str | None:
        """The status the task would be reported with now, without counting a poll (None: no such task)."""
        with self._lock:
            task = self._tasks.get(int(task_id))
            if task is None:
                return None
            status = self._status(task, self.config.clock())
            return self._final(task)["status_code"] if status == "final" else status

    # the protocol

    def handle(self, request: Request) -> Answer:
        """One HTTP request → its answer; sleeps the configured latency while holding the bucket slot."""
        if request.path.startswith("/__simulator__/"):
            return self._control(request)
        endpoint = endpoints.ENDPOINTS.get(request.path)
        if endpoint is None:
            answer = gateway_answer("500", "404 NOT_FOUND", status=404)
        elif request.method != endpoint.method:
            answer = gateway_answer("405", status=405)
        elif endpoint in (endpoints.ACCESS_TOKEN, endpoints.REFRESH_TOKEN):
            answer = self._token_call(request, endpoint)
        else:
            answer = self._business_call(request, endpoint)
        self._count(request.path, answer.code)
        return answer

    def _control(self, request: Request) -> Answer:
        if request.path == STATS_PATH and request.method == "GET":
            return Answer(200, _json(self.stats()), "0")
        if request.path == RESET_PATH and request.method == "POST":
            self.reset()
            return Answer(200, _json({"reset": True}), "0")
        if request.path == CONFIG_PATH and request.method in ("GET", "POST"):
            if request.method == "POST":
                try:
                    self.configure(json.loads(request.body or b"{}"))
                except (ValueError, TypeError) as error:
                    return Answer(400, _json({"code": "400", "msg": str(error)}), "400")
            return Answer(200, _json(self.plain_config()), "0")
        return gateway_answer("500", "404 NOT_FOUND", status=404)

    def plain_config(self) -> dict[str, Any]:
        """The settings that can be changed over HTTP (POST /__simulator__/config) or from the CLI."""
        return {f.name: getattr(self.config, f.name) for f in fields(SimulatorConfig) if "help" in f.metadata}

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Apply scalar settings atomically: all are validated before any is kept."""
        settable = {f.name: f for f in fields(SimulatorConfig) if "help" in f.metadata}
        unknown = sorted(set(changes) - set(settable))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}: expected some of {sorted(settable)}")
        coerced = {name: _coerce(settable[name], value) for name, value in changes.items()}
        candidate = replace(self.config, **coerced)
        candidate.validate()
        for name in coerced:
            setattr(self.config, name, getattr(candidate, name))

    def _count(self, path: str, code: str) -> None:
        with self._lock:
            self._requests[path][code] += 1
            if code == "3001008":
                self._rate_limited += 1

    def count_internal_error(self) -> None:
        with self._lock:
            self._internal_errors += 1

    @contextmanager
    def _slot(self, app_id: str, path: str) -> Iterator[bool]:
        """Take one token of the (app id, path) bucket; False when it is empty (→ 3001008)."""
        key = (app_id, path)
        with self._lock:
            if self._in_flight[key] >= self.config.capacity(path):
                acquired = False
            else:
                acquired = True
                self._in_flight[key] += 1
                self._peak[key] = max(self._peak.get(key, 0), self._in_flight[key])
        try:
            yield acquired
        finally:
            if acquired:
                with self._lock:
                    self._in_flight[key] -= 1

    def _draw_fault(self, path: str, *, business: bool) -> tuple[str | None, bool]:
        """(the fault replacing or dropping the answer, or None; whether the answer is slow)."""
        cfg = self.config
        if cfg.fault_paths is not None and path not in cfg.fault_paths:
            return None, False
        with self._lock:
            draw, slow_draw = self._rng.random(), self._rng.random()
        for name in ANSWER_FAULTS:
            if not business and name in BUSINESS_ONLY_FAULTS:
                continue
            draw -= getattr(cfg, f"{name}_probability")
            if draw < 0:
                return name, slow_draw < cfg.slow_probability
        return None, slow_draw < cfg.slow_probability

    def _fault_answer(self, fault: str) -> Answer | None:
        if fault.startswith("http_"):
            status = int(fault[5:])
            reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
            page = f"<html><body><h1>{status} {reason}</h1></body></html>".encode()
            return Answer(status, page, fault, content_type="text/html")
        if fault == "non_json":
            page = b"<html><body>Please wait while we check your request</body></html>"
            return Answer(200, page, fault, content_type="text/html")
        if fault == "limiter_103":
            return self._business_answer(None, code=103)
        if fault == "sign_expired":
            return gateway_answer("2001007")
        if fault == "bucket_full":
            return gateway_answer("3001008")
        return None

    def _call(self, app_id: str, path: str, *, business: bool, work: Callable[[], Answer]) -> Answer:
        """The shared middle of every API call: bucket, latency, faults, then the work."""
        with self._slot(app_id, path) as acquired:
            if not acquired:
                return gateway_answer("3001008")
            fault, slow = self._draw_fault(path, business=business)
            delay = self.config.latency_for(path) + (self.config.slow_delay if slow else 0.0)
            if delay > 0:
                time.sleep(delay)
            replaced = self._fault_answer(fault) if fault else None
            if replaced is not None:
                return replaced
            answer = work()
        if fault == "drop":
            return replace(answer, drop=True, code="dropped")
        return answer

    # token endpoints

    def _token_call(self, request: Request, endpoint: endpoints.Endpoint) -> Answer:
        form = _form_fields(request)
        for key, value in request.query.items():
            form.setdefault(key, value)
        app_id = form.get("appId", "")
        if endpoint is endpoints.ACCESS_TOKEN:
            work = lambda: self._access_token(app_id, form.get("appSecret", ""))  # noqa: E731
        else:
            work = lambda: self._refresh(app_id, form.get("refreshToken", ""))  # noqa: E731
        return self._call(app_id, endpoint.path, business=False, work=work)

    def _access_token(self, app_id: str, secret: str) -> Answer:
        apps = self.config.apps()
        if app_id not in apps:
            return gateway_answer("2001001")
        if not hmac.compare_digest(secret.encode(), apps[app_id].encode()):
            return gateway_answer("0001001" if set(secret) - SECRET_ALPHABET else "2001002")
        with self._lock:
            self._tokens_issued["access"] += 1
            return Answer(200, _json({"code": "200", "msg": "OK", "data": self._issue_token(app_id)}), "200")

    def _refresh(self, app_id: str, refresh_token: str) -> Answer:
        if app_id not in self.config.apps():
            return gateway_answer("2001001")
        with self._lock:
            record = self._refresh_tokens.get(refresh_token)
            if record is None or record.used or record.app_id != app_id:
                return gateway_answer("2001009")
            if record.expires_at <= self.config.clock():
                return gateway_answer("2001008")
            record.used = True
            self._tokens_issued["refresh"] += 1
            return Answer(200, _json({"code": "200", "msg": "OK", "data": self._issue_token(app_id)}), "200")

    def _issue_token(self, app_id: str) -> dict[str, Any]:
        """Called with the lock held."""
        cfg = self.config
        now = cfg.clock()
        if cfg.single_token_per_app and app_id in self._live_token:
            self._tokens[self._live_token[app_id]].superseded = True
        access_token = cfg.token_factory(app_id)
        refresh_token = str(uuid.uuid4())
        self._tokens[access_token] = _Token(app_id, now + cfg.token_ttl)
        self._live_token[app_id] = access_token
        self._refresh_tokens[refresh_token] = _RefreshToken(app_id, now + cfg.refresh_token_ttl)
        self._issued["access"].append(access_token)
        self._issued["refresh"].append(refresh_token)
        return {"access_token": access_token, "refresh_token": refresh_token, "expires_in": int(cfg.token_ttl)}

    # business endpoints

    def _business_call(self, request: Request, endpoint: endpoints.Endpoint) -> Answer:
        cfg = self.config
        if cfg.fail_with_code is not None:
            code = cfg.fail_with_code
            if code.isdigit() and int(code) in BUSINESS_MESSAGES:
                return self._business_answer(None, code=int(code))
            return gateway_answer(code)
        if any(not request.query.get(name) for name in GATEWAY_PARAMS):
            return gateway_answer("3001001")
        app_id = request.query["app_key"]
        if app_id not in cfg.apps():
            return gateway_answer("2001001")
        return self._call(app_id, endpoint.path, business=True, work=lambda: self._checked(request, app_id))

    def _checked(self, request: Request, app_id: str) -> Answer:
        """The gateway checks in order (token, timestamp, body, sign), then the endpoint itself."""
        query = request.query
        access_token, timestamp = query["access_token"], query["timestamp"]
        now = self.config.clock()
        with self._lock:
            token = self._tokens.get(access_token)
            if token is None:
                return gateway_answer("2001003")
            if token.app_id != app_id or token.superseded:
                return gateway_answer("2001005")
            if token.expires_at <= now:
                return gateway_answer("2001003")
        if not (timestamp.isdigit() and len(timestamp) == 10) or abs(now - int(timestamp)) > self.config.sign_ttl:
            return gateway_answer("2001007")
        business = {k: v for k, v in query.items() if k not in GATEWAY_PARAMS}
        if request.method == "POST" and request.body.strip():
            try:
                body = json.loads(request.body)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return self._business_answer(None, code=102, message="参数不合法: 请求体必须是JSON对象")
            business.update(body)
        try:
            expected = signing.sign(business, app_id=app_id, access_token=access_token, timestamp=timestamp)
        except (TypeError, ValueError):
            return gateway_answer("2001006")
        if not hmac.compare_digest(expected.encode(), query["sign"].encode()):
            return gateway_answer("2001006")
        if request.path == endpoints.SELLER_LIST.path:
            sellers = [dict(seller) for seller in self.config.sellers]
            return self._business_answer(sellers, total=len(sellers))
        if request.path == endpoints.SUBMIT_FULFILLMENT.path:
            return self._submit(business)
        return self._results(business)

    def _business_answer(self, data: Any, *, code: int = 0, message: str | None = None, **extra: Any) -> Answer:
        with self._lock:
            self._request_counter += 1
            counter = self._request_counter
        beijing = time.gmtime(self.config.clock() + 8 * 3600)
        envelope = {
            "code": code,
            "message": message or BUSINESS_MESSAGES.get(code, "操作成功"),
            "request_id": f"{uuid.uuid4().hex}.151.{counter:016d}",
            "response_time": time.strftime("%Y-%m-%d %H:%M:%S", beijing),
            "data": data,
            **extra,
        }
        return Answer(200, _json(envelope), str(code))

    def _submit(self, body: dict[str, Any]) -> Answer:
        problem = submission_problem(body)
        if problem:
            return self._business_answer(None, code=102, message=problem)
        orders = [(str(int(order["id"])), str(order["tracking_no"])) for order in body["order_list"]]
        failure = None
        marked = [message_id for message_id, tracking_no in orders if tracking_no.upper().startswith(FAIL_MARKER)]
        if marked:
            failure = f"Amazon rejected the feed: fatal error for message(s) {', '.join(marked)} (simulated)"
        elif self.config.fail_task_predicate is not None and self.config.fail_task_predicate(body):
            failure = "Amazon rejected the feed: fatal error (simulated by fail_task_predicate)"
        with self._lock:
            task_id = self._next_task_id
            self._next_task_id += 1
            task = _Task(task_id, str(body["seller_id"]), self.config.clock(), orders, failure)
            self._tasks[task_id] = task
            self._submissions[task.seller_id].append(
                {"task_id": str(task_id), "order_ids": [message_id for message_id, _ in orders]}
            )
        return self._business_answer({"task_id": str(task_id), "task_status": "pending", "failure_reason": None})

    def _results(self, body: dict[str, Any]) -> Answer:
        problem = results_problem(body)
        if problem:
            return self._business_answer(None, code=102, message=problem)
        seller_id = str(body["seller_id"])
        wanted = list(dict.fromkeys(int(task_id) for task_id in body["task_id"]))
        now = self.config.clock()
        answers = []
        with self._lock:
            for task_id in wanted:
                task = self._tasks.get(task_id)
                if task is None or task.seller_id != seller_id:
                    continue
                task.polls += 1
                answers.append(self._report(task, now))
        return self._business_answer(answers)

    def _status(self, task: _Task, now: float) -> str:
        """pending / in_process / the final status (module docstring); called with the lock held."""
        if task.final is not None:
            return task.final["status_code"]
        cfg = self.config
        if cfg.complete_after_seconds is not None:
            age = now - task.created_at
            if age >= cfg.complete_after_seconds:
                return "final"
            return "pending" if age < cfg.complete_after_seconds / 2 else "in_process"
        if task.polls >= cfg.complete_after_polls:
            return "final"
        return "pending" if task.polls <= 1 else "in_process"

    def _report(self, task: _Task, now: float) -> dict[str, Any]:
        """One task's entry of getFulfillmentResult's `data`; called with the lock held."""
        status = self._status(task, now)
        if status == "final":
            task.final = self._final(task)
        if task.final is not None:
            return dict(task.final, processing_summary=dict(task.final["processing_summary"]))
        return _task_entry(task, status, [], None)

    def _final(self, task: _Task) -> dict[str, Any]:
        failure = task.failure
        if failure is None and task.task_id in self.config.fail_task_ids:
            failure = "Amazon rejected the feed: fatal error (simulated by fail_task_ids)"
        if failure is not None:
            return _task_entry(task, "fatal", [], failure)
        results = []
        for message_id, tracking_no in task.orders:
            for marker, result_code, message_code, description in (RESULT_CODE_ERROR, RESULT_CODE_WARNING):
                if tracking_no.upper().startswith(marker):
                    results.append(
                        {
                            "message_id": message_id,
                            "result_code": result_code,
                            "result_message_code": message_code,
                            "result_description": description,
                        }
                    )
        errors = sum(1 for r in results if r["result_code"] == "Error")
        summary = {
            "messages_processed": str(len(task.orders)),
            "messages_successful": str(len(task.orders) - errors),
            "messages_with_error": str(errors),
            "messages_with_warning": str(len(results) - errors),
        }
        return _task_entry(task, "Complete", results, None, summary)


def _task_entry(
    task: _Task,
    status_code: str,
    results: list[dict[str, str]],
    failure: str | None,
    summary: dict[str, str] | None = None,
) -> dict[str, Any]:
    empty = dict.fromkeys(SUMMARY_KEYS, "")
    return {
        "result": results,
        "task_id": str(task.task_id),
        "status_code": status_code,
        "ship_time": str(int(task.created_at)),
        "processing_summary": summary or empty,
        "failure": failure,
    }


# body validation: the first problem, in the documented message style (`orderList[0].carrierCode承运商code不能为空`)

_SUBMIT_FIELDS = (
    ("region", "region站点区域"),
    ("seller_id", "sellerId店铺id"),
    ("marketplace_id", "marketplaceId市场id"),
)
_ORDER_FIELDS = (
    ("platform_order_no", "platformOrderNo平台订单号"),
    ("tracking_no", "trackingNo跟踪号"),
    ("carrier_code", "carrierCode承运商code"),
    ("carrier_name", "carrierName承运商名称"),
)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _positive_int(value: Any, max_digits: int = 20) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return isinstance(value, int) and 0 < value < 10**max_digits


def submission_problem(body: dict[str, Any]) -> str | None:
    """The 102 message for an invalid submitFulfillment body, or None when it is valid."""
    for name, label in _SUBMIT_FIELDS:
        if _blank(body.get(name)):
            return f"{label}不能为空"
        if not isinstance(body[name], str):
            return f"{label}必须为字符串"
    if body["region"] not in endpoints.REGIONS:
        return f"region站点区域不合法: {body['region']}, 可选值 {', '.join(endpoints.REGIONS)}"
    order_list = body.get("order_list")
    if _blank(order_list):
        return "orderList订单列表不能为空"
    if not isinstance(order_list, list):
        return "orderList订单列表必须为数组"
    for i, order in enumerate(order_list):
        where = f"orderList[{i}]."
        if not isinstance(order, dict):
            return f"orderList[{i}]必须为对象"
        if _blank(order.get("id")):
            return f"{where}id订单id不能为空"
        if not _positive_int(order["id"]):
            return f"{where}id订单id必须为不超过20位的正整数"
        for name, label in _ORDER_FIELDS:
            if _blank(order.get(name)):
                return f"{where}{label}不能为空"
            if not isinstance(order[name], str):
                return f"{where}{label}必须为字符串"
        if not isinstance(order.get("shipping_service", ""), str):
            return f"{where}shippingService运输服务必须为字符串"
        items = order.get("order_item")
        if _blank(items):
            return f"{where}orderItem订单商品不能为空"
        if not isinstance(items, list):
            return f"{where}orderItem订单商品必须为数组"
        for j, item in enumerate(items):
            item_where = f"{where}orderItem[{j}]."
            if not isinstance(item, dict) or _blank(item.get("order_item_no")):
                return f"{item_where}orderItemNo订单商品编号不能为空"
            if not _positive_int(item.get("quantity"), max_digits=9):
                return f"{item_where}quantity数量必须为正整数"
    return None


def results_problem(body: dict[str, Any]) -> str | None:
    """The 102 message for an invalid getFulfillmentResult body, or None when it is valid."""
    if _blank(body.get("seller_id")):
        return "sellerId店铺id不能为空"
    task_ids = body.get("task_id")
    if _blank(task_ids):
        return "taskId任务id数组不能为空"
    if not isinstance(task_ids, list):
        return "taskId任务id必须为数组"
    limit = endpoints.GET_FULFILLMENT_RESULT.batch_limit
    if len(task_ids) > limit:
        return f"taskId任务id数组长度不能超过{limit}"
    if not all(_positive_int(task_id) for task_id in task_ids):
        return "taskId任务id必须为正整数"
    return None


def _form_fields(request: Request) -> dict[str, str]:
    """multipart/form-data or urlencoded fields; multipart values arrive raw (no URL-decoding)."""
    content_type = request.content_type.lower()
    if not request.body:
        return {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {request.content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    found: dict[str, str] = {}
    if not message.is_multipart():
        return found
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            found.setdefault(name, payload.decode("utf-8", "replace"))
    return found


# the HTTP layer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, simulator: LingxingSimulator, host: str, port: int) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse DNS lookup of the address (slow or hanging in a sandbox)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, asks the simulator, writes the answer in one send (headers and body)."""

    protocol_version = "HTTP/1.1"
    server_version = "LingxingSimulator"
    disable_nagle_algorithm = True
    timeout = 60
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool = False) -> None:
        simulator = self.server.simulator
        path, _, query_string = self._target().partition("?")
        log.debug("simulator %s %s", self.command, path)
        try:
            answer = self._read_body()
            if isinstance(answer, bytes):
                request = Request(
                    method=self.command,
                    path=path,
                    query=dict(reversed(parse_qsl(query_string, keep_blank_values=True))),
                    body=answer,
                    content_type=self.headers.get("Content-Type", ""),
                )
                answer = simulator.handle(request)
            else:
                simulator._count(path, answer.code)
        except Exception:
            log.exception("simulator internal error on %s %s", self.command, path)
            simulator.count_internal_error()
            answer = gateway_answer("500", "simulator internal error", status=500, close=True)
        self._write(answer, head=head)

    def _target(self) -> str:
        """The request target as sent: the stdlib folds a leading `//`, which the real gateway answers 404."""
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _read_body(self) -> bytes | Answer:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return gateway_answer("411", "411 LENGTH_REQUIRED", status=411, close=True)
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw_length.isdigit():
            return gateway_answer("400", "400 BAD_REQUEST: invalid Content-Length", status=400, close=True)
        length = int(raw_length)
        limit = self.server.simulator.config.max_body_bytes
        if length > limit:
            self._discard(min(length, 8 * limit))
            return gateway_answer("413", "413 PAYLOAD_TOO_LARGE", status=413, close=True)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            return gateway_answer("400", "400 BAD_REQUEST: body shorter than Content-Length", status=400, close=True)
        return body

    def _discard(self, length: int) -> None:
        """Read what the client is sending so it sees the 413 instead of a reset connection."""
        while length > 0:
            chunk = self.rfile.read(min(length, 2**16))
            if not chunk:
                return
            length -= len(chunk)

    def _write(self, answer: Answer, *, head: bool = False) -> None:
        if answer.drop:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.close:
            self.close_connection = True
        reason = self.responses.get(answer.status, ("",))[0]
        lines = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Server: {self.server_version}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
        ]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else answer.body)
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, unknown method, huge headers) get a JSON envelope too.

        Only the standard reason is sent: the stdlib's message quotes the request line, token and sign included.
        """
        text = f"{code} {self.responses.get(code, ('ERROR',))[0].upper().replace(' ', '_')}"
        answer = gateway_answer(str(code), text, status=code, close=True)
        path = (getattr(self, "path", "") or "(unparsed)").partition("?")[0]
        self.server.simulator._count(path, answer.code)
        self._write(answer, head=self.command == "HEAD")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default would log query strings, which carry access tokens and signs."""


# the command line


def _pairs(values: list[str] | None, cast: Callable[[str], Any], flag: str) -> dict[str, Any]:
    found = {}
    for value in values or ():
        key, sep, raw = value.partition("=")
        if not sep:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {value!r}")
        found[key] = cast(raw)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_lingxing.testing.simulator",
        description="Serve a local Lingxing OpenAPI simulator (on 127.0.0.1 by default) until interrupted.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0: a free one)")
    parser.add_argument("--host", default=HOST, help="address to listen on (%(default)s)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other than loopback (it serves a known secret)"
    )
    for f in fields(SimulatorConfig):
        if "help" not in f.metadata:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
        else:
            cast = f.metadata.get("type") or type(f.default)
            parser.add_argument(flag, type=cast, default=f.default, help=f.metadata["help"] + " (%(default)s)")
    parser.add_argument("--extra-app", action="append", metavar="APP_ID=SECRET", help="another accepted app")
    parser.add_argument("--endpoint-latency", action="append", metavar="PATH=SECONDS", help="latency of one path")
    parser.add_argument("--capacity", action="append", metavar="PATH=N", help="bucket capacity of one path")
    parser.add_argument("--fault-path", action="append", metavar="PATH", help="limit random faults to these paths")
    parser.add_argument("--fail-task-id", action="append", type=int, metavar="ID", help="this task ends fatal")
    parser.add_argument("--sellers-json", metavar="FILE", help="a JSON file with the seller list to serve")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    settings = {f.name: getattr(args, f.name) for f in fields(SimulatorConfig) if "help" in f.metadata}
    settings["extra_apps"] = _pairs(args.extra_app, str, "--extra-app")
    settings["endpoint_latency"] = _pairs(args.endpoint_latency, float, "--endpoint-latency")
    settings["capacities"] = _pairs(args.capacity, int, "--capacity")
    settings["fault_paths"] = set(args.fault_path) if args.fault_path else None
    settings["fail_task_ids"] = set(args.fail_task_id or ())
    if args.sellers_json:
        with open(args.sellers_json, encoding="utf-8") as sellers:
            settings["sellers"] = json.load(sellers)
    return SimulatorConfig(**settings)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        simulator = LingxingSimulator(config, port=args.port, host=args.host, allow_remote=args.allow_remote)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with simulator:
        print(f"Lingxing OpenAPI simulator listening on {simulator.base_url}", flush=True)
        print(f"app id: {simulator.app_id}", flush=True)
        print(f"app secret: {simulator.app_secret}", flush=True)
        print(f"AIRFLOW_CONN_LINGXING_DEFAULT='{simulator.connection_json()}'", flush=True)
        print(f"stats: GET {simulator.base_url}{STATS_PATH}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


class SimulatorProcess:
    """The command line above (`--port 0` plus `cli_args`) in a child process, steered over HTTP.

    For load tests and benchmarks: the simulator's threads then run in their own interpreter, so its CPU
    neither competes for the client's GIL nor counts in the client's `time.process_time()` or tracemalloc
    figures, as with the real, remote service. Otherwise prefer `LingxingSimulator` (same process, faster).

        with SimulatorProcess("--latency", "0.01", "--complete-after-polls", "1") as sim:
            os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
            sim.configure(latency=0.05); sim.stats(); sim.reset()

    Leaving the block stops the process (terminate, then kill if it has not exited within 10 s).
    """

    def __init__(self, *cli_args: str, start_timeout: float = 15.0) -> None:
        self.cli_args = cli_args
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self.base_url = self.app_id = self.app_secret = self._connection = ""
        self._output: deque[str] = deque(maxlen=200)
        self._started = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self) -> SimulatorProcess:
        if self.process is not None:
            return self
        self.base_url = self.app_id = self.app_secret = self._connection = ""  # a restart forgets the last run
        self._output.clear()
        self._started = threading.Event()
        command = [sys.executable, "-m", "airflow_provider_lingxing.testing.simulator", "--port", "0", *self.cli_args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace"
        )
        try:
            self._reader = threading.Thread(target=self._read, name="lingxing-simulator-output", daemon=True)
            self._reader.start()
            signalled = self._started.wait(self.start_timeout)
            if not self._connection:
                if signalled:  # without a connection line: the output ended, the process is exiting
                    with suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=5)
                exited = self.process.poll()
                why = f"exited with code {exited}" if exited is not None else f"not ready in {self.start_timeout:g} s"
                raise RuntimeError(f"the simulator ({' '.join(command)}) {why}; its output:\n{self.output()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _read(self) -> None:
        """Parse the lines main() prints, then keep draining (stderr included) so the process never blocks."""
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._output.append(line)
            if self._started.is_set():
                continue
            text = line.strip()
            if text.startswith("Lingxing OpenAPI simulator listening on "):
                self.base_url = text.rsplit(" ", 1)[1]
            elif text.startswith("app id: "):
                self.app_id = text.split(": ", 1)[1]
            elif text.startswith("app secret: "):
                self.app_secret = text.split(": ", 1)[1]
            elif text.startswith("AIRFLOW_CONN_LINGXING_DEFAULT="):
                self._connection = text.split("=", 1)[1].strip("'")
                self._started.set()
        self._started.set()  # the output ended: no longer worth waiting for

    def output(self) -> str:
        """The process's last (up to 200) lines of stdout and stderr."""
        return "".join(self._output)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connection_json(self) -> str:
        """The value of AIRFLOW_CONN_LINGXING_DEFAULT (JSON form) pointing at this simulator."""
        return self._connection

    def configure(self, **settings: Any) -> dict[str, Any]:
        """POST /__simulator__/config: change scalar settings (all or none); returns them all after the change."""
        return self._call(CONFIG_PATH, json.dumps(settings).encode())

    def stats(self) -> dict[str, Any]:
        """GET /__simulator__/stats (see LingxingSimulator.stats)."""
        return self._call(STATS_PATH)

    def reset(self) -> None:
        """POST /__simulator__/reset: forget tokens, tasks and statistics."""
        self._call(RESET_PATH, b"")

    def _call(self, path: str, body: bytes | None = None) -> Any:
        if self.process is None:
            raise RuntimeError("the simulator process is not started: use `with SimulatorProcess(...) as sim`")
        request = urllib.request.Request(self.base_url + path, data=body, method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            with error:
                refusal = error.read().decode("utf-8", "replace")
            raise ValueError(f"{request.method} {path}: {error.code} {refusal}") from None


if __name__ == "__main__":
    main()
