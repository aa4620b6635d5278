"""Real DAG runs of the operators against the simulator (driven by tests/integration/operators/test_operators_dag.py).

- operators_mark_shipped_retry: try 1 of `submit` is refused on its 2nd chunk (rate limit), Airflow retries, try 2
  sends that chunk only and returns every task; `load` upserts every message into the SQLite warehouse.
- operators_mark_shipped_uncertain: the answer to the 2nd chunk is lost after the simulator created its task:
  `submit` fails at once despite retries=2, and its record Variable keeps the chunk's orders uncertain.
- operators_mark_shipped_rerun: try 1 of `submit` succeeds, then the task fails (as if the worker died after
  the work); try 2 returns the stored tasks and sends nothing.

The chunks go at once (concurrently), so the faults pick their chunk by its first order (id 11), not by call order.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_lingxing.exceptions import LingxingRateLimitError, LingxingSubmissionUncertainError
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


class SubmitWithFaultOnFirstTry(LingxingSubmitFulfillmentOperator):
    """On try 1, the chunk of order 11 is refused ("refuse") or its answer lost ("drop"), or the task fails
    after submitting everything ("die")."""

    def __init__(self, *, fault: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fault = fault

    def execute(self, context):
        if context["ti"].try_number == 1:
            real = self.hook.submit_fulfillment

            def submit_fulfillment(region, seller_id, marketplace_id, order_list):
                if order_list[0]["id"] == 11 and self.fault == "refuse":
                    raise LingxingRateLimitError("requests too frequently", code="3001008")
                answer = real(region, seller_id, marketplace_id, order_list)
                if order_list[0]["id"] == 11 and self.fault == "drop":
                    raise LingxingSubmissionUncertainError("the connection closed before the answer")
                return answer

            self.hook.submit_fulfillment = submit_fulfillment
            if self.fault == "die":
                super().execute(context)
                raise RuntimeError("the worker died after submitting")
        return super().execute(context)


for fault, retries, name in (("refuse", 1, "retry"), ("drop", 2, "uncertain"), ("die", 1, "rerun")):
    with DAG(
        f"operators_mark_shipped_{name}",
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
