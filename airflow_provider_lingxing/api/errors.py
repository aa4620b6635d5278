"""The errors of the protocol, free of Airflow: what `api/`, `transport/`, `limits/` and `tokens/` raise.

`airflow_provider_lingxing.exceptions` holds the public, Airflow-aware twin of each class (a subclass of it and
of the matching Airflow exception); the hook hands its callers those twins (`exceptions.for_airflow`). So code
below the hook decides with these classes, and a DAG author catches the public ones. Messages never carry a
secret, a token or a sign (server text is scrubbed first: `api/redaction.py`).
"""

from __future__ import annotations

from typing import Any


class LingxingError(Exception):
    """Root of every error of this provider."""


class LingxingInputError(LingxingError, ValueError):
    """Bad input caught before any call: retrying cannot help (the public twin fails a task without retry)."""


class LingxingApiError(LingxingError):
    """An error answer or failed call; carries what a DAG author needs to act on it."""

    retryable = False
    stage: str | None = None
    """Where a call failed before any answer came: "DNS", "connect", "TLS" or "the answer" (None: it was answered)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.path = path
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"Lingxing {self.path or 'API'}"]
        if self.code is not None:
            parts.append(f"code {self.code}")
        text = " ".join(parts) + f": {self.message}"
        if self.hint:
            text += f". {self.hint}"
        if self.request_id:
            text += f" (request_id {self.request_id})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.code, self.request_id, self.path, self.hint))


def _rebuild(
    cls: type[LingxingApiError],
    message: str,
    code: str | None,
    request_id: str | None,
    path: str | None,
    hint: str | None,
) -> LingxingApiError:
    return cls(message, code=code, request_id=request_id, path=path, hint=hint)


class LingxingFatalError(LingxingApiError):
    """A code that no retry can fix: a wrong credential, path, parameter or permission."""


class LingxingAuthError(LingxingFatalError):
    """The app id, secret, IP whitelist or endpoint grant is wrong; fix it in the ERP or the connection."""


class LingxingBadRequestError(LingxingFatalError):
    """The request itself was refused (102, a missing gateway parameter, a wrong sign or path)."""


class LingxingRetryableError(LingxingApiError):
    retryable = True


class LingxingTokenError(LingxingRetryableError):
    """The access token is missing, expired or rotated: get the shared one, else a new one, and retry."""


class LingxingSignExpiredError(LingxingRetryableError):
    """The sign is older than two minutes: re-sign with a fresh timestamp and retry."""

    gateway_time: float | None = None
    """The gateway's clock when it answered (Unix seconds), when the answer told it."""


class LingxingRateLimitError(LingxingRetryableError):
    """The endpoint's concurrency bucket (3001008) or second limiter (103) is full: back off and retry."""


class LingxingTransientError(LingxingRetryableError):
    """HTTP 5xx, a timeout, a dropped connection or a body that is not JSON."""


class LingxingSubmissionUncertainError(LingxingApiError):
    """A non-idempotent call (submitFulfillment) failed after it may have reached the server: not re-sent.

    Check in Lingxing whether the task was created before submitting again.
    """
