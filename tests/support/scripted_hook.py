"""A stand-in for LingxingHook that answers from a script and records every call: for the operator, sensor and
trigger tests, which are about what those do with the answers, not about the wire."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

Answer = dict[str, Any]


class ScriptedHook:
    """Answers `submit_fulfillment` and `(a)get_fulfillment_results` from a script.

    - `submissions`: one outcome per submission in call order ("ok": a new task id, the default once the list is
      used up; an answer dict; an exception to raise; or a callable of the call giving one of those), or one
      callable applied to every call (for concurrent calls, whose order varies).
    - `results`: per task id, its answer at each poll (None: not in the answer; the last one repeats), or a plain
      list of answers, each returned whenever its task id is asked for.
    - `error`: raised by every results call. `seller_id`: every results call must be for this seller.
    - `blocking=False`: a sync results call fails the test (a trigger must never block its event loop).
    - `max_in_flight`: what the submit operator may send at once (1, the default, keeps the call order fixed);
      `latency`: seconds each submission takes.
    """

    settings = "checked"
    """The connection as the real hook reads it before anything is sent."""
    app_id, base_url = "ak_ScriptedHook1", "https://lingxing.test"

    def __init__(
        self,
        submissions: Sequence[Any] | Callable[[dict[str, Any]], Any] | None = None,
        results: Mapping[int, Sequence[Answer | None]] | Sequence[Answer] | None = None,
        *,
        error: BaseException | None = None,
        seller_id: str | None = None,
        blocking: bool = True,
        max_in_flight: int | None = 1,
        latency: float = 0.0,
    ) -> None:
        self.submissions = submissions if callable(submissions) else list(submissions or [])
        self.results = results if results is not None else {}
        self.error = error
        self.seller_id = seller_id
        self.blocking = blocking
        self.max_in_flight = max_in_flight
        self.latency = latency
        self.submitted: list[dict[str, Any]] = []
        """Each submission that was accepted (not raised)."""
        self.result_calls: list[tuple[str, list[int]]] = []
        """(seller_id, task_ids) of each results call."""
        self.next_task_id = 1003100
        self.closed = 0
        self.in_flight = self.peak_in_flight = 0
        self.lock = threading.Lock()
        self._polls: Counter[int] = Counter()

    def submit_fulfillment(self, region: str, seller_id: str, marketplace_id: str, order_list: list[dict]) -> Answer:
        call = {"region": region, "seller_id": seller_id, "marketplace_id": marketplace_id, "order_list": order_list}
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            script = self.submissions
            outcome: Any = script if callable(script) else (script.pop(0) if script else "ok")
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
        """The ids of every order submitted, sorted."""
        return sorted(order["id"] for call in self.submitted for order in call["order_list"])

    def _answer(self, seller_id: str, task_ids: Sequence[int]) -> list[Answer]:
        if self.seller_id is not None:
            assert seller_id == self.seller_id
        self.result_calls.append((seller_id, list(task_ids)))
        if self.error is not None:
            raise self.error
        if not isinstance(self.results, Mapping):
            wanted = {str(task_id) for task_id in task_ids}
            return [answer for answer in self.results if str(answer.get("task_id")) in wanted]
        answers = []
        for task_id in task_ids:
            steps = self.results.get(task_id, [None])
            answer = steps[min(self._polls[task_id], len(steps) - 1)]
            self._polls[task_id] += 1
            if answer is not None:
                answers.append(answer)
        return answers

    def get_fulfillment_results(self, seller_id: str, task_ids: Sequence[int]) -> list[Answer]:
        if not self.blocking:
            raise AssertionError("the trigger made a blocking call")
        return self._answer(seller_id, task_ids)

    async def aget_fulfillment_results(self, seller_id: str, task_ids: Sequence[int]) -> list[Answer]:
        return self._answer(seller_id, task_ids)

    async def asettings(self) -> SimpleNamespace:
        """What a trigger's poller is keyed by: the connection's app id and Base URL."""
        return SimpleNamespace(app_id=self.app_id, base_url=self.base_url)

    def fallback_note(self) -> str:
        """The real hook's note when the connection's Redis is unreachable: never, here."""
        return ""

    def close(self) -> None:
        self.closed += 1

    async def aclose(self) -> None:
        self.closed += 1
