"""A scripted Lingxing hook for the operators' unit tests: submissions answered from a script, results served."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class FakeLingxingHook:
    """Answers submissions from a script and serves results.

    `script` is a list (one outcome per call, in call order: a dict, an exception, "ok", or a callable of the
    call giving one) or a single callable applied to every call (for concurrent calls, whose order varies).
    `max_in_flight` is what the operator may send at once: 1 (the default) keeps the call order fixed.
    """

    settings = "checked"
    """The connection as the real hook reads it before anything is sent."""

    def __init__(
        self,
        script: list[Any] | Callable[[dict[str, Any]], Any] | None = None,
        results: list[dict] | None = None,
        max_in_flight: int | None = 1,
        latency: float = 0.0,
    ) -> None:
        self.script = script if callable(script) else list(script or [])
        self.submitted: list[dict[str, Any]] = []
        self.results = results or []
        self.result_calls: list[tuple[str, list[int]]] = []
        self.next_task_id = 1003100
        self.closed = 0
        self.max_in_flight = max_in_flight
        self.latency = latency
        self.in_flight = 0
        self.peak_in_flight = 0
        self.lock = threading.Lock()

    def submit_fulfillment(self, region: str, seller_id: str, marketplace_id: str, order_list: list[dict]) -> dict:
        call = {"region": region, "seller_id": seller_id, "marketplace_id": marketplace_id, "order_list": order_list}
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            outcome: Any = self.script if callable(self.script) else (self.script.pop(0) if self.script else "ok")
        try:
            time.sleep(self.latency)
            if callable(outcome):
                outcome = outcome(call)
            if isinstance(outcome, BaseException):
                raise outcome
            with self.lock:
                self.submitted.append(call)
                if outcome in (None, "ok"):
                    self.next_task_id += 1
                    return {"task_id": str(self.next_task_id), "task_status": "in_process", "failure_reason": None}
            return outcome
        finally:
            with self.lock:
                self.in_flight -= 1

    def sent_ids(self) -> list[int]:
        return sorted(order["id"] for call in self.submitted for order in call["order_list"])

    def get_fulfillment_results(self, seller_id: str, task_ids: list[int]) -> list[dict]:
        self.result_calls.append((seller_id, list(task_ids)))
        wanted = {str(i) for i in task_ids}
        return [r for r in self.results if str(r.get("task_id")) in wanted]

    def close(self) -> None:
        self.closed += 1
