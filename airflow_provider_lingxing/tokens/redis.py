"""The shared access token in the deployment's Redis, and the lock that lets one process at a time fetch one.

Lingxing keeps one live token per app id, so every process of every connection of one app id must use the same
token, and only one may fetch a new one at a time. In Redis the token is stored encrypted with the deployment's
Fernet key (Airflow's `get_fernet()`): a Redis dump holds no usable secret. It is also written to the fallback
store (the Airflow Variable in a task or the triggerer), and a read takes the newer of the two, so processes that
cannot reach Redis, or connections of the same app without Redis, still converge on one token.
Key layout: docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import redis
from redis.exceptions import LockError

from airflow_provider_lingxing.api.tokens import TOKEN_STORE_KEY_PREFIX, AccessToken
from airflow_provider_lingxing.shared_redis import SharedRedis
from airflow_provider_lingxing.tokens.stores import TokenStore

FETCH_LOCK_SECONDS = 120.0
"""A fetch lock not released (its holder died) frees itself after this long."""
FETCH_LOCK_WAIT_SECONDS = 30.0
"""Longest a process waits for another's fetch before it fetches on its own (with a warning)."""
LOCK_POLL_SECONDS = 0.05

_log = logging.getLogger(__name__)


def _deployment_fernet() -> Any:
    from airflow.sdk.crypto import get_fernet

    return get_fernet()


class RedisTokenStore:
    """A `TokenStore` in Redis (Fernet-encrypted) in front of `fallback`, plus the cross-process fetch lock.

    Without a Fernet key ([core] fernet_key) no token is written to Redis: the fallback alone serves, with a warning.
    """

    def __init__(
        self,
        shared: SharedRedis,
        fallback: TokenStore,
        *,
        fernet: Callable[[], Any] = _deployment_fernet,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shared = shared
        self.fallback = fallback
        self._fernet_factory = fernet
        self._fernet: Any = None
        self._clock = clock

    def redis_key(self, key: str) -> str:
        return self.shared.key("token", key.removeprefix(TOKEN_STORE_KEY_PREFIX))

    def _cipher(self) -> Any:
        """The deployment's Fernet, or None when it has no key (then Redis holds no token)."""
        if self._fernet is None:
            fernet = self._fernet_factory()
            if not getattr(fernet, "is_encrypted", False):
                _log.warning(
                    "Airflow has no Fernet key ([core] fernet_key): the Lingxing token is not shared through Redis "
                    "(it would be readable there); the Airflow Variable store is used instead"
                )
                fernet = False
            self._fernet = fernet
        return self._fernet or None

    def get(self, key: str) -> AccessToken | None:
        fallback = self._fallback_get(key)
        cipher = self._cipher()
        if cipher is None or not self.shared.usable():
            return fallback
        try:
            raw = self.shared.client().get(self.redis_key(key))
        except redis.RedisError as error:
            self.shared.failed(error, "reading the shared token")
            return fallback
        self.shared.answered()
        stored = self._decrypt(cipher, raw, key) if raw is not None else None
        if stored is None or (fallback is not None and fallback.expires_at > stored.expires_at):
            return fallback
        return stored

    def put(self, key: str, token: AccessToken) -> None:
        cipher = self._cipher()
        if cipher is not None and self.shared.usable():
            lifetime_ms = max(1, int((token.expires_at - self._clock()) * 1000))
            try:
                self.shared.client().set(self.redis_key(key), cipher.encrypt(token.to_json().encode()), px=lifetime_ms)
                self.shared.answered()
            except redis.RedisError as error:
                self.shared.failed(error, "sharing the new token")
        self.fallback.put(key, token)

    def _fallback_get(self, key: str) -> AccessToken | None:
        try:
            return self.fallback.get(key)
        except Exception as error:
            _log.debug("the fallback token store could not be read (%s)", type(error).__name__)
            return None

    @staticmethod
    def _decrypt(cipher: Any, raw: bytes | str, key: str) -> AccessToken | None:
        try:
            return AccessToken.from_json(cipher.decrypt(raw).decode())
        except Exception:
            _log.warning(
                "the token in Redis for %s cannot be read with this Fernet key (another deployment's key, or a "
                "key rotated away?); a new token will replace it",
                key,
            )
            return None

    def _lock_name(self, key: str) -> str:
        return self.redis_key(key) + ":fetch-lock"

    def _waited_too_long(self, holder: bytes | str | None, waited: float) -> None:
        _log.warning(
            "waited %.0f s for the Lingxing token fetch lock held by %s; fetching without it",
            waited,
            (holder.decode(errors="replace") if isinstance(holder, bytes) else holder or "?").rsplit(":", 1)[0],
        )

    @contextlib.contextmanager
    def fetch_lock(self, key: str, fallback: Callable[[], AbstractContextManager[object]]) -> Iterator[None]:
        """Held while this process fetches or refreshes the token; `fallback` (the host's lock) if Redis is down.

        A holder that died frees it after FETCH_LOCK_SECONDS; a waiter gives up after FETCH_LOCK_WAIT_SECONDS.
        """
        if not self.shared.usable():
            with fallback():
                yield
            return
        name, started = self._lock_name(key), time.monotonic()
        try:
            client = self.shared.client()
            lock = client.lock(name, timeout=FETCH_LOCK_SECONDS, sleep=LOCK_POLL_SECONDS, thread_local=False)
            acquired = lock.acquire(blocking_timeout=FETCH_LOCK_WAIT_SECONDS, token=_holder())
            if not acquired:
                self._waited_too_long(client.get(name), time.monotonic() - started)
        except redis.RedisError as error:
            self.shared.failed(error, "taking the token fetch lock")
            with fallback():
                yield
            return
        try:
            yield
        finally:
            if acquired:
                with contextlib.suppress(redis.RedisError, LockError):
                    lock.release()

    @contextlib.asynccontextmanager
    async def afetch_lock(
        self, key: str, fallback: Callable[[], AbstractAsyncContextManager[object]]
    ) -> AsyncIterator[None]:
        """`fetch_lock` for an event loop (redis.asyncio: waits without blocking the loop)."""
        if not self.shared.usable():
            async with fallback():
                yield
            return
        name, started = self._lock_name(key), time.monotonic()
        try:
            client = await self.shared.aclient()
            lock = client.lock(name, timeout=FETCH_LOCK_SECONDS, sleep=LOCK_POLL_SECONDS, thread_local=False)
            acquired = await lock.acquire(blocking_timeout=FETCH_LOCK_WAIT_SECONDS, token=_holder())
            if not acquired:
                self._waited_too_long(await client.get(name), time.monotonic() - started)
        except redis.RedisError as error:
            self.shared.failed(error, "taking the token fetch lock")
            async with fallback():
                yield
            return
        try:
            yield
        finally:
            if acquired:
                with contextlib.suppress(redis.RedisError, LockError):
                    await lock.release()


def _holder() -> str:
    """The lock's value: who holds it (host and pid, for the log of whoever waits), unique per acquisition."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
