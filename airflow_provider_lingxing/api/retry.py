"""What to do after a failed attempt: retry (after how long), renew the token, or raise (docs/lingxing-openapi.md).

The one retry policy both transports obey, so the sync and async paths cannot disagree.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_lingxing.api import errors


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: the n-th retry waits uniform(0, min(max_delay, base·2ⁿ))."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, retries_done: int, rand: Callable[[], float] = random.random) -> float:
        return rand() * min(self.max_delay, self.base_delay * 2**retries_done)


class TransportFailure(errors.LingxingTransientError):
    """No HTTP answer: a timeout or a connection error. `delivered` is False only when the request
    certainly never left (refused connection, connect timeout), so even a non-idempotent call may be re-sent.
    """

    def __init__(self, message: str, *, delivered: bool, path: str | None = None, stage: str | None = None) -> None:
        self.delivered = delivered
        self.stage = stage
        super().__init__(message, path=path)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_transport_failure, (self.message, self.delivered, self.path, self.stage))


def _rebuild_transport_failure(
    message: str, delivered: bool, path: str | None, stage: str | None = None
) -> TransportFailure:
    return TransportFailure(message, delivered=delivered, path=path, stage=stage)


class Action(enum.Enum):
    RAISE = "raise"
    RETRY = "retry"
    RESIGN = "sign afresh and send again at once (not counted as a retry)"
    RENEW_TOKEN = "renew token, then retry"


CLOCK_SKEW_LIMIT = 60.0
"""A second 2001007 is blamed on this worker's clock when it is this far (seconds) from the gateway's; a nearer
one is not explained by the clock and is backed off like any transient refusal."""


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0
    error: errors.LingxingApiError | None = None
    """What to raise when action is RAISE."""


def _may_have_been_processed(error: errors.LingxingApiError) -> bool:
    """True when the server may have acted on the request: only coded refusals prove it did not."""
    if isinstance(error, TransportFailure):
        return error.delivered
    return isinstance(error, errors.LingxingTransientError)


def _uncertain(error: errors.LingxingApiError) -> errors.LingxingSubmissionUncertainError:
    return errors.LingxingSubmissionUncertainError(
        f"{error.message}; the request may have reached Lingxing, so it was NOT re-sent (it is not "
        "idempotent: a second send could create a second task)",
        code=error.code,
        request_id=error.request_id,
        path=error.path,
        hint="Check in Lingxing whether the task was created before submitting these orders again",
    )


def _gave_up(error: errors.LingxingApiError, retries: int) -> errors.LingxingApiError:
    if retries == 0:
        return error
    message = f"{error.message} (gave up after {retries} {'retry' if retries == 1 else 'retries'})"
    if isinstance(error, TransportFailure):
        return TransportFailure(message, delivered=error.delivered, path=error.path, stage=error.stage)
    return type(error)(message, code=error.code, request_id=error.request_id, path=error.path, hint=error.hint)


TOKEN_WAR_HINT = (
    "Another client of this app id keeps fetching tokens, and each fetch invalidates the other's token: give "
    "that client its own app id"
)


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _clock_error(error: errors.LingxingSignExpiredError, now: float) -> errors.LingxingFatalError:
    if error.gateway_time is None:
        clocks = (
            f"this worker's clock reads {_utc(now)}; the gateway sent no clock (no Date header or response_time), "
            "so the offset cannot be measured"
        )
    else:
        offset = error.gateway_time - now
        side = "behind" if offset > 0 else "ahead"
        clocks = (
            f"this worker's clock reads {_utc(now)}, the gateway's {_utc(error.gateway_time)}: this worker is "
            f"{abs(offset):.0f} s {side}"
        )
    return errors.LingxingFatalError(
        f"{error.message}: the sign was refused as expired again after a re-sign; {clocks}",
        code=error.code,
        request_id=error.request_id,
        path=error.path,
        hint="Synchronise the worker's clock (NTP, e.g. chrony or systemd-timesyncd): Lingxing refuses a sign "
        "made more than two minutes from its own clock",
    )


def decide(
    error: errors.LingxingApiError,
    *,
    retries_done: int,
    renewals_done: int,
    idempotent: bool,
    policy: RetryPolicy,
    can_renew_token: bool = True,
    resigns_done: int = 0,
    clock: Callable[[], float] = time.time,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """The next step after `error`. A refused token is renewed at once the first time; later renewals of the
    same call (another client keeps rotating the token) draw on the retries, with backoff. A sign that
    expired is re-signed at once, and expiring again with this clock far from the gateway's is fatal (`clock`:
    the one the request was signed with); rate limits and transient failures back off; everything else
    raises. A non-idempotent call that may have been processed is never re-sent.
    """
    if isinstance(error, errors.LingxingTokenError):
        if not can_renew_token:
            return Decision(Action.RAISE, error=error)
        if renewals_done == 0:
            return Decision(Action.RENEW_TOKEN)
        if retries_done >= policy.max_retries:
            gave_up = _gave_up(error, retries_done)
            gave_up.hint = TOKEN_WAR_HINT
            return Decision(Action.RAISE, error=gave_up)
        return Decision(Action.RENEW_TOKEN, delay=policy.backoff(retries_done, rand))
    if not error.retryable:
        return Decision(Action.RAISE, error=error)
    if not idempotent and _may_have_been_processed(error):
        return Decision(Action.RAISE, error=_uncertain(error))
    if isinstance(error, errors.LingxingSignExpiredError):
        if resigns_done == 0:
            return Decision(Action.RESIGN)
        now = clock()
        if error.gateway_time is None or abs(error.gateway_time - now) >= CLOCK_SKEW_LIMIT:
            return Decision(Action.RAISE, error=_clock_error(error, now))
    if retries_done >= policy.max_retries:
        return Decision(Action.RAISE, error=_gave_up(error, retries_done))
    return Decision(Action.RETRY, delay=policy.backoff(retries_done, rand))
