"""Where a token is shared: the interface, and the store of one process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol, runtime_checkable

from airflow_provider_lingxing.api.tokens import AccessToken


class TokenStore(Protocol):
    """Where tokens are shared. get returns None when nothing (readable) is stored."""

    def get(self, key: str) -> AccessToken | None: ...

    def put(self, key: str, token: AccessToken) -> None: ...


@runtime_checkable
class LockingTokenStore(TokenStore, Protocol):
    """A store that also serialises token fetches across machines (Redis); `fallback` is the host's lock, for when
    the store cannot be reached."""

    def fetch_lock(
        self, key: str, fallback: Callable[[], AbstractContextManager[object]]
    ) -> AbstractContextManager[object]: ...

    def afetch_lock(
        self, key: str, fallback: Callable[[], AbstractAsyncContextManager[object]]
    ) -> AbstractAsyncContextManager[object]: ...


class MemoryTokenStore:
    """Shares tokens between the hooks of one process; the default outside an Airflow task or triggerer."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


PROCESS_TOKEN_STORE = MemoryTokenStore()
"""The one in-process store: every hook of a process without an Airflow context shares it."""
