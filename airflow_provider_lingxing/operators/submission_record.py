"""Without a SQL ledger: what one submit task instance sent, kept in an Airflow Variable across its tries and clears.

XCom cannot carry it: Airflow clears a task instance's XCom when a new try starts. The record survives the
task's success, so a retry or a clear of a successful submit returns the tasks it created instead of sending
them again (delete the Variable to send on purpose). It follows the ledger's states for this one task
instance: an order is `sending` while its request may be on the wire, then accepted (with its task id), refused
(with its content's fingerprint: sent again once changed) or uncertain (never sent again on its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Variable

from airflow_provider_lingxing.api.signing import compact_json
from airflow_provider_lingxing.warehouse.submissions import (
    ACCEPTED,
    REFUSED,
    SENDING,
    UNCERTAIN,
    Claim,
    OpenTasks,
    Transition,
)

RECORD_PREFIX = "lingxing_submit_progress."
ALREADY_SENT = "already sent by this task instance (its task is returned)"
SKIP_UNCERTAIN = "uncertain (may have reached Lingxing)"
REFUSED_UNCHANGED = "refused earlier and unchanged (fix the order and it is sent again)"


class SubmissionRecord:
    """The Variable `lingxing_submit_progress.<hash of dag, run, task, map index>` of one task instance."""

    def __init__(self, ti: Any) -> None:
        identity = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index}
        self.identity = identity
        self.key = RECORD_PREFIX + hashlib.sha256(compact_json(identity).encode()).hexdigest()[:24]
        self.description = (
            f"Mark-shipped orders submitted by {ti.dag_id}.{ti.task_id} (map_index {ti.map_index}) in run "
            f"{ti.run_id}: a retry or clear returns these tasks instead of sending again"
        )
        self.state: dict[str, Any] = {}
        self.fingerprints: dict[str, str] = {}

    def load(self) -> dict[str, Any]:
        stored = Variable.get(self.key, default=None, deserialize_json=True) or {}
        state = {"accepted": [], "sending": [], "uncertain": [], "refused": {}, **stored}
        for old in state.pop("submitted", None) or ():  # a record written before the ledger existed
            state["accepted"].append(old)
        if in_flight := state.pop("in_flight", None):
            state["uncertain"] += list(in_flight.get("message_ids") or ())
        state.pop("fingerprint", None)
        return state

    def save(self) -> None:
        Variable.set(self.key, {**self.identity, **self.state}, description=self.description, serialize_json=True)

    def claim(self, fingerprints: Mapping[str, str]) -> Claim:
        self.fingerprints.update(fingerprints)
        claim = Claim()
        if not self.state:  # the first batch of this execution: what earlier tries left sending is uncertain
            self.state = self.load()
            if sending := self.state["sending"]:
                claim.uncertain_now = list(sending)
                self.state["uncertain"] += sending
                self.state["sending"] = []
                self.save()
        state = self.state
        accepted = {i for task in state["accepted"] for i in task["message_ids"]}
        uncertain = set(state["uncertain"])
        for order_id, fingerprint in fingerprints.items():
            if order_id in accepted:
                claim.skipped[ALREADY_SENT].append(order_id)
            elif order_id in uncertain:
                claim.skipped[SKIP_UNCERTAIN].append(order_id)
            elif state["refused"].get(order_id) == fingerprint:
                claim.skipped[REFUSED_UNCHANGED].append(order_id)
            else:
                claim.mine.append(order_id)
        return claim

    def record(self, transitions: Sequence[Transition]) -> list[list[str]]:
        """Apply chunks' moves and save the Variable once; per transition, the ids it moved (all of them)."""
        state = self.state
        for move in transitions:
            ids = list(move.ids)
            if move.to == SENDING:
                state["sending"] = [*state["sending"], *ids]
                continue
            gone = set(ids)
            state["sending"] = [i for i in state["sending"] if i not in gone]
            if move.to == ACCEPTED:
                state["accepted"].append({"task_id": move.task_id, "message_ids": ids})
                for order_id in ids:
                    state["refused"].pop(order_id, None)
            elif move.to == REFUSED:
                state["refused"].update({i: self.fingerprints.get(i, "") for i in ids})
            elif move.to == UNCERTAIN:
                state["uncertain"] += ids
        if transitions:
            self.save()
        return [list(move.ids) for move in transitions]

    def release(self, ids: Sequence[str]) -> None:
        if gone := set(ids) & set(self.state["sending"]):
            self.state["sending"] = [i for i in self.state["sending"] if i not in gone]
            self.save()

    def open_tasks(self) -> OpenTasks:
        tasks = [dict(task) for task in self.state["accepted"]]
        return OpenTasks(tasks, [], own=[task["task_id"] for task in tasks])

    def uncertain_orders(self, shown: int = 5) -> tuple[int, list[str]]:
        return len(self.state["uncertain"]), self.state["uncertain"][:shown]

    def release_statement(self, state: str, ids: Sequence[str]) -> str:
        where = "accepted" if state != "uncertain" else "uncertain"
        return f"edit Variable {self.key}: remove the order ids {', '.join(ids)} from {where!r}, then clear this task"
