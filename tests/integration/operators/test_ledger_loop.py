"""The scheduled loop with the ledger, on SQLite, PostgreSQL and MySQL, against the simulator: orders from SQL,
each sent once across runs, retries and clears; results written back as `complete`."""

from __future__ import annotations

import json
import logging
import re

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_lingxing.exceptions import LingxingBadRequestError, LingxingInputError
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.operators.fulfillment import LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
from tests.support.ledger_loop import LOGGER, SETTLED, Loop
from tests.support.shipments import SELLER_ID

pytestmark = [pytest.mark.integration, pytest.mark.lingxing_simulator(latency=0.0, complete_after_polls=1)]


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


@pytest.fixture
def loop(warehouse, lingxing_connection):
    each = Loop(warehouse, lingxing_connection)
    yield each
    each.drop()


def message_ids(tasks: list[dict]) -> list[int]:
    return sorted(int(i) for task in tasks for i in task["message_ids"])


def test_each_run_sends_the_new_shipments_only_and_results_close_the_loop(loop, log):
    loop.ship(range(1, 26))
    loop.ship([26, 27], items=3)  # several items: one order of three rows
    first = loop.submit("scheduled__1")
    assert message_ids(first) == list(range(1, 28))
    assert len(first) == 3, "27 orders in chunks of 10"
    assert sorted(len(s["order_ids"]) for s in loop.sim.stats()["submissions"][SELLER_ID]) == [7, 10, 10]
    loop.ship(range(28, 33))
    second = loop.submit("scheduled__2")
    assert message_ids(second) == list(range(1, 33)), "the first run's tasks are still open: results not loaded"
    assert "Orders: 32 read, 5 claimed, 5 sent as 1 task(s), 27 skipped as already sent" in log.text
    assert loop.received() == {str(n): 1 for n in range(1, 33)}

    summary = loop.load(second)
    assert summary["rows"] == 32
    assert set(loop.states().values()) == {"complete"}
    assert loop.submit("scheduled__3") == [], "nothing new, nothing open"
    assert FulfillmentResultSensor(task_id="wait", seller_id=SELLER_ID, fulfillment_task_ids=[]).execute({}) == []
    assert loop.load([]) == {"tasks": 0, "rows": 0, "errors": 0, "warnings": 0}
    assert sum(loop.received().values()) == 32


def test_30_orders_cleared_after_success_are_sent_once(loop, log):
    loop.ship(range(1, 31))
    first = loop.submit(max_orders_per_task=5)
    assert len(first) == 6
    cleared = loop.submit(try_number=2, max_orders_per_task=5)
    assert cleared == first
    assert len(loop.sim.stats()["submissions"][SELLER_ID]) == 6
    assert loop.received() == {str(n): 1 for n in range(1, 31)}
    assert "Returned 6 task(s) this task instance created in an earlier try" in log.text
    assert f"DELETE FROM {loop.ledger} WHERE state IN ('accepted', 'complete')" in log.text


def test_a_102_fixed_in_the_warehouse_is_sent_once_and_chunk_1_never_again(loop):
    """Lingxing refuses chunk 2 for one order (102 names it); the order is fixed in the WMS table and the task
    cleared: the fixed order and its chunk-mates go once, chunk 1 never again."""
    loop.ship(range(1, 15))
    loop.ship([15], tracking="BAD-15")
    loop.ship(range(16, 21))

    class Refusing(LingxingHook):
        def submit_fulfillment(self, region, seller_id, marketplace_id, order_list):
            for i, order in enumerate(order_list):
                if order["tracking_no"].startswith("BAD"):
                    raise LingxingBadRequestError(f"orderList[{i}].trackingNo跟踪号不合法", code="102")
            return super().submit_fulfillment(region, seller_id, marketplace_id, order_list)

    with pytest.raises(AirflowFailException) as raised:
        loop.submit(hook=Refusing(max_in_flight=1))
    assert "ids 15 are kept refused until changed" in str(raised.value)
    assert loop.received() == {str(n): 1 for n in range(1, 11)}
    assert loop.states()["15"] == "refused" and "16" not in loop.states(), "chunk-mates released"

    loop.db.execute(f"UPDATE {loop.wms} SET tracking = '1Z0000000015' WHERE order_ref = 15")
    cleared = loop.submit(try_number=2, hook=Refusing(max_in_flight=1))
    assert message_ids(cleared) == list(range(1, 21))
    assert loop.received() == {str(n): 1 for n in range(1, 21)}
    assert {loop.states()[str(n)] for n in range(1, 21)} == {"accepted"}


def test_resubmit_on_error_sends_a_corrected_order_again(loop):
    loop.ship([1, 2])
    loop.ship([3], tracking="ERR-3")
    loop.load(loop.submit())
    assert dict(loop.db.query(f"SELECT order_id, result_code FROM {loop.ledger}")) == {
        "1": "Success",
        "2": "Success",
        "3": "Error",
    }
    loop.db.execute(f"UPDATE {loop.wms} SET tracking = '1Z0000000003' WHERE order_ref = 3")
    assert loop.submit("scheduled__2") == [], "resubmit='never': an order id is sent once, ever"
    again = loop.submit("scheduled__3", resubmit="on_error")
    assert message_ids(again) == [3]
    assert loop.received() == {"1": 1, "2": 1, "3": 2}


def test_a_missing_connection_fails_before_anything_is_marked(loop, monkeypatch):
    loop.ship(range(1, 4))
    with pytest.raises(LingxingInputError, match="sql_conn_id 'no_such_warehouse': the connection could not be used"):
        loop.submit(sql_conn_id="no_such_warehouse")
    monkeypatch.delenv("AIRFLOW_CONN_LINGXING_DEFAULT")
    with pytest.raises(LingxingInputError, match="lingxing_conn_id 'lingxing_default'"):
        loop.submit()
    assert not loop.db.exists(loop.ledger), "nothing claimed, not even the table created"
    assert loop.sim.stats()["requests_total"] == 0


def test_orders_sql_missing_a_column_is_refused_naming_it_before_any_claim(loop):
    loop.ship(range(1, 4))
    sql = f"SELECT order_ref AS id, tracking AS tracking_no FROM {loop.wms}"
    with pytest.raises(LingxingInputError) as raised:
        loop.submit(orders_sql=sql, orders_sql_parameters=None)
    assert "orders_sql returns no column platform_order_no, carrier_code, carrier_name, shipping_service" in str(
        raised.value
    )
    assert loop.states() == {} and loop.sim.stats()["requests_total"] == 0


def test_a_bad_order_in_the_warehouse_fails_before_any_claim(loop):
    loop.ship(range(1, 4))
    loop.db.execute(f"UPDATE {loop.wms} SET carrier = NULL WHERE order_ref = 2")
    with pytest.raises(
        LingxingInputError, match=re.escape("orders_sql id 2.carrier_code: must be a non-empty string, got None")
    ):
        loop.submit()
    assert loop.states() == {} and loop.sim.stats()["requests_total"] == 0


def test_named_parameters_and_a_literal_percent_keep_working(loop):
    loop.ship(range(1, 4))
    named = "%(seller)s" if loop.db.name != "sqlite" else ":seller"
    base = loop.arguments()["orders_sql"].rsplit("WHERE", 1)[0]
    out = loop.submit(orders_sql=f"{base} WHERE seller = {named}", orders_sql_parameters={"seller": SELLER_ID})
    assert message_ids(out) == [1, 2, 3]
    loop.ship([4])
    out = loop.submit("scheduled__2", orders_sql=f"{base} WHERE tracking LIKE '1Z%'", orders_sql_parameters=None)
    assert message_ids(out) == [1, 2, 3, 4]
    assert loop.received() == {str(n): 1 for n in range(1, 5)}


def test_a_ledger_table_named_like_a_keyword_is_refused_when_the_dag_is_parsed():
    with pytest.raises(LingxingInputError, match=r"ledger_table: .*no SQL reserved word \('order' is one\)"):
        LingxingSubmitFulfillmentOperator(
            task_id="submit",
            region="NA",
            seller_id=SELLER_ID,
            marketplace_id="ATVPDKIKX0DER",
            orders_sql="SELECT 1",
            sql_conn_id="warehouse",
            ledger_table="order",
        )


def test_the_operator_s_output_is_json_for_xcom(loop):
    loop.ship(range(1, 3))
    out = loop.submit()
    assert json.loads(json.dumps(out)) == out
    assert set(loop.states().values()) <= SETTLED
