"""The token protocol for one connection (docs/lingxing-openapi.md, tokens): use the shared token, refresh it
before expiry, fetch a new one when there is none (or refresh fails), and after a refusal prefer a newer
shared token to a fetch (each fetch invalidates every other holder's token).

Each operation is written once, as a plan of effects (`api/calls.py`), and run by the sync path with the
transport's `send` or by the async path with its `asend`; reads and writes of the store are `Blocking`
effects, which the async path runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Generator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

from airflow_provider_lingxing.api import calls
from airflow_provider_lingxing.api.calls import Effect, Log, Plan, Send, Sleep
from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.api.endpoints import ACCESS_TOKEN, REFRESH_TOKEN, Endpoint
from airflow_provider_lingxing.api.errors import LingxingApiError, LingxingFatalError
from airflow_provider_lingxing.api.retry import RetryPolicy
from airflow_provider_lingxing.api.tokens import (
    AccessToken,
    TokenAction,
    newer_than,
    owner_fingerprint,
    store_key,
    token_action,
)
from airflow_provider_lingxing.metrics import CALLS, token_fetched
from airflow_provider_lingxing.tokens.locks import aexclusive, exclusive
from airflow_provider_lingxing.tokens.stores import LockingTokenStore, TokenStore
from airflow_provider_lingxing.transport import Transport

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Blocking:
    """A blocking call (the shared store): made as is on the sync path, in a thread on the async path."""

    call: Callable[[], Any]


TokenPlan = Generator[Effect | Blocking, Any, Any]


def _no_mask(*secrets: str) -> None:
    """Outside Airflow there is no log masker to tell."""


class TokenKeeper:
    """The live token of one connection, shared through `store` with every other process of the deployment.

    Every connection of one app id shares one store entry. Fetches are serialised per app id in the process and on
    the host (`tokens/locks.py`), or across machines by a store with a lock of its own (Redis), and the store is
    re-read inside the lock, so concurrent callers end up with one fetch. `mask` is told every secret met
    (Airflow's log masker, in a task).
    """

    def __init__(
        self,
        settings: LingxingSettings,
        store: TokenStore,
        transport: Transport,
        *,
        policy: RetryPolicy,
        log: Log = _log,
        clock: Callable[[], float] = time.time,
        mask: Callable[..., None] = _no_mask,
    ) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport
        self.owner = owner_fingerprint(settings.base_url, settings.app_id)
        self.key = store_key(self.owner)
        self._policy = policy
        self._log = log
        self._clock = clock
        self._mask = mask
        self._cached: AccessToken | None = None
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.fetched = 0
        """Tokens this keeper fetched with the secret (refreshes not counted)."""
        self.shared: str | None = None
        """What became of the last token kept: "shared", or why it could not be (an exception's name)."""
        self.replaced = 0
        """Refused tokens renewed by a fetch because no newer one was shared: someone outside the deployment's
        store (another client of the app id) replaced ours."""

    def cached(self) -> AccessToken | None:
        """The token this keeper holds, if it is still to be used as is."""
        token = self._cached
        if token is not None and token_action(token, now=self._clock(), owner=self.owner) is TokenAction.USE:
            return token
        return None

    # -- the operations, sync and async -----------------------------------------------------------------

    def current(self) -> AccessToken:
        return self.cached() or self._run(self._current())

    def renew(self, refused: AccessToken) -> AccessToken:
        """After 2001003/2001005: the newer shared token if there is one, else a new one (once per refusal)."""
        return self._run(self._renew(refused))

    def fetch_new(self) -> AccessToken:
        """A new token even when one is shared: only a fetch proves the app secret (test_connection)."""
        return self._run(self._fetch_new())

    async def acurrent(self) -> AccessToken:
        return self.cached() or await self._arun(self._current)

    async def arenew(self, refused: AccessToken) -> AccessToken:
        return await self._arun(partial(self._renew, refused))

    async def afetch_new(self) -> AccessToken:
        return await self._arun(self._fetch_new)

    def _fetch_lock(self) -> AbstractContextManager[object]:
        """The store's own cross-machine lock if it has one (Redis), else this host's (`tokens/locks.py`)."""
        if isinstance(self.store, LockingTokenStore):
            return self.store.fetch_lock(self.key, partial(exclusive, self.owner))
        return exclusive(self.owner)

    def _afetch_lock(self) -> AbstractAsyncContextManager[object]:
        if isinstance(self.store, LockingTokenStore):
            return self.store.afetch_lock(self.key, partial(aexclusive, self.owner))
        return aexclusive(self.owner)

    def _run(self, plan: TokenPlan) -> AccessToken:
        with self._fetch_lock():
            token: AccessToken = calls.run(plan, self._perform)
            return token

    async def _arun(self, make_plan: Callable[[], TokenPlan]) -> AccessToken:
        """Coroutines of one event loop queue on an asyncio lock, then take the process and host locks."""
        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop) or self._async_locks.setdefault(loop, asyncio.Lock())
        async with lock, self._afetch_lock():
            token: AccessToken = await calls.arun(make_plan(), self._aperform)
            return token

    def _perform(self, effect: object) -> Any:
        if isinstance(effect, Blocking):
            return effect.call()
        if isinstance(effect, Send):
            return self.transport.send(effect)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        raise TypeError(f"unknown effect {effect!r}")

    async def _aperform(self, effect: object) -> Any:
        if isinstance(effect, Blocking):
            return await asyncio.to_thread(effect.call)
        if isinstance(effect, Send):
            return await self.transport.asend(effect)
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return None
        raise TypeError(f"unknown effect {effect!r}")

    # -- the plans (run with the locks held) ------------------------------------------------------------

    def _current(self) -> TokenPlan:
        token = self.cached()
        if token is None:
            token = yield from self._settle((yield Blocking(self._read)))
        self._cached = token
        return token

    def _renew(self, refused: AccessToken) -> TokenPlan:
        token = self.cached()
        if token is None or token.access_token == refused.access_token:
            stored = yield Blocking(self._read)
            if newer_than(stored, refused, now=self._clock(), owner=self.owner):
                token = yield from self._settle(stored)
            else:
                self.replaced += 1
                token = yield from self._fetch()
        self._cached = token
        return token

    def _fetch_new(self) -> TokenPlan:
        self._cached = token = yield from self._fetch()
        return token

    def _settle(self, stored: AccessToken | None) -> TokenPlan:
        action = token_action(stored, now=self._clock(), owner=self.owner)
        if action is TokenAction.USE and stored is not None:
            return stored
        if action is TokenAction.REFRESH and stored is not None:
            try:
                return (yield from self._refresh(stored))
            except LingxingApiError as error:
                _log.info("refreshing the Lingxing token failed (%s); fetching a new one", error.code or error.message)
        return (yield from self._fetch())

    def _form_call(self, endpoint: Endpoint, fields: Mapping[str, str]) -> Plan:
        return calls.form_call(
            endpoint, fields, base_url=self.settings.base_url, policy=self._policy, log=self._log, meter=CALLS
        )

    def _fetch(self) -> TokenPlan:
        self._mask(self.settings.app_secret)
        fields = {"appId": self.settings.app_id, "appSecret": self.settings.app_secret}
        data = yield from self._form_call(ACCESS_TOKEN, fields)
        self.fetched += 1
        token_fetched("new")
        return (yield Blocking(partial(self._keep, data, ACCESS_TOKEN)))

    def _refresh(self, stored: AccessToken) -> TokenPlan:
        fields = {"appId": self.settings.app_id, "refreshToken": stored.refresh_token}
        data = yield from self._form_call(REFRESH_TOKEN, fields)
        token_fetched("refresh")
        return (yield Blocking(partial(self._keep, data, REFRESH_TOKEN)))

    # -- the store --------------------------------------------------------------------------------------

    def _read(self) -> AccessToken | None:
        try:
            token = self.store.get(self.key)
        except Exception as error:
            _log.warning("cannot read the shared Lingxing token (%s); fetching one", type(error).__name__)
            return None
        if token is not None:
            self._mask(token.access_token, token.refresh_token)
        return token

    def _keep(self, data: Any, endpoint: Endpoint) -> AccessToken:
        try:
            token = AccessToken.from_response(data, now=self._clock(), owner=self.owner)
        except ValueError as error:
            raise LingxingFatalError(str(error), path=endpoint.path) from None
        self._mask(token.access_token, token.refresh_token)
        try:
            self.store.put(self.key, token)
            self.shared = "shared"
        except Exception as error:
            self.shared = type(error).__name__
            _log.warning(
                "cannot share the new Lingxing token (%s): other processes will fetch their own",
                type(error).__name__,
            )
        return token
