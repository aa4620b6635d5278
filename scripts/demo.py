"""`make demo`: the example DAG end to end on the embedded simulator, with no Lingxing account.

Starts the simulator, sets up a throw-away AIRFLOW_HOME (SQLite metadata DB) with the `lingxing_default` and
`lingxing_warehouse` connections and the `lingxing_api` pool, runs `lingxing_mark_shipped` with
`airflow dags test` (deferrable sensor included), then prints the loaded warehouse table.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from airflow_provider_lingxing.testing.simulator import LingxingSimulator

REPO = Path(__file__).resolve().parent.parent
DEMO_HOME = REPO / ".demo"
SELLER = {"seller_id": "A1SIMNA0000001", "marketplace_id": "ATVPDKIKX0DER", "region": "NA"}
TABLE = "lingxing_fulfillment_results"
POOL_SLOTS = 10  # the fulfillment endpoints' concurrency capacity per app id


def demo_orders(count: int = 24) -> list[dict]:
    """Orders whose tracking numbers make the simulator answer Error (ERR…), Warning (WARN…) or success."""
    orders = []
    for n in range(1, count + 1):
        prefix = "ERR" if n % 8 == 0 else "WARN" if n % 6 == 0 else "1Z"
        orders.append(
            {
                "id": 9_000_000 + n,
                "platform_order_no": f"111-{n:07d}-{n * 7919 % 10_000_000:07d}",
                "tracking_no": f"{prefix}{n:010d}",
                "carrier_code": "UPS",
                "carrier_name": "UPS",
                "shipping_service": "Ground",
                "order_item": [{"order_item_no": f"{40_000_000 + n}", "quantity": 1 + n % 3}],
            }
        )
    return orders


def step(text: str) -> float:
    print(f"==> {text}", flush=True)
    return time.monotonic()


def airflow(env: dict[str, str], *args: str, quiet: bool = True) -> None:
    command = [sys.executable, "-m", "airflow", *args]
    result = subprocess.run(command, env=env, capture_output=quiet, text=True)
    if result.returncode:
        if quiet:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"`airflow {' '.join(args[:2])}` failed with exit code {result.returncode}")


def print_table(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        cursor = conn.execute(
            f"SELECT task_id, message_id, status_code, result_code, result_message_code, result_description,"
            f" ship_time FROM {TABLE} ORDER BY task_id, CAST(message_id AS INTEGER)"
        )
        header = [c[0] for c in cursor.description]
        rows = [["" if v is None else str(v)[:48] for v in row] for row in cursor.fetchall()]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print(line)
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    codes = [r[3] for r in rows]
    tasks = len({r[0] for r in rows})
    print(
        f"\n{len(rows)} messages in {tasks} tasks: {codes.count('Success')} Success, "
        f"{codes.count('Warning')} Warning, {codes.count('Error')} Error"
    )


def main() -> None:
    started = time.monotonic()
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir()
    warehouse = DEMO_HOME / "warehouse.db"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(DEMO_HOME / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{DEMO_HOME / 'airflow' / 'airflow.db'}",
        "AIRFLOW_CONN_LINGXING_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "LINGXING_EXAMPLE_POKE_INTERVAL": "2",
    }
    t = step("starting the Lingxing simulator")
    with LingxingSimulator(complete_after_seconds=4) as sim:
        env["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        print(f"    {sim.base_url} (app id {sim.app_id})")
        t = step(f"airflow db migrate (SQLite in {DEMO_HOME / 'airflow'})")
        airflow(env, "db", "migrate")
        print(f"    done in {time.monotonic() - t:.0f}s")
        step(f"creating pool lingxing_api with {POOL_SLOTS} slots")
        airflow(env, "pools", "set", "lingxing_api", str(POOL_SLOTS), "Lingxing OpenAPI concurrency per app id")
        orders = demo_orders()
        conf = json.dumps({**SELLER, "orders": orders})
        t = step(f"airflow dags test lingxing_mark_shipped ({len(orders)} orders; the sensor defers)")
        airflow(env, "dags", "test", "lingxing_mark_shipped", "--conf", conf, quiet=False)
        print(f"    done in {time.monotonic() - t:.0f}s")
        stats = sim.stats()
    print(f"\n==> {TABLE} in {warehouse}\n")
    print_table(warehouse)
    print(f"\nSimulator: {stats['requests_total']} API calls, {stats['rate_limited']} answered 3001008.")
    print(f"Demo finished in {time.monotonic() - started:.0f}s. Inspect: sqlite3 {warehouse}")


if __name__ == "__main__":
    main()
