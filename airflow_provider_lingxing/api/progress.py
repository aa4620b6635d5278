"""Where a set of mark-shipped tasks stands: the done / failed / pending verdict and the progress line (§7).

The sensor (poke and reschedule mode) and its trigger (deferrable mode) both use this one class, so the
modes cannot disagree on what counts as finished or on what the log and the error messages say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_lingxing.api.fulfillment import DEFAULT_FAILURE_STATUSES, DEFAULT_SUCCESS_STATUSES

MISSING = "missing"
"""The last status of a task id the answer did not include (still pending)."""
NO_STATUS = "unknown"
"""The last status of a task returned with an empty or null `status_code`."""
MAX_REASON_CHARS = 200


def status_list(statuses: str | Iterable[str], *, argument: str) -> list[str]:
    """The status names as given (one string is one name); raises ValueError naming `argument`."""
    if isinstance(statuses, str):
        statuses = [statuses]
    if not isinstance(statuses, Iterable):
        raise ValueError(f"{argument} must be a list of status names, got {type(statuses).__name__}")
    names = []
    for status in statuses:
        if not isinstance(status, str) or not status.strip():
            raise ValueError(f"{argument}: {status!r} is not a status name")
        names.append(status.strip())
    if not names:
        raise ValueError(f"{argument} is empty: give at least one status name")
    return names


def check_statuses(
    success_statuses: str | Iterable[str], failure_statuses: str | Iterable[str]
) -> tuple[list[str], list[str]]:
    """Both lists, JSON-safe for a trigger payload; raises ValueError when one is empty or they overlap."""
    success = status_list(success_statuses, argument="success_statuses")
    failure = status_list(failure_statuses, argument="failure_statuses")
    if overlap := {s.casefold() for s in success} & {s.casefold() for s in failure}:
        raise ValueError(f"success_statuses and failure_statuses share {sorted(overlap)}")
    return success, failure


def _short(text: Any) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _result_task_id(result: Any) -> int | None:
    if not isinstance(result, Mapping):
        return None
    text = str(result.get("task_id", "")).strip()
    return int(text) if text.isdigit() else None


class FulfillmentProgress:
    """The verdict on each of `task_ids`, updated poll by poll with `record()`.

    Done (a success status) and failed ids are settled and never asked for again; every other id, including
    one the answer leaves out, is pending with its last status. A non-blank `failure` fails a task whatever
    its status, so a reason from Lingxing is never mistaken for success.
    """

    def __init__(
        self,
        task_ids: Iterable[int],
        *,
        success_statuses: str | Iterable[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: str | Iterable[str] = DEFAULT_FAILURE_STATUSES,
        done: Iterable[int] = (),
    ) -> None:
        self.task_ids: list[int] = sorted(set(task_ids))
        success, failure = check_statuses(success_statuses, failure_statuses)
        self.success_statuses = frozenset(s.casefold() for s in success)
        self.failure_statuses = frozenset(s.casefold() for s in failure)
        self.done: set[int] = set(done) & set(self.task_ids)
        self.results: dict[int, dict[str, Any]] = {}
        self.failed: dict[int, str] = {}
        self.last_status: dict[int, str] = {i: MISSING for i in self.task_ids if i not in self.done}

    @property
    def pending_ids(self) -> list[int]:
        return [i for i in self.task_ids if i not in self.done and i not in self.failed]

    @property
    def finished(self) -> bool:
        """Every id is done: the wait is over and successful."""
        return len(self.done) == len(self.task_ids)

    def record(self, results: Iterable[Mapping[str, Any]]) -> None:
        """Apply one answer for the pending ids; answers for other ids are ignored."""
        pending = set(self.pending_ids)
        answered = {tid: r for r in results if (tid := _result_task_id(r)) in pending}
        for task_id in sorted(pending):
            result = answered.get(task_id)
            if result is None:
                self.last_status[task_id] = MISSING
                continue
            status = str(result.get("status_code") or "").strip() or NO_STATUS
            failure = result.get("failure")
            self.last_status[task_id] = status
            if failure is not None and str(failure).strip():
                self.failed[task_id] = f"status {status}: {_short(failure)}"
            elif status.casefold() in self.failure_statuses:
                self.failed[task_id] = f"status {status}"
            elif status.casefold() in self.success_statuses:
                self.done.add(task_id)
                self.results[task_id] = dict(result)
            else:
                continue
            del self.last_status[task_id]

    def done_results(self) -> list[dict[str, Any]]:
        """The results of done tasks, as the API returned them, in task id order."""
        return [self.results[i] for i in self.task_ids if i in self.results]

    def line(self) -> str:
        """`7/40 complete, 0 failed, 33 pending (statuses: in_process=30, missing=3)`."""
        pending = self.pending_ids
        text = f"{len(self.done)}/{len(self.task_ids)} complete, {len(self.failed)} failed, {len(pending)} pending"
        if pending:
            counts = Counter(self.last_status[i] for i in pending)
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            text += " (statuses: " + ", ".join(f"{status}={n}" for status, n in ordered) + ")"
        return text

    def failure_message(self) -> str:
        failures = "; ".join(f"{task_id} ({reason})" for task_id, reason in sorted(self.failed.items()))
        counts = f"{len(self.failed)} of {len(self.task_ids)}"
        return f"{counts} mark-shipped tasks failed: {failures}. Progress: {self.line()}"

    def pending_message(self) -> str:
        pending = ", ".join(f"{i} ({self.last_status[i]})" for i in self.pending_ids)
        return f"Mark-shipped tasks still pending (last status): {pending}. Progress: {self.line()}"
