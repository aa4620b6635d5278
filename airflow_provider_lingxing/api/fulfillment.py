"""Mark-shipped task ids and results: normalisation and the done / failed / pending rules (§6, §7)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_TASK_ID_DIGITS = 20
DEFAULT_SUCCESS_STATUSES = ("Complete",)
DEFAULT_FAILURE_STATUSES = ("fatal", "cancelled")


def _task_id(value: Any, where: str) -> int:
    if isinstance(value, Mapping) and "task_id" in value:
        value = value["task_id"]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{where}: task id {value!r} is not a positive integer or digit string")
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0 or len(text.lstrip("0")) > MAX_TASK_ID_DIGITS:
        raise ValueError(f"{where}: task id {value!r} is not a positive integer of at most 20 digits")
    return int(text)


def normalize_task_ids(task_ids: Any, *, argument: str = "task_ids") -> list[int]:
    """Positive ints, de-duplicated, sorted.

    Accepts ints, digit strings, or the submit operator's XCom (dicts with a `task_id`), alone or in a list.
    Raises ValueError naming `argument` for anything else, and for an empty list.
    """
    if isinstance(task_ids, (str, int, Mapping)):
        task_ids = [task_ids]
    if not isinstance(task_ids, Iterable):
        raise ValueError(f"{argument} must be a list of task ids, got {type(task_ids).__name__}")
    ids = sorted({_task_id(value, argument) for value in task_ids})
    if not ids:
        raise ValueError(f"{argument} is empty: give at least one mark-shipped task id")
    return ids


def batches(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
