"""FulfillmentResultSensor in real DAG runs (dag.test()) against the simulator, in all three modes."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).parents[1] / "dags" / "sensor_fulfillment_modes.py"
NEVER_RETURNED_ID = "999999999"


@pytest.fixture(scope="module")
def sensor_dags(airflow_home):
    airflow_home.copy_dag(DAG_FILE)
    return airflow_home


@pytest.mark.lingxing_simulator(latency=0.01, complete_after_polls=3)
@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_every_outcome_in_a_dag_run(sensor_dags, lingxing_connection, mode):
    run = sensor_dags.run_dag(DAG_FILE.stem, f"sensor_fulfillment_{mode}")
    tasks, log = run.tasks, run.output
    submitted = run.xcom["submit"]
    good_ids = [t["task_id"] for t in submitted["good"]]
    (failing_id,) = [t["task_id"] for t in submitted["failing"]]

    assert tasks["wait_good"] == {"state": "success", "try_number": 1}, log[-6000:]
    results = run.xcom["wait_good"]["return_value"]
    assert [r["task_id"] for r in results] == good_ids
    assert [r["status_code"] for r in results] == ["Complete", "Complete"]
    assert [[(m["message_id"], m["result_code"]) for m in r["result"]] for r in results] == [
        [("2", "Warning")],
        [("3", "Error")],
    ]
    assert run.xcom["report"]["return_value"] == good_ids
    assert "0/2 complete, 0 failed, 2 pending (statuses: pending=2)" in log
    assert "2/2 complete, 0 failed, 0 pending" in log

    assert tasks["wait_failing"] == {"state": "failed", "try_number": 1}
    assert tasks["after_failing"]["state"] == "upstream_failed"
    assert f"1 of 2 mark-shipped tasks failed: {failing_id} (status fatal: Amazon rejected the feed" in log
    assert tasks["wait_failing_soft"]["state"] == "skipped"

    assert tasks["wait_timeout"] == {"state": "failed", "try_number": 1}
    assert f"Mark-shipped tasks still pending (last status): {NEVER_RETURNED_ID} (missing)." in log
    assert run.state == "failed"

    if mode == "deferrable":
        assert log.count("[DAG TEST] running trigger in line") == 3  # wait_good, wait_failing, wait_timeout
        assert "Sensor has timed out at " in log
    else:
        assert "[DAG TEST] running trigger in line" not in log
    assert ("Rescheduling task, marking task as UP_FOR_RESCHEDULE" in log) is (mode == "reschedule")

    stats = lingxing_connection.stats()
    assert stats["rate_limited"] == 0
    assert (stats["tasks"]["created"], stats["tasks"]["complete"], stats["tasks"]["fatal"]) == (3, 2, 1)
