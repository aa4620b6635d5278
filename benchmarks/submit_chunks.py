"""10,000 orders in 100 chunks submitted against the simulator at 200 ms per request: concurrency up to the bucket.

LingxingSubmitFulfillmentOperator with the submission ledger (a SQLite file, and the local PostgreSQL and MySQL when
they run), orders given as a list, 100 orders per chunk, against the simulator in its own process answering every
request in 200 ms. submitFulfillment's bucket holds 10 requests per app id, so the bound is ceil(100 / 10) × 0.2 s =
2 s; target: the operator's whole execute (validation, fingerprints, the claim of 10,000 orders, 200 chunk
transitions, the open-task read) within 1.3× the bound, no 3001008, and every order received by the simulator
exactly once. The access token is fetched before the timing starts (a deployment shares one, see the README).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_lingxing.api.endpoints import SUBMIT_FULFILLMENT
from airflow_provider_lingxing.operators.fulfillment import LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.testing.simulator import SimulatorProcess

ORDERS = 10_000
PER_CHUNK = 100
LATENCY = 0.2
TARGET = 1.3
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


def run(name: str, conn_id: str, sim: SimulatorProcess) -> bool:
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
    try:
        started = time.perf_counter()
        tasks = operator.execute({"ti": ti})
        wall = time.perf_counter() - started
    finally:
        operator.hook.close()
        drop(operator, table)
    stats = sim.stats()
    received = stats["orders_received"].get(SELLER, {}).get(MARKETPLACE, {})
    once = len(received) == ORDERS and set(received.values()) == {1}
    chunks = ORDERS // PER_CHUNK
    bound = math.ceil(chunks / SUBMIT_FULFILLMENT.capacity) * LATENCY
    ok = wall <= TARGET * bound and stats["rate_limited"] == 0 and once and len(tasks) == chunks
    print(
        f"  {name:14} {wall:5.2f} s for {ORDERS:,} orders in {chunks} chunks = {wall / bound:.2f}× the bound "
        f"{bound:.1f} s (target ≤ {TARGET}×); 3001008: {stats['rate_limited']}; peak in flight "
        f"{max(stats['peak_in_flight'].get(sim.app_id, {}).values(), default=0)}; each order received once: "
        f"{once} → {'met' if ok else 'NOT met'}"
    )
    return ok


def drop(operator: LingxingSubmitFulfillmentOperator, table: str) -> None:
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(str(operator.sql_conn_id)).get_hook()
    hook.run(f"DROP TABLE IF EXISTS {table}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, SimulatorProcess("--latency", str(LATENCY)) as sim:
        os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        path = Path(folder) / "warehouse.db"
        sqlite3.connect(path).close()
        os.environ["AIRFLOW_CONN_BENCH_LEDGER_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(path)})
        capacity = SUBMIT_FULFILLMENT.capacity
        print(f"Simulator at {LATENCY * 1000:.0f} ms per request, submitFulfillment capacity {capacity}")
        run("SQLite (file)", "bench_ledger_sqlite", sim)
        for name, server in SERVERS.items():
            conn_id = f"bench_ledger_{server['conn_type']}"
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(server)
            try:
                from airflow.sdk import BaseHook

                BaseHook.get_connection(conn_id).get_hook().get_first("SELECT 1")
            except Exception as error:
                print(f"  {name} is absent, skipped: {error}")
                continue
            run(name, conn_id, sim)


if __name__ == "__main__":
    main()
