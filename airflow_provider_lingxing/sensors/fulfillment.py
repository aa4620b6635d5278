"""Wait until Lingxing mark-shipped tasks reach Complete (Amazon's verdict is in)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from airflow_provider_lingxing import exceptions
from airflow_provider_lingxing.api import arguments, errors
from airflow_provider_lingxing.api.progress import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    FulfillmentProgress,
    check_statuses,
)
from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.hooks import lingxing_hook
from airflow_provider_lingxing.templated import parse_rendered
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger, unpacked

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

DEFERRAL_GRACE_SECONDS = 60.0
"""The deferral's own timeout falls this long after `end_time`: the trigger reports first (naming the pending
ids); the deferral timeout ends the wait if the trigger never does (AirflowSensorTimeout, as Airflow raises it)."""


class FulfillmentResultSensor(BaseSensorOperator):
    """Wait until every mark-shipped task is Complete (or done); return their results (as the hook returns them).

    Fails at once, without retry, when a task fails (``failure`` set, or a status in ``failure_statuses``),
    when Lingxing refuses the call for good (LingxingFatalError: credentials, IP whitelist, endpoint grant) or
    the timeout passes; with ``soft_fail`` it is skipped instead. Bad arguments fail even with soft_fail.
    A poke asks only for ids still pending: in poke mode done ids are remembered across pokes of one try; in
    reschedule mode each poke is a new process and asks for all ids again. With ``deferrable=True`` it pokes
    once, then waits in the triggerer (FulfillmentResultTrigger) until ``timeout`` after the try started.
    A status in neither list nor among the documented pending ones is logged once per task and treated as
    pending; the timeout message lists them.

    :param seller_id: the Amazon seller id (a string) the tasks belong to (templated).
    :param fulfillment_task_ids: task ids from submitFulfillment: ints, ASCII digit strings, or the submit
        operator's XCom (dicts with ``task_id``), or lists of these (templated).
    :param lingxing_conn_id: the Lingxing connection (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param success_statuses: statuses meaning done, compared case-insensitively.
    :param failure_statuses: statuses meaning failed, compared case-insensitively.
    """

    template_fields: Sequence[str] = ("seller_id", "fulfillment_task_ids", "lingxing_conn_id")
    ui_color = "#f0eee4"

    def __init__(
        self,
        *,
        seller_id: str,
        fulfillment_task_ids: Any,
        lingxing_conn_id: str = "lingxing_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        success_statuses: Sequence[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.seller_id = seller_id
        self.fulfillment_task_ids = fulfillment_task_ids
        self.lingxing_conn_id = lingxing_conn_id
        self.deferrable = deferrable
        self.success_statuses, self.failure_statuses = check_statuses(success_statuses, failure_statuses)
        self._progress: FulfillmentProgress | None = None

    @cached_property
    def hook(self) -> LingxingHook:
        return lingxing_hook(self.lingxing_conn_id, task=self)

    def _start(self) -> FulfillmentProgress:
        """Validate the rendered arguments (before any API call) and start a fresh progress."""
        try:
            self.seller_id = arguments.seller_id(self.seller_id)
            task_ids = arguments.task_ids(parse_rendered(self.fulfillment_task_ids), "fulfillment_task_ids")
        except errors.LingxingInputError as e:
            raise LingxingInputError(str(e)) from None
        self._progress = FulfillmentProgress(
            task_ids, success_statuses=self.success_statuses, failure_statuses=self.failure_statuses
        )
        return self._progress

    def execute(self, context: Context) -> Any:
        if parse_rendered(self.fulfillment_task_ids) == []:
            self.log.info("No mark-shipped task to wait for (the submit task had nothing to send): done")
            return []
        progress = self._start()
        try:
            return super().execute(context)
        except AirflowSensorTimeout as e:
            raise AirflowSensorTimeout(f"{e} {progress.pending_message()}") from e

    def poke(self, context: Context) -> PokeReturnValue:
        progress = self._progress or self._start()
        for warning in progress.record(self.hook.get_fulfillment_results(self.seller_id, progress.pending_ids)):
            self.log.warning("%s", warning)
        self.log.info("%s%s", progress.line(), self.hook.fallback_note())
        if done := self._verdict(progress):
            return done
        if self.deferrable:
            self._defer(context, progress)
        return PokeReturnValue(is_done=False)

    @staticmethod
    def _verdict(progress: FulfillmentProgress) -> PokeReturnValue | None:
        """Success with the results, a failure (AirflowFailException, so soft_fail skips), or None: wait."""
        if progress.failed:
            raise AirflowFailException(progress.failure_message())
        if progress.finished:
            return PokeReturnValue(is_done=True, xcom_value=progress.done_results())
        return None

    def _defer(self, context: Context, progress: FulfillmentProgress) -> None:
        started = getattr(context.get("ti"), "start_date", None)
        start = started.timestamp() if isinstance(started, datetime) else time.time()
        end_time = start + self.timeout
        self.defer(
            trigger=FulfillmentResultTrigger(
                lingxing_conn_id=self.lingxing_conn_id,
                seller_id=self.seller_id,
                fulfillment_task_ids=progress.task_ids,
                pending_task_ids=progress.pending_ids,
                poll_interval=self.poke_interval,
                end_time=end_time,
                success_statuses=self.success_statuses,
                failure_statuses=self.failure_statuses,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(0.0, end_time - time.time()) + DEFERRAL_GRACE_SECONDS),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Turn the trigger's event into the outcome poke mode would give; fetch the results once."""
        if not event:
            raise AirflowException(f"FulfillmentResultTrigger ended without a usable event: {event!r}")
        status = event.get("status")
        if status == "success":
            progress = FulfillmentProgress(
                arguments.task_ids(
                    unpacked(event["fulfillment_task_ids"], "fulfillment_task_ids"), "fulfillment_task_ids"
                ),
                success_statuses=self.success_statuses,
                failure_statuses=self.failure_statuses,
            )
            for warning in progress.record(self.hook.get_fulfillment_results(event["seller_id"], progress.task_ids)):
                self.log.warning("%s", warning)
            self.log.info("%s%s", progress.line(), self.hook.fallback_note())
            if done := self._verdict(progress):
                return done.xcom_value
            raise AirflowException(f"The trigger saw every task done, the final fetch did not. {progress.line()}")
        if status == "failure":
            raise AirflowFailException(event["message"])
        if status == "error" and event.get("reason") == "timeout":
            raise AirflowSensorTimeout(event["message"])
        if status == "error" and event.get("reason") == "api_error":
            raise _api_error(event)
        raise AirflowException(f"FulfillmentResultTrigger ended without a usable event: {event!r}")


def _api_error(event: dict[str, Any]) -> exceptions.LingxingApiError:
    """Rebuild the API error the trigger hit, so retries and messages match poke mode."""
    cls = getattr(exceptions, str(event.get("error_class")), None)
    if not (isinstance(cls, type) and issubclass(cls, exceptions.LingxingApiError)):
        cls = exceptions.LingxingApiError
    return cls(
        event.get("message") or "error",
        code=event.get("code"),
        request_id=event.get("request_id"),
        path=event.get("path"),
        hint=event.get("hint"),
    )
