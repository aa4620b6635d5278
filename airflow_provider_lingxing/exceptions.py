"""Typed errors of the Lingxing OpenAPI, as a DAG author meets them. Messages never carry a secret, a token or a sign.

Each class is the Airflow-aware twin of the protocol error of the same name in `api/errors.py`: a subclass of
that error and of the Airflow exception that gives it its meaning in a task. Input errors, fatal codes and
uncertain submissions are `AirflowFailException`s, so Airflow fails the task at once instead of repeating a
refused call on each of its retries (with ``soft_fail`` a sensor is skipped, as for any AirflowFailException);
the others are `AirflowException`s, retried as the task's `retries` say.

`api/` stays free of Airflow: it raises the protocol errors, and the hook (and the operators and the sensor,
through `airflow_errors`) turns them into these twins before they reach Airflow or the DAG author.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_lingxing.api import errors

__all__ = [
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
    "airflow_errors",
    "for_airflow",
]


class LingxingInputError(errors.LingxingInputError, AirflowFailException):
    """Bad input caught before any call: retrying the task cannot help, so Airflow does not retry it."""


class LingxingApiError(errors.LingxingApiError, AirflowException):
    """An error answer or failed call; carries what a DAG author needs to act on it."""


class LingxingFatalError(LingxingApiError, errors.LingxingFatalError, AirflowFailException):
    """A code that no retry can fix: a wrong credential, path, parameter or permission. Fails the task at once."""


class LingxingAuthError(LingxingFatalError, errors.LingxingAuthError):
    """The app id, secret, IP whitelist or endpoint grant is wrong; fix it in the ERP or the connection."""


class LingxingBadRequestError(LingxingFatalError, errors.LingxingBadRequestError):
    """The request itself was refused (102, a missing gateway parameter, a wrong sign or path)."""


class LingxingRetryableError(LingxingApiError, errors.LingxingRetryableError):
    """The hook's own retries are spent; a task retry may still succeed."""


class LingxingTokenError(LingxingRetryableError, errors.LingxingTokenError):
    """The access token is missing, expired or rotated."""


class LingxingSignExpiredError(LingxingRetryableError, errors.LingxingSignExpiredError):
    """The sign is older than two minutes."""


class LingxingRateLimitError(LingxingRetryableError, errors.LingxingRateLimitError):
    """The endpoint's concurrency bucket (3001008) or second limiter (103) is full."""


class LingxingTransientError(LingxingRetryableError, errors.LingxingTransientError):
    """HTTP 5xx, a timeout, a dropped connection or a body that is not JSON."""


class LingxingSubmissionUncertainError(LingxingApiError, errors.LingxingSubmissionUncertainError, AirflowFailException):
    """A non-idempotent call (submitFulfillment) failed after it may have reached the server.

    It is not re-sent, and Airflow does not retry the task that made it (a retry would send it again): check
    in Lingxing whether the task was created before submitting again.
    """


_TWINS: dict[type[errors.LingxingError], type[errors.LingxingError]] = {
    getattr(errors, public.__name__): public
    for public in (
        LingxingInputError,
        LingxingApiError,
        LingxingFatalError,
        LingxingAuthError,
        LingxingBadRequestError,
        LingxingRetryableError,
        LingxingTokenError,
        LingxingSignExpiredError,
        LingxingRateLimitError,
        LingxingTransientError,
        LingxingSubmissionUncertainError,
    )
}


def for_airflow(error: errors.LingxingError) -> errors.LingxingError:
    """The public twin of a protocol error (the nearest one for a subclass such as a transport failure), with
    the same fields, message and traceback; an error that is public already is returned as is."""
    if isinstance(error, AirflowException):
        return error
    public = next((_TWINS[cls] for cls in type(error).__mro__ if cls in _TWINS), None)
    if public is None:
        return error
    twin = public.__new__(public)
    twin.__dict__.update(vars(error))
    twin.args = error.args
    return twin.with_traceback(error.__traceback__)


F = TypeVar("F", bound=Callable[..., Any])


def airflow_errors(function: F) -> F:
    """Decorates a function (sync or async) so the protocol errors it raises leave it as their public twins."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def awaiting(*args: Any, **kwargs: Any) -> Any:
            try:
                return await function(*args, **kwargs)
            except errors.LingxingError as error:
                twin = for_airflow(error)
                if twin is error:
                    raise
                raise twin from error.__cause__

        return cast(F, awaiting)

    @functools.wraps(function)
    def calling(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except errors.LingxingError as error:
            twin = for_airflow(error)
            if twin is error:
                raise
            raise twin from error.__cause__

    return cast(F, calling)
