"""The deployment's Redis, where every process of every machine coordinates: concurrency leases and the token.

It is an Airflow `redis` connection (apache-airflow-providers-redis' `RedisHook`), named by the Lingxing
connection's extra `redis_conn_id`. Clients get short timeouts and no retries of their own, so an unreachable Redis
costs a second, never a hang; the callers then fall back (the in-process limiter, the Variable token store) with one
warning per process and try Redis again after `RETRY_AFTER_SECONDS`. Every key starts with the Redis connection's
extra `key_prefix` (default `lingxing`); the key layout is in docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from airflow_provider_lingxing.exceptions import LingxingInputError

CONNECT_TIMEOUT_SECONDS = 1.0
COMMAND_TIMEOUT_SECONDS = 2.0
"""Longest a Redis command may take (blocking waits are shorter) before Redis counts as unreachable."""
RETRY_AFTER_SECONDS = 30.0
"""After a failure, Redis is left alone this long (the fallback serves meanwhile), then tried again."""
DEFAULT_KEY_PREFIX = "lingxing"

SSL_EXTRAS = ("ssl", "ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")
"""The TLS settings a `redis` connection's extra may hold (the ones RedisHook passes on)."""

_log = logging.getLogger(__name__)
_warned = threading.Event()
_down: set[SharedRedis] = set()


def fallback_in_use() -> bool:
    """True while some Redis of this process is unreachable and the in-process fallback serves instead."""
    return bool(_down)


class SharedRedis:
    """One Redis connection id in this process: its sync client, one async client per event loop, its health.

    Get it with `shared_redis(redis_conn_id)`: every hook of the process then shares the clients and the health.
    """

    def __init__(
        self,
        redis_conn_id: str,
        *,
        prefix: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis_conn_id = redis_conn_id
        self._prefix = prefix
        self._clock = clock
        self._lock = threading.Lock()
        self._options: dict[str, Any] | None = None
        self._key_prefix = DEFAULT_KEY_PREFIX
        self._client: redis.Redis | None = None
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._down_until = 0.0
        self._scripts: dict[str, Any] = {}
        self._async_scripts: weakref.WeakKeyDictionary[redis.asyncio.Redis, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def prefix(self) -> str:
        """What every key starts with: the constructor's, else the Redis connection's extra `key_prefix`."""
        if self._prefix is None:
            self.options()
            self._prefix = self._key_prefix
        return self._prefix

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- health -------------------------------------------------------------------------------------

    @property
    def falling_back(self) -> bool:
        """True between a failure and the next command Redis answers: this process's fallbacks serve."""
        return self in _down

    def usable(self) -> bool:
        """False during the pause after a failure: callers use their fallback without trying Redis."""
        return self._clock() >= self._down_until

    def failed(self, error: BaseException, doing: str) -> None:
        """Redis did not answer: warn once per process, pause, and let the caller fall back."""
        with self._lock:
            self._down_until = self._clock() + RETRY_AFTER_SECONDS
            _down.add(self)
        message = (
            "Redis connection %r unreachable while %s (%s): falling back to this process's own concurrency "
            "budget and token store; other workers are then not counted, so 3001008 answers may follow. "
            "Trying Redis again every %.0f s."
        )
        args = (self.redis_conn_id, doing, type(error).__name__, RETRY_AFTER_SECONDS)
        if _warned.is_set():
            _log.info(message, *args)
        else:
            _warned.set()
            _log.warning(message, *args)

    def answered(self) -> None:
        """A command succeeded: if Redis was down, it is back."""
        if self in _down:
            with self._lock:
                if self in _down:
                    _down.discard(self)
                    _log.info(
                        "Redis connection %r answers again: back to the deployment-wide budget", self.redis_conn_id
                    )

    # -- clients ------------------------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """Where the server is, from the Airflow connection (read once; raises LingxingInputError if unusable)."""
        if self._options is None:
            from airflow.providers.redis.hooks.redis import RedisHook

            hook = RedisHook(redis_conn_id=self.redis_conn_id)
            try:
                conn = hook.get_connection(self.redis_conn_id)
            except Exception as error:
                raise LingxingInputError(
                    f"redis_conn_id {self.redis_conn_id!r} names no Airflow connection ({type(error).__name__})"
                ) from None
            extras = conn.extra_dejson
            if extras.get("cluster"):
                raise LingxingInputError(
                    f"redis_conn_id {self.redis_conn_id!r} is a Redis Cluster: give a standalone Redis "
                    "(or a Sentinel-managed primary) for the Lingxing budget"
                )
            password = conn.password if str(conn.password).lower() not in ("none", "false", "") else None
            prefix = extras.get("key_prefix") or DEFAULT_KEY_PREFIX
            if not isinstance(prefix, str) or not prefix.strip() or any(c in prefix for c in "{} \t\n"):
                raise LingxingInputError(
                    f"redis_conn_id {self.redis_conn_id!r}: extra `key_prefix` must be text without spaces or "
                    f"braces, got {prefix!r}"
                )
            self._options = {
                "host": conn.host or "127.0.0.1",
                "port": int(conn.port or 6379),
                "username": conn.login or None,
                "password": password,
                "db": int(extras.get("db") or 0),
                **{name: extras[name] for name in SSL_EXTRAS if name in extras},
            }
            self._key_prefix = prefix
        return self._options

    def client(self) -> redis.Redis:
        """The sync client (thread-safe: a pool), built by RedisHook, with short timeouts and no retries."""
        if self._client is None:
            from airflow.providers.redis.hooks.redis import RedisHook

            self.options()  # a clear error for a missing or unusable connection
            with self._lock:
                if self._client is None:
                    hook = RedisHook(redis_conn_id=self.redis_conn_id)
                    client = hook.get_conn()
                    client.get_connection_kwargs().update(
                        socket_timeout=COMMAND_TIMEOUT_SECONDS,
                        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    )
                    client.set_retry(Retry(NoBackoff(), 0))
                    self._client = client
        return self._client

    async def aclient(self) -> redis.asyncio.Redis:
        """The async client of the running event loop (a client cannot change loops)."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            options = await asyncio.to_thread(self.options) if self._options is None else self._options
            client = self._async_clients.setdefault(
                loop,
                redis.asyncio.Redis(
                    **options,
                    socket_timeout=COMMAND_TIMEOUT_SECONDS,
                    socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    retry=AsyncRetry(NoBackoff(), 0),
                ),
            )
        return client

    def script(self, text: str) -> Any:
        """A Lua script on the sync client (EVALSHA, loaded again if Redis lost it)."""
        script = self._scripts.get(text)
        if script is None:
            script = self._scripts[text] = self.client().register_script(text)
        return script

    async def ascript(self, text: str) -> Any:
        """A Lua script on the running loop's async client."""
        client = await self.aclient()
        scripts = self._async_scripts.setdefault(client, {})
        script = scripts.get(text)
        if script is None:
            script = scripts[text] = client.register_script(text)
        return script

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._scripts.clear()

    async def aclose(self) -> None:
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


_SHARED: dict[tuple[str, str | None], SharedRedis] = {}
_SHARED_LOCK = threading.Lock()


def shared_redis(redis_conn_id: str, prefix: str | None = None) -> SharedRedis:
    """The process's one `SharedRedis` for this connection id (and key prefix, when not the connection's)."""
    with _SHARED_LOCK:
        found = _SHARED.get((redis_conn_id, prefix))
        if found is None:
            found = _SHARED[(redis_conn_id, prefix)] = SharedRedis(redis_conn_id, prefix=prefix)
        return found
