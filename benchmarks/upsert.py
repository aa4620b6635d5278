"""Loading 100,000 message rows into the results table: batched upsert vs row by row, on SQLite, PostgreSQL, MySQL.

The rows are built from simulated getFulfillmentResult answers (1,000 tasks × 100 messages, 2 % errors) and
loaded through the DbApiHook of an Airflow connection, as FulfillmentResultOperator does. Row by row is
measured on a sample and extrapolated, two ways through the same hook: `hook.run(sql, parameters)` per row
(a connection and a commit each, what a loop over the hook's API does; 2,000 rows), and one statement per row
on one connection in one transaction (only the batching differs; 20,000 rows). Every timing starts from the
row dicts. Target: batched ≥ 10× row by row.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum

from airflow_provider_lingxing.api.results import task_rows
from airflow_provider_lingxing.warehouse import results as wh

ROWS = 100_000
MESSAGES_PER_TASK = 100
SAMPLE = 2_000
"""Rows loaded by `hook.run` per row (at tens of milliseconds a row, the full 100,000 would take minutes)."""
TRANSACTION_SAMPLE = 20_000
TARGET_RATIO = 10.0
DESCRIPTION = "We are unable to process the XML feed because one or more items are invalid."
POSTGRES = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
MYSQL = {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": "test"}


def build_rows(fetched_at: pendulum.DateTime, error_code: str = "Error") -> list[dict[str, Any]]:
    rows = []
    for t in range(ROWS // MESSAGES_PER_TASK):
        ids = [str(t * MESSAGES_PER_TASK + m) for m in range(1, MESSAGES_PER_TASK + 1)]
        errors = ids[::50]
        result = {
            "task_id": str(1003100 + t),
            "status_code": "Complete",
            "ship_time": "1772366400",
            "processing_summary": {
                "messages_processed": str(MESSAGES_PER_TASK),
                "messages_successful": str(MESSAGES_PER_TASK - len(errors)),
                "messages_with_error": str(len(errors)),
                "messages_with_warning": "0",
            },
            "result": [
                {
                    "message_id": m,
                    "result_code": error_code,
                    "result_message_code": "25",
                    "result_description": DESCRIPTION,
                }
                for m in errors
            ],
            "failure": None,
        }
        rows += task_rows("A1SIMNA0000001", result, fetched_at=fetched_at, message_ids=ids)
    return rows


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def row_by_row_run(hook: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """`hook.run` per row: what looping over the hook's API costs (each call connects and commits)."""
    sql = one_row_sql(hook, table)
    for values in wh.row_values(rows, wh.load_for(hook).dialect.timestamp):
        hook.run(sql, parameters=values)


def row_by_row_one_transaction(hook: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """One statement per row on one connection, one commit: only the batching differs from upsert_rows."""
    sql = one_row_sql(hook, table)
    values = wh.row_values(rows, wh.load_for(hook).dialect.timestamp)
    conn = hook.get_conn()
    try:
        cursor = conn.cursor()
        for row in values:
            cursor.execute(sql, row)
        conn.commit()
    finally:
        conn.close()


def one_row_sql(hook: Any, table: str) -> str:
    return wh.upsert_sql(table, 1, wh.load_for(hook).dialect)


def bench(name: str, hook: Any, version: str) -> None:
    table = f"bench_results_{uuid.uuid4().hex[:8]}"
    first = build_rows(pendulum.datetime(2026, 3, 1, tz="UTC"))
    again = build_rows(pendulum.datetime(2026, 3, 2, tz="UTC"))
    changed = build_rows(pendulum.datetime(2026, 3, 3, tz="UTC"), error_code="Warning")
    print(f"{name} {version}: {ROWS:,} rows ({ROWS // MESSAGES_PER_TASK:,} tasks × {MESSAGES_PER_TASK} messages)")
    try:
        new = timed(lambda: wh.upsert_rows(hook, table, first))
        same = timed(lambda: wh.upsert_rows(hook, table, again))
        every = timed(lambda: wh.upsert_rows(hook, table, changed))
        hook.run(f"DROP TABLE {table}")
        hook.run(wh.create_table_sql(table, wh.load_for(hook).dialect))
        per_call = timed(lambda: row_by_row_run(hook, table, first[:SAMPLE]))
        hook.run(f"DROP TABLE {table}")
        hook.run(wh.create_table_sql(table, wh.load_for(hook).dialect))
        per_statement = timed(lambda: row_by_row_one_transaction(hook, table, first[:TRANSACTION_SAMPLE]))
    finally:
        hook.run(f"DROP TABLE IF EXISTS {table}")
    batched_rate = ROWS / new
    call_rate, statement_rate = SAMPLE / per_call, TRANSACTION_SAMPLE / per_statement
    print(f"  batched upsert, new table:           {new:7.2f} s  {batched_rate:>10,.0f} rows/s")
    print(f"  batched upsert, same rows again:     {same:7.2f} s  {ROWS / same:>10,.0f} rows/s (nothing rewritten)")
    print(f"  batched upsert, every row changed:   {every:7.2f} s  {ROWS / every:>10,.0f} rows/s")
    print(
        f"  row by row, hook.run per row:        {call_rate:>10,.0f} rows/s on {SAMPLE:,} rows "
        f"(extrapolated: {ROWS / call_rate:,.0f} s for {ROWS:,})"
    )
    print(
        f"  row by row, one transaction:         {statement_rate:>10,.0f} rows/s on {TRANSACTION_SAMPLE:,} rows "
        f"(extrapolated: {ROWS / statement_rate:,.1f} s for {ROWS:,})"
    )
    ratio = batched_rate / call_rate
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"  ratio: {ratio:,.0f}× faster than hook.run per row (target ≥ {TARGET_RATIO:.0f}×: {verdict}); "
        f"{batched_rate / statement_rate:,.1f}× the rate of one statement per row in one transaction"
    )


def main() -> None:
    from airflow.sdk import BaseHook

    quiet = logging.getLogger("benchmarks.upsert.hooks")
    quiet.setLevel(logging.WARNING)

    def hook(conn_id: str) -> Any:
        """The connection's hook, without its per-statement INFO lines (2,000 of them for hook.run per row)."""
        hook = BaseHook.get_connection(conn_id).get_hook()
        hook._log = hook._cached_logger = quiet
        return hook

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        os.environ["AIRFLOW_CONN_BENCH_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(path)})
        os.environ["AIRFLOW_CONN_BENCH_POSTGRES"] = json.dumps(POSTGRES)
        os.environ["AIRFLOW_CONN_BENCH_MYSQL"] = json.dumps(MYSQL)
        bench("SQLite (file)", hook("bench_sqlite"), sqlite3.sqlite_version)
        for name, conn_id, version_sql in (
            ("PostgreSQL", "bench_postgres", "SHOW server_version"),
            ("MySQL/MariaDB", "bench_mysql", "SELECT VERSION()"),
        ):
            try:
                server = hook(conn_id)
                version = server.get_first(version_sql)[0]
            except Exception as error:
                print(f"{name} is absent, skipped: {error}")
                continue
            bench(name, server, version)


if __name__ == "__main__":
    main()
