"""Wait until Lingxing mark-shipped tasks reach Complete (Amazon's verdict is in)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from airflow_provider_lingxing import exceptions
from airflow_provider_lingxing.api.fulfillment import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    normalize_task_ids,
)
from airflow_provider_lingxing.api.progress import FulfillmentProgress, check_statuses
from airflow_provider_lingxing.api.rendered import parse_rendered
from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.hooks import lingxing_hook
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_lingxing.hooks.lingxing import LingxingHook


class FulfillmentResultSensor(BaseSensorOperator):
    """Wait until every mark-shipped task is Complete; return their results (as the hook returns them).

    Fails at once, without retry, when a task fails (``failure`` set, or a status in ``failure_statuses``),
    when Lingxing refuses the call for good (LingxingFatalError: credentials, IP whitelist, endpoint grant) or
    the timeout passes; with ``soft_fail`` it is skipped instead. Bad arguments fail even with soft_fail.
    A poke asks only for ids still pending: in poke mode done ids are remembered across pokes of one try; in
    reschedule mode each poke is a new process and asks for all ids again. With ``deferrable=True`` it pokes
    once, then waits in the triggerer (FulfillmentResultTrigger) until ``timeout`` after the try started.

    :param seller_id: the Lingxing seller id the tasks belong to (templated).
    :param fulfillment_task_ids: task ids from submitFulfillment: ints, digit strings, or the submit
        operator's XCom (dicts with ``task_id``) (templated).
    :param lingxing_conn_id: the Lingxing connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param success_statuses: statuses meaning done, compared case-insensitively.
    :param failure_statuses: statuses meaning failed, compared case-insensitively.
    """

    template_fields: Sequence[str] = ("seller_id", "fulfillment_task_ids")
    ui_color = "#f0eee4"

    def __init__(
        self,
        *,
        seller_id: str | int,
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
        seller_id = "" if self.seller_id is None else str(self.seller_id).strip()
        if not seller_id:
            raise LingxingInputError("seller_id is empty: give the Lingxing seller id the tasks belong to")
        try:
            rendered = parse_rendered(self.fulfillment_task_ids)
            task_ids = normalize_task_ids(rendered, argument="fulfillment_task_ids")
        except ValueError as e:
            raise LingxingInputError(str(e)) from None
        self.seller_id = seller_id
        self._progress = FulfillmentProgress(
            task_ids, success_statuses=self.success_statuses, failure_statuses=self.failure_statuses
        )
        return self._progress

    def execute(self, context: Context) -> Any:
        progress = self._start()
        try:
            return super().execute(context)
        except AirflowSensorTimeout as e:
            raise AirflowSensorTimeout(f"{e} {progress.pending_message()}") from e

    def poke(self, context: Context) -> PokeReturnValue:
        progress = self._progress or self._start()
        progress.record(self.hook.get_fulfillment_results(self.seller_id, progress.pending_ids))
        self.log.info("%s", progress.line())
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
        self.defer(
            trigger=FulfillmentResultTrigger(
                lingxing_conn_id=self.lingxing_conn_id,
                seller_id=self.seller_id,
                fulfillment_task_ids=progress.task_ids,
                pending_task_ids=progress.pending_ids,
                poll_interval=self.poke_interval,
                end_time=start + self.timeout,
                success_statuses=self.success_statuses,
                failure_statuses=self.failure_statuses,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Turn the trigger's event into the outcome poke mode would give; fetch the results once."""
        status = (event or {}).get("status")
        if status == "success":
            progress = FulfillmentProgress(
                normalize_task_ids(event["fulfillment_task_ids"], argument="fulfillment_task_ids"),
                success_statuses=self.success_statuses,
                failure_statuses=self.failure_statuses,
            )
            progress.record(self.hook.get_fulfillment_results(event["seller_id"], progress.task_ids))
            self.log.info("%s", progress.line())
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
