"""Daily load of mark-shipped results for task ids produced elsewhere (another system, another DAG).

The task ids come from the Variable `lingxing_fulfillment_task_ids` (a JSON list), read when the task runs, never
at parse time. The load upserts on (seller_id, task_id, message_id), so every run, re-run or backfill of a day
leaves the table as one load would: idempotent per run. Tasks not yet complete are skipped and picked up next day.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Variable, task
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator

with DAG(
    dag_id="lingxing_results_to_warehouse",
    description="Load Lingxing mark-shipped results into the warehouse every day",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule="@daily",
    catchup=False,
    default_args={"pool": "lingxing_api", "retries": 3, "retry_delay": timedelta(minutes=5)},
    tags=["lingxing", "example"],
) as dag:

    @task
    def fulfillment_task_ids() -> list[str]:
        ids = Variable.get("lingxing_fulfillment_task_ids", default=[], deserialize_json=True)
        if not ids:
            raise AirflowSkipException("Variable lingxing_fulfillment_task_ids is empty: nothing to load")
        return ids

    FulfillmentResultOperator(
        task_id="load_results",
        seller_id="{{ var.value.get('lingxing_seller_id', 'A1MQMW3JWPNCBX') }}",
        fulfillment_task_ids=fulfillment_task_ids(),
        sql_conn_id="lingxing_warehouse",
        table="lingxing_fulfillment_results",
    )
