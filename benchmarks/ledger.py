"""The submission ledger's bookkeeping for 1,000 new orders over a 100,000-order history, on each database.

A warehouse holds a WMS table of 101,000 shipped orders and a ledger whose 100,000 rows say the first 100,000 were
sent and their results loaded. LingxingSubmitFulfillmentOperator runs with orders_sql against an API that answers at
once. The ledger's bookkeeping is the time spent in the ledger's calls (LedgerClock: connect and create, the claim of
1,000 orders, 10 chunks' transitions, the open-task and uncertain reads) and in the orders query it filters (the
wrapped query that drops the settled orders in SQL, and their count); the whole execute, with the operator's own
validation, fingerprints and sending threads, is shown beside it. The results side (1,000 orders marked complete in
the results upsert's transaction) is timed apart. The API bound for the same orders is ceil(10 chunks / 10 in
flight) × the time of one submitFulfillment request: the ratio is given for 1 s (the issue's figure) and 200 ms
(benchmarks/submit_chunks.py); target ≤ 0.1, for orders_sql limited to a window (the last 1,000 settled orders and
the new ones, through the WMS table's key), as the example DAG's lookback does. With no window the database compares
every order of the history with the ledger, so the time grows with the history: it is shown beside the time the
same query takes to read into Python with no ledger at all. Memory: tracemalloc's peak during a run that finds the
whole history settled, with 10,000 and with 100,000 rows of history: flat when the history stays in the database.
A run that finds nothing new warms the process up; then RUNS hours each ship NEW orders and send them (the median
counts), each after a garbage collection.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_lingxing.api.endpoints import SUBMIT_FULFILLMENT
from airflow_provider_lingxing.operators import submit as submit_module
from airflow_provider_lingxing.operators.fulfillment import LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.warehouse import results as results_table
from airflow_provider_lingxing.warehouse.dialects import dialect_for
from airflow_provider_lingxing.warehouse.ledger import SubmissionLedger
from airflow_provider_lingxing.warehouse.submissions import LEDGER_TABLE, complete_orders, prepare_ledger

NEW = 1_000
HISTORIES = (10_000, 100_000)
PER_CHUNK = 100
LATENCIES = (1.0, 0.2)
TARGET = 0.1
RUNS = 5
SELLER, MARKETPLACE = "A1SIMNA0000001", "ATVPDKIKX0DER"
SERVERS = {
    "PostgreSQL": {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"},
    "MySQL/MariaDB": {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": "test"},
}


class InstantLingxing:
    """An API that answers every submission at once: what is left of the wall time is the bookkeeping."""

    settings = "checked"
    max_in_flight = None

    def __init__(self) -> None:
        self.next_task_id = 2_000_000

    def submit_fulfillment(self, region: str, seller_id: str, marketplace_id: str, order_list: list) -> dict:
        self.next_task_id += 1
        return {"task_id": str(self.next_task_id), "task_status": "pending", "failure_reason": None}

    def close(self) -> None:
        pass


def fill(hook: Any, wms: str, ledger: str, history: int) -> None:
    """The WMS table of the history and the ledger rows of the history (complete); ship_new adds the new orders."""
    p = dialect_for(hook).placeholder
    hook.run(
        f"CREATE TABLE {wms} (order_ref BIGINT NOT NULL PRIMARY KEY, item_no VARCHAR(40), "
        f"amazon_order_id VARCHAR(40), tracking VARCHAR(40), carrier VARCHAR(20), qty INTEGER)"
    )
    ship(hook, wms, range(1, history + 1))
    prepare_ledger(hook, ledger)
    now = dialect_for(hook).timestamp(datetime.now(timezone.utc))
    fixed = {
        "seller_id": SELLER,
        "marketplace_id": MARKETPLACE,
        "state": "complete",
        "fingerprint": "0" * 64,
        "dag_id": "history",
        "run_id": "history",
        "airflow_task_id": "submit",
        "map_index": -1,
        "try_number": 1,
        "claim_id": "history",
        "claimed_at": now,
        "updated_at": now,
        "refusal": None,
        "result_code": "Success",
        "result_description": None,
        "outstanding": None,
    }
    columns = LEDGER_TABLE.names
    history_rows = [
        tuple({**fixed, "order_id": str(n), "task_id": str(1_000_000 + n // PER_CHUNK)}[c] for c in columns)
        for n in range(1, history + 1)
    ]
    insert_many(
        hook, f"INSERT INTO {ledger} ({', '.join(columns)}) VALUES ({', '.join([p] * len(columns))})", history_rows
    )
    settle(hook, wms, ledger)


def settle(hook: Any, *tables: str) -> None:
    """What the database does after a bulk load, done before the timing: PostgreSQL's autovacuum would otherwise
    vacuum and analyze the new rows during the measured runs."""
    name = dialect_for(hook).name
    if name == "postgres":
        conn = hook.get_conn()
        try:
            conn.autocommit = True  # VACUUM runs outside a transaction
            with closing(conn.cursor()) as cursor:
                for table in tables:
                    cursor.execute(f"VACUUM ANALYZE {table}")
        finally:
            conn.close()
    elif name == "mysql":
        for table in tables:
            hook.get_records(f"ANALYZE TABLE {table}")


def ship(hook: Any, wms: str, numbers: range) -> None:
    p = dialect_for(hook).placeholder
    rows = [(n, f"{n}-0", f"111-{n:07d}-0000001", f"1Z{n:010d}", "UPS", 1) for n in numbers]
    insert_many(hook, f"INSERT INTO {wms} VALUES ({', '.join([p] * 6)})", rows)


def insert_many(hook: Any, sql: str, rows: list[tuple]) -> None:
    conn = hook.get_conn()
    try:
        cursor = conn.cursor()
        for start in range(0, len(rows), 10_000):
            cursor.executemany(sql, rows[start : start + 10_000])
        conn.commit()
    finally:
        conn.close()


def orders_sql(wms: str, since: int | None) -> str:
    """Every shipment (since=None: the whole history goes through the ledger's filter), or those from order
    `since` on (a time window, as the example DAG's lookback)."""
    window = f" WHERE order_ref >= {since}" if since is not None else ""
    return (
        f"SELECT order_ref AS id, amazon_order_id AS platform_order_no, tracking AS tracking_no, carrier AS "
        f"carrier_code, carrier AS carrier_name, '' AS shipping_service, item_no AS order_item_no, qty AS quantity "
        f"FROM {wms}{window}"
    )


class LedgerClock:
    """The seconds one execute spends in the ledger: its calls (connect and create, claims, chunk transitions,
    releases, the open-task and uncertain reads) and the orders query it filters (with its count). The rest of
    the execute (validation, normalisation, fingerprints, the sending threads, logs) is the operator's own."""

    CALLS = ("open", "claim", "record", "release", "open_tasks", "uncertain_orders", "close")

    def __init__(self) -> None:
        self.seconds = 0.0

    def _timed(self, call: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed

    @contextmanager
    def running(self) -> Iterator[LedgerClock]:
        saved = {name: getattr(SubmissionLedger, name) for name in self.CALLS}
        saved_read = submit_module.read_rows
        for name, call in saved.items():
            setattr(SubmissionLedger, name, self._timed(call))
        submit_module.read_rows = self._timed(saved_read)
        try:
            yield self
        finally:
            for name, call in saved.items():
                setattr(SubmissionLedger, name, call)
            submit_module.read_rows = saved_read


def run(conn_id: str, ledger: str, sql: str, run_id: str, *, memory: bool = False) -> tuple[list, float, int, float]:
    """One execute of the submit operator: its XCom, its wall time, (with `memory`, which slows it) the peak of
    Python's allocations during it, and the seconds it spent in the ledger."""
    operator = LingxingSubmitFulfillmentOperator(
        task_id="submit",
        region="NA",
        seller_id=SELLER,
        marketplace_id=MARKETPLACE,
        sql_conn_id=conn_id,
        ledger_table=ledger,
        orders_sql=sql,
        max_orders_per_task=PER_CHUNK,
    )
    operator.hook = InstantLingxing()
    ti = SimpleNamespace(dag_id="bench", run_id=run_id, task_id="submit", map_index=-1, try_number=1)
    gc.collect()
    if memory:
        tracemalloc.start()
    with LedgerClock().running() as clock:
        started = time.perf_counter()
        tasks = operator.execute({"ti": ti})
        seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if memory else 0
    tracemalloc.stop()
    return tasks, seconds, peak, clock.seconds


def read_alone(hook: Any, sql: str) -> float:
    """The seconds `sql` takes to read into Python with no ledger (what the whole history costs any reader)."""
    gc.collect()
    started = time.perf_counter()
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
        cursor.execute(sql)
        cursor.fetchall()
    return time.perf_counter() - started


def measure(conn_id: str, history: int) -> dict[str, float]:
    """The hour before found nothing new (a warm-up run); then, RUNS times, NEW orders ship and the next hour
    sends them."""
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(conn_id).get_hook()
    suffix = uuid.uuid4().hex[:8]
    wms, ledger, results = f"bench_wms_{suffix}", f"bench_ledger_{suffix}", f"bench_results_{suffix}"
    figures: dict[str, float] = {}
    try:
        fill(hook, wms, ledger, history)
        first = history + 1
        for scope in ("whole", "window"):
            sql = orders_sql(wms, None if scope == "whole" else first - NEW)  # window: NEW settled, NEW new
            figures[f"{scope}_peak"] = run(conn_id, ledger, sql, f"bench__{scope}_before", memory=True)[2]
            walls, shares = [], []
            for k in range(RUNS):
                sql = orders_sql(wms, None if scope == "whole" else first - NEW)
                ship(hook, wms, range(first, first + NEW))
                tasks, wall, _, share = run(conn_id, ledger, sql, f"bench__{scope}_{k}")
                walls.append(wall)
                shares.append(share)
                assert sum(len(t["message_ids"]) for t in tasks) == NEW, "every new order sent, none of the history"
                outcomes = [(t["task_id"], order_id, "Success", None) for t in tasks for order_id in t["message_ids"]]
                started = time.perf_counter()
                results_table.upsert_rows(
                    hook,
                    results,
                    [],
                    also=lambda cursor, done=outcomes: complete_orders(cursor, hook, ledger, SELLER, done),
                )
                figures["complete"] = time.perf_counter() - started
                first += NEW
            figures[scope] = statistics.median(walls)
            figures[f"{scope}_ledger"] = statistics.median(shares)
        figures["alone"] = read_alone(hook, orders_sql(wms, None))
    finally:
        for table in (wms, ledger, results):
            hook.run(f"DROP TABLE IF EXISTS {table}")
    return figures


def main() -> None:
    import logging

    logging.getLogger("airflow.task").setLevel(logging.WARNING)
    chunks = math.ceil(NEW / PER_CHUNK)
    rounds = math.ceil(chunks / SUBMIT_FULFILLMENT.capacity)
    print(
        f"{NEW:,} new orders ({chunks} chunks) over a history of {', '.join(f'{h:,}' for h in HISTORIES)} "
        f"ledger rows; API bound: {rounds} round(s) × the request time"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "warehouse.db"
        sqlite3.connect(path).close()
        os.environ["AIRFLOW_CONN_BENCH_HISTORY_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(path)})
        databases = [("SQLite (file)", "bench_history_sqlite")]
        for name, server in SERVERS.items():
            conn_id = f"bench_history_{server['conn_type']}"
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(server)
            databases.append((name, conn_id))
        for name, conn_id in databases:
            try:
                figures = {history: measure(conn_id, history) for history in HISTORIES}
            except Exception as error:
                print(f"  {name}: skipped ({type(error).__name__}: {str(error)[:120]})")
                continue
            small, big = figures[HISTORIES[0]], figures[HISTORIES[-1]]
            print(f"  {name}:")
            for scope, what in (("window", "orders_sql with a window"), ("whole", "orders_sql with no window")):
                share = big[f"{scope}_ledger"]
                ratios = [share / (rounds * latency) for latency in LATENCIES]
                shown = ", ".join(f"{r:.3f} at {latency:g} s" for r, latency in zip(ratios, LATENCIES, strict=True))
                verdict = (
                    f"target ≤ {TARGET} at {LATENCIES[0]:g} s: {'met' if ratios[0] <= TARGET else 'NOT met'}"
                    if scope == "window"
                    else f"the same query read with no ledger: {big['alone'] * 1000:.0f} ms"
                )
                print(
                    f"    {what}: the ledger's bookkeeping {share * 1000:.0f} ms per {NEW:,} orders "
                    f"({small[f'{scope}_ledger'] * 1000:.0f} ms with {HISTORIES[0]:,} of history), ratio to the API "
                    f"bound {shown} ({verdict}); the whole execute {big[scope] * 1000:.0f} ms "
                    f"({big[scope] / rounds:.3f} at {LATENCIES[0]:g} s)"
                )
            print(
                f"    marking them complete (results side): {big['complete'] * 1000:.0f} ms; peak memory "
                f"{small['whole_peak'] / 2**10:.0f} KiB with {HISTORIES[0]:,} rows of history settled, "
                f"{big['whole_peak'] / 2**10:.0f} KiB with {HISTORIES[-1]:,} "
                f"({big['whole_peak'] / small['whole_peak']:.2f}×)"
            )


if __name__ == "__main__":
    main()
