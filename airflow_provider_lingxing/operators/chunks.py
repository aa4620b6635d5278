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
from collections.abc import Callable, Mapping, Sequence
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
from airflow_provider_lingxing.warehouse.ledger import Claim, OpenTasks

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
    def sending(self, ids: Sequence[str]) -> list[str]: ...
    def accepted(self, ids: Sequence[str], task_id: str) -> None: ...
    def refused(self, ids: Sequence[str], message: str) -> None: ...
    def uncertain(self, ids: Sequence[str], message: str) -> None: ...
    def release(self, ids: Sequence[str]) -> None: ...
    def retry_later(self, ids: Sequence[str]) -> None: ...


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


def _record(book: SubmissionBook, outcome: ChunkOutcome) -> bool:
    """Write a finished chunk's state; False (and the outcome says so) when the record cannot be written."""
    ids = outcome.order_ids
    try:
        if outcome.state == ACCEPTED:
            book.accepted(ids, str(outcome.task_id))
        elif outcome.state == REFUSED:
            named = {int(i) for i in ORDER_INDEX.findall(outcome.detail)}
            outcome.refused_ids = [order_id for i, order_id in enumerate(ids) if i in named]
            if outcome.refused_ids:
                book.refused(outcome.refused_ids, outcome.detail)
            if rest := [order_id for order_id in ids if order_id not in outcome.refused_ids]:
                book.release(rest)
        elif outcome.state == UNCERTAIN:
            book.uncertain(ids, outcome.detail)
        else:
            book.release(ids)
    except Exception as error:
        outcome.recorded = False
        outcome.retryable = False
        outcome.detail += f"; the record could not be written ({type(error).__name__}: {error})"
        return False
    return True


def _again(book: SubmissionBook, outcome: ChunkOutcome) -> bool:
    """Put a chunk refused for a passing reason back to `claimed`, to be sent again; False if that fails."""
    try:
        book.retry_later(outcome.order_ids)
    except Exception:
        return False
    return True


def send_chunks(
    hook: Any,
    book: SubmissionBook,
    chunks: Sequence[Sequence[dict[str, Any]]],
    *,
    region: str,
    seller_id: str,
    marketplace_id: str,
    workers: int,
    log: Any,
) -> list[ChunkOutcome]:
    """Send every chunk (up to `workers` at once) and return each chunk's outcome, in chunk order."""
    outcomes: list[ChunkOutcome | None] = [None] * len(chunks)
    waiting = deque(range(len(chunks)))
    running: dict[Future[Any], ChunkOutcome] = {}
    attempts: Counter[int] = Counter()
    stop: str | None = None

    def launch(pool: ThreadPoolExecutor, k: int) -> str | None:
        ids = [message_id(order) for order in chunks[k]]
        outcome = outcomes[k] = ChunkOutcome(k + 1, ids, NOT_SENT)
        try:
            ours = set(book.sending(ids))
        except Exception as error:
            outcome.detail = (
                f"its sending mark could not be recorded ({type(error).__name__}: {error}), so it was not sent"
            )
            outcome.retryable = True
            return outcome.detail
        if len(ours) < len(ids):
            log.warning(
                "Chunk %d: %d order(s) were taken over by another run and are not sent", k + 1, len(ids) - len(ours)
            )
        outcome.order_ids = [i for i in ids if i in ours]
        if outcome.order_ids:
            orders = [order for order in chunks[k] if message_id(order) in ours]
            running[pool.submit(hook.submit_fulfillment, region, seller_id, marketplace_id, orders)] = outcome
        else:
            outcome.detail = "every order of it was taken over by another run"
        return None

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lingxing-submit") as pool:
        while running or (waiting and stop is None):
            while waiting and stop is None and len(running) < workers:
                stop = launch(pool, waiting.popleft())
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = running.pop(future)
                outcome.state, outcome.task_id, outcome.detail, outcome.retryable, halt = _classify(future)
                outcome.error = future.exception()
                attempts[outcome.number] += 1
                if outcome.retryable and attempts[outcome.number] < SEND_ATTEMPTS and _again(book, outcome):
                    waiting.append(outcome.number - 1)
                    workers = 1
                    log.warning(
                        "Chunk %d: %s; sent again, one chunk at a time from now on", outcome.number, outcome.detail
                    )
                    continue
                if not _record(book, outcome):
                    halt = True
                if halt and stop is None:
                    stop = f"chunk {outcome.number} ended {outcome.state}"
                log.info(
                    "Chunk %d/%d: %d order(s) %s%s",
                    outcome.number,
                    len(chunks),
                    len(outcome.order_ids),
                    f"→ task {outcome.task_id}" if outcome.task_id else outcome.state,
                    f" ({outcome.detail})",
                )
    for k in waiting:
        ids = [message_id(order) for order in chunks[k]]
        outcomes[k] = ChunkOutcome(k + 1, ids, NOT_SENT, detail=f"not started after {stop}", retryable=True)
    unsent = [i for k in waiting for i in outcomes[k].order_ids]  # type: ignore[union-attr]
    if unsent:
        try:
            book.release(unsent)
        except Exception as error:
            log.warning("Could not release %d claimed order(s) that were not sent: %s", len(unsent), error)
    return [outcome for outcome in outcomes if outcome is not None]


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
