"""The reliability pipeline as a real DAG (run by tests/reliability/test_fault_matrix.py through dag.test()).

One branch per sensor mode, each with its own 200 orders (20 tasks), so that each sensor really waits:
submit → wait (poke, reschedule or deferrable) → load into one PostgreSQL table (named in the run's conf).
The waits start once every submission is in (the test switches the faults that make a submission uncertain
on at the first getFulfillmentResult call). Each task has the retries a DAG author would give it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
from tests.reliability.reliability_pipeline import (
    MARKETPLACE_ID,
    MODES,
    ORDER_COUNT,
    ORDERS_PER_TASK,
    POKE_INTERVAL,
    REGION,
    SELLER_ID,
    SENSOR_TIMEOUT,
    TASK_RETRIES,
    orders,
)

with DAG(
    "reliability_mixed_faults",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    default_args={"retries": TASK_RETRIES, "retry_delay": timedelta(0)},
) as dag:
    submits = [
        LingxingSubmitFulfillmentOperator(
            task_id=f"submit_{mode}",
            region=REGION,
            seller_id=SELLER_ID,
            marketplace_id=MARKETPLACE_ID,
            orders=orders(first=1 + branch * ORDER_COUNT),
            max_orders_per_task=ORDERS_PER_TASK,
        )
        for branch, mode in enumerate(MODES)
    ]
    for submit, mode in zip(submits, MODES, strict=True):
        wait = FulfillmentResultSensor(
            task_id=f"wait_{mode}",
            seller_id=SELLER_ID,
            fulfillment_task_ids=submit.output,
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
            poke_interval=POKE_INTERVAL * 4,
            timeout=SENSOR_TIMEOUT,
        )
        load = FulfillmentResultOperator(
            task_id=f"load_{mode}",
            seller_id=SELLER_ID,
            fulfillment_task_ids=submit.output,
            sql_conn_id="warehouse_pg",
            table="{{ dag_run.conf['table'] }}",
        )
        submits >> wait >> load
