"""submitFulfillment and getFulfillmentResult behind the gateway: tasks, their life cycle and what was received.

The choices where the documentation is silent are listed in the package docstring.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_lingxing.testing.simulator.config import SimulatorConfig
from airflow_provider_lingxing.testing.simulator.parameters import results_problem, submission_problem

FIRST_TASK_ID = 1003100

RESULT_CODE_ERROR = (
    "ERR",
    "Error",
    "25",
    "We are unable to process the XML feed because one or more items are invalid.",
)
RESULT_CODE_WARNING = (
    "WARN",
    "Warning",
    "5001",
    "The carrier name you provided is not recognized; the shipment was confirmed with it as given.",
)
FAIL_MARKER = "FAIL"
SUMMARY_KEYS = ("messages_processed", "messages_successful", "messages_with_error", "messages_with_warning")


class Refused(ValueError):
    """A body the endpoint refuses with code 102; the message is the 102 message."""


@dataclass
class _Task:
    task_id: int
    seller_id: str
    marketplace_id: str
    created_at: float
    orders: list[tuple[str, str]]
    """(message id, tracking_no) per order."""
    failure: str | None
    polls: int = 0
    final: dict[str, Any] | None = None


class Fulfillment:
    """The tasks behind both endpoints; thread-safe. Task ids are never reused, even across reset()."""

    def __init__(self, config: SimulatorConfig, now: Callable[[], float]) -> None:
        self.config = config
        self.now = now
        self._lock = threading.Lock()
        self._next_task_id = FIRST_TASK_ID
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._tasks: dict[int, _Task] = {}
            self._submissions: dict[str, list[dict[str, Any]]] = defaultdict(list)
            self._received: Counter[tuple[str, str, str]] = Counter()

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new task for a valid body (its `data`); raises Refused."""
        problem = submission_problem(body)
        if problem:
            raise Refused(problem)
        orders = [(str(int(order["id"])), str(order["tracking_no"])) for order in body["order_list"]]
        failure = None
        marked = [message_id for message_id, tracking_no in orders if tracking_no.upper().startswith(FAIL_MARKER)]
        if marked:
            failure = f"Amazon rejected the feed: fatal error for message(s) {', '.join(marked)} (simulated)"
        elif self.config.fail_task_predicate is not None and self.config.fail_task_predicate(body):
            failure = "Amazon rejected the feed: fatal error (simulated by fail_task_predicate)"
        seller_id, marketplace_id = str(body["seller_id"]), str(body["marketplace_id"])
        with self._lock:
            task_id = self._next_task_id
            self._next_task_id += 1
            self._tasks[task_id] = _Task(task_id, seller_id, marketplace_id, self.now(), orders, failure)
            order_ids = [message_id for message_id, _ in orders]
            self._submissions[seller_id].append({"task_id": str(task_id), "order_ids": order_ids})
            self._received.update((seller_id, marketplace_id, order_id) for order_id in order_ids)
        return {"task_id": str(task_id), "task_status": "pending", "failure_reason": None}

    def results(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The known tasks of that seller among the asked ids, each counted as one poll; raises Refused."""
        problem = results_problem(body)
        if problem:
            raise Refused(problem)
        seller_id = str(body["seller_id"])
        wanted = list(dict.fromkeys(int(task_id) for task_id in body["task_id"]))
        now = self.now()
        answers = []
        with self._lock:
            for task_id in wanted:
                task = self._tasks.get(task_id)
                if task is None or task.seller_id != seller_id:
                    continue
                task.polls += 1
                answers.append(self._report(task, now))
        return answers

    def task_status(self, task_id: int | str) -> str | None:
        """The status the task would be reported with now, without counting a poll (None: no such task)."""
        with self._lock:
            task = self._tasks.get(int(task_id))
            if task is None:
                return None
            status = self._status(task, self.now())
            return self._final(task)["status_code"] if status == "final" else status

    def stats(self) -> dict[str, Any]:
        """submissions, duplicate_order_ids, orders_received and tasks (see LingxingSimulator.stats)."""
        with self._lock:
            duplicates = {}
            for seller_id, submissions in self._submissions.items():
                counted = Counter(order_id for s in submissions for order_id in s["order_ids"])
                if repeated := sorted((i for i, n in counted.items() if n > 1), key=int):
                    duplicates[seller_id] = repeated
            received: dict[str, dict[str, dict[str, int]]] = {}
            for (seller_id, marketplace_id, order_id), n in self._received.items():
                received.setdefault(seller_id, {}).setdefault(marketplace_id, {})[order_id] = n
            finals = [t.final["status_code"] for t in self._tasks.values() if t.final]
            return {
                "submissions": {
                    seller: [{"task_id": s["task_id"], "order_ids": list(s["order_ids"])} for s in subs]
                    for seller, subs in self._submissions.items()
                },
                "duplicate_order_ids": duplicates,
                "orders_received": received,
                "tasks": {
                    "created": len(self._tasks),
                    "unfinished": len(self._tasks) - len(finals),
                    "complete": finals.count("Complete"),
                    "fatal": finals.count("fatal"),
                },
            }

    def _status(self, task: _Task, now: float) -> str:
        """pending / in_process / the final status (package docstring); called with the lock held."""
        if task.final is not None:
            return str(task.final["status_code"])
        cfg = self.config
        if cfg.complete_after_seconds is not None:
            age = now - task.created_at
            if age >= cfg.complete_after_seconds:
                return "final"
            return "pending" if age < cfg.complete_after_seconds / 2 else "in_process"
        if task.polls >= cfg.complete_after_polls:
            return "final"
        return "pending" if task.polls <= 1 else "in_process"

    def _report(self, task: _Task, now: float) -> dict[str, Any]:
        """One task's entry of getFulfillmentResult's `data`; called with the lock held."""
        status = self._status(task, now)
        if status == "final":
            task.final = self._final(task)
        if task.final is not None:
            return dict(task.final, processing_summary=dict(task.final["processing_summary"]))
        return _task_entry(task, status, [], None)

    def _final(self, task: _Task) -> dict[str, Any]:
        failure = task.failure
        if failure is None and task.task_id in self.config.fail_task_ids:
            failure = "Amazon rejected the feed: fatal error (simulated by fail_task_ids)"
        if failure is not None:
            return _task_entry(task, "fatal", [], failure)
        results = []
        for message_id, tracking_no in task.orders:
            for marker, result_code, message_code, description in (RESULT_CODE_ERROR, RESULT_CODE_WARNING):
                if tracking_no.upper().startswith(marker):
                    results.append(
                        {
                            "message_id": message_id,
                            "result_code": result_code,
                            "result_message_code": message_code,
                            "result_description": description,
                        }
                    )
        errors = sum(1 for r in results if r["result_code"] == "Error")
        summary = {
            "messages_processed": str(len(task.orders)),
            "messages_successful": str(len(task.orders) - errors),
            "messages_with_error": str(errors),
            "messages_with_warning": str(len(results) - errors),
        }
        return _task_entry(task, "Complete", results, None, summary)


def _task_entry(
    task: _Task,
    status_code: str,
    results: list[dict[str, str]],
    failure: str | None,
    summary: dict[str, str] | None = None,
) -> dict[str, Any]:
    empty = dict.fromkeys(SUMMARY_KEYS, "")
    return {
        "result": results,
        "task_id": str(task.task_id),
        "status_code": status_code,
        "ship_time": str(int(task.created_at)),
        "processing_summary": summary or empty,
        "failure": failure,
    }
