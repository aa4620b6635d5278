"""The scheduled loop for the lineage and Asset tests: orders from a WMS table, the ledger, the results table.

Its warehouse connection and tables come from the environment the test sets (LINEAGE_*), read at parse time.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG

from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator

ENV = os.environ
WAREHOUSE = ENV.get("LINEAGE_SQL_CONN_ID", "warehouse_sqlite")

with DAG("lineage_loop", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None, catchup=False):
    submit = LingxingSubmitFulfillmentOperator(
        task_id="submit",
        seller_id=ENV.get("LINEAGE_SELLER_ID", "A1SIMNA0000001"),
        marketplace_id="ATVPDKIKX0DER",
        sql_conn_id=WAREHOUSE,
        orders_sql=ENV.get("LINEAGE_ORDERS_SQL", "SELECT 1"),
        orders_sql_parameters=[ENV.get("LINEAGE_SELLER_ID", "A1SIMNA0000001")],
        ledger_table=ENV.get("LINEAGE_LEDGER", "lingxing_fulfillment_submissions"),
    )
    FulfillmentResultOperator(
        task_id="load",
        seller_id=ENV.get("LINEAGE_SELLER_ID", "A1SIMNA0000001"),
        fulfillment_task_ids=submit.output,
        sql_conn_id=WAREHOUSE,
        table=ENV.get("LINEAGE_RESULTS", "lingxing_fulfillment_results"),
        ledger_table=ENV.get("LINEAGE_LEDGER", "lingxing_fulfillment_submissions"),
    )
