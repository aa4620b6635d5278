"""The deferrable half of FulfillmentResultSensor: polls Lingxing from the triggerer's event loop.

The triggers of one (app id, Base URL, seller) in a triggerer poll together (`triggers/polling.py`); the task ids
travel packed (`api/compact_ids.py`), so the kwargs of a wait for 20,000 tasks stay far below the 64 KB a MySQL
metadata database can store.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_lingxing import exceptions
from airflow_provider_lingxing.api import arguments, errors
from airflow_provider_lingxing.api.compact_ids import is_packed, pack_task_ids, unpack_task_ids
from airflow_provider_lingxing.api.progress import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    MAX_LISTED_IDS,
    FulfillmentProgress,
    check_statuses,
)
from airflow_provider_lingxing.api.tokens import app_fingerprint
from airflow_provider_lingxing.hooks import lingxing_hook
from airflow_provider_lingxing.triggers.polling import Fetch, Member, SellerPoller, seller_poller

if TYPE_CHECKING:
    from airflow_provider_lingxing.hooks.lingxing import LingxingHook


@dataclass
class _SharedHook:
    hook: LingxingHook
    users: int = 0


_SHARED_HOOKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _SharedHook]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def _shared_hook(conn_id: str, make: Callable[[], LingxingHook]) -> AsyncIterator[LingxingHook]:
    """One hook per (event loop, connection) while any trigger uses it, closed after the last one.

    Hundreds of triggers in a triggerer then share one HTTP pool (sized to the endpoint's capacity), one
    connection read and one token, instead of each building its own client and TLS context.
    """
    hooks = _SHARED_HOOKS.setdefault(asyncio.get_running_loop(), {})
    shared = hooks.get(conn_id) or hooks.setdefault(conn_id, _SharedHook(make()))
    shared.users += 1
    try:
        yield shared.hook
    finally:
        shared.users -= 1
        if shared.users == 0:
            del hooks[conn_id]
            await shared.hook.aclose()


def unpacked(value: Any, argument: str) -> Any:
    """Packed task ids (`api/compact_ids.py`) as a list; anything else as it is."""
    if not is_packed(value):
        return value
    try:
        return unpack_task_ids(value)
    except ValueError as error:
        raise errors.LingxingInputError(f"{argument}: {error}") from None


def _first(listing: dict[int, str]) -> dict[str, str]:
    """The first MAX_LISTED_IDS entries, keyed by id as text: an event stays small however many tasks wait."""
    return {str(i): text for i, text in sorted(listing.items())[:MAX_LISTED_IDS]}


class FulfillmentResultTrigger(BaseTrigger):
    """Poll the pending mark-shipped tasks until all are done, one fails, or `end_time` passes.

    Polls through the shared poller of its (app id, Base URL, seller): one round for every trigger due, in
    requests of 10 within the hook's concurrency budget. Yields one small event (ids and short reasons, never
    results): ``success``, ``failure`` (the first failed ids and reasons, and their count) or ``error``
    (``timeout`` or ``api_error``, raised after the hook's own retries are spent).

    :param fulfillment_task_ids: every task id the sensor waits for (a list, or packed).
    :param pending_task_ids: those not yet done when the sensor deferred (default: all).
    :param poll_interval: seconds between polls.
    :param end_time: Unix time after which the wait times out; None waits forever.
    """

    def __init__(
        self,
        *,
        lingxing_conn_id: str,
        seller_id: str,
        fulfillment_task_ids: Iterable[int | str] | str,
        pending_task_ids: Iterable[int | str] | str | None = None,
        poll_interval: float = 60.0,
        end_time: float | None = None,
        success_statuses: Iterable[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
    ) -> None:
        super().__init__()
        self.lingxing_conn_id = lingxing_conn_id
        self.seller_id = arguments.seller_id(seller_id)
        ids = unpacked(fulfillment_task_ids, "fulfillment_task_ids")
        self.fulfillment_task_ids = arguments.task_ids(ids, "fulfillment_task_ids")
        pending = (
            self.fulfillment_task_ids if pending_task_ids is None else unpacked(pending_task_ids, "pending_task_ids")
        )
        self.pending_task_ids = arguments.task_ids(pending, "pending_task_ids") if pending else []
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.success_statuses, self.failure_statuses = check_statuses(success_statuses, failure_statuses)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "lingxing_conn_id": self.lingxing_conn_id,
                "seller_id": self.seller_id,
                "fulfillment_task_ids": pack_task_ids(self.fulfillment_task_ids),
                "pending_task_ids": pack_task_ids(self.pending_task_ids),
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "success_statuses": self.success_statuses,
                "failure_statuses": self.failure_statuses,
            },
        )

    def _hook(self) -> LingxingHook:
        return lingxing_hook(self.lingxing_conn_id)

    @asynccontextmanager
    async def _sending(self) -> AsyncIterator[Fetch]:
        """What a poller sends with: this connection's shared hook, held open as long as the poller lives."""
        async with _shared_hook(self.lingxing_conn_id, self._hook) as hook:
            yield partial(hook.aget_fulfillment_results, self.seller_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        progress = FulfillmentProgress(
            self.fulfillment_task_ids,
            success_statuses=self.success_statuses,
            failure_statuses=self.failure_statuses,
            done=set(self.fulfillment_task_ids) - set(self.pending_task_ids),
        )
        async with _shared_hook(self.lingxing_conn_id, self._hook) as hook:
            payload = await self._wait(hook, progress)
        yield TriggerEvent(payload)

    async def _wait(self, hook: LingxingHook, progress: FulfillmentProgress) -> dict[str, Any]:
        """Join the poller of this trigger's (app id, Base URL, seller) and poll until the verdict."""
        if progress.finished:
            return self._success_event()
        settings = await hook.asettings()
        key = (app_fingerprint(settings.app_id), settings.base_url, self.seller_id)
        async with (
            seller_poller(key, self._sending, clock=time.time, sleep=asyncio.sleep) as poller,
            poller.membership(self.poll_interval) as member,
        ):
            return await self._poll(poller, member, hook, progress)

    async def _poll(
        self, poller: SellerPoller, member: Member, hook: LingxingHook, progress: FulfillmentProgress
    ) -> dict[str, Any]:
        while not progress.finished:
            try:
                results = await poller.results(member, progress.pending_ids, not_after=self.end_time)
            except errors.LingxingApiError as e:  # the public twins, and any protocol error a hook lets through
                return self._api_error_event(e)
            for warning in progress.record(results):
                self.log.warning("%s", warning)
            self.log.info("%s%s", progress.line(), hook.fallback_note())
            if progress.failed:
                return {
                    "status": "failure",
                    "message": progress.failure_message(),
                    "failed": _first(progress.failed),
                    "failed_count": len(progress.failed),
                }
            if not progress.finished and self.end_time is not None and time.time() >= self.end_time:
                deadline = datetime.fromtimestamp(self.end_time, tz=timezone.utc).isoformat()
                return {
                    "status": "error",
                    "reason": "timeout",
                    "message": f"Sensor has timed out at {deadline}. {progress.pending_message()}",
                    "pending": _first({i: progress.last_status[i] for i in progress.pending_ids}),
                    "pending_count": len(progress.pending_ids),
                }
        return self._success_event()

    def _success_event(self) -> dict[str, Any]:
        return {
            "status": "success",
            "seller_id": self.seller_id,
            "fulfillment_task_ids": pack_task_ids(self.fulfillment_task_ids),
        }

    @staticmethod
    def _api_error_event(error: errors.LingxingApiError) -> dict[str, Any]:
        """Fields of the error, not the object: enough for the sensor to raise the same public class."""
        twin = type(exceptions.for_airflow(error))
        public = next(c for c in twin.__mro__ if c.__module__ == exceptions.__name__)
        return {
            "status": "error",
            "reason": "api_error",
            "error_class": public.__name__,
            "message": error.message,
            "code": error.code,
            "request_id": error.request_id,
            "path": error.path,
            "hint": error.hint,
        }
