"""The whole pipeline under each fault at 20% of calls, then all mixed: nothing lost, nothing sent twice.

Each row submits 200 orders as 20 tasks, waits for them with the sensor in one mode and loads every message
into a PostgreSQL table, against a seeded simulator. The rows drive the real operators, sensor and trigger in
this process (about a second each, so every fault meets every mode); test_mixed_faults_in_a_real_dag_run runs
the pipeline through dag.test(), one branch of 200 orders per sensor mode.

The retry budget: each call's own retries (the connection's max_retries, 5), then each task's Airflow retries
(TASK_RETRIES, 2), the budget a DAG author gives a task; a row passes only if it finishes within both.
Faults that leave a submission's fate unknown (HTTP 5xx, non-JSON, a dropped connection, a timeout) may hit
submitFulfillment: the submit operator then stops without re-sending, as designed. The row resolves each stop
the way its messages say (clear the task, look in Lingxing for a task holding those orders, edit the
record Variable, clear again) and counts it under `stops`; the pipeline must still end with every row once.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import zlib
from pathlib import Path

import pytest

from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.reliability.reliability_pipeline import (
    MIXED,
    MODES,
    ORDER_COUNT,
    ORDERS_PER_TASK,
    RENEWAL_LINE,
    RETRY_LINE,
    SELLER_ID,
    SINGLE_FAULTS,
    SLOW_DELAY,
    TASK_RETRIES,
    Fault,
    MatrixRow,
    Pipeline,
    SimulatorTap,
    Transcript,
    capture_logs,
    connection,
    expected_result_code,
    fault_breakdown,
    injected_faults,
)
from tests.support.variables import VariableStore

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROWS = [*SINGLE_FAULTS, MIXED]


SEED = os.environ.get("LINGXING_RELIABILITY_SEED", "")
"""Another value replays the whole matrix with other fault draws."""


def seed_of(*words: str) -> int:
    return zlib.crc32(" ".join((SEED, *words)).encode())


def named_as_created(message: str) -> list[str]:
    """The task ids a submit operator's message names as already created (`task 1003100 (ids 1, 2, …)`)."""
    created = message.split("do not submit these orders again: ", 1)[1]
    return re.findall(r"task (\d+) \(ids ", created.split(". ", 1)[0])


def assert_nothing_lost_or_doubled(
    sim: LingxingSimulator, submissions: list[dict], table, order_ids: range = range(1, ORDER_COUNT + 1)
) -> None:
    """Every order in exactly one created task, every created task known to the pipeline, every message one row."""
    stats = sim.stats()
    assert stats["duplicate_order_ids"] == {}, "an order was submitted twice"
    created = stats["submissions"][SELLER_ID]
    chunks = len(order_ids) // ORDERS_PER_TASK
    assert len(created) == chunks, f"{len(created)} tasks created for {chunks} chunks"
    task_of = {order_id: s["task_id"] for s in created for order_id in s["order_ids"]}
    assert sorted(task_of, key=int) == [str(n) for n in order_ids]
    assert {s["task_id"]: s["message_ids"] for s in submissions} == {s["task_id"]: s["order_ids"] for s in created}

    expected = {(SELLER_ID, task_of[str(n)], str(n), expected_result_code(n), "Complete") for n in order_ids}
    rows = table.query(f"SELECT seller_id, task_id, message_id, result_code, status_code FROM {table.name}")
    assert len(rows) == len(order_ids), f"{len(rows)} rows for {len(order_ids)} messages"
    assert set(rows) == expected


def expected_summary(order_ids: range) -> dict[str, int]:
    """The results operator's XCom for these orders, all complete."""
    codes = [expected_result_code(n) for n in order_ids]
    return {
        "tasks": len(order_ids) // ORDERS_PER_TASK,
        "rows": len(order_ids),
        "errors": codes.count("Error"),
        "warnings": codes.count("Warning"),
    }


def run_row(fault: Fault, mode: str, table, monkeypatch: pytest.MonkeyPatch) -> tuple[MatrixRow, str]:
    seed = seed_of(fault.name, mode)
    started = time.monotonic()
    with LingxingSimulator(latency=0.0, seed=seed, slow_delay=SLOW_DELAY) as sim:
        tap = SimulatorTap(sim, fault, seed=seed)
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", connection(sim))
        transcript = Transcript()
        variables = VariableStore().serve(monkeypatch)
        pipeline = Pipeline(sim, transcript, sql_conn_id=table.conn_id, table=table.name, variables=variables)
        with capture_logs(transcript):
            submissions = pipeline.submit()
            results = pipeline.wait(mode, submissions)
            summary = pipeline.load(submissions)
        seconds = time.monotonic() - started

        assert_nothing_lost_or_doubled(sim, submissions, table)
        assert [r["task_id"] for r in results] == sorted((s["task_id"] for s in submissions), key=int)
        assert summary == expected_summary(range(1, ORDER_COUNT + 1))

        assert max(pipeline.retried.values(), default=0) <= TASK_RETRIES  # else the failure was raised
        for stop in pipeline.stops:
            assert named_as_created(stop.message) == sorted(stop.created_before, key=int)
            assert "Never sent again on its own: check Seller Central" in stop.message
            assert "remove the order ids" in stop.message and "from 'uncertain', then clear this task" in stop.message
        if not fault.ambiguous_settings:
            assert not pipeline.stops, "a fault that proves nothing was processed stopped a submission"

        stats = sim.stats()
        faults = injected_faults(stats, tap.slow_answers)
        assert faults > 0, "the fault never happened: the row proves nothing"
        leaks = transcript.leaks(tap.secrets())
        assert not leaks, "secrets in what the run said:\n" + "\n".join(leaks)

    outcome = "complete" if not pipeline.stops else f"complete, {len(pipeline.stops)} uncertain resolved"
    row = MatrixRow(
        fault=fault.name,
        mode=mode,
        outcome=outcome,
        calls=stats["requests_total"],
        faults=faults,
        retries=transcript.count(RETRY_LINE),
        renewals=transcript.count(RENEWAL_LINE),
        task_retries=sum(pipeline.retried.values()),
        stops=len(pipeline.stops),
        rows=len(table.query(f"SELECT 1 FROM {table.name}")),
        seconds=seconds,
    )
    return row, fault_breakdown(stats, tap.slow_answers)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", ROWS, ids=[f.name.replace(" ", "_") for f in ROWS])
def test_the_pipeline_survives(fault: Fault, mode: str, postgres_table, monkeypatch, matrix, figures):
    row, met = run_row(fault, mode, postgres_table, monkeypatch)
    matrix.append(row)
    if fault is MIXED:
        figures.append(f"{fault.name}, {mode}: the answers were {met}")


HERE = Path(__file__).parent
DAGS = HERE / "dags"
REPO = HERE.parents[1]
DAG_ID = "reliability_mixed_faults"
COMMS_ECHO = re.compile(r"(Sending request|Received message from task runner) .*loc=supervisor\.py")
"""dag.test()'s in-process supervisor echoes every task-to-supervisor message at DEBUG, unmasked: the token
Variable the hook writes and the MaskSecret requests it sends first. A deployment's supervisor logs through
Airflow's masker, which those MaskSecret requests fed; these lines are Airflow's test harness, not the provider."""
DAG_TIMEOUT = 1.0
"""The dag.test() run's client timeout: a busy CI machine must not time out a healthy submission."""


def stored_text(airflow_home, run_id: str) -> list[str]:
    """What the metadata DB keeps of the run that a user can read: rendered template fields and XComs."""
    with sqlite3.connect(airflow_home.path / "airflow.db") as db:
        rendered = db.execute(
            "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ? AND run_id = ?",
            (DAG_ID, run_id),
        ).fetchall()
        xcoms = db.execute("SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id))
        return [f"[rendered {t}] {fields}" for t, fields in rendered] + [f"[xcom {t} {k}] {v}" for t, k, v in xcoms]


def test_mixed_faults_in_a_real_dag_run(airflow_home, postgres_table, monkeypatch, matrix, figures):
    """All faults at once through dag.test(): 3 × 200 orders, one sensor mode each, loads into one table.

    A stop cannot be resolved between tries here, so the faults that leave a submission uncertain start with
    the first getFulfillmentResult call (the rows above cover them on submitFulfillment); every other fault
    hits submitFulfillment too, and the token and result endpoints meet them all. The DAG imports the orders
    from `tests.reliability.reliability_pipeline` (the repository root is on its PYTHONPATH).
    """
    airflow_home.copy_dag(DAGS / f"{DAG_ID}.py")
    seed = seed_of(MIXED.name, "dag.test")
    started = time.monotonic()
    with LingxingSimulator(latency=0.0, seed=seed, slow_delay=2 * DAG_TIMEOUT) as sim:
        tap = SimulatorTap(sim, MIXED, seed=seed, hold_back_ambiguous=True)
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", connection(sim, timeout=DAG_TIMEOUT))
        pythonpath = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)]))
        env = {"PYTHONPATH": pythonpath, "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"}
        said = Transcript()
        with capture_logs(said):  # the simulator's own log, here
            run = airflow_home.run_dag(DAG_ID, DAG_ID, conf={"table": postgres_table.name}, env=env)
        seconds = time.monotonic() - started
        assert run.state == "success", run.output[-6000:]
        assert {s["state"] for s in run.tasks.values()} == {"success"}
        task_retries = sum(s["try_number"] - 1 for s in run.tasks.values())
        assert max(s["try_number"] for s in run.tasks.values()) <= 1 + TASK_RETRIES

        submissions = [s for mode in MODES for s in run.xcom[f"submit_{mode}"]["return_value"]]
        assert_nothing_lost_or_doubled(sim, submissions, postgres_table, range(1, len(MODES) * ORDER_COUNT + 1))
        for branch, mode in enumerate(MODES):
            branch_orders = range(1 + branch * ORDER_COUNT, 1 + (branch + 1) * ORDER_COUNT)
            assert run.xcom[f"load_{mode}"]["return_value"] == expected_summary(branch_orders)
        assert "[DAG TEST] running trigger in line" in run.output, "the deferrable sensor did not defer"

        said.lines += [f"[log] {line}" for line in run.output.splitlines() if not COMMS_ECHO.search(line)]
        said.lines += [f"[log] {p.read_text()}" for p in (airflow_home.path / "logs").rglob("*") if p.is_file()]
        said.lines += stored_text(airflow_home, run.run_id)
        secrets = tap.secrets()
        assert len(sim.issued_tokens()["access"]) > 1, "the run must have gone through several tokens"
        leaks = said.leaks(secrets)
        assert not leaks, "secrets in what the run said:\n" + "\n".join(leaks)
        faults = injected_faults(sim.stats(), tap.slow_answers)
        assert faults > 0
        figures.append(f"{MIXED.name}, dag.test(): the answers were {fault_breakdown(sim.stats(), tap.slow_answers)}")

        matrix.append(
            MatrixRow(
                fault=f"{MIXED.name} (dag.test)",
                mode="one branch each",
                outcome="success",
                calls=sim.stats()["requests_total"],
                faults=faults,
                retries=said.count(RETRY_LINE),
                renewals=said.count(RENEWAL_LINE),
                task_retries=task_retries,
                stops=0,
                rows=len(postgres_table.query(f"SELECT 1 FROM {postgres_table.name}")),
                seconds=seconds,
            )
        )
