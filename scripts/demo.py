"""`make demo`: the example DAG end to end on the embedded simulator, with no Lingxing account.

Starts the simulator, sets up a throw-away AIRFLOW_HOME (SQLite metadata DB) with the `lingxing_default` and
`lingxing_warehouse` connections and the `lingxing_api` pool, runs `lingxing_mark_shipped` with
`airflow dags test` (deferrable sensor included), then prints the loaded warehouse table.

    python scripts/demo.py [--home DIR]      # default: .demo/ in the repository, emptied first
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from airflow_provider_lingxing.api.endpoints import SUBMIT_FULFILLMENT
from airflow_provider_lingxing.testing.simulator import LingxingSimulator

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO / ".demo"
DAG_ID = "lingxing_mark_shipped"
SELLER = {"seller_id": "A1SIMNA0000001", "marketplace_id": "ATVPDKIKX0DER", "region": "NA"}
TABLE = "lingxing_fulfillment_results"
POOL_SLOTS = SUBMIT_FULFILLMENT.capacity  # the concurrency bucket of the fulfillment endpoints, per app id
COMPLETE_AFTER_SECONDS = 4  # Amazon's minutes to hours, shortened
POKE_INTERVAL_SECONDS = 1
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")
LOG_LINE = re.compile(r"^\S+ \[\w+\s*\] (?P<event>.*?)\s+\[(?P<logger>[^\]]+)\]")


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


def progress(line: str) -> str | None:
    """The few lines of `airflow dags test`'s log a reader follows: tasks, the deferral, the provider's news."""
    match = LOG_LINE.match(ANSI_CODE.sub("", line))
    if not match:
        return None
    event, logger = match["event"], match["logger"]
    if event.startswith("[DAG TEST] starting task_id="):
        return "task " + event.split("=")[1].split()[0] + " started"
    if event.startswith("[DAG TEST] end task task_id="):
        return "task " + event.split("=")[1].split()[0] + " finished"
    if event.startswith("Pausing task as DEFERRED"):
        return "deferred: the trigger now polls Lingxing (no worker slot held)"
    if "airflow_provider_lingxing" in logger:
        return f"{logger.rsplit('.', 1)[-1]}: {event}"
    if event.startswith("[DAG TEST] Error"):
        return event.removeprefix("[DAG TEST] ")
    return None


def airflow(env: dict[str, str], log: Path, *args: str, follow: bool = False) -> None:
    """Run the airflow CLI with its output in `log`; with `follow`, echo the progress lines as they come."""
    with log.open("a") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n")
        out.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        try:
            for line in process.stdout:
                out.write(line)
                if follow and (shown := progress(line)):
                    print(f"    {shown[:150]}", flush=True)
        except BaseException:
            process.terminate()
            raise
        finally:
            process.stdout.close()
            code = process.wait()
    if code:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"`airflow {' '.join(args[:2])}` failed with exit code {code}; full log: {log}")


def read_table(db: Path) -> tuple[list[str], list[tuple]]:
    with sqlite3.connect(db) as conn:
        cursor = conn.execute(
            f"SELECT task_id, message_id, status_code, result_code, result_message_code, result_description,"
            f" ship_time FROM {TABLE} ORDER BY CAST(task_id AS INTEGER), CAST(message_id AS INTEGER)"
        )
        return [c[0] for c in cursor.description], cursor.fetchall()


def print_table(header: list[str], rows: list[tuple]) -> None:
    cells = [["" if v is None else str(v)[:48] for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    for row in [header, ["-" * w for w in widths], *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def summary(rows: list[tuple]) -> str:
    codes = Counter(row[3] for row in rows)
    tasks = len({row[0] for row in rows})
    return (
        f"{len(rows)} orders in {tasks} Lingxing task(s): {codes['Success']} Success, "
        f"{codes['Warning']} Warning, {codes['Error']} Error"
    )


def run(home: Path) -> Path:
    """The whole demo in `home` (emptied first); returns the SQLite warehouse file."""
    started = time.monotonic()
    shutil.rmtree(home, ignore_errors=True)
    (home / "airflow").mkdir(parents=True)
    warehouse = home / "warehouse.db"
    log = home / "airflow.log"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "AIRFLOW_CONN_LINGXING_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "LINGXING_EXAMPLE_POKE_INTERVAL": str(POKE_INTERVAL_SECONDS),
    }
    step("starting the Lingxing simulator")
    with LingxingSimulator(complete_after_seconds=COMPLETE_AFTER_SECONDS) as sim:
        env["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        print(f"    {sim.base_url} (app id {sim.app_id}); tasks complete {COMPLETE_AFTER_SECONDS}s after submission")
        t = step(f"airflow db migrate (SQLite in {home / 'airflow'})")
        airflow(env, log, "db", "migrate")
        print(f"    done in {time.monotonic() - t:.0f}s")
        step(f"creating pool lingxing_api with {POOL_SLOTS} slots")
        airflow(env, log, "pools", "set", "lingxing_api", str(POOL_SLOTS), "Lingxing OpenAPI concurrency per app id")
        orders = demo_orders()
        conf = json.dumps({**SELLER, "orders": orders})
        t = step(f"airflow dags test {DAG_ID} ({len(orders)} orders; the sensor defers)")
        airflow(env, log, "dags", "test", DAG_ID, "--conf", conf, follow=True)
        print(f"    done in {time.monotonic() - t:.0f}s")
        stats = sim.stats()
    header, rows = read_table(warehouse)
    print(f"\n==> {TABLE} in {warehouse}\n")
    print_table(header, rows)
    print(f"\n{summary(rows)}")
    print(f"Simulator: {stats['requests_total']} API calls, {stats['rate_limited']} answered 3001008.")
    print(f"Demo finished in {time.monotonic() - started:.0f}s. Airflow's log: {log}")
    print(f"The table is in the SQLite file {warehouse}  (sqlite3 {warehouse} 'SELECT * FROM {TABLE}')")
    return warehouse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="working directory, emptied first")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop airflow's process and the simulator
    run(parser.parse_args(argv).home.resolve())


if __name__ == "__main__":
    main()
