"""Fakes of what the operators read from Airflow and Lingxing (imported by the operator tests and conftest)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar


class FakeVariables:
    """Airflow Variables as the task SDK serves them (JSON in and out), kept in a dict."""

    store: ClassVar[dict[str, str]] = {}
    fail_set_after: int | None = None
    sets = 0

    @classmethod
    def get(cls, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        if key not in cls.store:
            return default
        return json.loads(cls.store[key]) if deserialize_json else cls.store[key]

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        cls.sets += 1
        if cls.fail_set_after is not None and cls.sets > cls.fail_set_after:
            raise ConnectionError("API server unreachable")
        cls.store[key] = json.dumps(value) if serialize_json else value

    @classmethod
    def delete(cls, key: str) -> None:
        cls.store.pop(key, None)


class FakeTaskInstance:
    def __init__(self, try_number: int = 1) -> None:
        self.dag_id = "mark_shipped"
        self.run_id = "manual__2026-03-01T00:00:00+00:00"
        self.task_id = "submit"
        self.map_index = -1
        self.try_number = try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))


class FakeLingxingHook:
    """Answers submissions from a script (a dict, an exception, or a callable per call) and serves results."""

    def __init__(self, script: list[Any] | None = None, results: list[dict] | None = None) -> None:
        self.script = list(script or [])
        self.submitted: list[dict[str, Any]] = []
        self.results = results or []
        self.result_calls: list[tuple[str, list[int]]] = []
        self.next_task_id = 1003100
        self.closed = 0

    def submit_fulfillment(self, region: str, seller_id: str, marketplace_id: str, order_list: list[dict]) -> dict:
        call = {"region": region, "seller_id": seller_id, "marketplace_id": marketplace_id, "order_list": order_list}
        outcome: Any = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, Callable):
            outcome = outcome(call)
        if isinstance(outcome, BaseException):
            raise outcome
        self.submitted.append(call)
        if outcome == "ok":
            self.next_task_id += 1
            return {"task_id": str(self.next_task_id), "task_status": "in_process", "failure_reason": None}
        return outcome

    def get_fulfillment_results(self, seller_id: str, task_ids: list[int]) -> list[dict]:
        self.result_calls.append((seller_id, list(task_ids)))
        wanted = {str(i) for i in task_ids}
        return [r for r in self.results if str(r.get("task_id")) in wanted]

    def close(self) -> None:
        self.closed += 1
