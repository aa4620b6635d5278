"""One DAG per FulfillmentResultSensor mode (poke, reschedule, deferrable), run against the simulator.

Each submits two good mark-shipped tasks and one that Amazon rejects (tracking_no `FAIL…`), then waits,
one sensor after the other so that what each sees first is fixed:
- wait_good: the good tasks (complete on their third poll); `report` reads its XCom;
- wait_failing: a good and the rejected task, with retries=2: fails without retry, naming the rejected task;
- wait_failing_soft: the rejected task with soft_fail: skipped;
- wait_timeout: a good task and an id Lingxing never returns, from a Jinja template: times out naming it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task

from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor

SELLER_ID = "A1MQMW3JWPNCBX"
NEVER_RETURNED_ID = 999999999


def order(n: int, tracking_no: str) -> dict:
    return {
        "id": n,
        "platform_order_no": f"111-0000000-{n:07d}",
        "tracking_no": tracking_no,
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "shipping_service": "",
        "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1}],
    }


def build(mode: str) -> DAG:
    with DAG(
        f"sensor_fulfillment_{mode}",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        schedule=None,
        catchup=False,
        default_args={"retry_delay": timedelta(seconds=1)},
    ) as dag:

        @task(multiple_outputs=True)
        def submit() -> dict:
            from airflow_provider_lingxing.hooks.lingxing import LingxingHook

            hook = LingxingHook()

            def one(*orders: dict) -> dict:
                created = hook.submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", list(orders))
                return {"task_id": created["task_id"], "message_ids": [str(o["id"]) for o in orders]}

            good = [one(order(1, "1Z0001"), order(2, "WARN-1Z0002")), one(order(3, "ERR-1Z0003"))]
            failing = [one(order(4, "FAIL-1Z0004"))]
            return {"good": good, "failing": failing, "mixed": [good[1], *failing]}

        @task
        def report(results: list[dict]) -> list[str]:
            return [r["task_id"] for r in results]

        ids = submit()
        sensor_args = {
            "seller_id": SELLER_ID,
            "poke_interval": 0.5,
            "mode": "reschedule" if mode == "reschedule" else "poke",
            "deferrable": mode == "deferrable",
        }
        good = FulfillmentResultSensor(
            task_id="wait_good", fulfillment_task_ids=ids["good"], timeout=120, **sensor_args
        )
        report(good.output)
        failing = FulfillmentResultSensor(
            task_id="wait_failing", fulfillment_task_ids=ids["mixed"], timeout=120, retries=2, **sensor_args
        )
        failing >> EmptyOperator(task_id="after_failing")
        soft = FulfillmentResultSensor(
            task_id="wait_failing_soft",
            fulfillment_task_ids=ids["failing"],
            soft_fail=True,
            timeout=120,
            trigger_rule="all_done",
            **sensor_args,
        )
        timed_out = FulfillmentResultSensor(
            task_id="wait_timeout",
            fulfillment_task_ids=(
                "[{{ ti.xcom_pull(task_ids='submit', key='good')[0]['task_id'] }}, " + f"{NEVER_RETURNED_ID}]"
            ),
            timeout=3,
            retries=2,
            trigger_rule="all_done",
            **sensor_args,
        )
        good >> failing >> soft >> timed_out
    return dag


for _mode in ("poke", "reschedule", "deferrable"):
    globals()[f"sensor_fulfillment_{_mode}"] = build(_mode)
