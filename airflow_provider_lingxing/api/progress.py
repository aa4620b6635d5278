"""Where a set of mark-shipped tasks stands: the done / failed / pending verdict and the progress line.

The sensor (poke and reschedule mode), its trigger (deferrable mode) and the results operator all use this one
class, so they cannot disagree on what counts as finished or on what the log and the error messages say. The
status words and the policy for the undocumented ones: docs/lingxing-openapi.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_lingxing.api.arguments import id_or_none, problem
from airflow_provider_lingxing.api.errors import LingxingInputError

DEFAULT_SUCCESS_STATUSES = ("Complete", "done")
"""`Complete` is the documented result status; `done` is the submit answer's word for the same."""
DEFAULT_FAILURE_STATUSES = ("fatal", "cancelled")
PENDING_STATUSES = ("pending", "in_process")
"""The other task_status words: still pending. Any status in none of the lists is pending too, with a warning."""
MISSING = "missing"
"""The last status of a task id the answer did not include (still pending)."""
NO_STATUS = "unknown"
"""The last status of a task returned with an empty or null `status_code`."""
MAX_REASON_CHARS = 200
MAX_LISTED_IDS = 20
"""A message lists at most this many task ids, then says how many more: a wait for 3,000 tasks fails with a
message a person can read (and that fits where Airflow stores it), not one of 110 KB."""


def listed(items: list[str], separator: str = ", ") -> str:
    """The first MAX_LISTED_IDS items, then `… and N more (M in all)`."""
    if len(items) <= MAX_LISTED_IDS:
        return separator.join(items)
    shown = separator.join(items[:MAX_LISTED_IDS])
    return f"{shown}{separator}… and {len(items) - MAX_LISTED_IDS} more ({len(items)} in all)"


def status_list(statuses: str | Iterable[str], *, argument: str) -> list[str]:
    """The status names as given (one string is one name); raises LingxingInputError naming `argument`."""
    if isinstance(statuses, str):
        statuses = [statuses]
    if not isinstance(statuses, Iterable):
        raise LingxingInputError(problem(argument, "a non-empty list of status names", statuses))
    names = []
    for i, status in enumerate(statuses):
        if not isinstance(status, str) or not status.strip():
            raise LingxingInputError(problem(f"{argument}[{i}]", "a status name", status))
        names.append(status.strip())
    if not names:
        raise LingxingInputError(problem(argument, "a non-empty list of status names", statuses))
    return names


def check_statuses(
    success_statuses: str | Iterable[str], failure_statuses: str | Iterable[str]
) -> tuple[list[str], list[str]]:
    """Both lists, JSON-safe for a trigger payload; raises LingxingInputError when one is empty or they overlap."""
    success = status_list(success_statuses, argument="success_statuses")
    failure = status_list(failure_statuses, argument="failure_statuses")
    if overlap := sorted({s.casefold() for s in success} & {s.casefold() for s in failure}):
        rule = f"statuses that are not also success_statuses (both hold {overlap})"
        raise LingxingInputError(problem("failure_statuses", rule, failure_statuses))
    return success, failure


def _short(text: Any) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _result_task_id(result: Any) -> int | None:
    return id_or_none(result.get("task_id")) if isinstance(result, Mapping) else None


def _status(result: Mapping[str, Any]) -> str:
    return str(result.get("status_code") or "").strip() or NO_STATUS


def _failure(result: Mapping[str, Any]) -> str | None:
    failure = result.get("failure")
    return None if failure is None or not str(failure).strip() else str(failure)


def _message_count(result: Mapping[str, Any]) -> tuple[int, int]:
    entries = result.get("result")
    summary = result.get("processing_summary")
    processed = id_or_none(summary.get("messages_processed")) if isinstance(summary, Mapping) else None
    return (len(entries) if isinstance(entries, list) else 0, processed or 0)


def advancement(
    result: Mapping[str, Any],
    success_statuses: Iterable[str] = DEFAULT_SUCCESS_STATUSES,
    failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
) -> tuple[int, int, int]:
    """How far a task result has come: settled over pending over no status, then more messages over fewer.

    A task id that comes back twice in one answer keeps its most advanced copy.
    """
    status = _status(result).casefold()
    settled = {s.casefold() for s in (*success_statuses, *failure_statuses)}
    stage = 2 if _failure(result) or status in settled else 0 if status == NO_STATUS else 1
    return (stage, *_message_count(result))


def most_advanced(
    results: Iterable[Any],
    success_statuses: Iterable[str] = DEFAULT_SUCCESS_STATUSES,
    failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
) -> dict[int, Mapping[str, Any]]:
    """{task id: its most advanced result} of an answer; items without a valid task id are left out."""
    chosen: dict[int, Mapping[str, Any]] = {}
    for result in results:
        task_id = _result_task_id(result)
        if task_id is None:
            continue
        rank = advancement(result, success_statuses, failure_statuses)
        if task_id not in chosen or rank > advancement(chosen[task_id], success_statuses, failure_statuses):
            chosen[task_id] = result
    return chosen


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
        self.success_list, self.failure_list = check_statuses(success_statuses, failure_statuses)
        self.success_statuses = frozenset(s.casefold() for s in self.success_list)
        self.failure_statuses = frozenset(s.casefold() for s in self.failure_list)
        self.done: set[int] = set(done) & set(self.task_ids)
        self.results: dict[int, dict[str, Any]] = {}
        self.failed: dict[int, str] = {}
        self.last_status: dict[int, str] = {i: MISSING for i in self.task_ids if i not in self.done}
        self.unknown_statuses: dict[int, str] = {}
        """The first status the provider does not know, per task that showed one (warned once each)."""

    @property
    def pending_ids(self) -> list[int]:
        return [i for i in self.task_ids if i not in self.done and i not in self.failed]

    @property
    def finished(self) -> bool:
        """Every id is done: the wait is over and successful."""
        return len(self.done) == len(self.task_ids)

    def _known(self, status: str) -> bool:
        folded = status.casefold()
        pending = {s.casefold() for s in PENDING_STATUSES}
        return status == NO_STATUS or folded in self.success_statuses | self.failure_statuses | pending

    def record(self, results: Iterable[Any]) -> list[str]:
        """Apply one answer for the pending ids; answers for other ids are ignored.

        Returns a warning for each task showing, for the first time, a status the provider does not know (it
        stays pending): the caller logs them.
        """
        pending = set(self.pending_ids)
        answered = most_advanced(results, self.success_list, self.failure_list)
        warnings = []
        for task_id in sorted(pending):
            result = answered.get(task_id)
            if result is None:
                self.last_status[task_id] = MISSING
                continue
            status = _status(result)
            failure = _failure(result)
            self.last_status[task_id] = status
            if failure is not None:
                self.failed[task_id] = f"status {status}: {_short(failure)}"
            elif status.casefold() in self.failure_statuses:
                self.failed[task_id] = f"status {status}"
            elif status.casefold() in self.success_statuses:
                self.done.add(task_id)
                self.results[task_id] = dict(result)
            else:
                if not self._known(status) and task_id not in self.unknown_statuses:
                    self.unknown_statuses[task_id] = status
                    warnings.append(
                        f"Task {task_id} has status {status!r}, which the provider does not know: treated as "
                        f"pending (success statuses: {', '.join(self.success_list)}; failure statuses: "
                        f"{', '.join(self.failure_list)})"
                    )
                continue
            del self.last_status[task_id]
        return warnings

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
        failures = listed([f"{task_id} ({reason})" for task_id, reason in sorted(self.failed.items())], "; ")
        counts = f"{len(self.failed)} of {len(self.task_ids)}"
        return f"{counts} mark-shipped tasks failed: {failures}. Progress: {self.line()}"

    def unknown_message(self) -> str:
        """`Statuses the provider does not know, treated as pending: 'shipped' (tasks 5, 6).` or ""."""
        if not self.unknown_statuses:
            return ""
        tasks: dict[str, list[int]] = {}
        for task_id, status in sorted(self.unknown_statuses.items()):
            tasks.setdefault(status, []).append(task_id)
        seen = "; ".join(f"{status!r} (tasks {listed([str(i) for i in ids])})" for status, ids in tasks.items())
        return f"Statuses the provider does not know, treated as pending: {seen}."

    def pending_message(self) -> str:
        pending = listed([f"{i} ({self.last_status[i]})" for i in self.pending_ids])
        text = f"Mark-shipped tasks still pending (last status): {pending}. Progress: {self.line()}"
        return f"{text}. {unknown}" if (unknown := self.unknown_message()) else text
