"""10,000 orders in 100 chunks submitted against the simulator at 200 ms per request: concurrency up to the bucket.

LingxingSubmitFulfillmentOperator with the submission ledger (a SQLite file, and the local PostgreSQL and MySQL when
they run), orders given as a list, 100 orders per chunk, against the simulator in its own process answering every
request in 200 ms. submitFulfillment's bucket holds 10 requests per app id, so the bound is ceil(100 / 10) × 0.2 s =
2 s; target: the operator's whole execute (validation, fingerprints, the claim of 10,000 orders, 200 chunk
transitions, the open-task read) within 1.3× the bound, no 3001008, and every order received by the simulator
exactly once. The access token is fetched before the timing starts (a deployment shares one, see the README).
Each database runs RUNS times, on a new table each time; the median decides. The same operator with the ledger
replaced by a book in memory gives this machine's floor (the requests, the validation, the threads), and so what
the ledger itself adds.
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
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_lingxing.api.endpoints import SUBMIT_FULFILLMENT
from airflow_provider_lingxing.operators.fulfillment import LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.testing.simulator import SimulatorProcess
from airflow_provider_lingxing.warehouse.submissions import Claim, OpenTasks

ORDERS = 10_000
PER_CHUNK = 100
LATENCY = 0.2
TARGET = 1.3
RUNS = 3
SELLER, MARKETPLACE = "A1SIMNA0000001", "ATVPDKIKX0DER"
SERVERS = {
    "PostgreSQL": {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"},
    "MySQL/MariaDB": {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": "test"},
}


def orders() -> list[dict[str, Any]]:
    return [
        {
            "id": 7_000_000 + n,
            "platform_order_no": f"111-{n:07d}-0000001",
            "tracking_no": f"1Z{n:010d}",
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "shipping_service": "Ground",
            "order_item": [{"order_item_no": f"{n:012d}", "quantity": 1}],
        }
        for n in range(ORDERS)
    ]


class BookInMemory:
    """The ledger's part done in memory: every order claimed, every move taken; nothing stored."""

    def claim(self, fingerprints: dict[str, str]) -> Claim:
        return Claim(mine=list(fingerprints))

    def open_tasks(self) -> OpenTasks:
        return OpenTasks([], [])

    def uncertain_orders(self, shown: int = 5) -> tuple[int, list[str]]:
        return 0, []

    def release_statement(self, state: str, ids: list[str]) -> str:
        return ""

    def record(self, transitions: list[Any]) -> list[list[str]]:
        return [list(move.ids) for move in transitions]

    def release(self, ids: list[str]) -> None:
        pass


def submit(conn_id: str | None, sim: SimulatorProcess) -> tuple[float, int, bool]:
    """(wall seconds, 3001008 answers, each order received once) of one operator execution."""
    table = f"bench_ledger_{uuid.uuid4().hex[:8]}"
    operator = LingxingSubmitFulfillmentOperator(
        task_id="submit",
        region="NA",
        seller_id=SELLER,
        marketplace_id=MARKETPLACE,
        orders=orders(),
        max_orders_per_task=PER_CHUNK,
        sql_conn_id=conn_id,
        ledger_table=table,
    )
    sim.reset()
    operator.hook.token_keeper.fetch_new()
    ti = SimpleNamespace(dag_id="bench", run_id=f"bench__{table}", task_id="submit", map_index=-1, try_number=1)
    gc.collect()  # the runs before leave garbage that a collection during this one would pay for
    try:
        started = time.perf_counter()
        if conn_id:
            tasks = operator.execute({"ti": ti})
        else:  # execute's own steps, with the book in memory
            region, size = operator._arguments(operator.orders)
            tasks = operator._submit(BookInMemory(), region, operator.orders, size, settled=0)
        wall = time.perf_counter() - started
    finally:
        operator.hook.close()
        if conn_id:
            drop(conn_id, table)
    stats = sim.stats()
    received = stats["orders_received"].get(SELLER, {}).get(MARKETPLACE, {})
    once = len(received) == ORDERS and set(received.values()) == {1} and len(tasks) == ORDERS // PER_CHUNK
    return wall, stats["rate_limited"], once


def run(name: str, conn_id: str | None, sim: SimulatorProcess, floor: float | None = None) -> float:
    """RUNS executions; prints their median (min–max) as a ratio of the bound; returns the median wall."""
    runs = [submit(conn_id, sim) for _ in range(RUNS)]
    walls = sorted(wall for wall, _, _ in runs)
    wall = statistics.median(walls)
    limited = sum(count for _, count, _ in runs)
    once = all(ok for _, _, ok in runs)
    chunks = ORDERS // PER_CHUNK
    bound = math.ceil(chunks / SUBMIT_FULFILLMENT.capacity) * LATENCY
    ok = wall <= TARGET * bound and limited == 0 and once
    added = f"; the ledger adds {wall - floor:.2f} s" if floor is not None else ""
    verdict = f" → {'met' if ok else 'NOT met'}" if conn_id else ""
    print(
        f"  {name:16} {wall:5.2f} s = {wall / bound:.2f}× the bound {bound:.1f} s (median of {RUNS}: "
        f"{walls[0] / bound:.2f}–{walls[-1] / bound:.2f}×; target ≤ {TARGET}×){added}; 3001008: {limited}; "
        f"each order received once: {once}{verdict}"
    )
    return wall


def drop(conn_id: str, table: str) -> None:
    from airflow.sdk import BaseHook

    BaseHook.get_connection(conn_id).get_hook().run(f"DROP TABLE IF EXISTS {table}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, SimulatorProcess("--latency", str(LATENCY)) as sim:
        os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        path = Path(folder) / "warehouse.db"
        sqlite3.connect(path).close()
        os.environ["AIRFLOW_CONN_BENCH_LEDGER_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(path)})
        capacity = SUBMIT_FULFILLMENT.capacity
        print(
            f"{ORDERS:,} orders in {ORDERS // PER_CHUNK} chunks; simulator at {LATENCY * 1000:.0f} ms per request, "
            f"submitFulfillment capacity {capacity}"
        )
        floor = run("no ledger (floor)", None, sim)
        run("SQLite (file)", "bench_ledger_sqlite", sim, floor)
        for name, server in SERVERS.items():
            conn_id = f"bench_ledger_{server['conn_type']}"
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(server)
            try:
                from airflow.sdk import BaseHook

                BaseHook.get_connection(conn_id).get_hook().get_first("SELECT 1")
            except Exception as error:
                print(f"  {name} is absent, skipped: {error}")
                continue
            run(name, conn_id, sim, floor)


if __name__ == "__main__":
    main()
