"""The submission ledger: one row per (seller_id, marketplace_id, order id) ever submitted, in the user's warehouse.

An order is claimed (a committed row through the table's unique key) before it is sent, so that two runs, two
mapped instances or two workers given the same order never both send it. Each chunk is marked `sending` before
its request and `accepted`, `refused` or `uncertain` after it; the results operator marks it `complete`. Every
transition after the claim is a compare-and-set on this execution's claim id: a claim taken over by another
run (after `claim_timeout`) is not sent. States and how to release an uncertain order: docs/ledger.md.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_lingxing.warehouse.dialects import dialect_for, validate_table
from airflow_provider_lingxing.warehouse.submissions import (
    ACCEPTED,
    CLAIMED,
    COMPLETE,
    ERROR_CODE,
    LEDGER_TABLE,
    MAX_TEXT,
    REFUSED,
    RELEASED,
    RESUBMIT_NEVER,
    RESUBMIT_ON_ERROR,
    SENDING,
    UNCERTAIN,
    Claim,
    OpenTasks,
    TaskIdentity,
    Transition,
    as_utc,
    batches,
    by_number,
    literal,
    statements,
    utc_now,
)

CLAIM_VALUES = ("order_id", "fingerprint")
"""The columns whose values differ between the rows a claim inserts (bound as one JSON array)."""
CLAIM_ATTEMPTS = 4
"""A claim that deadlocks with a concurrent one (it sent nothing) is rolled back and tried again."""


def _is_conflict(error: BaseException) -> bool:
    """A deadlock, serialization failure or lock wait between concurrent claims (each driver says it its way)."""
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code in ("40P01", "40001", "55P03"):
        return True
    args = getattr(error, "args", ())
    if args and args[0] in (1213, 1205):
        return True
    return "database is locked" in str(error)


class SubmissionLedger:
    """The ledger rows of one (seller_id, marketplace_id), as one submit task execution sees and changes them."""

    def __init__(
        self,
        hook: Any,
        table: str,
        *,
        seller_id: str,
        marketplace_id: str,
        identity: TaskIdentity,
        claim_timeout: timedelta,
        max_task_age: timedelta,
        resubmit: str = RESUBMIT_NEVER,
        clock: Any = utc_now,
    ) -> None:
        self.hook = hook
        self.dialect = dialect_for(hook, "the submission ledger")
        self.table = validate_table(table, "ledger_table")
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.identity = identity
        self.claim_timeout = claim_timeout
        self.max_task_age = max_task_age
        self.resubmit = resubmit
        self.clock = clock
        self.claim_id = uuid.uuid4().hex
        self.conn: Any = None

    # connection and statements

    def open(self) -> SubmissionLedger:
        """Connect and create the table if missing (race-free)."""
        self.conn = self.hook.get_conn()
        if getattr(self.conn, "autocommit", False) is True:
            self.conn.autocommit = False
        self.dialect.prepare_table(self.conn, self.table, LEDGER_TABLE)
        return self

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> SubmissionLedger:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Any]:
        """One committed transaction (reads commit too: MySQL's snapshot would otherwise stay old)."""
        with closing(self.conn.cursor()) as cursor:
            try:
                if write:
                    self.dialect.begin(cursor)
                yield cursor
                self.conn.commit()
            except BaseException:
                self.conn.rollback()
                raise

    def _now(self) -> Any:
        return self.dialect.timestamp(self.clock())

    def _in(self, ids: Sequence[str]) -> str:
        return self.dialect.in_list("order_id", len(ids))

    def _ids(self, ids: Sequence[str]) -> list[Any]:
        return self.dialect.in_values(ids)

    @property
    def _scope(self) -> str:
        p = self.dialect.placeholder
        return f"seller_id = {p} AND marketplace_id = {p}"

    @property
    def _scope_values(self) -> list[Any]:
        return [self.seller_id, self.marketplace_id]

    @property
    def _own(self) -> str:
        p = self.dialect.placeholder
        return f"run_id = {p} AND dag_id = {p} AND airflow_task_id = {p} AND map_index = {p}"

    @property
    def _own_values(self) -> list[Any]:
        i = self.identity
        return [i.run_id, i.dag_id, i.task_id, i.map_index]

    def _select(self, cursor: Any, sql: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        cursor.execute(sql, list(values))
        names = [d[0].lower() for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # claim

    def claim(self, fingerprints: Mapping[str, str]) -> Claim:
        """Claim every order (order id → fingerprint of its content as sent) that no run has sent or holds.

        One committed transaction; retried when it deadlocks with a concurrent claim.
        """
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            try:
                return self._claim(fingerprints)
            except Exception as error:
                if attempt == CLAIM_ATTEMPTS or not _is_conflict(error):
                    raise
                time.sleep(random.uniform(0.05, 0.2) * attempt)
        raise AssertionError("unreachable")

    def _claim(self, fingerprints: Mapping[str, str]) -> Claim:
        claim = Claim()
        now = self.clock()
        with self._transaction() as cursor:
            claim.uncertain_now = self._sweep(cursor, now)
            existing: dict[str, dict[str, Any]] = {}
            ids = list(fingerprints)
            for batch in batches(ids):
                sql = f"SELECT * FROM {self.table} WHERE {self._scope} AND {self._in(batch)}"
                rows = self._select(cursor, sql, [*self._scope_values, *self._ids(batch)])
                existing.update((row["order_id"], row) for row in rows)
            takeovers: dict[str, list[str]] = defaultdict(list)
            new: list[str] = []
            for order_id in ids:
                row = existing.get(order_id)
                reason = None if row is None else self._refusal(row, fingerprints[order_id], now)
                if row is None:
                    new.append(order_id)
                elif reason is None:
                    takeovers[row["claim_id"]].append(order_id)
                    new.append(order_id)
                else:
                    claim.skipped[reason].append(order_id)
            for old_claim, taken in takeovers.items():
                for batch in batches(taken):
                    where, values = self._held(batch, old_claim)
                    cursor.execute(f"DELETE FROM {self.table} WHERE {where}", values)
            self._insert(cursor, new, fingerprints, self.dialect.timestamp(now))
            claim.mine = self._ours(cursor, CLAIMED, new)
        order = {order_id: i for i, order_id in enumerate(ids)}
        claim.mine.sort(key=order.__getitem__)
        lost = set(new) - set(claim.mine)
        if lost:
            claim.skipped["claimed by another run at the same time"] += [i for i in ids if i in lost]
        return claim

    def _refusal(self, row: Mapping[str, Any], fingerprint: str, now: datetime) -> str | None:
        """Why an order already in the ledger may not be claimed now (None: it may be taken over)."""
        state = row["state"]
        changed = row["fingerprint"] != fingerprint
        if state == CLAIMED:
            if self.identity.owns(row) or as_utc(row["claimed_at"]) < now - self.claim_timeout:
                return None
            return "claimed by another run (taken over after claim_timeout if it died)"
        if state == REFUSED:
            return None if changed else "refused earlier and unchanged (fix the order and it is sent again)"
        if state == COMPLETE and self.resubmit == RESUBMIT_ON_ERROR and row["result_code"] == ERROR_CODE:
            return None if changed else "outcome Error and unchanged (resubmit='on_error' sends it once changed)"
        if state == UNCERTAIN:
            return "uncertain (may have reached Lingxing; see the release statement in docs/ledger.md)"
        if state == SENDING:
            return "being sent by another run"
        return "already sent"

    def _insert(self, cursor: Any, ids: Sequence[str], fingerprints: Mapping[str, str], now: Any) -> None:
        """Insert a `claimed` row per id, leaving an id whose key another run holds alone: one statement, the
        rows' order ids and fingerprints bound as one JSON parameter, the other columns as one value each."""
        if not ids:
            return
        i = self.identity
        fixed = {
            "seller_id": self.seller_id,
            "marketplace_id": self.marketplace_id,
            "state": CLAIMED,
            **dict.fromkeys(("task_id", "refusal", "result_code", "result_description")),
            "outstanding": 1,
            **{"dag_id": i.dag_id, "run_id": i.run_id, "airflow_task_id": i.task_id, "map_index": i.map_index},
            **{"try_number": i.try_number, "claim_id": self.claim_id, "claimed_at": now, "updated_at": now},
        }
        types = dict(LEDGER_TABLE.columns)
        source = self.dialect.json_rows([(c, types[c].removesuffix(" NOT NULL")) for c in CLAIM_VALUES])
        columns = LEDGER_TABLE.names
        select = ", ".join(f"src.{c}" if c in CLAIM_VALUES else self.dialect.placeholder for c in columns)
        rows_query = f"SELECT {select} FROM {source}"
        sql = self.dialect.insert_absent(self.table, columns, LEDGER_TABLE.primary_key, rows_query)
        rows = json.dumps([[order_id, fingerprints[order_id]] for order_id in ids])
        cursor.execute(sql, [fixed[c] for c in columns if c not in CLAIM_VALUES] + [rows])

    def _sweep(self, cursor: Any, now: datetime) -> list[str]:
        """`sending` rows left by this task's earlier try, or by anyone longer than claim_timeout ago: their
        request may have reached Lingxing, so they become uncertain (never sent again on their own)."""
        p = self.dialect.placeholder
        where = (
            f"{self._scope} AND outstanding = 1 AND state = '{SENDING}' AND claim_id <> {p} "
            f"AND (({self._own}) OR updated_at < {p})"
        )
        cutoff = self.dialect.timestamp(now - self.claim_timeout)
        values = [*self._scope_values, self.claim_id, *self._own_values, cutoff]
        cursor.execute(f"SELECT order_id FROM {self.table} WHERE {where}", values)
        found = [order_id for (order_id,) in cursor.fetchall()]
        if found:
            note = "the task sending it ended before Lingxing's answer was recorded"
            cursor.execute(
                f"UPDATE {self.table} SET state = '{UNCERTAIN}', refusal = {p}, updated_at = {p} WHERE {where}",
                [note, self.dialect.timestamp(now), *values],
            )
        return found

    # transitions of one chunk, each committed

    def record(self, transitions: Sequence[Transition]) -> list[list[str]]:
        """Write chunks' moves in one committed transaction, the moves to one state as one statement; per
        transition, the ids it moved (a chunk marked sending loses the ids another run took over meanwhile)."""
        moved: dict[int, list[str]] = {}
        by_state: dict[str, list[int]] = defaultdict(list)
        for k, move in enumerate(transitions):
            by_state[move.to].append(k)
        with self._transaction() as cursor:
            for to, indexes in by_state.items():
                moves = [transitions[k] for k in indexes]
                ids = [order_id for move in moves for order_id in move.ids]
                if to == RELEASED:
                    self._delete(cursor, ids)
                elif self._move(cursor, to, moves) != len(ids) and to == SENDING:
                    ours = set(self._ours(cursor, SENDING, ids))
                    moved.update({k: [i for i in transitions[k].ids if i in ours] for k in indexes})
                moved.update({k: list(transitions[k].ids) for k in indexes if k not in moved})
        return [moved[k] for k in range(len(transitions))]

    def _move(self, cursor: Any, to: str, moves: Sequence[Transition]) -> int:
        """Move this execution's orders of `moves` to `to` from the state before it (claimed before sending,
        sending before the rest), each move's own task id or message set through a CASE; returns how many moved."""
        p = self.dialect.placeholder
        column, value = {
            SENDING: ("try_number", lambda move: self.identity.try_number),
            ACCEPTED: ("task_id", lambda move: move.task_id),
            REFUSED: ("refusal", lambda move: move.message[:MAX_TEXT]),
            UNCERTAIN: ("refusal", lambda move: move.message[:MAX_TEXT]),
        }.get(to, ("", None))  # CLAIMED (back from sending, to be sent again): the state and time only
        source = CLAIMED if to == SENDING else SENDING
        count = 0
        for group in statements(moves):
            cases = [(ids, value(move) if value else None) for move, ids in group]
            setting, values = "", []
            if column and len({v for _, v in cases}) == 1:
                setting, values = f", {column} = {p}", [cases[0][1]]
            elif column:
                whens = " ".join(f"WHEN {self._in(ids)} THEN {p}" for ids, _ in cases)
                setting, values = f", {column} = CASE {whens} END", [x for i, v in cases for x in (*self._ids(i), v)]
            where, held = self._held([order_id for _, ids in group for order_id in ids])
            sql = f"UPDATE {self.table} SET state = '{to}', updated_at = {p}{setting} WHERE {where} AND state = "
            cursor.execute(f"{sql}'{source}'", [self._now(), *values, *held])
            count += int(cursor.rowcount)
        return count

    def _held(self, ids: Sequence[str], claim_id: str | None = None) -> tuple[str, list[Any]]:
        """The condition (and its values) for the rows of `ids` held by `claim_id`, this execution's by default."""
        p = self.dialect.placeholder
        where = f"{self._scope} AND claim_id = {p} AND {self._in(ids)}"
        return where, [*self._scope_values, claim_id or self.claim_id, *self._ids(ids)]

    def _ours(self, cursor: Any, state: str, ids: Sequence[str]) -> list[str]:
        """Which of `ids` this execution holds in `state`."""
        ours: list[str] = []
        for batch in batches(ids):
            where, values = self._held(batch)
            cursor.execute(f"SELECT order_id FROM {self.table} WHERE {where} AND state = '{state}'", values)
            ours += [order_id for (order_id,) in cursor.fetchall()]
        return ours

    def _delete(self, cursor: Any, ids: Sequence[str]) -> None:
        for batch in batches(ids):
            where, values = self._held(batch)
            cursor.execute(f"DELETE FROM {self.table} WHERE {where} AND state IN ('{CLAIMED}', '{SENDING}')", values)

    def release(self, ids: Sequence[str]) -> None:
        """Forget claims that were not sent (or definitely refused for a passing reason): any run may take them."""
        with self._transaction() as cursor:
            self._delete(cursor, ids)

    # reports

    def open_tasks(self) -> OpenTasks:
        """Accepted tasks of this seller and marketplace whose results are not loaded: up to max_task_age, and
        every one this task instance created (a retry or clear returns them); older ones are stale."""
        cutoff = self.clock() - self.max_task_age
        with self._transaction(write=False) as cursor:
            accepted = self._select(
                cursor,
                f"SELECT task_id, order_id, updated_at, run_id, dag_id, airflow_task_id, map_index FROM {self.table} "
                f"WHERE {self._scope} AND outstanding = 1 AND state = '{ACCEPTED}'",
                self._scope_values,
            )
        own = {row["task_id"] for row in accepted if self.identity.owns(row)}
        messages: dict[str, list[str]] = defaultdict(list)
        stale: set[str] = set()
        for row in accepted:
            if row["task_id"] not in own and as_utc(row["updated_at"]) < cutoff:
                stale.add(row["task_id"])
            else:
                messages[row["task_id"]].append(row["order_id"])
        tasks = [
            {"task_id": task_id, "message_ids": sorted(ids, key=by_number)}
            for task_id, ids in sorted(messages.items(), key=lambda item: by_number(item[0]))
        ]
        return OpenTasks(tasks, sorted(stale, key=by_number), sorted(own, key=by_number))

    def uncertain_orders(self, shown: int = 5) -> tuple[int, list[str]]:
        """How many orders of this seller and marketplace are uncertain, and the first few ids (one query)."""
        with self._transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT order_id, COUNT(*) OVER () FROM {self.table} "
                f"WHERE {self._scope} AND outstanding = 1 AND state = '{UNCERTAIN}' "
                f"ORDER BY updated_at, LENGTH(order_id), order_id LIMIT {int(shown)}",
                self._scope_values,
            )
            rows = cursor.fetchall()
        return (int(rows[0][1]) if rows else 0), [order_id for order_id, _ in rows]

    def release_statement(self, state: str, ids: Sequence[str]) -> str:
        """The SQL a person runs to let `ids` be sent again: uncertain ones after checking Seller Central, or
        accepted (and complete) ones to send them again on purpose."""
        states = f"'{state}'" if state != ACCEPTED else f"'{ACCEPTED}', '{COMPLETE}'"
        return (
            f"DELETE FROM {self.table} WHERE state IN ({states}) AND seller_id = {literal(self.seller_id)} "
            f"AND marketplace_id = {literal(self.marketplace_id)} AND order_id IN ({', '.join(map(literal, ids))})"
        )
