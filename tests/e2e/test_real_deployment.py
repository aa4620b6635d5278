"""lingxing_mark_shipped through a real deployment: api-server, scheduler (LocalExecutor), dag-processor and
triggerer processes, the metadata DB and the warehouse on the local PostgreSQL, the simulator as Lingxing. The load
updates the results table's Asset, on which the scheduler then runs lingxing_fulfillment_report; every process's
metrics go to a StatsD listener, and OpenLineage events to a file.

Not part of `make test` (it takes minutes): `make e2e`. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from importlib.util import find_spec
from pathlib import Path

import pytest

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, SUBMIT_FULFILLMENT
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.e2e.deployment import Deployment, exclusive, progress, query
from tests.support.openlineage import read_events
from tests.support.statsd import StatsdListener, simulator_answers

REPO = Path(__file__).resolve().parents[2]
DATABASE = "lingxing_e2e"
DAG_ID = "lingxing_mark_shipped"
REPORT_DAG_ID = "lingxing_fulfillment_report"
SELLER = {"seller_id": "A1SIMNA0000001", "marketplace_id": "ATVPDKIKX0DER", "region": "NA"}
TABLE = "lingxing_fulfillment_results"
RUN_TIMEOUT_SECONDS = 300
COMPLETE_AFTER_SECONDS = 10  # long enough that the sensor defers and the triggerer polls several times


def orders(count: int = 30) -> list[dict]:
    """Tracking numbers ERR… and WARN… make the simulator answer Error and Warning; the rest succeed."""
    return [
        {
            "id": 7_000_000 + n,
            "platform_order_no": f"114-{n:07d}-0000000",
            "tracking_no": ("ERR" if n % 10 == 0 else "WARN" if n % 7 == 0 else "1Z") + f"{n:08d}",
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "order_item": [{"order_item_no": f"{50_000_000 + n}", "quantity": 1}],
        }
        for n in range(1, count + 1)
    ]


def report_run(deployment: Deployment) -> tuple | None:
    """The report DAG's run (run id, state, run type) once it finished."""
    rows = query(DATABASE, "SELECT run_id, state, run_type FROM dag_run WHERE dag_id = %s", (REPORT_DAG_ID,))
    return rows[0] if rows and rows[0][1] in ("success", "failed") else None


def expected_outcome(order: dict) -> str:
    prefix = order["tracking_no"][:4]
    return "Error" if prefix.startswith("ERR") else "Warning" if prefix == "WARN" else "Success"


@pytest.mark.e2e
def test_mark_shipped_runs_through_scheduler_triggerer_and_loads_postgres(tmp_path):
    started = time.monotonic()
    submitted = orders()
    warehouse = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": DATABASE}
    statsd = StatsdListener()
    lineage_file = tmp_path / "openlineage.jsonl"
    with exclusive(DATABASE), LingxingSimulator(complete_after_seconds=COMPLETE_AFTER_SECONDS) as sim:
        deployment = Deployment(
            home=tmp_path,
            database=DATABASE,
            dags_folder=REPO / "example_dags",
            extra_env={
                "AIRFLOW_CONN_LINGXING_DEFAULT": sim.connection_json(),
                "AIRFLOW_CONN_LINGXING_WAREHOUSE": json.dumps(warehouse),
                "LINGXING_EXAMPLE_POKE_INTERVAL": "2",
                **statsd.env(only_lingxing=True),
                "LINGXING_RESULTS_ASSET": f"postgres://127.0.0.1:5432/{DATABASE}/public/{TABLE}",
                "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                    {"type": "file", "log_file_path": str(lineage_file), "append": True}
                ),
            },
        )
        deployment.prepare()
        deployment.airflow("pools", "set", "lingxing_api", str(SUBMIT_FULFILLMENT.capacity), "Lingxing API")
        with deployment:
            deployment.wait_until("api-server healthy", deployment.api_healthy, timeout=120)
            deployment.wait_until(f"{DAG_ID} parsed and unpaused", lambda: deployment.dag_ready(DAG_ID), timeout=120)
            run_id = f"e2e_{int(time.time())}"
            conf = json.dumps({**SELLER, "orders": submitted})
            deployment.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", conf)
            progress(f"triggered {DAG_ID} run {run_id} with {len(submitted)} orders")
            state = deployment.wait_until(
                "DAG run finished",
                lambda: (s := deployment.run_state(DAG_ID, run_id)) in ("success", "failed") and s,
                timeout=RUN_TIMEOUT_SECONDS,
                interval=2,
            )
            tasks = deployment.task_states(DAG_ID, run_id)
            assert state == "success", f"{tasks}\n{deployment.diagnostics()}"
            report_run_id, report_state, report_type = deployment.wait_until(
                f"{REPORT_DAG_ID} run on the results table's Asset", lambda: report_run(deployment), timeout=120
            )
            assert report_state == "success", deployment.diagnostics()
            [(report,)] = query(
                DATABASE,
                "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND key = 'return_value'",
                (REPORT_DAG_ID, report_run_id),
            )
        stats = sim.stats()
        lingxing = sim.base_url.rstrip("/")
        rows = query(DATABASE, f"SELECT message_id, seller_id, status_code, result_code FROM {TABLE}")

    assert tasks == {
        "submit_mark_shipped": ("success", 1),
        "wait_for_amazon": ("success", 1),
        "load_results": ("success", 1),
    }
    # The sensor deferred, and the triggerer process polled Lingxing until the task was complete.
    sensor_logs = list((deployment.logs / "tasks").rglob("task_id=wait_for_amazon/*"))
    trigger_log = "".join(p.read_text(errors="replace") for p in sensor_logs if "trigger" in p.name)
    assert "Pausing task as DEFERRED" in "".join(p.read_text(errors="replace") for p in sensor_logs)
    assert "triggers.fulfillment.FulfillmentResultTrigger" in trigger_log
    assert "1/1 complete, 0 failed, 0 pending" in trigger_log

    # The load updated the table's Asset; the scheduler ran the report on it, which read the table.
    report = json.loads(report) if isinstance(report, str) else report
    assert report_type == "asset_triggered"
    assert report["outcomes"] == dict(Counter(expected_outcome(o) for o in submitted))
    assert [(x["dag_id"], x["task_id"], x["run_id"], x["rows"]) for x in report["loads"]] == [
        (DAG_ID, "load_results", run_id, len(submitted))
    ]
    if find_spec("airflow.providers.openlineage") is None:  # `make e2e-min`: without the extra, no lineage
        assert not lineage_file.exists()
    else:  # the load's OpenLineage event (a task process's listener): Lingxing in, the results table out
        [load] = [
            e
            for e in read_events(lineage_file)
            if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(".load_results")
        ]
        assert [(d["namespace"], d["name"]) for d in load["inputs"]] == [(lingxing, GET_FULFILLMENT_RESULT.path)]
        [table] = load["outputs"]
        assert (table["namespace"], table["name"]) == ("postgres://127.0.0.1:5432", f"{DATABASE}.public.{TABLE}")
        assert table["outputFacets"]["outputStatistics"]["rowCount"] == len(submitted)

    assert sorted(int(r[0]) for r in rows) == sorted(o["id"] for o in submitted)
    assert Counter(r[3] for r in rows) == Counter(expected_outcome(o) for o in submitted)
    assert {(r[1], r[2]) for r in rows} == {(SELLER["seller_id"], "Complete")}
    assert stats["duplicate_order_ids"] == {} and stats["tasks"]["created"] == 1  # submitted once
    # One access token for the whole deployment: three task processes and the triggerer shared it (Variable).
    assert stats["tokens_issued"].get("access") == 1, stats["tokens_issued"]
    assert stats["rate_limited"] == 0
    # Every process's metrics (three tasks, the triggerer's polls) reached StatsD: they count what Lingxing answered.
    calls = statsd.counts("lingxing.calls", "path", "outcome")
    statsd.close()
    assert calls == simulator_answers(stats)
    assert calls[GET_FULFILLMENT_RESULT.path, "ok"] >= 3  # the sensor's poke, the triggerer's polls, the load
    progress(f"end to end in {time.monotonic() - started:.0f}s; simulator saw {stats['requests_total']} calls")
