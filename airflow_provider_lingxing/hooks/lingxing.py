"""LingxingHook: an Airflow connection → signed, rate-limited, retried calls to the Lingxing OpenAPI.

The hook wires the layers together (docs/architecture.md): `api/connection.py` validates the connection, each
call is a plan of `api/calls.py`, every request takes its slot from `limits/` and travels through `transport/`,
and `tokens/` keeps the access token. Protocol errors leave the hook as their public, Airflow-aware twins
(`exceptions.py`), so a fatal code fails the task without retry.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import requests
from airflow.sdk import BaseHook

from airflow_provider_lingxing import limits
from airflow_provider_lingxing.api import arguments, calls
from airflow_provider_lingxing.api.calls import Effect, GetToken, Send, Sleep
from airflow_provider_lingxing.api.connection import LingxingSettings, settings_from_connection
from airflow_provider_lingxing.api.endpoints import (
    GET_FULFILLMENT_RESULT,
    SELLER_LIST,
    SUBMIT_FULFILLMENT,
    Endpoint,
    requested_endpoint,
)
from airflow_provider_lingxing.api.orders import submission
from airflow_provider_lingxing.api.results import one_per_task
from airflow_provider_lingxing.api.retry import RetryPolicy
from airflow_provider_lingxing.exceptions import LingxingInputError, airflow_errors
from airflow_provider_lingxing.limits import Limiter, limiter_for
from airflow_provider_lingxing.metrics import CALLS
from airflow_provider_lingxing.tokens import TokenKeeper, TokenStore, mask_secrets, token_store_for
from airflow_provider_lingxing.transport import Transport


class LingxingHook(BaseHook):
    """Talks to the Lingxing OpenAPI with a `lingxing` connection: host = Base URL, login = App ID,
    password = App Secret; extras `timeout` (s), `max_retries`, `verify`, `ca_bundle`, `redis_conn_id`.

    `max_in_flight` caps the requests one batched call sends at once (default: the endpoint's capacity); the
    operators and the sensor pass their pool slots (`hooks.pool_slots_limit`). Tokens are shared per app id through
    `token_store` (default: the connection's Redis if it names a `redis_conn_id`, else an Airflow Variable inside a
    task or the triggerer, else one store per process); requests take their slots from `limiter` (default: Redis
    leases with `redis_conn_id`, else the process's budget). Close it with `close()` / `await aclose()` when done.
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
        limiter: Limiter | None = None,
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
        self._limiter = limiter
        self._settings: LingxingSettings | None = None
        self._keeper: TokenKeeper | None = None
        self._transport: Transport | None = None
        self._setup_lock = threading.Lock()
        self._reading: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._clock: Callable[[], float] = time.time
        self._token_war_reported = False

    # -- set-up --------------------------------------------------------------------------------------

    @property
    def settings(self) -> LingxingSettings:
        """The validated connection, read once (raises LingxingInputError before any network call)."""
        return self._settings or self._load_settings()

    @airflow_errors
    def _load_settings(self) -> LingxingSettings:
        self._adopt(settings_from_connection(self.get_connection(self.lingxing_conn_id)))
        assert self._settings is not None
        return self._settings

    @airflow_errors
    async def asettings(self) -> LingxingSettings:
        """The validated connection; coroutines that ask at once (the triggers of a triggerer) wait for one read."""
        if self._settings is None:
            loop = asyncio.get_running_loop()
            if self._reading is None or self._reading[0] is not loop:
                self._reading = (loop, asyncio.ensure_future(self._read_settings()))
            reading = self._reading[1]
            try:
                await asyncio.shield(reading)
            finally:
                if reading.done() and (reading.cancelled() or reading.exception() is not None):
                    self._reading = None  # the next call reads the connection again
        assert self._settings is not None
        return self._settings

    async def _read_settings(self) -> None:
        if self._settings is None:
            aget_connection = getattr(self, "aget_connection", None)
            if aget_connection is not None:
                conn = await aget_connection(self.lingxing_conn_id)
            else:
                conn = await asyncio.to_thread(self.get_connection, self.lingxing_conn_id)
            await asyncio.to_thread(self._adopt, settings_from_connection(conn))

    def _adopt(self, settings: LingxingSettings) -> None:
        with self._setup_lock:
            if self._settings is not None:
                return
            mask_secrets(settings.app_secret)
            self._retry_policy = replace(self._retry_policy, max_retries=settings.max_retries)
            self._transport = Transport(settings, self._limiter or limiter_for(settings))
            store = self._token_store or token_store_for(settings)
            self._keeper = TokenKeeper(
                settings,
                store,
                self._transport,
                policy=self._retry_policy,
                log=self.log,
                clock=self._now,
                mask=mask_secrets,
            )
            self._settings = settings

    def _now(self) -> float:
        return self._clock()

    @property
    def token_keeper(self) -> TokenKeeper:
        if self._keeper is None:
            self._load_settings()
        assert self._keeper is not None
        return self._keeper

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._load_settings()
        assert self._transport is not None
        return self._transport

    def get_conn(self) -> requests.Session:
        """The keep-alive session of the sync path."""
        return self.transport.session()

    async def aget_conn(self) -> httpx.AsyncClient:
        """The async client of the current event loop."""
        await self.asettings()
        return self.transport.client()

    def fallback_note(self) -> str:
        """ "" normally; when the connection's Redis is unreachable, a note for the progress line saying so."""
        return "" if self._settings is None else limits.fallback_note(self._settings)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()

    # -- effects -------------------------------------------------------------------------------------

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            return self.transport.send(effect)
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        if isinstance(effect, GetToken):
            keeper = self.token_keeper
            return keeper.current() if effect.refused is None else keeper.renew(effect.refused)
        raise TypeError(f"unknown effect {effect!r}")

    async def _aperform(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            return await self.transport.asend(effect)
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return None
        if isinstance(effect, GetToken):
            keeper = self.token_keeper
            return await (keeper.acurrent() if effect.refused is None else keeper.arenew(effect.refused))
        raise TypeError(f"unknown effect {effect!r}")

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
            meter=CALLS,
        )

    def _call(self, endpoint: Endpoint, payload: Mapping[str, Any] | None) -> Any:
        return calls.run(self._plan(endpoint, payload), self._perform)

    async def _acall(self, endpoint: Endpoint, payload: Mapping[str, Any] | None) -> Any:
        await self.asettings()
        return await calls.arun(self._plan(endpoint, payload), self._aperform)

    def _report_token_war(self) -> None:
        """Says once per hook, with the count, that another client of the app id keeps replacing our token."""
        if self._keeper is None or self._keeper.replaced < 2 or self._token_war_reported:
            return
        self._token_war_reported = True
        self.log.warning(
            "Another client of this app id is rotating its access token: %d renewals so far, each after Lingxing "
            "replaced ours (2001005) with no newer token shared by this deployment. Calls go on, slower. Fix: "
            "give that client its own app id",
            self._keeper.replaced,
        )

    @airflow_errors
    def call(self, endpoint: Endpoint, payload: Mapping[str, Any] | None = None) -> Any:
        try:
            return self._call(endpoint, payload)
        finally:
            self._report_token_war()

    @airflow_errors
    async def acall(self, endpoint: Endpoint, payload: Mapping[str, Any] | None = None) -> Any:
        try:
            return await self._acall(endpoint, payload)
        finally:
            self._report_token_war()

    # -- public API ----------------------------------------------------------------------------------

    @airflow_errors
    def request(self, method: str, path: str, params: dict | None = None, body: dict | None = None) -> Any:
        """Any endpoint: GET parameters go in `params`, POST ones in `body`. Returns the envelope's `data`."""
        endpoint, payload = requested_endpoint(method, path, params, body)
        return self.call(endpoint, payload)

    @airflow_errors
    async def arequest(self, method: str, path: str, params: dict | None = None, body: dict | None = None) -> Any:
        endpoint, payload = requested_endpoint(method, path, params, body)
        return await self.acall(endpoint, payload)

    def list_sellers(self) -> list[dict]:
        return self.call(SELLER_LIST) or []

    @airflow_errors
    def submit_fulfillment(
        self,
        region: str | None = None,
        seller_id: str | None = None,
        marketplace_id: str | None = None,
        order_list: list[dict] | None = None,
    ) -> dict:
        """Creates one mark-shipped task (not idempotent: never re-sent after it may have arrived).

        `region` None (or blank) is derived from `marketplace_id`; positional calls keep working. Every problem
        of the arguments is reported at once, before anything is sent (rules: api/arguments.py, api/orders.py).
        """
        return self.call(
            SUBMIT_FULFILLMENT, submission(region, seller_id, marketplace_id, order_list, argument="order_list")
        )

    @staticmethod
    def _result_payloads(seller_id: Any, task_ids: Any) -> list[dict[str, Any]]:
        seller, ids = arguments.seller_id(seller_id), arguments.task_ids(task_ids)
        limit = GET_FULFILLMENT_RESULT.batch_limit or len(ids)
        return [{"seller_id": seller, "task_id": ids[i : i + limit]} for i in range(0, len(ids), limit)]

    @airflow_errors
    def get_fulfillment_results(self, seller_id: str, task_ids: Any) -> list[dict]:
        """Results of mark-shipped tasks, one dict per task id Lingxing returned, in task-id order.

        Ids go 10 per request, as many requests at once as the endpoint's capacity (and `max_in_flight`) allows.
        """
        payloads = self._result_payloads(seller_id, task_ids)
        self.token_keeper.current()
        workers = min(GET_FULFILLMENT_RESULT.capacity, len(payloads), self.max_in_flight or len(payloads))
        try:
            if workers == 1:
                answers = [self._call(GET_FULFILLMENT_RESULT, payload) for payload in payloads]
            else:
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lingxing-results") as pool:
                    futures = [pool.submit(self._call, GET_FULFILLMENT_RESULT, payload) for payload in payloads]
                    try:
                        answers = [future.result() for future in futures]
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
        finally:
            self._report_token_war()
        return one_per_task(answers, GET_FULFILLMENT_RESULT.path)

    @airflow_errors
    async def aget_fulfillment_results(self, seller_id: str, task_ids: Any) -> list[dict]:
        """The async twin of `get_fulfillment_results`; the limiter bounds the requests in flight."""
        payloads = self._result_payloads(seller_id, task_ids)
        await self.asettings()
        await self.token_keeper.acurrent()
        own_limit = asyncio.Semaphore(self.max_in_flight or len(payloads))

        async def fetch(payload: dict[str, Any]) -> Any:
            async with own_limit:
                return await self._acall(GET_FULFILLMENT_RESULT, payload)

        tasks = [asyncio.ensure_future(fetch(payload)) for payload in payloads]
        try:
            answers = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self._report_token_war()
        return one_per_task(list(answers), GET_FULFILLMENT_RESULT.path)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's and the CLI's "Test": fetches a fresh token with one attempt and a short timeout (proves the
        App ID, App Secret and IP whitelist), publishes it where the workers read it, and lists the sellers
        (proves the grant); the message names the step that failed (`hooks/probe.py`)."""
        from airflow_provider_lingxing.hooks.probe import connection_test

        return connection_test(self)
