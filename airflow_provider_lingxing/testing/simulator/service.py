"""`LingxingSimulator`: the gateway's checks and buckets in front of the token desk and the fulfillment service."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from airflow_provider_lingxing.testing.simulator import gateway
from airflow_provider_lingxing.testing.simulator.config import (
    HOST,
    SimulatorConfig,
    coerce,
    is_loopback,
    settable_fields,
)
from airflow_provider_lingxing.testing.simulator.faults import Faults
from airflow_provider_lingxing.testing.simulator.fulfillment import Fulfillment, Refused
from airflow_provider_lingxing.testing.simulator.gateway import (
    Answer,
    Request,
    Route,
    form_fields,
    gateway_answer,
    json_bytes,
)
from airflow_provider_lingxing.testing.simulator.server import SimulatorServer, server_context
from airflow_provider_lingxing.testing.simulator.signing import expected_sign
from airflow_provider_lingxing.testing.simulator.tokens import TokenDesk

STATS_PATH = "/__simulator__/stats"
RESET_PATH = "/__simulator__/reset"
CONFIG_PATH = "/__simulator__/config"


class LingxingSimulator:
    """The simulator; use as a context manager or call start() / stop().

    `certfile`/`keyfile` (PEM) or `tls` (a server-side `ssl.SSLContext`) serve HTTPS instead of HTTP.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        port: int = 0,
        host: str = HOST,
        allow_remote: bool = False,
        tls: ssl.SSLContext | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        **settings: Any,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ValueError(
                f"the simulator refuses to listen on {host!r}: anyone reaching it gets tokens with its published "
                "app secret. Use a loopback address, or pass allow_remote=True (--allow-remote) to expose it"
            )
        self.config = replace(config or SimulatorConfig(), **settings)
        self.config.validate()
        self.tls = server_context(tls, certfile, keyfile)
        self._host = host
        self._port = port
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], int] = defaultdict(int)
        self.tokens = TokenDesk(self.config, self.now)
        self.fulfillment = Fulfillment(self.config, self.now)
        self.faults = Faults(self.config)
        self._request_counter = 0
        self.reset()

    # life cycle

    def start(self) -> LingxingSimulator:
        if self._server is not None:
            return self
        self._server = SimulatorServer(self, self._host, self._port, self.tls)
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
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = HOST if self._host in ("0.0.0.0", "::", "") else self._host
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

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

    def now(self) -> float:
        """The gateway's clock: the host's plus `clock_offset`."""
        return self.config.clock() + self.config.clock_offset

    # introspection and control

    def reset(self) -> None:
        """Forget tokens, tasks and statistics and reseed the faults; task ids keep counting up."""
        self.tokens.reset()
        self.fulfillment.reset()
        self.faults.reset()
        with self._lock:
            self._requests: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            self._peak: dict[tuple[str, str], int] = {key: n for key, n in self._in_flight.items() if n}
            self._rate_limited = 0
            self._internal_errors = 0

    def stats(self) -> dict[str, Any]:
        """A plain, JSON-ready snapshot (also served unsigned at GET /__simulator__/stats).

        Keys: requests {path: {code: n}}, requests_total, tokens_issued {access, refresh, rotated},
        token_fetches {app id: access + refresh tokens clients fetched}, tokens_rotated {app id: n} (rotate_token()
        and the competing client), peak_in_flight {app id: {path: n}}, in_flight (same shape), rate_limited
        (3001008 answers), submissions {seller_id: [{task_id, order_ids}]} (order ids as strings, as message_id
        comes back), duplicate_order_ids {seller_id: [ids submitted more than once]}, orders_received
        {seller_id: {marketplace_id: {order id: times it reached a task}}}, tasks {created, unfinished (not yet
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
            counters = {
                "requests": {path: dict(codes) for path, codes in self._requests.items()},
                "requests_total": sum(sum(codes.values()) for codes in self._requests.values()),
                "peak_in_flight": dict(peak),
                "in_flight": dict(in_flight),
                "rate_limited": self._rate_limited,
                "internal_errors": self._internal_errors,
            }
        return {**counters, **self.tokens.stats(), **self.fulfillment.stats()}

    def issued_tokens(self) -> dict[str, list[str]]:
        """Every access and refresh token issued since the last reset, for tests that prove none leaked."""
        return self.tokens.issued()

    def expire_tokens(self, app_id: str | None = None) -> None:
        """Make every access token (of one app, or all) expired: the next business call gets 2001003."""
        self.tokens.expire(app_id)

    def rotate_token(self, app_id: str | None = None) -> str:
        """Issue a token as if another process had fetched one; returns it (the old one now gets 2001005).

        For a client that keeps doing so, set `rotate_token_every`.
        """
        app_id = app_id or self.config.app_id
        if app_id not in self.config.apps():
            raise ValueError(f"app_id {app_id!r} is not one of the simulator's apps")
        return self.tokens.rotate(app_id)

    def task_status(self, task_id: int | str) -> str | None:
        """The status the task would be reported with now, without counting a poll (None: no such task)."""
        return self.fulfillment.task_status(task_id)

    def plain_config(self) -> dict[str, Any]:
        """The settings that can be changed over HTTP (POST /__simulator__/config) or from the CLI."""
        return {name: getattr(self.config, name) for name in settable_fields()}

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Apply scalar settings atomically: all are validated before any is kept."""
        settable = settable_fields()
        unknown = sorted(set(changes) - set(settable))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}: expected some of {sorted(settable)}")
        coerced = {name: coerce(settable[name], value) for name, value in changes.items()}
        candidate = replace(self.config, **coerced)
        candidate.validate()
        for name in coerced:
            setattr(self.config, name, getattr(candidate, name))

    def count(self, path: str, code: str) -> None:
        with self._lock:
            self._requests[path][code] += 1
            if code == "3001008":
                self._rate_limited += 1

    def count_internal_error(self) -> None:
        with self._lock:
            self._internal_errors += 1

    # the protocol

    def handle(self, request: Request) -> Answer:
        """One HTTP request → its answer; sleeps the configured latency while holding the bucket slot."""
        if request.path.startswith("/__simulator__/"):
            return self._control(request)
        route = gateway.ROUTES.get(request.path)
        if route is None:
            answer = gateway_answer("500", "404 NOT_FOUND", status=404)
        elif request.method != route.method:
            answer = gateway_answer("405", status=405)
        elif route in gateway.TOKEN_ROUTES:
            answer = self._token_call(request, route)
        else:
            answer = self._business_call(request, route)
        self.count(request.path, answer.code)
        return answer

    def _control(self, request: Request) -> Answer:
        if request.path == STATS_PATH and request.method == "GET":
            return Answer(200, json_bytes(self.stats()), "0")
        if request.path == RESET_PATH and request.method == "POST":
            self.reset()
            return Answer(200, json_bytes({"reset": True}), "0")
        if request.path == CONFIG_PATH and request.method in ("GET", "POST"):
            if request.method == "POST":
                try:
                    self.configure(json.loads(request.body or b"{}"))
                except (ValueError, TypeError) as error:
                    return Answer(400, json_bytes({"code": "400", "msg": str(error)}), "400")
            return Answer(200, json_bytes(self.plain_config()), "0")
        return gateway_answer("500", "404 NOT_FOUND", status=404)

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

    def _call(self, app_id: str, path: str, *, business: bool, work: Callable[[], Answer]) -> Answer:
        """The shared middle of every API call: bucket, latency, faults, then the work."""
        with self._slot(app_id, path) as acquired:
            if not acquired:
                return gateway_answer("3001008")
            fault, slow = self.faults.draw(path, business=business)
            delay = self.config.latency_for(path) + (self.config.slow_delay if slow else 0.0)
            if delay > 0:
                time.sleep(delay)
            replaced = self.faults.replacement(fault, self._business_answer) if fault else None
            if replaced is not None:
                return replaced
            answer = work()
        if fault == "drop":
            return replace(answer, drop=True, code="dropped")
        return answer

    def _token_call(self, request: Request, route: Route) -> Answer:
        form = form_fields(request)
        for key, value in request.query.items():
            form.setdefault(key, value)
        app_id = form.get("appId", "")
        if route is gateway.ACCESS_TOKEN:
            work = lambda: self.tokens.access_token(app_id, form.get("appSecret", ""))  # noqa: E731
        else:
            work = lambda: self.tokens.refresh(app_id, form.get("refreshToken", ""))  # noqa: E731
        return self._call(app_id, route.path, business=False, work=work)

    def _business_call(self, request: Request, route: Route) -> Answer:
        failure = self.faults.scripted(route.path)
        if failure is not None and not self.config.fail_after_work:
            return self.faults.scripted_answer(failure, self._business_answer)
        if any(not request.query.get(name) for name in gateway.GATEWAY_PARAMS):
            answer = gateway_answer("3001001")
        elif request.query["app_key"] not in self.config.apps():
            answer = gateway_answer("2001001")
        else:
            app_id = request.query["app_key"]
            answer = self._call(app_id, route.path, business=True, work=lambda: self._checked(request, app_id))
        if failure is not None:
            return self.faults.scripted_answer(failure, self._business_answer)
        return answer

    def _checked(self, request: Request, app_id: str) -> Answer:
        """The gateway checks in order (token, timestamp, body, sign), then the endpoint itself."""
        query = request.query
        access_token, timestamp = query["access_token"], query["timestamp"]
        refused = self.tokens.check(access_token, app_id)
        if refused:
            return gateway_answer(refused)
        if gateway.timestamp_expired(timestamp, self.now(), self.config.sign_ttl):
            return gateway_answer("2001007")
        business: dict[str, Any] = {k: v for k, v in query.items() if k not in gateway.GATEWAY_PARAMS}
        if request.method == "POST" and request.body.strip():
            try:
                body = json.loads(request.body)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return self._business_answer(102, "参数不合法: 请求体必须是JSON对象")
            business.update(body)
        try:
            expected = expected_sign(business, app_id=app_id, access_token=access_token, timestamp=timestamp)
        except (TypeError, ValueError):
            return gateway_answer("2001006")
        if not gateway.sign_matches(expected, query["sign"]):
            return gateway_answer("2001006")
        try:
            if request.path == gateway.SELLER_LIST.path:
                sellers = [dict(seller) for seller in self.config.sellers]
                return self._business_answer(0, data=sellers, total=len(sellers))
            if request.path == gateway.SUBMIT_FULFILLMENT.path:
                return self._business_answer(0, data=self.fulfillment.submit(business))
            return self._business_answer(0, data=self.fulfillment.results(business))
        except Refused as refusal:
            return self._business_answer(102, str(refusal))

    def _business_answer(self, code: int, message: str | None = None, *, data: Any = None, **extra: Any) -> Answer:
        with self._lock:
            self._request_counter += 1
            number = self._request_counter
        return gateway.business_answer(data, now=self.now(), number=number, code=code, message=message, **extra)
