"""Mark Amazon orders as shipped in Lingxing, wait for Amazon's verdict, load it into the warehouse.

Trigger it with the orders in the run's conf (e.g. from your WMS through Airflow's REST API):
`{"seller_id": "...", "marketplace_id": "...", "region": "NA", "orders": [{...order_list item...}]}`.
Every Lingxing call goes through the `lingxing_api` pool, sized to the API's concurrency per app id, so parallel
runs share the limit instead of tripping it.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_lingxing.operators.fulfillment import (
    FulfillmentResultOperator,
    LingxingSubmitFulfillmentOperator,
)
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor

# Amazon takes minutes to hours; the demo and the tests shorten the wait through this variable.
POKE_INTERVAL = float(os.environ.get("LINGXING_EXAMPLE_POKE_INTERVAL", "60"))

with DAG(
    dag_id="lingxing_mark_shipped",
    description="Submit mark-shipped orders to Lingxing and load Amazon's per-order outcomes",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,
    max_active_runs=4,
    params={
        "seller_id": Param("A1MQMW3JWPNCBX", type="string", minLength=1),
        "marketplace_id": Param("ATVPDKIKX0DER", type="string", minLength=1),
        "region": Param("NA", enum=["NA", "EU", "FE"]),
        "orders": Param([], type="array", description="submitFulfillment order_list items"),
    },
    default_args={"pool": "lingxing_api", "lingxing_conn_id": "lingxing_default"},
    tags=["lingxing", "example"],
) as dag:
    # Retries are safe: a retry resumes after the last submission Lingxing accepted, and a submission that may
    # have reached Lingxing (lost answer) fails the task without retry rather than being sent twice.
    submit = LingxingSubmitFulfillmentOperator(
        task_id="submit_mark_shipped",
        region="{{ params.region }}",
        seller_id="{{ params.seller_id }}",
        marketplace_id="{{ params.marketplace_id }}",
        orders="{{ params.orders }}",
        retries=2,
        retry_delay=timedelta(minutes=2),
    )

    # Deferrable: waiting for Amazon (minutes to hours) holds no worker slot.
    wait = FulfillmentResultSensor(
        task_id="wait_for_amazon",
        seller_id="{{ params.seller_id }}",
        fulfillment_task_ids=submit.output,
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=timedelta(hours=6).total_seconds(),
        retries=2,
        retry_delay=timedelta(minutes=5),
    )

    # Upserts: a retry or an overlapping run neither duplicates nor loses a row.
    load = FulfillmentResultOperator(
        task_id="load_results",
        seller_id="{{ params.seller_id }}",
        fulfillment_task_ids=submit.output,
        sql_conn_id="lingxing_warehouse",
        table="lingxing_fulfillment_results",
        retries=3,
        retry_delay=timedelta(minutes=2),
    )

    submit >> wait >> load
