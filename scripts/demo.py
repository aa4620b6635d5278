"""`make demo`: the hourly loop users copy, run twice on an embedded SQLite warehouse, with no Lingxing account.

Starts the simulator, sets up a throw-away AIRFLOW_HOME (SQLite metadata DB) with the `lingxing_default` and
`lingxing_warehouse` connections and the `lingxing_api` pool, and fills the warehouse's `wms_shipments` table (what a
WMS or 3PL would write). Then `airflow dags test lingxing_fulfillment_loop` for two consecutive hours: the second run
finds the first run's shipments plus new ones, and sends the new ones only. Per run it prints the orders read,
claimed, sent and skipped as already sent, and the outcomes loaded.

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
from airflow_provider_lingxing.testing.simulator.config import default_sellers

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO / ".demo"
DAG_ID = "lingxing_fulfillment_loop"
RESULTS = "lingxing_fulfillment_results"
LEDGER = "lingxing_fulfillment_submissions"
RUNS = ("2026-03-02T10:00:00+00:00", "2026-03-02T11:00:00+00:00")
"""Two consecutive hours (logical dates)."""
NEW_PER_RUN = {1: 12, 2: 6}
"""Orders shipped before each run, per seller: the second run finds the first 12 again and 6 new ones."""
POOL_SLOTS = SUBMIT_FULFILLMENT.capacity  # the concurrency bucket of the fulfillment endpoints, per app id
COMPLETE_AFTER_SECONDS = 3  # Amazon's minutes to hours, shortened
POKE_INTERVAL_SECONDS = 1
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")
LOG_LINE = re.compile(r"^\S+ \[\w+\s*\] (?P<event>.*?)\s+\[(?P<logger>[^\]]+)\]")
ORDERS_LINE = re.compile(
    r"Orders: (?P<read>\d+) read, (?P<claimed>\d+) claimed, (?P<sent>\d+) sent as \d+ task\(s\), "
    r"(?P<skipped>\d+) skipped as already sent"
)
WMS_TABLE = """
CREATE TABLE wms_shipments (
    amazon_order_ref INTEGER NOT NULL, order_item_id TEXT NOT NULL, amazon_order_id TEXT NOT NULL,
    tracking_number TEXT NOT NULL, carrier TEXT NOT NULL, service TEXT, quantity INTEGER NOT NULL,
    seller_id TEXT NOT NULL, marketplace_id TEXT NOT NULL, shipped_at TEXT NOT NULL
)"""


def shipments(run: int, sellers: list[dict]) -> list[tuple]:
    """The WMS rows of the orders shipped before `run`, per seller (tracking numbers starting ERR come back from
    the simulator as Error, WARN as Warning, the rest succeed); every fifth order has two items."""
    rows = []
    shipped_at = RUNS[run - 1].replace("10:00:00", "09:30:00").replace("11:00:00", "10:30:00")
    first = 1 + sum(NEW_PER_RUN[r] for r in NEW_PER_RUN if r < run)
    for s, seller in enumerate(sellers):
        for n in range(first, first + NEW_PER_RUN[run]):
            order_id = 9_000_000 + 10_000 * s + n
            prefix = "ERR" if n % 8 == 0 else "WARN" if n % 6 == 0 else "1Z"
            for item in range(1 + (n % 5 == 0)):
                rows.append(
                    (
                        order_id,
                        f"{order_id}-{item}",
                        f"111-{order_id:07d}-{n * 7919 % 10_000_000:07d}",
                        f"{prefix}{order_id:010d}",
                        "UPS",
                        "Ground",
                        1 + item,
                        seller["seller_id"],
                        seller["marketplace_id"],
                        shipped_at,
                    )
                )
    return rows


def step(text: str) -> float:
    print(f"==> {text}", flush=True)
    return time.monotonic()


def progress(line: str, counts: Counter[str]) -> str | None:
    """The few lines of `airflow dags test`'s log a reader follows: tasks, the deferral, the provider's news."""
    match = LOG_LINE.match(ANSI_CODE.sub("", line))
    if not match:
        return None
    event, logger = match["event"], match["logger"]
    if orders := ORDERS_LINE.search(event):
        counts.update({k: int(v) for k, v in orders.groupdict().items()})
    if event.startswith("[DAG TEST] end task task_id="):
        return "task " + event.split("=")[1].split()[0] + " finished"
    if event.startswith("Pausing task as DEFERRED"):
        return "deferred: the trigger now polls Lingxing (no worker slot held)"
    if "airflow_provider_lingxing" in logger and not event.startswith("Chunk"):
        return f"{logger.rsplit('.', 1)[-1]}: {event}"
    if event.startswith("[DAG TEST] Error"):
        return event.removeprefix("[DAG TEST] ")
    return None


def airflow(env: dict[str, str], log: Path, *args: str, follow: bool = False) -> Counter[str]:
    """Run the airflow CLI with its output in `log`; with `follow`, echo the progress lines as they come.
    Returns the orders counts of the submit tasks' summary lines."""
    counts: Counter[str] = Counter()
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
                if (shown := progress(line, counts)) and follow:
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
    return counts


def outcomes(db: Path, run_id: str) -> tuple[list[str], list[tuple]]:
    """The outcomes of the orders a run sent: the results table joined to the ledger rows that run claimed."""
    with sqlite3.connect(db) as conn:
        cursor = conn.execute(
            f"SELECT r.seller_id, r.task_id, r.message_id, r.status_code, r.result_code, r.result_description, "
            f"l.state FROM {RESULTS} r JOIN {LEDGER} l ON l.task_id = r.task_id AND l.order_id = r.message_id "
            f"WHERE l.run_id = ? ORDER BY r.seller_id, CAST(r.task_id AS INTEGER), CAST(r.message_id AS INTEGER)",
            (run_id,),
        )
        return [c[0] for c in cursor.description], cursor.fetchall()


def run_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r for (r,) in conn.execute(f"SELECT run_id FROM {LEDGER} GROUP BY run_id ORDER BY MIN(claimed_at)")]


def print_table(header: list[str], rows: list[tuple]) -> None:
    cells = [["" if v is None else str(v)[:44] for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    for row in [header, ["-" * w for w in widths], *cells]:
        print("    " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def summary(rows: list[tuple]) -> str:
    codes = Counter(row[4] for row in rows)
    tasks = len({row[1] for row in rows})
    return (
        f"{len(rows)} order(s) in {tasks} Lingxing task(s): {codes['Success']} Success, "
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
    sellers = default_sellers()
    step("starting the Lingxing simulator")
    with LingxingSimulator(complete_after_seconds=COMPLETE_AFTER_SECONDS, sellers=sellers) as sim:
        env["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
        stores = ", ".join(f"{s['seller_id']} ({s['region']})" for s in sellers)
        print(f"    {sim.base_url}: stores {stores}; tasks complete {COMPLETE_AFTER_SECONDS}s after submission")
        t = step(f"airflow db migrate (SQLite in {home / 'airflow'}); pool lingxing_api with {POOL_SLOTS} slots")
        airflow(env, log, "db", "migrate")
        airflow(env, log, "pools", "set", "lingxing_api", str(POOL_SLOTS), "Lingxing OpenAPI concurrency per app id")
        print(f"    done in {time.monotonic() - t:.0f}s")
        with sqlite3.connect(warehouse) as conn:
            conn.execute(WMS_TABLE)
        for number, logical_date in enumerate(RUNS, start=1):
            new = shipments(number, sellers)
            with sqlite3.connect(warehouse) as conn:
                conn.executemany(f"INSERT INTO wms_shipments VALUES ({', '.join('?' * 10)})", new)
            t = step(
                f"run {number} ({logical_date}): {len({r[0] for r in new})} new shipment(s) in wms_shipments; "
                f"airflow dags test {DAG_ID}"
            )
            counts = airflow(env, log, "dags", "test", DAG_ID, logical_date, follow=True)
            print(f"    done in {time.monotonic() - t:.0f}s")
            print(
                f"    orders read {counts['read']}, claimed {counts['claimed']}, sent {counts['sent']}, "
                f"skipped as already sent {counts['skipped']}"
            )
            header, rows = outcomes(warehouse, run_ids(warehouse)[-1])
            print_table(header, rows)
            print(f"    {summary(rows)}")
        stats = sim.stats()
    received = stats["orders_received"]
    twice = sum(n > 1 for seller in received.values() for m in seller.values() for n in m.values())
    print(f"\nSimulator: {stats['requests_total']} API calls, {stats['rate_limited']} answered 3001008, ", end="")
    print(f"{twice} order(s) received twice.")
    print(f"Demo finished in {time.monotonic() - started:.0f}s. Airflow's log: {log}")
    print(f"The warehouse is the SQLite file {warehouse}  (sqlite3 {warehouse} 'SELECT * FROM {RESULTS}')")
    return warehouse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="working directory, emptied first")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop airflow's process and the simulator
    run(parser.parse_args(argv).home.resolve())


if __name__ == "__main__":
    main()
