"""A distributed deployment runs the hourly loop users copy: CeleryExecutor with two workers (distinct hostnames) and
two triggerers, Redis as the Celery broker and as the Lingxing concurrency budget and token store, PostgreSQL as
metadata database, Celery result backend and warehouse, the simulator as Lingxing with enough latency that the
bucket matters: twelve sellers' mapped branches submit their chunks at once, far more than 10 requests.

Not part of `make test` (minutes): `make e2e-celery`. Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379.
It starts and stops every process itself; Redis keeps nothing of it afterwards (its own database numbers).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, SUBMIT_FULFILLMENT
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.e2e.deployment import PG, Deployment, connect, exclusive, progress, query

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_dags" / "lingxing_fulfillment_loop.py"
REPORT_EXAMPLE = REPO / "example_dags" / "lingxing_fulfillment_report.py"
DAG_ID = "lingxing_fulfillment_loop"
DATABASE = "lingxing_e2e_celery"
QUEUE = "lingxing_e2e_celery"
BROKER_DB, LIMITER_DB = 13, 14
"""Redis database numbers of this check alone: the broker's, and the Lingxing budget's and token's."""
SELLERS = [
    {
        "sid": 500 + n,
        "mid": 1,
        "name": f"E2E Store {n}",
        "seller_id": f"A1CELERY{n:06d}",
        "account_name": f"e2e-{n}",
        "seller_account_id": 5000 + n,
        "region": "NA",
        "country": "美国",
        "has_ads_setting": 0,
        "marketplace_id": "ATVPDKIKX0DER",
        "status": 1,
    }
    for n in range(1, 13)
]
"""The simulator's seller list: the loop maps one branch per store of it."""
ORDERS_PER_SELLER = 250
"""Three chunks of at most 100 orders per seller: 36 submissions, a branch's chunks at once, twelve branches."""
RESULTS_TABLE, LEDGER_TABLE = "lingxing_fulfillment_results", "lingxing_fulfillment_submissions"
LATENCY_SECONDS = 1.0
"""Each call holds its slot a second, so the branches' calls overlap: without Redis, 3001008."""
COMPLETE_AFTER_SECONDS = 8
RUN_TIMEOUT_SECONDS = 600
POOL_SLOTS = 64
"""Far above the bucket: Redis, not the Airflow pool, is what keeps the deployment under 10 in flight."""
WORKER_CONCURRENCY = 8
WMS_TABLE = """
CREATE TABLE wms_shipments (
    amazon_order_ref BIGINT NOT NULL, order_item_id TEXT NOT NULL, amazon_order_id TEXT NOT NULL,
    tracking_number TEXT NOT NULL, carrier TEXT NOT NULL, service TEXT, quantity INTEGER NOT NULL,
    seller_id TEXT NOT NULL, marketplace_id TEXT NOT NULL, shipped_at TEXT NOT NULL
)"""


def shipments() -> list[tuple]:
    """The WMS rows: every seller's orders shipped an hour ago; ERR… and WARN… come back as Error and Warning."""
    shipped_at = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    rows = []
    for s, seller in enumerate(SELLERS):
        for n in range(1, ORDERS_PER_SELLER + 1):
            order_id = 8_000_000 + 10_000 * s + n
            prefix = "ERR" if n % 10 == 0 else "WARN" if n % 7 == 0 else "1Z"
            rows.append(
                (
                    order_id,
                    f"{order_id}-1",
                    f"114-{order_id:07d}-0000000",
                    f"{prefix}{order_id:010d}",
                    "UPS",
                    "Ground",
                    1,
                    seller["seller_id"],
                    seller["marketplace_id"],
                    shipped_at,
                )
            )
    return rows


def postgres_dag(folder: Path) -> Path:
    """The example as a PostgreSQL user adapts it: ORDERS_SQL's placeholders in psycopg2's style (its docstring)."""
    source = EXAMPLE.read_text()
    for name in ("seller_id", "marketplace_id", "since"):
        assert f":{name}" in source, f"the example's ORDERS_SQL no longer has :{name}"
        source = source.replace(f":{name}", f"%({name})s")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / EXAMPLE.name
    target.write_text(source)
    # The report DAG (left paused) declares the results table's Asset, as the README asks: without it the mapped
    # loads' first events race in Airflow to create the Asset, and one load can be marked failed.
    (folder / REPORT_EXAMPLE.name).write_text(REPORT_EXAMPLE.read_text())
    return target


def clean_redis() -> None:
    """Forget whatever an earlier run left in this check's two Redis databases."""
    for db in (BROKER_DB, LIMITER_DB):
        client = redis.Redis("127.0.0.1", 6379, db=db)
        for key in client.scan_iter(count=1000):
            client.delete(key)
        client.close()


def celery_components() -> dict[str, tuple[str, ...]]:
    worker = ("celery", "worker", "--queues", QUEUE, "--concurrency", str(WORKER_CONCURRENCY), "--skip-serve-logs")
    return {
        "api-server": ("api-server",),
        "scheduler": ("scheduler",),
        "dag-processor": ("dag-processor",),
        "triggerer-1": ("triggerer", "--skip-serve-logs"),
        "triggerer-2": ("triggerer", "--skip-serve-logs"),
        "worker-1": (*worker, "--celery-hostname", "lingxing-e2e-worker-1@%h"),
        "worker-2": (*worker, "--celery-hostname", "lingxing-e2e-worker-2@%h"),
    }


@pytest.mark.e2e
def test_the_hourly_loop_on_celery_workers_and_two_triggerers_stays_under_the_bucket_with_one_token(tmp_path):
    started = time.monotonic()
    warehouse = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": DATABASE}
    limiter = {"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {"db": LIMITER_DB}}
    rows = shipments()
    with (
        exclusive(DATABASE),
        LingxingSimulator(
            complete_after_seconds=COMPLETE_AFTER_SECONDS, latency=LATENCY_SECONDS, sellers=SELLERS
        ) as sim,
    ):
        clean_redis()
        lingxing = {**json.loads(sim.connection_json()), "extra": {"redis_conn_id": "lingxing_redis"}}
        deployment = Deployment(
            home=tmp_path,
            database=DATABASE,
            dags_folder=postgres_dag(tmp_path / "dags").parent,
            components=celery_components(),
            extra_env={
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "32",
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{DATABASE}",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
                "AIRFLOW_CONN_LINGXING_DEFAULT": json.dumps(lingxing),
                "AIRFLOW_CONN_LINGXING_REDIS": json.dumps(limiter),
                "AIRFLOW_CONN_LINGXING_WAREHOUSE": json.dumps(warehouse),
                "LINGXING_EXAMPLE_POKE_INTERVAL": "2",
                "LINGXING_RESULTS_ASSET": f"postgres://127.0.0.1:5432/{DATABASE}/public/{RESULTS_TABLE}",
            },
        )
        try:
            deployment.prepare()
            with connect(DATABASE) as conn, conn.cursor() as cursor:
                cursor.execute(WMS_TABLE)
                cursor.executemany(f"INSERT INTO wms_shipments VALUES ({', '.join(['%s'] * 10)})", rows)
            deployment.airflow("pools", "set", "lingxing_api", str(POOL_SLOTS), "Lingxing API")
            with deployment:
                deployment.wait_until("api-server healthy", deployment.api_healthy, timeout=180)
                deployment.wait_until(
                    f"{DAG_ID} parsed", lambda: query(DATABASE, "SELECT 1 FROM dag WHERE dag_id = %s", (DAG_ID,)), 180
                )
                deployment.airflow("dags", "unpause", DAG_ID)  # the scheduler starts the latest hour's run
                progress(f"unpaused {DAG_ID}: {len(SELLERS)} sellers x {ORDERS_PER_SELLER} orders in wms_shipments")
                runs = "SELECT run_id FROM dag_run WHERE dag_id = %s"
                run_id = deployment.wait_until(
                    "the scheduled run started", lambda: (r := query(DATABASE, runs, (DAG_ID,))) and r[0][0], 180
                )
                state = deployment.wait_until(
                    "the run finished",
                    lambda: (s := deployment.run_state(DAG_ID, run_id)) in ("success", "failed") and s,
                    timeout=RUN_TIMEOUT_SECONDS,
                    interval=3,
                )
                tasks = deployment.task_states(DAG_ID, run_id)
                assert state == "success", f"{tasks}\n{deployment.diagnostics()}"
            stats = sim.stats()
            loaded = query(DATABASE, f"SELECT seller_id, message_id FROM {RESULTS_TABLE} WHERE message_id <> ''")
            ledger = query(DATABASE, f"SELECT state, count(*) FROM {LEDGER_TABLE} GROUP BY state")
            received = {
                name: (deployment.logs / f"{name}.log").read_text(errors="replace").count("] received")
                for name in ("worker-1", "worker-2")
            }
            triggerers = query(DATABASE, "SELECT count(*) FROM job WHERE job_type = 'TriggererJob'")
            in_redis = sorted(k.decode().split(":")[1] for k in redis.Redis(db=LIMITER_DB).scan_iter("lingxing:*"))
        finally:
            clean_redis()

    peaks = stats["peak_in_flight"].get(sim.app_id, {})
    progress(
        f"end to end in {time.monotonic() - started:.0f}s: {stats['requests_total']} calls, peak in flight {peaks}, "
        f"{stats['rate_limited']} x 3001008, tokens {stats['tokens_issued']}, tasks per Celery worker {received}, "
        f"ledger {dict(ledger)}"
    )
    assert stats["rate_limited"] == 0
    assert peaks.get(SUBMIT_FULFILLMENT.path, 0) <= SUBMIT_FULFILLMENT.capacity, peaks
    assert peaks.get(GET_FULFILLMENT_RESULT.path, 0) <= GET_FULFILLMENT_RESULT.capacity, peaks
    assert stats["tokens_issued"]["access"] == 1, stats["tokens_issued"]
    every_order = sorted((r[7], str(r[0])) for r in rows)
    sent = sorted((seller, i) for seller, subs in stats["submissions"].items() for s in subs for i in s["order_ids"])
    assert sent == every_order, "every order submitted exactly once"
    assert stats["duplicate_order_ids"] == {}
    assert Counter(loaded) == Counter(every_order) and len(set(loaded)) == len(loaded), "every row loaded once"
    assert dict(ledger) == {"complete": len(every_order)}
    assert all(received.values()), f"both Celery workers ran tasks: {received}"
    assert triggerers[0][0] >= 2, "two triggerers ran"
    assert {"limit", "token"} <= set(in_redis), f"the budget and the token went through Redis: {in_redis}"
