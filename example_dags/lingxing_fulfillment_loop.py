"""The hourly loop: mark shipped on Amazon, through Lingxing, the orders your WMS marked shipped in the warehouse,
wait for Amazon's verdict, and load it back next to them. Each order reaches Lingxing at most once, ever.

For each (seller, marketplace) of Lingxing's seller list (or of the `sellers` param), one mapped branch:

    submit_mark_shipped   orders from SQL (ORDERS_SQL), claimed in the submission ledger, sent in chunks
    wait_for_amazon       deferrable: waiting holds no worker slot
    load_results          per-message outcomes upserted into the results table; the ledger marks them complete

The ledger, the results table and the WMS table live in one warehouse, the connection `lingxing_warehouse`
(PostgreSQL, MySQL/MariaDB or SQLite). Adapt ORDERS_SQL to your WMS: one row per order item with the columns
below; its placeholders follow your driver (`:name` for SQLite, `%(name)s` for PostgreSQL and MySQL). A run
that fails is safe to clear: what was sent is returned from the ledger, never sent again (docs/ledger.md).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task, task_group

from airflow_provider_lingxing.operators.fulfillment import (
    FulfillmentResultOperator,
    LingxingSubmitFulfillmentOperator,
)
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor

WAREHOUSE = "lingxing_warehouse"
LEDGER_TABLE = "lingxing_fulfillment_submissions"
RESULTS_TABLE = "lingxing_fulfillment_results"
ORDERS_SQL = """
SELECT s.amazon_order_ref AS id, s.amazon_order_id AS platform_order_no, s.tracking_number AS tracking_no,
       s.carrier AS carrier_code, s.carrier AS carrier_name, s.service AS shipping_service,
       s.order_item_id AS order_item_no, s.quantity
  FROM wms_shipments s
 WHERE s.seller_id = :seller_id AND s.marketplace_id = :marketplace_id AND s.shipped_at >= :since
"""
"""Orders shipped in the last LOOKBACK: orders already sent are dropped by the ledger in the same query."""
LOOKBACK_DAYS = 3
# Shipments since this moment are read; a manual run has no data interval, so it looks back from when it was triggered.
SINCE = f"{{{{ ((data_interval_end or dag_run.run_after) - macros.timedelta(days={LOOKBACK_DAYS})).isoformat() }}}}"
# Amazon takes minutes to hours; the demo and the tests shorten the wait through this variable.
POKE_INTERVAL = float(os.environ.get("LINGXING_EXAMPLE_POKE_INTERVAL", "300"))

with DAG(
    dag_id="lingxing_fulfillment_loop",
    description="Every hour: orders shipped in the warehouse → marked shipped on Amazon → outcomes loaded back",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule="@hourly",
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,  # it marks orders shipped on Amazon: unpause it once ORDERS_SQL reads your WMS
    params={
        "sellers": Param(
            [],
            type="array",
            description="[{seller_id, marketplace_id, region}] to serve; empty: every authorised store of Lingxing",
        ),
    },
    default_args={"pool": "lingxing_api", "lingxing_conn_id": "lingxing_default"},
    tags=["lingxing", "example"],
) as dag:

    @task(retries=3, retry_delay=timedelta(minutes=1))
    def sellers(params: dict | None = None) -> list[dict[str, str]]:
        """The (seller, marketplace) pairs to serve: the param's, or the seller list's stores in status 1."""
        if params and params.get("sellers"):
            return [
                {"seller_id": s["seller_id"], "marketplace_id": s["marketplace_id"], "region": s.get("region") or ""}
                for s in params["sellers"]
            ]
        from airflow_provider_lingxing.hooks import lingxing_hook

        hook = lingxing_hook("lingxing_default")
        try:
            stores = hook.list_sellers()
        finally:
            hook.close()
        return [
            {"seller_id": s["seller_id"], "marketplace_id": s["marketplace_id"], "region": s.get("region") or ""}
            for s in stores
            if str(s.get("status")) == "1"
        ]

    @task_group
    def mark_shipped(seller_id: str, marketplace_id: str, region: str) -> None:
        # Retries are safe: the ledger returns what a try already sent; what may have reached Lingxing (a lost
        # answer) fails the task without retry and is never sent again on its own.
        submit = LingxingSubmitFulfillmentOperator(
            task_id="submit_mark_shipped",
            region=region,
            seller_id=seller_id,
            marketplace_id=marketplace_id,
            sql_conn_id=WAREHOUSE,
            ledger_table=LEDGER_TABLE,
            orders_sql=ORDERS_SQL,
            orders_sql_parameters={
                "seller_id": seller_id,
                "marketplace_id": marketplace_id,
                "since": SINCE,
            },
            retries=2,
            retry_delay=timedelta(minutes=2),
        )
        wait = FulfillmentResultSensor(
            task_id="wait_for_amazon",
            seller_id=seller_id,
            fulfillment_task_ids=submit.output,
            deferrable=True,
            poke_interval=POKE_INTERVAL,
            timeout=timedelta(minutes=50).total_seconds(),
            retries=2,
            retry_delay=timedelta(minutes=5),
        )
        # all_done: whatever finished is loaded even when the wait failed (a fatal task) or timed out; tasks still
        # pending stay open in the ledger and are waited for by the next run.
        load = FulfillmentResultOperator(
            task_id="load_results",
            seller_id=seller_id,
            fulfillment_task_ids=submit.output,
            sql_conn_id=WAREHOUSE,
            table=RESULTS_TABLE,
            ledger_table=LEDGER_TABLE,
            trigger_rule="all_done",
            retries=3,
            retry_delay=timedelta(minutes=2),
        )
        submit >> wait >> load

    mark_shipped.expand_kwargs(sellers())
