"""Send chunks of orders to submitFulfillment concurrently, up to the endpoint's capacity, each chunk with its own
record transitions: `sending` committed before its request, `accepted`, `refused` or `uncertain` after it.

Records are written from the calling thread only (the worker threads only send), so a record needs no locking
and a SQL ledger keeps one connection. One chunk's failure does not strand the others: the chunks in flight are
answered and recorded; no new chunk starts after a failure that would hit the next one too (a lost answer, a
refused credential, a rate limit that outlasted the retries), and the chunks not started are released.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_lingxing.api import arguments
from airflow_provider_lingxing.api.errors import (
    LingxingApiError,
    LingxingBadRequestError,
    LingxingInputError,
    LingxingSubmissionUncertainError,
)
from airflow_provider_lingxing.api.orders import message_id
from airflow_provider_lingxing.warehouse.submissions import CLAIMED, RELEASED, SENDING, Claim, OpenTasks, Transition

ACCEPTED, REFUSED, UNCERTAIN, NOT_SENT = "accepted", "refused", "uncertain", "not sent"
INVALID_PARAMETER = "102"
"""The refusal about the orders themselves: the chunk is `refused` (sent again once changed); other refusals
(credentials, IP whitelist, grants, rate limits) are about the call, so its orders are released."""
IDS_SHOWN = 5
SEND_ATTEMPTS = 3
"""A chunk refused for a passing reason (rate limit, a token rotated by another client) after the hook's own
retries goes again in the same execution, up to this many times in all, one chunk at a time from then on."""


class SubmissionBook(Protocol):
    """Where a submit task records each chunk's fate: the SQL ledger, or a Variable per task instance."""

    def claim(self, fingerprints: Mapping[str, str]) -> Claim: ...
    def open_tasks(self) -> OpenTasks: ...
    def uncertain_orders(self, shown: int = 5) -> tuple[int, list[str]]: ...
    def release_statement(self, state: str, ids: Sequence[str]) -> str: ...
    def record(self, transitions: Sequence[Transition]) -> list[list[str]]: ...
    def release(self, ids: Sequence[str]) -> None: ...


ORDER_INDEX = re.compile(r"orderList\[(\d+)\]", re.IGNORECASE)
"""How a 102 names the order it refuses, e.g. `orderList[0].carrierCode承运商code不能为空`."""


@dataclass
class ChunkOutcome:
    number: int
    """1-based, in the order the chunks were made."""
    order_ids: list[str]
    state: str
    task_id: str | None = None
    detail: str = ""
    retryable: bool = False
    """Nothing of it reached Lingxing and the cause may pass: a retry or the next run sends it."""
    error: BaseException | None = None
    """What the request raised, if it did."""
    recorded: bool = True
    """False when the record could not be written after Lingxing answered."""
    refused_ids: list[str] = field(default_factory=list)
    """The orders a refusal named: kept `refused`, sent again once changed (the others are released)."""


def id_list(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:IDS_SHOWN])
    return shown + (f" … ({len(ids)} in all)" if len(ids) > IDS_SHOWN else "")


def _classify(future: Future[Any]) -> tuple[str, str | None, str, bool, bool]:
    """(state, task id, detail, retryable, stop launching) of a finished request."""
    try:
        answer = future.result()
    except LingxingSubmissionUncertainError as error:
        return UNCERTAIN, None, f"it may have reached Lingxing ({error})", False, True
    except LingxingInputError as error:
        return REFUSED, None, f"it was refused before sending ({error})", False, False
    except LingxingApiError as error:
        detail = f"Lingxing refused it ({error}): nothing reached Amazon"
        if isinstance(error, LingxingBadRequestError) and str(error.code) == INVALID_PARAMETER:
            return REFUSED, None, detail, False, False
        return NOT_SENT, None, detail, error.retryable, True
    except Exception as error:
        return UNCERTAIN, None, f"it may have reached Lingxing ({type(error).__name__}: {error})", False, True
    number = arguments.id_or_none(answer.get("task_id")) if isinstance(answer, Mapping) else None
    if number is None:
        return (
            UNCERTAIN,
            None,
            f"it may have reached Lingxing (the answer {answer!r:.200} carries no task id)",
            False,
            True,
        )
    status = answer.get("task_status")
    reason = answer.get("failure_reason")
    return ACCEPTED, str(number), f"task status {status}" + (f", {reason}" if reason else ""), False, False


def _transitions(outcome: ChunkOutcome) -> list[Transition]:
    """A finished chunk's moves: accepted, uncertain, refused (the orders a 102 names; the others released), or
    released (a refusal of the call: nothing reached Amazon)."""
    ids = tuple(outcome.order_ids)
    if outcome.state == ACCEPTED:
        return [Transition(ids, ACCEPTED, task_id=outcome.task_id)]
    if outcome.state == UNCERTAIN:
        return [Transition(ids, UNCERTAIN, message=outcome.detail)]
    if outcome.state == REFUSED:
        named = {int(i) for i in ORDER_INDEX.findall(outcome.detail)}
        outcome.refused_ids = [order_id for i, order_id in enumerate(ids) if i in named]
        rest = tuple(order_id for order_id in ids if order_id not in outcome.refused_ids)
        moves = [Transition(tuple(outcome.refused_ids), REFUSED, message=outcome.detail)] if named else []
        return moves + ([Transition(rest, RELEASED)] if rest else [])
    return [Transition(ids, RELEASED)]


def _unwritten(error: BaseException) -> str:
    return f"the record could not be written ({type(error).__name__}: {error})"


class UnclaimedOrders(Exception):
    """Orders that could not be claimed (the warehouse failed): not sent."""

    def __init__(self, ids: Sequence[str], cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.ids = list(ids)


def send_chunks(
    hook: Any,
    book: SubmissionBook,
    batches: Iterator[Sequence[Sequence[dict[str, Any]]]],
    *,
    region: str,
    seller_id: str,
    marketplace_id: str,
    workers: int,
    log: Any,
) -> list[ChunkOutcome]:
    """Send every chunk (up to `workers` at once) and return each chunk's outcome, in chunk order.

    `batches` gives the chunks a batch at a time, each claimed when it is taken: the next batch is claimed as soon
    as fewer chunks than `workers` wait, right after the last requests left, so the claim runs while they are in
    flight rather than between an answer and the next request (an UnclaimedOrders from it stops the sending).

    Each round is one transaction: the outcomes of the chunks answered since the last round, and the sending
    marks of the chunks about to start (committed before their requests). The commits follow the rounds of
    answers, not the chunks; a slot waits for one commit between an answer and its next request.
    """
    outcomes: list[ChunkOutcome] = []
    chunks: list[Sequence[dict[str, Any]]] = []
    waiting: deque[int] = deque()
    exhausted = False

    def take() -> str | None:
        """The next batch of chunks, claimed; a reason to stop if it cannot be."""
        nonlocal exhausted
        try:
            batch = next(batches, None)
        except UnclaimedOrders as error:
            exhausted = True
            chunks.append([])
            unclaimed = ChunkOutcome(len(outcomes) + 1, error.ids, NOT_SENT, detail=f"not claimed ({error})")
            unclaimed.retryable = True
            outcomes.append(unclaimed)
            return f"orders could not be claimed ({error})"
        exhausted = batch is None
        for chunk in batch or ():
            waiting.append(len(chunks))
            chunks.append(chunk)
            outcomes.append(ChunkOutcome(len(outcomes) + 1, [message_id(o) for o in chunk], NOT_SENT))
        return None

    running: dict[Future[Any], ChunkOutcome] = {}
    attempts: Counter[int] = Counter()
    answered: list[ChunkOutcome] = []
    again: list[ChunkOutcome] = []
    unsent: list[ChunkOutcome] = []
    stop: str | None = None
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lingxing-submit") as pool:
        while True:
            starting: list[ChunkOutcome] = []
            while stop is None and waiting and len(running) + len(starting) < workers:
                starting.append(outcomes[waiting.popleft()])
            moves = [move for o in answered for move in _transitions(o)]
            moves += [Transition(tuple(o.order_ids), CLAIMED) for o in again]
            moves += [Transition(tuple(o.order_ids), SENDING) for o in starting]
            try:
                moved = book.record(moves) if moves else []
            except Exception as error:
                moved, note = [], _unwritten(error)
                for o in answered + again:
                    o.recorded = o.retryable = False
                    o.detail += f"; {note}"
                for o in starting:
                    o.detail, o.retryable = f"its sending mark could not be recorded: {note}", True
                stop, answered, unsent, again, starting = stop or note, answered + again, unsent + starting, [], []
            for o in again:
                waiting.append(o.number - 1)
                workers = 1
                log.warning("Chunk %d: %s; sent again, one chunk at a time from now on", o.number, o.detail)
            for o in answered:
                shown = f"→ task {o.task_id}" if o.task_id else o.state
                log.info("Chunk %d: %d order(s) %s (%s)", o.number, len(o.order_ids), shown, o.detail)
            answered, again = [], []
            for o, ours in zip(starting, moved[len(moved) - len(starting) :], strict=True):
                if len(ours) < len(o.order_ids):
                    taken = len(o.order_ids) - len(ours)
                    log.warning("Chunk %d: %d order(s) taken over by another run", o.number, taken)
                o.order_ids = ours
                if not ours:
                    o.detail = "every order of it was taken over by another run"
                    continue
                kept = set(ours)
                orders = [order for order in chunks[o.number - 1] if message_id(order) in kept]
                running[pool.submit(hook.submit_fulfillment, region, seller_id, marketplace_id, orders)] = o
            while stop is None and len(waiting) < workers and not exhausted:  # claim ahead, while requests fly
                stop = take()
            if not running:
                if stop is not None or not waiting:
                    break
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                o = running.pop(future)
                o.state, o.task_id, o.detail, o.retryable, halt = _classify(future)
                o.error = future.exception()
                attempts[o.number] += 1
                if o.retryable and attempts[o.number] < SEND_ATTEMPTS:
                    again.append(o)
                    continue
                answered.append(o)
                if halt and stop is None:
                    stop = f"chunk {o.number} ended {o.state}"
    for k in waiting:
        outcomes[k].detail, outcomes[k].retryable = f"not started after {stop}", True
    if ids := [i for o in unsent + [outcomes[k] for k in waiting] for i in o.order_ids]:
        try:
            book.release(ids)
        except Exception as error:
            log.warning("Could not release %d claimed order(s) that were not sent: %s", len(ids), error)
    return outcomes


def failure_report(
    outcomes: Sequence[ChunkOutcome], created: Sequence[Mapping[str, Any]], release: Callable[[Sequence[str]], str]
) -> str:
    """Every chunk's state, the tasks this task instance created (`{"task_id", "message_ids"}`, in any try),
    and what to do: the text of the task's exception."""
    accepted = sum(o.state == ACCEPTED for o in outcomes)
    lines = [f"Mark-shipped submission: {accepted} of {len(outcomes)} chunk(s) accepted."]
    for o in outcomes:
        head = f"  chunk {o.number}/{len(outcomes)} (ids {id_list(o.order_ids)}): "
        if o.state == ACCEPTED:
            lines.append(head + f"accepted as task {o.task_id}" + ("" if o.recorded else f" ({o.detail})"))
        elif o.state == UNCERTAIN:
            lines.append(
                head + f"uncertain: {o.detail}. Never sent again on its own: check Seller Central; to have these "
                f"orders sent again, {release(o.order_ids)}"
            )
        elif o.state == REFUSED:
            named = f"ids {id_list(o.refused_ids)} are kept refused until changed, " if o.refused_ids else ""
            lines.append(
                head + f"refused: {o.detail}. Fix the order(s): {named}the others of the chunk are released; a clear "
                "or the next run sends them, and a changed order"
            )
        else:
            then = "a retry or the next run sends it" if o.retryable else "fix the cause, then clear this task"
            lines.append(head + f"not sent: {o.detail}; {then}")
    tasks = "; ".join(f"task {t['task_id']} (ids {id_list(t['message_ids'])})" for t in created)
    lines.append(f"Already created in Lingxing, do not submit these orders again: {tasks or 'none'}.")
    return "\n".join(lines)


def log_standing(
    log: Any,
    book: SubmissionBook,
    open_tasks: OpenTasks,
    created_now: set[str | None],
    uncertain: tuple[int, list[str]],
    *,
    where: tuple[str, str],
    max_task_age: Any,
) -> None:
    """What every run logs: tasks returned without sending again, stale tasks, uncertain orders (of the seller
    and marketplace `where`)."""
    earlier = [task_id for task_id in open_tasks.own if task_id not in created_now]
    if earlier:
        ids = [i for t in open_tasks.tasks if t["task_id"] in earlier for i in t["message_ids"]]
        log.info(
            "Returned %d task(s) this task instance created in an earlier try (%s) without sending their orders "
            "again. To send an order again on purpose: %s",
            len(earlier),
            ", ".join(earlier),
            book.release_statement(ACCEPTED, ids[:5] or ["…"]),
        )
    waiting = [t["task_id"] for t in open_tasks.tasks if t["task_id"] not in created_now]
    if waiting:
        log.info("Also returned: %d task(s) accepted earlier whose results are not loaded yet", len(waiting))
    if open_tasks.stale:
        log.warning(
            "%d accepted task(s) older than max_task_age (%s) never had their results loaded and are no longer "
            "returned: %s. Load them with FulfillmentResultOperator(fulfillment_task_ids=[...]).",
            len(open_tasks.stale),
            max_task_age,
            id_list(open_tasks.stale),
        )
    count, first = uncertain
    if count:
        log.warning(
            "%d order(s) of seller %s in marketplace %s are uncertain (ids %s%s): they may have reached Lingxing "
            "and are never sent again on their own. Check Seller Central; to have one sent again: %s",
            count,
            *where,
            ", ".join(first),
            " …" if count > len(first) else "",
            book.release_statement(UNCERTAIN, first),
        )
