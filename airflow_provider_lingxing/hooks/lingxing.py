"""LingxingHook: an Airflow connection → signed, rate-limited, retried calls to the Lingxing OpenAPI.

The protocol (signing, parsing, retry decisions, the token rules) lives in `api/` as pure functions and
plans; this module only performs their effects: requests for the sync path, httpx for the async one,
a process-wide concurrency limiter per (app id, endpoint), and the shared token store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import ssl
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx
import requests
import urllib3
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_lingxing.api import calls
from airflow_provider_lingxing.api.calls import Effect, GetToken, Send, Sleep
from airflow_provider_lingxing.api.endpoints import (
    ACCESS_TOKEN,
    DEFAULT_BASE_URL,
    ENDPOINTS,
    GET_FULFILLMENT_RESULT,
    REFRESH_TOKEN,
    SELLER_LIST,
    SUBMIT_FULFILLMENT,
    Endpoint,
    endpoint_for,
)
from airflow_provider_lingxing.api.fulfillment import MAX_TASK_ID_DIGITS, batches, normalize_task_ids
from airflow_provider_lingxing.api.orders import normalize_order, normalize_region, order_problems, region_problem
from airflow_provider_lingxing.api.retry import RetryPolicy, TransportFailure
from airflow_provider_lingxing.api.signing import VALID_APP_ID_BYTES
from airflow_provider_lingxing.api.tokens import (
    PROCESS_TOKEN_STORE,
    AccessToken,
    TokenAction,
    TokenStore,
    newer_than,
    owner_fingerprint,
    store_key,
    token_action,
)
from airflow_provider_lingxing.exceptions import (
    LingxingApiError,
    LingxingFatalError,
    LingxingInputError,
)

try:
    import fcntl
except ImportError:  # not POSIX: tokens are then serialised within each process only
    fcntl = None  # type: ignore[assignment]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
MAX_POOLED_CONNECTIONS = max(e.capacity for e in ENDPOINTS.values())
TOKEN_ENDPOINT_PATHS = frozenset({ACCESS_TOKEN.path, REFRESH_TOKEN.path})

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- connection


@dataclass(frozen=True)
class LingxingSettings:
    """A validated connection. repr hides the secret."""

    conn_id: str
    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool = True


def _extra(extras: Mapping[str, Any], name: str) -> Any:
    for key in (name, f"extra__lingxing__{name}"):
        value = extras.get(key)
        if value is not None and value != "":
            return value
    return None


HOST_NAME = re.compile(r"[\w.-]+|[0-9a-f:.]*:[0-9a-f:.]*")
"""A host name (letters, digits, `.`, `-`, `_`, any script) or an IPv6 address as urlsplit gives it."""


def _url_problem(parts: SplitResult) -> str | None:
    """What is wrong with a Base URL, or None; never quotes it whole (it could hold a password)."""
    if parts.scheme.lower() not in ("http", "https"):
        return f"must be an http:// or https:// URL, such as {DEFAULT_BASE_URL} (got scheme {parts.scheme!r})"
    if "@" in parts.netloc:
        return "must not hold a user name or password: the App ID and App Secret go in login and password"
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    if port == 0 or parts.netloc.endswith(":"):
        return "has a port that is not a number from 1 to 65535"
    if not parts.hostname:
        return f"has no host name, such as {DEFAULT_BASE_URL}"
    if not HOST_NAME.fullmatch(parts.hostname):
        return f"has a host name {parts.hostname!r} with characters a host name cannot have"
    return None


def _base_url(host: str | None, schema: str | None, port: int | None, where: str) -> str:
    """The connection's host as a base URL; a bare host takes the schema field's scheme, else https."""
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = (schema or "").strip().lower()
        host = f"{scheme if scheme in ('http', 'https') else 'https'}://{host}"
    try:
        parts = urlsplit(host)
        problem = _url_problem(parts)
    except ValueError:
        problem = "is not a URL (an unclosed `[` of an IPv6 address?)"
    if problem is not None:
        raise LingxingInputError(f"{where}: host (Base URL) {problem}")
    netloc = f"{parts.netloc}:{port}" if port and parts.port is None else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def _timeout(value: Any, where: str) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value) if not isinstance(value, bool) else 0.0
    except (TypeError, ValueError):
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise LingxingInputError(f"{where}: extra `timeout` must be a number of seconds > 0, got {value!r}")
    return seconds


def _max_retries(value: Any, where: str) -> int:
    if value is None:
        return DEFAULT_MAX_RETRIES
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        raise LingxingInputError(f"{where}: extra `max_retries` must be a whole number >= 0, got {value!r}")
    return int(text)


def _verify(value: Any, where: str) -> bool:
    if value is None or isinstance(value, bool):
        return value is not False
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise LingxingInputError(f"{where}: extra `verify` must be true or false, got {value!r}")
    return text in ("true", "1", "yes")


def settings_from_connection(conn: Any) -> LingxingSettings:
    """Validates a connection before any network call; each message names the field to fix."""
    where = f"Lingxing connection {conn.conn_id!r}"
    base_url = _base_url(conn.host, conn.schema, conn.port, where)
    app_id = (conn.login or "").strip()
    if not app_id:
        raise LingxingInputError(f"{where}: login (App ID) is empty: set it to the app id from the Lingxing ERP")
    if len(app_id.encode()) not in VALID_APP_ID_BYTES:
        raise LingxingInputError(
            f"{where}: login (App ID) must be 16, 24 or 32 bytes long (it is the AES key of the sign), "
            f"got {len(app_id.encode())} bytes"
        )
    app_secret = conn.password or ""
    if not app_secret.strip():
        raise LingxingInputError(f"{where}: password (App Secret) is empty: set it to the app secret")
    try:
        extras = json.loads(conn.extra) if conn.extra else {}
    except ValueError:
        raise LingxingInputError(f"{where}: extra is not valid JSON") from None
    if not isinstance(extras, Mapping):
        raise LingxingInputError(f"{where}: extra must be a JSON object")
    verify = _verify(_extra(extras, "verify"), where)
    if not verify:
        _log.warning("%s: TLS verification is off (extra verify=false): tokens could be intercepted", where)
    return LingxingSettings(
        conn.conn_id,
        base_url,
        app_id,
        app_secret,
        _timeout(_extra(extras, "timeout"), where),
        _max_retries(_extra(extras, "max_retries"), where),
        verify,
    )


# ---------------------------------------------------------------------------------------------- secrets

_SECRET_QUERY = re.compile(r"(?i)\b(access_token|sign|appSecret|refreshToken)=[^&\s\"'#]*")


class _RedactSignedUrls(logging.Filter):
    """urllib3 (debug) and httpx (info) log request URLs, whose query holds the token and the sign."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(r"\1=***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _RedactSignedUrls()
_MASKED: set[str] = set()
_MASKED_LOCK = threading.Lock()


def _install_url_redaction() -> None:
    for name in ("urllib3.connectionpool", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def _mask(*secrets: str) -> None:
    """Registers each secret once with Airflow's masker (each registration may message the supervisor)."""
    for secret in secrets:
        with _MASKED_LOCK:
            if not secret or secret in _MASKED:
                continue
            _MASKED.add(secret)
        mask_secret(secret)


# ---------------------------------------------------------------------------------------------- token store


def in_airflow_runtime() -> bool:
    """True inside a task or the triggerer: the supervisor can read and write Variables for us."""
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


class VariableTokenStore:
    """The deployment-wide store: one Airflow Variable per connection (`lingxing_token__<conn_id>`).

    Every worker and the triggerer read and write it, so they all use the one live token.
    """

    description = (
        "Lingxing access token shared by every worker and the triggerer (written by the Lingxing provider; "
        "deleting it only makes the next call fetch a new token)"
    )

    def get(self, key: str) -> AccessToken | None:
        from airflow.sdk import Variable

        raw = Variable.get(key, default=None)
        if raw is None:
            return None
        try:
            token = AccessToken.from_json(raw if isinstance(raw, str) else json.dumps(raw))
        except ValueError:
            _log.warning("Variable %s does not hold a Lingxing token; a new token will replace it", key)
            return None
        _mask(token.access_token, token.refresh_token)
        return token

    def put(self, key: str, token: AccessToken) -> None:
        from airflow.sdk import Variable

        _mask(token.access_token, token.refresh_token)
        Variable.set(key, token.to_json(), description=self.description)


def default_token_store() -> TokenStore:
    return VariableTokenStore() if in_airflow_runtime() else PROCESS_TOKEN_STORE


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_LOCK = threading.Lock()


def _process_lock(owner: str) -> threading.Lock:
    with _PROCESS_LOCKS_LOCK:
        return _PROCESS_LOCKS.setdefault(owner, threading.Lock())


@contextlib.contextmanager
def _host_lock(owner: str) -> Iterator[None]:
    """An fcntl lock shared by every process on this host using the same app: one token fetch at a time."""
    if fcntl is None:
        yield
        return
    path = os.path.join(tempfile.gettempdir(), f"airflow-provider-lingxing-{owner}.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        _log.debug("cannot open the token lock file %s; serialising within this process only", path)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class TokenKeeper:
    """The token protocol of §2 for one connection: use the shared token, refresh it before expiry, fetch a
    new one when there is none (or refresh fails), and after a refusal prefer a newer shared token.

    Fetches are serialised per app in the process (a lock) and on the host (a file lock), and the store is
    re-read inside the locks, so concurrent callers end up with one fetch.
    """

    def __init__(
        self,
        settings: LingxingSettings,
        store: TokenStore,
        call_form: Callable[[Endpoint, Mapping[str, str]], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.key = store_key(settings.conn_id)
        self.owner = owner_fingerprint(settings.base_url, settings.app_id)
        self._call_form = call_form
        self._clock = clock
        self._cached: AccessToken | None = None
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.fetched = 0
        """Tokens this keeper fetched with the secret (refreshes not counted)."""

    def cached(self) -> AccessToken | None:
        token = self._cached
        if token is not None and token_action(token, now=self._clock(), owner=self.owner) is TokenAction.USE:
            return token
        return None

    def current(self) -> AccessToken:
        token = self.cached()
        if token is not None:
            return token
        with self._exclusive():
            token = self.cached() or self._settle(self._read())
            self._cached = token
            return token

    def renew(self, refused: AccessToken) -> AccessToken:
        """After 2001003/2001005: the newer shared token if there is one, else a new one (once per refusal)."""
        with self._exclusive():
            token = self.cached()
            if token is None or token.access_token == refused.access_token:
                stored = self._read()
                if newer_than(stored, refused, now=self._clock(), owner=self.owner):
                    token = self._settle(stored)
                else:
                    token = self._fetch()
            self._cached = token
            return token

    def fetch_new(self) -> AccessToken:
        """A new token even when one is shared: only a fetch proves the app secret (test_connection)."""
        with self._exclusive():
            self._cached = token = self._fetch()
            return token

    async def acurrent(self) -> AccessToken:
        token = self.cached()
        if token is not None:
            return token
        async with self._async_lock():
            return self.cached() or await asyncio.to_thread(self.current)

    async def arenew(self, refused: AccessToken) -> AccessToken:
        async with self._async_lock():
            token = self.cached()
            if token is not None and token.access_token != refused.access_token:
                return token
            return await asyncio.to_thread(self.renew, refused)

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop)
        if lock is None:
            lock = self._async_locks[loop] = asyncio.Lock()
        return lock

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with _process_lock(self.owner), _host_lock(self.owner):
            yield

    def _settle(self, stored: AccessToken | None) -> AccessToken:
        action = token_action(stored, now=self._clock(), owner=self.owner)
        if action is TokenAction.USE and stored is not None:
            return stored
        if action is TokenAction.REFRESH and stored is not None:
            return self._refresh(stored)
        return self._fetch()

    def _read(self) -> AccessToken | None:
        try:
            token = self.store.get(self.key)
        except Exception as error:
            _log.warning("cannot read the shared Lingxing token (%s); fetching one", type(error).__name__)
            return None
        if token is not None:
            _mask(token.access_token, token.refresh_token)
        return token

    def _keep(self, data: Any, endpoint: Endpoint) -> AccessToken:
        try:
            token = AccessToken.from_response(data, now=self._clock(), owner=self.owner)
        except ValueError as error:
            raise LingxingFatalError(str(error), path=endpoint.path) from None
        _mask(token.access_token, token.refresh_token)
        try:
            self.store.put(self.key, token)
        except Exception as error:
            _log.warning(
                "cannot share the new Lingxing token (%s): other processes will fetch their own",
                type(error).__name__,
            )
        return token

    def _fetch(self) -> AccessToken:
        _mask(self.settings.app_secret)
        data = self._call_form(ACCESS_TOKEN, {"appId": self.settings.app_id, "appSecret": self.settings.app_secret})
        self.fetched += 1
        return self._keep(data, ACCESS_TOKEN)

    def _refresh(self, stored: AccessToken) -> AccessToken:
        try:
            data = self._call_form(REFRESH_TOKEN, {"appId": self.settings.app_id, "refreshToken": stored.refresh_token})
            return self._keep(data, REFRESH_TOKEN)
        except LingxingApiError as error:
            _log.info("refreshing the Lingxing token failed (%s); fetching a new one", error.code or error.message)
            return self._fetch()


# ---------------------------------------------------------------------------------------------- limiter

_SYNC_LIMITS: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_SYNC_LIMITS_LOCK = threading.Lock()
_ASYNC_LIMITS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def sync_limit(app_id: str, endpoint: Endpoint) -> threading.BoundedSemaphore:
    """At most `capacity` requests in flight per (app id, endpoint) across every hook of the process (§5)."""
    key = (app_id, endpoint.path)
    limit = _SYNC_LIMITS.get(key)
    if limit is None:
        with _SYNC_LIMITS_LOCK:
            limit = _SYNC_LIMITS.setdefault(key, threading.BoundedSemaphore(endpoint.capacity))
    return limit


DEFAULT_POOL = "default_pool"
"""Airflow's pool for the tasks that name none."""


def pool_slots_limit(task: Any) -> int | None:
    """The requests an operator may have in flight at once: its `pool_slots` when it runs in a pool it names,
    so that one pool sized to an endpoint's capacity keeps every worker together under it; None (up to the
    capacity) in the default pool. Airflow counts tasks in a pool, not their requests: this makes them equal."""
    if getattr(task, "pool", None) in (None, "", DEFAULT_POOL):
        return None
    slots = getattr(task, "pool_slots", 1)
    return slots if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0 else 1


def async_limit(app_id: str, endpoint: Endpoint) -> asyncio.Semaphore:
    """The async twin of `sync_limit`, per event loop: every trigger of a triggerer shares it."""
    limits = _ASYNC_LIMITS.setdefault(asyncio.get_running_loop(), {})
    key = (app_id, endpoint.path)
    limit = limits.get(key)
    if limit is None:
        limit = limits[key] = asyncio.Semaphore(endpoint.capacity)
    return limit


# ---------------------------------------------------------------------------------------------- transports


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        for attribute in ("reason", "__cause__", "__context__"):
            nested = getattr(current, attribute, None)
            if isinstance(nested, BaseException):
                pending.append(nested)


def _certificate_failure(error: BaseException, path: str, host: str) -> LingxingFatalError | None:
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in _causes(error)):
        return LingxingFatalError(
            f"the TLS certificate of {host} could not be verified",
            path=path,
            hint="Install the CA certificate on the workers, or set the connection extra verify to false",
        )
    return None


def _requests_failure(error: requests.RequestException, path: str, settings: LingxingSettings) -> LingxingApiError:
    """A requests exception → a typed error whose text carries no URL (requests' own text has the query)."""
    host = urlsplit(settings.base_url).netloc
    if isinstance(error, requests.exceptions.SSLError):
        return _certificate_failure(error, path, host) or TransportFailure(
            f"the TLS handshake with {host} failed", delivered=False, path=path
        )
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return TransportFailure(f"no connection to {host} within {settings.timeout:g} s", delivered=False, path=path)
    if isinstance(error, requests.exceptions.ReadTimeout):
        return TransportFailure(f"no answer within {settings.timeout:g} s", delivered=True, path=path)
    if isinstance(error, requests.exceptions.ConnectionError) and any(
        isinstance(cause, urllib3.exceptions.NewConnectionError) for cause in _causes(error)
    ):
        return TransportFailure(f"could not connect to {host}", delivered=False, path=path)
    return TransportFailure("the connection broke before the answer arrived", delivered=True, path=path)


def _httpx_failure(error: httpx.HTTPError, path: str, settings: LingxingSettings) -> LingxingApiError:
    """The httpx twin of `_requests_failure`: same messages, same delivered/not-delivered split."""
    host = urlsplit(settings.base_url).netloc
    if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return TransportFailure(f"no connection to {host} within {settings.timeout:g} s", delivered=False, path=path)
    if isinstance(error, httpx.ConnectError):
        return _certificate_failure(error, path, host) or TransportFailure(
            f"could not connect to {host}", delivered=False, path=path
        )
    if isinstance(error, httpx.ReadTimeout):
        return TransportFailure(f"no answer within {settings.timeout:g} s", delivered=True, path=path)
    return TransportFailure("the connection broke before the answer arrived", delivered=True, path=path)


# ---------------------------------------------------------------------------------------------- results


def _task_id_order(result: Any) -> tuple[int, int, str]:
    text = str(result.get("task_id", "")).strip() if isinstance(result, Mapping) else ""
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def one_per_task(answers: list[Any], path: str) -> list[dict]:
    """Every batch's results, one dict per distinct task id, in task-id order.

    An item that is not a task result with a task id is refused: ignored, its task would look pending forever.
    """
    by_task: dict[str, dict] = {}
    for answer in answers:
        if answer is None:
            continue
        if not isinstance(answer, list):
            raise LingxingFatalError(f"expected a list of task results, got {type(answer).__name__}", path=path)
        for result in answer:
            if not isinstance(result, Mapping):
                raise LingxingFatalError(f"expected each task result to be an object, got {result!r:.100}", path=path)
            key = str(result.get("task_id", "")).strip().lstrip("0")
            if not (key.isascii() and key.isdigit() and len(key) <= MAX_TASK_ID_DIGITS):
                raise LingxingFatalError(f"a task result has task_id {result.get('task_id')!r:.100}", path=path)
            by_task.setdefault(key, result)
    return sorted(by_task.values(), key=_task_id_order)


# ---------------------------------------------------------------------------------------------- the hook


def _text_argument(value: Any, argument: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise LingxingInputError(f"{argument} is empty or missing: give the Amazon {argument}")
    return str(value).strip()


class LingxingHook(BaseHook):
    """Talks to the Lingxing OpenAPI with a `lingxing` connection: host = Base URL, login = App ID,
    password = App Secret; extras `timeout` (s), `max_retries`, `verify`.

    `max_in_flight` caps the requests one batched call sends at once (default: the endpoint's capacity); the
    operators and the sensor pass their pool slots (`pool_slots_limit`). Tokens are shared through `token_store`
    (default: an Airflow Variable per connection inside a task or the triggerer, else one store per process).
    Close it with `close()` / `await aclose()` when done.
    """

    conn_name_attr = "lingxing_conn_id"
    default_conn_name = "lingxing_default"
    conn_type = "lingxing"
    hook_name = "Lingxing ERP"

    def __init__(
        self,
        lingxing_conn_id: str = default_conn_name,
        *,
        token_store: TokenStore | None = None,
        retry_policy: RetryPolicy | None = None,
        max_in_flight: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(lingxing_conn_id, str) or not lingxing_conn_id.strip():
            raise LingxingInputError("lingxing_conn_id is empty: give the id of a `lingxing` connection")
        if max_in_flight is not None and (
            isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1
        ):
            raise LingxingInputError(f"max_in_flight must be a positive integer or None, got {max_in_flight!r}")
        self.lingxing_conn_id = lingxing_conn_id
        self.max_in_flight = max_in_flight
        self._token_store = token_store
        self._retry_policy = retry_policy or RetryPolicy()
        self._settings: LingxingSettings | None = None
        self._keeper: TokenKeeper | None = None
        self._session: requests.Session | None = None
        self._async_client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None
        self._setup_lock = threading.Lock()
        self._clock: Callable[[], float] = time.time

    # -- set-up --------------------------------------------------------------------------------------

    @property
    def settings(self) -> LingxingSettings:
        """The validated connection, read once (raises LingxingInputError before any network call)."""
        if self._settings is None:
            self._adopt(settings_from_connection(self.get_connection(self.lingxing_conn_id)))
        assert self._settings is not None
        return self._settings

    async def asettings(self) -> LingxingSettings:
        if self._settings is None:
            aget_connection = getattr(self, "aget_connection", None)
            if aget_connection is not None:
                conn = await aget_connection(self.lingxing_conn_id)
            else:
                conn = await asyncio.to_thread(self.get_connection, self.lingxing_conn_id)
            await asyncio.to_thread(self._adopt, settings_from_connection(conn))
        assert self._settings is not None
        return self._settings

    def _adopt(self, settings: LingxingSettings) -> None:
        with self._setup_lock:
            if self._settings is not None:
                return
            _install_url_redaction()
            _mask(settings.app_secret)
            self._retry_policy = replace(self._retry_policy, max_retries=settings.max_retries)
            self._keeper = TokenKeeper(
                settings, self._token_store or default_token_store(), self._call_form, clock=self._now
            )
            self._settings = settings

    def _now(self) -> float:
        return self._clock()

    @property
    def token_keeper(self) -> TokenKeeper:
        self.settings  # noqa: B018
        assert self._keeper is not None
        return self._keeper

    def get_conn(self) -> requests.Session:
        """The keep-alive session of the sync path (its pool holds as many connections as any bucket).

        The proxy and CA-bundle environment is read once here for the one host this hook calls, instead
        of requests scanning the whole environment on every request.
        """
        if self._session is None:
            settings = self.settings
            with self._setup_lock:
                if self._session is None:
                    session = requests.Session()
                    adapter = requests.adapters.HTTPAdapter(
                        pool_connections=4, pool_maxsize=MAX_POOLED_CONNECTIONS, max_retries=0
                    )
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    session.proxies.update(requests.utils.get_environ_proxies(settings.base_url))
                    session.verify = settings.verify and (
                        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
                    )
                    session.trust_env = False
                    session.headers["User-Agent"] = "airflow-provider-lingxing"
                    self._session = session
        return self._session

    async def aget_conn(self) -> httpx.AsyncClient:
        """The async client of the current event loop (a client cannot outlive or change its loop)."""
        settings = await self.asettings()
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_client[0] is not loop:
            client = httpx.AsyncClient(
                verify=settings.verify,
                timeout=settings.timeout,
                limits=httpx.Limits(
                    max_connections=MAX_POOLED_CONNECTIONS, max_keepalive_connections=MAX_POOLED_CONNECTIONS
                ),
                headers={"User-Agent": "airflow-provider-lingxing"},
            )
            self._async_client = (loop, client)
        return self._async_client[1]

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    async def aclose(self) -> None:
        if self._async_client is not None:
            loop, client = self._async_client
            self._async_client = None
            if loop is asyncio.get_running_loop():
                await client.aclose()

    # -- effects -------------------------------------------------------------------------------------

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            return self._send(effect)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        if isinstance(effect, GetToken):
            keeper = self.token_keeper
            return keeper.current() if effect.refused is None else keeper.renew(effect.refused)
        raise TypeError(f"unknown effect {effect!r}")

    def _send(self, send: Send) -> tuple[int, bytes]:
        settings, session = self.settings, self.get_conn()
        failure: LingxingApiError | None = None
        with sync_limit(settings.app_id, send.endpoint):
            request = send.request
            try:
                response = session.request(
                    request.method, request.url, data=request.body, headers=request.headers, timeout=settings.timeout
                )
                answer = (response.status_code, response.content)
            except requests.RequestException as error:
                failure = _requests_failure(error, send.endpoint.path, settings)
        if failure is not None:
            raise failure
        return answer

    async def _aperform(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            return await self._asend(effect)
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return None
        if isinstance(effect, GetToken):
            await self.asettings()
            assert self._keeper is not None
            return await (self._keeper.acurrent() if effect.refused is None else self._keeper.arenew(effect.refused))
        raise TypeError(f"unknown effect {effect!r}")

    async def _asend(self, send: Send) -> tuple[int, bytes]:
        settings, client = await self.asettings(), await self.aget_conn()
        failure: LingxingApiError | None = None
        async with async_limit(settings.app_id, send.endpoint):
            request = send.request
            try:
                response = await client.request(
                    request.method, request.url, content=request.body, headers=request.headers
                )
                answer = (response.status_code, response.content)
            except httpx.HTTPError as error:
                failure = _httpx_failure(error, send.endpoint.path, settings)
        if failure is not None:
            raise failure
        return answer

    def _call_form(self, endpoint: Endpoint, fields: Mapping[str, str]) -> Any:
        settings = self.settings
        plan = calls.form_call(endpoint, fields, base_url=settings.base_url, policy=self._retry_policy, log=self.log)
        return calls.run(plan, self._perform)

    def _plan(self, endpoint: Endpoint, payload: Mapping[str, Any] | None) -> calls.Plan:
        settings = self.settings
        return calls.business_call(
            endpoint,
            payload,
            base_url=settings.base_url,
            app_id=settings.app_id,
            policy=self._retry_policy,
            log=self.log,
            clock=self._now,
        )

    def call(self, endpoint: Endpoint, payload: Mapping[str, Any] | None = None) -> Any:
        return calls.run(self._plan(endpoint, payload), self._perform)

    async def acall(self, endpoint: Endpoint, payload: Mapping[str, Any] | None = None) -> Any:
        await self.asettings()
        return await calls.arun(self._plan(endpoint, payload), self._aperform)

    # -- public API ----------------------------------------------------------------------------------

    @staticmethod
    def _endpoint(method: str, path: str, params: Any, body: Any) -> tuple[Endpoint, Mapping[str, Any] | None]:
        if not isinstance(method, str) or method.upper() not in ("GET", "POST"):
            raise LingxingInputError(f"method must be GET or POST, got {method!r}")
        if not isinstance(path, str) or not path.strip("/ "):
            raise LingxingInputError(f"path must be an endpoint path such as {SELLER_LIST.path}, got {path!r}")
        method = method.upper()
        endpoint = endpoint_for(path, method)
        if endpoint.path in TOKEN_ENDPOINT_PATHS:
            raise LingxingInputError(f"path {endpoint.path} is a token endpoint: the hook manages tokens itself")
        if endpoint.method != method:
            raise LingxingInputError(f"method for {endpoint.path} must be {endpoint.method}, got {method}")
        for name, value in (("params", params), ("body", body)):
            if value is not None and not isinstance(value, Mapping):
                raise LingxingInputError(f"{name} must be a dict or None, got {type(value).__name__}")
        if method == "GET" and body is not None:
            raise LingxingInputError(f"body must be None for GET {endpoint.path}: pass the parameters as params")
        if method == "POST" and params is not None:
            raise LingxingInputError(f"params must be None for POST {endpoint.path}: pass the parameters as body")
        return endpoint, params if method == "GET" else body

    def request(self, method: str, path: str, params: dict | None = None, body: dict | None = None) -> Any:
        """Any endpoint: GET parameters go in `params`, POST ones in `body`. Returns the envelope's `data`."""
        endpoint, payload = self._endpoint(method, path, params, body)
        return self.call(endpoint, payload)

    async def arequest(self, method: str, path: str, params: dict | None = None, body: dict | None = None) -> Any:
        endpoint, payload = self._endpoint(method, path, params, body)
        return await self.acall(endpoint, payload)

    def list_sellers(self) -> list[dict]:
        return self.call(SELLER_LIST) or []

    def submit_fulfillment(self, region: str, seller_id: str, marketplace_id: str, order_list: list[dict]) -> dict:
        """Creates one mark-shipped task (not idempotent: never re-sent after it may have arrived).

        Every problem of the arguments is reported at once, before anything is sent (rules: api/orders.py).
        """
        body = {
            "seller_id": _text_argument(seller_id, "seller_id"),
            "marketplace_id": _text_argument(marketplace_id, "marketplace_id"),
        }
        problems = [problem for problem in (region_problem(region),) if problem]
        problems += order_problems(order_list, argument="order_list")
        if problems:
            raise LingxingInputError("; ".join(problems))
        body["region"] = normalize_region(region)
        body["order_list"] = [normalize_order(order) for order in order_list]
        return self.call(SUBMIT_FULFILLMENT, body)

    @staticmethod
    def _result_payloads(seller_id: Any, task_ids: Any) -> list[dict[str, Any]]:
        seller_id = _text_argument(seller_id, "seller_id")
        try:
            ids = normalize_task_ids(task_ids, argument="task_ids")
        except ValueError as error:
            raise LingxingInputError(str(error)) from None
        limit = GET_FULFILLMENT_RESULT.batch_limit or len(ids)
        return [{"seller_id": seller_id, "task_id": batch} for batch in batches(ids, limit)]

    def get_fulfillment_results(self, seller_id: str, task_ids: Any) -> list[dict]:
        """Results of mark-shipped tasks, one dict per task id Lingxing returned, in task-id order.

        Ids go 10 per request, as many requests at once as the endpoint's capacity (and `max_in_flight`) allows.
        """
        payloads = self._result_payloads(seller_id, task_ids)
        self.token_keeper.current()
        if len(payloads) == 1:
            answers = [self.call(GET_FULFILLMENT_RESULT, payloads[0])]
        else:
            workers = min(GET_FULFILLMENT_RESULT.capacity, len(payloads), self.max_in_flight or len(payloads))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lingxing-results") as pool:
                futures = [pool.submit(self.call, GET_FULFILLMENT_RESULT, payload) for payload in payloads]
                try:
                    answers = [future.result() for future in futures]
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        return one_per_task(answers, GET_FULFILLMENT_RESULT.path)

    async def aget_fulfillment_results(self, seller_id: str, task_ids: Any) -> list[dict]:
        """The async twin of `get_fulfillment_results`; the per-loop limiter bounds the requests in flight."""
        payloads = self._result_payloads(seller_id, task_ids)
        await self.asettings()
        assert self._keeper is not None
        await self._keeper.acurrent()
        own_limit = asyncio.Semaphore(self.max_in_flight or len(payloads))

        async def fetch(payload: dict[str, Any]) -> Any:
            async with own_limit:
                return await self.acall(GET_FULFILLMENT_RESULT, payload)

        tasks = [asyncio.ensure_future(fetch(payload)) for payload in payloads]
        try:
            answers = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return one_per_task(list(answers), GET_FULFILLMENT_RESULT.path)

    def test_connection(self) -> tuple[bool, str]:
        """Fetches a token and lists the sellers: proves the App ID, App Secret, IP whitelist and grant.

        The token is fetched even when one is shared (a shared token would not prove the secret); it is
        stored, so the other processes move to it on their next call.
        """
        try:
            self.token_keeper.fetch_new()
            sellers = self.list_sellers()
        except (LingxingApiError, LingxingInputError) as error:
            return False, str(error)
        except Exception as error:
            return False, f"Lingxing connection test failed: {type(error).__name__}"
        return True, f"Connected to {self.settings.base_url}: token issued, {len(sellers)} seller(s) visible"
