"""Typed errors of the Lingxing OpenAPI. Messages never carry a secret, a token or a sign."""

from __future__ import annotations

from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "LingxingApiError",
    "LingxingAuthError",
    "LingxingBadRequestError",
    "LingxingFatalError",
    "LingxingInputError",
    "LingxingRateLimitError",
    "LingxingRetryableError",
    "LingxingSignExpiredError",
    "LingxingSubmissionUncertainError",
    "LingxingTokenError",
    "LingxingTransientError",
]


class LingxingInputError(AirflowFailException, ValueError):
    """Bad input caught before any call: retrying the task cannot help, so Airflow does not retry it."""


class LingxingApiError(AirflowException):
    """An error answer or failed call; carries what a DAG author needs to act on it."""

    retryable = False

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

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.code, self.request_id, self.path, self.hint))


def _rebuild(cls, message, code, request_id, path, hint):
    return cls(message, code=code, request_id=request_id, path=path, hint=hint)


class LingxingFatalError(LingxingApiError, AirflowFailException):
    """A code that no retry can fix: a wrong credential, path, parameter or permission.

    Also an AirflowFailException, so Airflow fails the task at once instead of repeating the refused call on
    each of its retries (with ``soft_fail`` a sensor is skipped, as for any AirflowFailException).
    """


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


class LingxingRateLimitError(LingxingRetryableError):
    """The endpoint's concurrency bucket (3001008) or second limiter (103) is full: back off and retry."""


class LingxingTransientError(LingxingRetryableError):
    """HTTP 5xx, a timeout, a dropped connection or a body that is not JSON."""


class LingxingSubmissionUncertainError(LingxingApiError, AirflowFailException):
    """A non-idempotent call (submitFulfillment) failed after it may have reached the server.

    It is not re-sent, and Airflow does not retry the task that made it (a retry would send it again): check
    in Lingxing whether the task was created before submitting again.
    """
