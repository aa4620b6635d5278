"""A failure of requests or httpx → the typed error the retry policy reads (no URL: its query holds secrets).

Both transports give the same message and the same split between "certainly never sent" (`delivered=False`:
even a non-idempotent call may be re-sent) and "may have arrived".
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import requests
import urllib3

from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.api.errors import LingxingApiError, LingxingFatalError
from airflow_provider_lingxing.api.retry import TransportFailure


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


CERTIFICATE_HINT = (
    "If a TLS proxy or a private CA signs it, set the connection's extra ca_bundle to a PEM file of that CA (or "
    "REQUESTS_CA_BUNDLE / SSL_CERT_FILE on every worker and the triggerer); verify=false turns verification off"
)


def _certificate_failure(error: BaseException, path: str, host: str, trusted: str) -> LingxingFatalError | None:
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in _causes(error)):
        failure = LingxingFatalError(
            f"the TLS certificate of {host} could not be verified (trusted CAs: {trusted})",
            path=path,
            hint=CERTIFICATE_HINT,
        )
        failure.stage = "TLS"
        return failure
    return None


def _before_sending(error: BaseException, path: str, settings: LingxingSettings, trusted: str) -> LingxingApiError:
    """A connection that was never made: a name that does not resolve, a refusal, a TLS handshake that failed."""
    parts = urlsplit(settings.base_url)
    if any(isinstance(cause, socket.gaierror) for cause in _causes(error)):
        return TransportFailure(
            f"cannot resolve the host name {parts.hostname}", delivered=False, path=path, stage="DNS"
        )
    if any(isinstance(cause, ssl.SSLError) for cause in _causes(error)):
        return _certificate_failure(error, path, parts.netloc, trusted) or TransportFailure(
            f"the TLS handshake with {parts.netloc} failed", delivered=False, path=path, stage="TLS"
        )
    return TransportFailure(f"could not connect to {parts.netloc}", delivered=False, path=path, stage="connect")


def _connect_timeout(path: str, settings: LingxingSettings) -> TransportFailure:
    host = urlsplit(settings.base_url).netloc
    message = f"no connection to {host} within {settings.timeout:g} s"
    return TransportFailure(message, delivered=False, path=path, stage="connect")


def _no_answer(path: str, settings: LingxingSettings) -> TransportFailure:
    message = f"no answer within {settings.timeout:g} s"
    return TransportFailure(message, delivered=True, path=path, stage="the answer")


def _broken(path: str) -> TransportFailure:
    message = "the connection broke before the answer arrived"
    return TransportFailure(message, delivered=True, path=path, stage="the answer")


def requests_failure(
    error: requests.RequestException, path: str, settings: LingxingSettings, trusted: str = "certifi"
) -> LingxingApiError:
    """A requests exception → a typed error whose text carries no URL (requests' own text has the query)."""
    if isinstance(error, requests.exceptions.SSLError):
        return _before_sending(error, path, settings, trusted)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return _connect_timeout(path, settings)
    if isinstance(error, requests.exceptions.ReadTimeout):
        return _no_answer(path, settings)
    if isinstance(error, requests.exceptions.ConnectionError) and any(
        isinstance(cause, urllib3.exceptions.NewConnectionError) for cause in _causes(error)
    ):
        return _before_sending(error, path, settings, trusted)
    return _broken(path)


def httpx_failure(
    error: httpx.HTTPError, path: str, settings: LingxingSettings, trusted: str = "certifi"
) -> LingxingApiError:
    """The httpx twin of `requests_failure`: same messages, same delivered/not-delivered split."""
    if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return _connect_timeout(path, settings)
    if isinstance(error, httpx.ConnectError):
        return _before_sending(error, path, settings, trusted)
    if isinstance(error, httpx.ReadTimeout):
        return _no_answer(path, settings)
    return _broken(path)
