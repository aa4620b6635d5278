"""The HTTP sessions of one connection: a requests Session (sync) and an httpx client per event loop (async)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import requests

from airflow_provider_lingxing.api.calls import HttpAnswer, Send
from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.api.endpoints import ENDPOINTS
from airflow_provider_lingxing.api.errors import LingxingApiError
from airflow_provider_lingxing.api.redaction import scrub
from airflow_provider_lingxing.limits import Limiter
from airflow_provider_lingxing.metrics import holding_slot
from airflow_provider_lingxing.transport.failures import httpx_failure, requests_failure
from airflow_provider_lingxing.transport.tls import trust_for

USER_AGENT = "airflow-provider-lingxing"
MAX_POOLED_CONNECTIONS = max(e.capacity for e in ENDPOINTS.values())
"""Keep-alive connections per client: as many as any endpoint's capacity."""


class _RedactSignedUrls(logging.Filter):
    """urllib3 (debug) and httpx (info) log request URLs, whose query holds the token and the sign."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = scrub(message, limit=None)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _RedactSignedUrls()


def _install_url_redaction() -> None:
    for name in ("urllib3.connectionpool", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


class Transport:
    """Sends the requests of one connection, each within its limiter slot. Close with `close()`/`aclose()`."""

    def __init__(self, settings: LingxingSettings, limiter: Limiter) -> None:
        _install_url_redaction()
        self.settings = settings
        self.limiter = limiter
        self.trust = trust_for(settings)
        self.trust.ssl_context  # noqa: B018  (a CA file that is not PEM is named now, before any call)
        self._session: requests.Session | None = None
        self._client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        """The keep-alive session of the sync path (its pool holds as many connections as any bucket).

        The proxy environment is read once here for the one host this hook calls, instead of requests scanning
        the whole environment on every request; the CA file is the transport's one trust.
        """
        if self._session is None:
            with self._lock:
                if self._session is None:
                    session = requests.Session()
                    adapter = requests.adapters.HTTPAdapter(
                        pool_connections=4, pool_maxsize=MAX_POOLED_CONNECTIONS, max_retries=0
                    )
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    session.proxies.update(requests.utils.get_environ_proxies(self.settings.base_url))
                    session.verify = self.trust.requests_verify
                    session.trust_env = False
                    session.headers["User-Agent"] = USER_AGENT
                    self._session = session
        return self._session

    def client(self) -> httpx.AsyncClient:
        """The async client of the running event loop (a client cannot outlive or change its loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            client = httpx.AsyncClient(
                verify=self.trust.ssl_context,
                timeout=self.settings.timeout,
                limits=httpx.Limits(
                    max_connections=MAX_POOLED_CONNECTIONS, max_keepalive_connections=MAX_POOLED_CONNECTIONS
                ),
                headers={"User-Agent": USER_AGENT},
            )
            self._client = (loop, client)
        return self._client[1]

    def send(self, send: Send) -> HttpAnswer:
        session = self.session()
        failure: LingxingApiError | None = None
        queued = time.perf_counter()
        with self.limiter.slot(self.settings.app_id, send.endpoint), holding_slot(send.endpoint.path, queued):
            request = send.request
            try:
                response = session.request(
                    request.method,
                    request.url,
                    data=request.body,
                    headers=request.headers,
                    timeout=self.settings.timeout,
                    allow_redirects=False,
                )
                answer = HttpAnswer(response.status_code, response.content, response.headers)
            except requests.RequestException as error:
                failure = requests_failure(error, send.endpoint.path, self.settings, self.trust.source)
        if failure is not None:
            raise failure
        return answer

    async def asend(self, send: Send) -> HttpAnswer:
        client = self.client()
        failure: LingxingApiError | None = None
        queued = time.perf_counter()
        async with self.limiter.aslot(self.settings.app_id, send.endpoint), holding_slot(send.endpoint.path, queued):
            request = send.request
            try:
                response = await client.request(
                    request.method, request.url, content=request.body, headers=request.headers, follow_redirects=False
                )
                answer = HttpAnswer(response.status_code, response.content, response.headers)
            except httpx.HTTPError as error:
                failure = httpx_failure(error, send.endpoint.path, self.settings, self.trust.source)
        if failure is not None:
            raise failure
        return answer

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    async def aclose(self) -> None:
        if self._client is not None:
            loop, client = self._client
            self._client = None
            if loop is asyncio.get_running_loop():
                await client.aclose()
