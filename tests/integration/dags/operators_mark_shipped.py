"""Real DAG runs of the operators against the simulator (driven by tests/integration/operators/test_operators_dag.py).

- operators_mark_shipped_retry: try 1 of `submit` is refused on its 2nd chunk (rate limit), Airflow retries, try 2
  resumes after the accepted chunk; `load` upserts every message into the SQLite warehouse.
- operators_mark_shipped_uncertain: the simulator drops the answer to the 2nd chunk (the task is created, the
  answer lost): `submit` fails at once despite retries=2, and its progress Variable keeps the chunk in flight.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_lingxing.exceptions import LingxingRateLimitError
from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator

SELLER_ID = "A1SIMNA0000001"
ERRORS = {3: "ERR-1Z0003", 17: "ERR-1Z0017"}


def order(n: int) -> dict:
    return {
        "id": n,
        "platform_order_no": f"111-0000000-{n:07d}",
        "tracking_no": ERRORS.get(n, f"1Z{n:08d}"),
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1}],
    }


def simulator_config(**settings) -> None:
    base_url = json.loads(os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"])["host"]
    request = urllib.request.Request(
        f"{base_url}/__simulator__/config", data=json.dumps(settings).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()


class SubmitWithFaultOnFirstTry(LingxingSubmitFulfillmentOperator):
    """On try 1, `fault(n)` runs before the n-th submission."""

    def __init__(self, *, fault: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fault = fault

    def execute(self, context):
        if context["ti"].try_number == 1:
            real = self.hook.submit_fulfillment
            calls = []

            def submit_fulfillment(*args):
                calls.append(1)
                if len(calls) == 2 and self.fault == "refuse":
                    raise LingxingRateLimitError("requests too frequently", code="3001008")
                if self.fault == "drop":
                    simulator_config(drop_probability=1.0 if len(calls) == 2 else 0.0)
                return real(*args)

            self.hook.submit_fulfillment = submit_fulfillment
        return super().execute(context)


for fault, retries in (("refuse", 1), ("drop", 2)):
    with DAG(
        f"operators_mark_shipped_{'retry' if fault == 'refuse' else 'uncertain'}",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        schedule=None,
        catchup=False,
        default_args={"retry_delay": timedelta(seconds=0)},
    ) as dag:
        submit = SubmitWithFaultOnFirstTry(
            task_id="submit",
            fault=fault,
            region="na",
            seller_id=SELLER_ID,
            marketplace_id="ATVPDKIKX0DER",
            orders=[order(n) for n in range(1, 26)],
            max_orders_per_task=10,
            retries=retries,
        )
        load = FulfillmentResultOperator(
            task_id="load",
            seller_id=SELLER_ID,
            fulfillment_task_ids=submit.output,
            sql_conn_id="warehouse_sqlite",
            table="{{ dag_run.conf.get('table', 'lingxing_fulfillment_results') }}",
        )
        submit >> load
    globals()[dag.dag_id] = dag
