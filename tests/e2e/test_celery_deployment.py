"""A distributed deployment: CeleryExecutor with two workers (distinct hostnames) and two triggerers, Redis as the
Celery broker and as the Lingxing concurrency budget and token store, PostgreSQL as metadata database, Celery result
backend and warehouse, the simulator as Lingxing with enough latency that the bucket matters.

Not part of `make test` (minutes): `make e2e-celery`. Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379.
It starts and stops every process itself; Redis keeps nothing of it afterwards (its own database numbers).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, SUBMIT_FULFILLMENT
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.e2e.deployment import PG, Deployment, exclusive, progress, query

REPO = Path(__file__).resolve().parents[2]
DATABASE = "lingxing_e2e_celery"
QUEUE = "lingxing_e2e_celery"
BROKER_DB, LIMITER_DB = 13, 14
"""Redis database numbers of this check alone: the broker's, and the Lingxing budget's and token's."""
DAG_ID = "lingxing_mark_shipped"
SELLER = {"seller_id": "A1SIMNA0000001", "marketplace_id": "ATVPDKIKX0DER", "region": "NA"}
TABLE = "lingxing_fulfillment_results"
RUNS, ORDERS_PER_RUN = 6, 30
LATENCY_SECONDS = 0.2
COMPLETE_AFTER_SECONDS = 8
RUN_TIMEOUT_SECONDS = 600
POOL_SLOTS = 64
"""Far above the bucket: Redis, not the Airflow pool, is what keeps the deployment under 10 in flight."""
WORKER_CONCURRENCY = 8


def orders(run: int) -> list[dict]:
    return [
        {
            "id": 8_000_000 + run * 1000 + n,
            "platform_order_no": f"114-{run:03d}{n:04d}-0000000",
            "tracking_no": f"1Z{run:03d}{n:05d}",
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "order_item": [{"order_item_no": f"{60_000_000 + run * 1000 + n}", "quantity": 1}],
        }
        for n in range(1, ORDERS_PER_RUN + 1)
    ]


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
def test_celery_workers_and_two_triggerers_stay_under_the_bucket_with_one_token(tmp_path):
    started = time.monotonic()
    warehouse = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": DATABASE}
    limiter = {"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {"db": LIMITER_DB}}
    submitted = {run: orders(run) for run in range(RUNS)}
    with (
        exclusive(DATABASE),
        LingxingSimulator(complete_after_seconds=COMPLETE_AFTER_SECONDS, latency=LATENCY_SECONDS) as sim,
    ):
        clean_redis()
        lingxing = {**json.loads(sim.connection_json()), "extra": {"redis_conn_id": "lingxing_redis"}}
        deployment = Deployment(
            home=tmp_path,
            database=DATABASE,
            dags_folder=REPO / "example_dags",
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
            },
        )
        try:
            deployment.prepare()
            deployment.airflow("pools", "set", "lingxing_api", str(POOL_SLOTS), "Lingxing API")
            with deployment:
                deployment.wait_until("api-server healthy", deployment.api_healthy, timeout=180)
                deployment.wait_until(f"{DAG_ID} parsed", lambda: deployment.dag_ready(DAG_ID), timeout=180)
                run_ids = {run: f"e2e_celery_{int(time.time())}_{run}" for run in submitted}

                def trigger(run: int) -> None:
                    conf = json.dumps({**SELLER, "orders": submitted[run]})
                    deployment.airflow("dags", "trigger", DAG_ID, "--run-id", run_ids[run], "--conf", conf)

                with ThreadPoolExecutor(max_workers=RUNS) as pool:
                    list(pool.map(trigger, submitted))
                progress(f"triggered {RUNS} runs of {DAG_ID}, {ORDERS_PER_RUN} orders each")
                deployment.wait_until(
                    "every run finished",
                    lambda: all(deployment.run_state(DAG_ID, r) in ("success", "failed") for r in run_ids.values()),
                    timeout=RUN_TIMEOUT_SECONDS,
                    interval=3,
                )
                states = {r: deployment.run_state(DAG_ID, r) for r in run_ids.values()}
                assert set(states.values()) == {"success"}, f"{states}\n{deployment.diagnostics()}"
            stats = sim.stats()
            rows = query(DATABASE, f"SELECT task_id, message_id FROM {TABLE}")
            received = {
                name: (deployment.logs / f"{name}.log").read_text(errors="replace").count("] received")
                for name in ("worker-1", "worker-2")
            }
            triggerers = query(DATABASE, "SELECT count(*) FROM job WHERE job_type = 'TriggererJob'")
            in_redis = sorted(k.decode().split(":")[1] for k in redis.Redis(db=LIMITER_DB).scan_iter("lingxing:*"))
        finally:
            clean_redis()

    app = sim.app_id
    peaks = stats["peak_in_flight"].get(app, {})
    progress(
        f"end to end in {time.monotonic() - started:.0f}s: {stats['requests_total']} calls, peak in flight {peaks}, "
        f"{stats['rate_limited']} x 3001008, tokens {stats['tokens_issued']}, tasks per Celery worker {received}"
    )
    assert stats["rate_limited"] == 0
    assert all(n <= GET_FULFILLMENT_RESULT.capacity for n in peaks.values()), peaks
    assert peaks.get(SUBMIT_FULFILLMENT.path, 0) <= SUBMIT_FULFILLMENT.capacity
    assert stats["tokens_issued"]["access"] == 1, stats["tokens_issued"]
    every_order = sorted(str(o["id"]) for run in submitted.values() for o in run)
    sent = sorted(i for subs in stats["submissions"].values() for s in subs for i in s["order_ids"])
    assert sent == every_order, "every order submitted exactly once"
    assert stats["duplicate_order_ids"] == {}
    loaded = Counter(message_id for _, message_id in rows)
    assert sorted(loaded) == every_order and set(loaded.values()) == {1}, "every result row loaded once"
    assert all(received.values()), f"both Celery workers ran tasks: {received}"
    assert triggerers[0][0] >= 2, "two triggerers ran"
    assert {"limit", "token"} <= set(in_redis), f"the budget and the token went through Redis: {in_redis}"
