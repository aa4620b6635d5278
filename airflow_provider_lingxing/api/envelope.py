"""An HTTP answer → the envelope's `data`, or the exception that says what to do (codes: docs/lingxing-openapi.md)."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_lingxing.api import errors
from airflow_provider_lingxing.api.redaction import excerpt, scrub

INTERNAL_ERROR_HINT = (
    "Lingxing reported an internal error (服务内部错误), usually transient: a read is retried; a submission is "
    "not re-sent, since it may have been processed"
)

# code → (exception class, actionable hint). One table: every documented code is classified here.
ERROR_CODES: dict[str, tuple[type[errors.LingxingApiError], str]] = {
    "2001001": (errors.LingxingAuthError, "The app id does not exist: check the connection's App ID (login)"),
    "2001002": (
        errors.LingxingAuthError,
        "The app secret is wrong: check the connection's App Secret (password)",
    ),
    "2001003": (errors.LingxingTokenError, "The access token is missing or expired"),
    "2001004": (
        errors.LingxingAuthError,
        "This endpoint is not granted to the app: grant it in the Lingxing ERP (OpenAPI settings)",
    ),
    "2001005": (
        errors.LingxingTokenError,
        "The access token was replaced by another process fetching a new one",
    ),
    "2001006": (
        errors.LingxingBadRequestError,
        "The sign does not match the request: the body sent differs from what was signed (a bug)",
    ),
    "2001007": (errors.LingxingSignExpiredError, "The sign is older than 2 minutes: check the worker's clock"),
    "2001008": (errors.LingxingTokenError, "The refresh token expired: a new token is fetched with the secret"),
    "2001009": (
        errors.LingxingTokenError,
        "The refresh token is invalid: a new token is fetched with the secret",
    ),
    "3001001": (errors.LingxingBadRequestError, "A gateway query parameter is missing (a bug)"),
    "3001002": (
        errors.LingxingAuthError,
        "The calling IP is not whitelisted: add the Airflow workers' and triggerer's egress IPs in the ERP",
    ),
    "3001008": (errors.LingxingRateLimitError, "The endpoint's concurrency bucket is full"),
    "103": (errors.LingxingRateLimitError, "Requests too frequent"),
    "102": (errors.LingxingBadRequestError, "A request parameter is invalid"),
    "0001001": (
        errors.LingxingAuthError,
        "The app secret was mangled in transit (rsa private decrypt error): check the App Secret",
    ),
    "400": (errors.LingxingBadRequestError, "Wrong path or method: check the connection's Base URL"),
    "404": (errors.LingxingBadRequestError, "Wrong path: check the connection's Base URL"),
    "405": (errors.LingxingBadRequestError, "Wrong method for this path"),
    "401": (errors.LingxingAuthError, "The app id is disabled: enable it in the Lingxing ERP"),
    "403": (
        errors.LingxingAuthError,
        "Authorization expired or endpoint not granted: renew it in the Lingxing ERP",
    ),
    # The "服务内部错误" family in an HTTP 200 envelope: transient. "500" saying NOT_FOUND is a wrong path (error_for).
    "1": (errors.LingxingTransientError, INTERNAL_ERROR_HINT),
    "100": (errors.LingxingTransientError, INTERNAL_ERROR_HINT),
    "500": (errors.LingxingTransientError, INTERNAL_ERROR_HINT),
}

SUCCESS_CODES = ("0", "200")
BEIJING_UTC_OFFSET = 8 * 3600
"""`response_time` is Beijing time, "YYYY-MM-DD HH:MM:SS"."""


def gateway_clock(envelope: Mapping[str, Any], headers: Mapping[str, str] | None) -> float | None:
    """The gateway's clock when it answered (Unix seconds): its `response_time`, else the HTTP `Date` header."""
    try:
        beijing = time.strptime(str(envelope["response_time"]), "%Y-%m-%d %H:%M:%S")
        return float(calendar.timegm(beijing) - BEIJING_UTC_OFFSET)
    except (KeyError, ValueError):
        pass
    try:
        return parsedate_to_datetime((headers or {})["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def error_for(code: str | None, message: str, *, path: str, request_id: str | None = None) -> errors.LingxingApiError:
    """The exception for an error answer; unknown codes are fatal (retrying an unknown refusal is blind)."""
    cls, hint = ERROR_CODES.get(str(code), (errors.LingxingFatalError, None))
    if str(code) == "500" and "NOT_FOUND" in message.upper():
        cls, hint = ERROR_CODES["404"]
    return cls(message, code=None if code is None else str(code), request_id=request_id, path=path, hint=hint)


def redirect_error(status: int, location: str | None, *, path: str) -> errors.LingxingFatalError:
    """A 3xx, never followed: no documented endpoint redirects, and following would re-send the token request's
    body (it holds the app secret) to another origin. Names the target's host only, never its path or query."""
    try:
        target = urlsplit(location or "")
        host, port = target.hostname, target.port
    except ValueError:
        host, port = None, None
    if host and ":" in host:
        host = f"[{host}]"
    where = f"{host}:{port}" if host and port else host
    to = f"redirected to {where}" if where else "redirected" + (" on the same host" if location else "")
    return errors.LingxingFatalError(
        f"HTTP {status}: {to}; not followed (no Lingxing endpoint redirects, and following would re-send the "
        "request, the app secret included, to another address)",
        path=path,
        hint="Check the connection's Base URL (host) and any proxy between Airflow and Lingxing",
    )


def parse_response(
    status: int,
    body: bytes,
    *,
    path: str,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> Any:
    """The `data` of a successful answer; raises the classified error otherwise. Any server text quoted in the
    error is scrubbed of `secrets` (what the request carried) and of secret parameters, and capped."""
    if 300 <= status < 400:
        raise redirect_error(status, (headers or {}).get("Location"), path=path)
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        text = excerpt(body, secrets)
        said = f" ({text})" if text else ""
        if status >= 500:
            raise errors.LingxingTransientError(f"HTTP {status}{said}", path=path)
        if status in (401, 403, 404, 405, 400):
            raise error_for(str(status), f"HTTP {status}{said}", path=path)
        raise errors.LingxingTransientError(f"HTTP {status} with a body that is not a JSON object{said}", path=path)
    code = envelope.get("code")
    if code is not None and str(code) in SUCCESS_CODES and status < 400 and "data" in envelope:
        return envelope["data"]
    secrets = tuple(secrets)  # an error from here on: quote the server's text only scrubbed
    if code is not None:
        code = scrub(str(code), secrets, limit=40)
    message = scrub(str(envelope.get("message") or envelope.get("msg") or ""), secrets)
    request_id = envelope.get("request_id")
    if request_id is not None:
        request_id = scrub(str(request_id), secrets, limit=100)
    if code is not None and str(code) in SUCCESS_CODES and status < 400:
        raise errors.LingxingFatalError("the answer has no `data` field", path=path, request_id=request_id)
    if code is None or str(code) in SUCCESS_CODES:
        if status >= 500:
            raise errors.LingxingTransientError(f"HTTP {status}", path=path, request_id=request_id)
        raise error_for(str(status), message or f"HTTP {status}", path=path, request_id=request_id)
    if status >= 500 and str(code) not in ERROR_CODES and "NOT_FOUND" not in message.upper():
        raise errors.LingxingTransientError(
            f"HTTP {status}: {message}", code=str(code), path=path, request_id=request_id
        )
    error = error_for(str(code), message, path=path, request_id=request_id)
    if isinstance(error, errors.LingxingSignExpiredError):
        error.gateway_time = gateway_clock(envelope, headers)
    raise error
