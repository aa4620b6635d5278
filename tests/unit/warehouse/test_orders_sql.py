"""orders_sql rows grouped into orders, and the wrapped query that leaves settled orders in the database."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.warehouse.dialects import Dialect, MySqlDialect, SqliteDialect
from airflow_provider_lingxing.warehouse.orders import ROW_COLUMNS, orders_from_rows, orders_queries

COLUMNS = [*ROW_COLUMNS, "warehouse_code"]


def row(n, item="A", quantity=1, **changes):
    values = {
        "id": n,
        "platform_order_no": f"111-{n}",
        "tracking_no": f"1Z{n}",
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "shipping_service": None,
        "order_item_no": item,
        "quantity": quantity,
        "warehouse_code": "W1",
        **changes,
    }
    return tuple(values[c] for c in COLUMNS)


def test_rows_are_grouped_by_id_into_order_items_in_order_of_first_appearance():
    rows = [row(7, "A"), row(3, "X"), row(7, "B", Decimal(2)), row(3, "Y", 4)]
    assert orders_from_rows([c.upper() for c in COLUMNS], rows) == [
        {
            "id": 7,
            "platform_order_no": "111-7",
            "tracking_no": "1Z7",
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "shipping_service": "",
            "order_item": [{"order_item_no": "A", "quantity": 1}, {"order_item_no": "B", "quantity": 2}],
        },
        {
            "id": 3,
            "platform_order_no": "111-3",
            "tracking_no": "1Z3",
            "carrier_code": "UPS",
            "carrier_name": "UPS",
            "shipping_service": "",
            "order_item": [{"order_item_no": "X", "quantity": 1}, {"order_item_no": "Y", "quantity": 4}],
        },
    ]


def test_numbers_in_text_columns_are_read_as_text():
    (order,) = orders_from_rows(COLUMNS, [row(Decimal(5), item=40012, tracking_no=9400100)])
    assert order["id"] == 5 and order["tracking_no"] == "9400100"
    assert order["order_item"] == [{"order_item_no": "40012", "quantity": 1}]


def test_missing_columns_are_named():
    with pytest.raises(LingxingInputError) as raised:
        orders_from_rows(["id", "tracking_no", "quantity"], [])
    assert "orders_sql returns no column platform_order_no, carrier_code, carrier_name, shipping_service, " in str(
        raised.value
    )
    assert "order_item_no" in str(raised.value)


def test_every_problem_of_the_orders_is_listed_naming_the_order_id():
    rows = [row(1), row(1, "B", tracking_no="OTHER"), row(2, quantity=0), row(3, carrier_code=None)]
    with pytest.raises(LingxingInputError) as raised:
        orders_from_rows(COLUMNS, rows)
    text = str(raised.value)
    assert "3 problem(s) in the orders orders_sql returned, nothing was claimed or sent" in text
    assert "orders_sql rows of order id 1 differ in tracking_no: '1Z1', 'OTHER'" in text
    assert "orders_sql id 2.order_item[0].quantity: must be a positive integer" in text and ", got 0\n" in text
    assert "orders_sql id 3.carrier_code: must be a non-empty string, got None" in text


def ledger(dialect, resubmit="never"):
    return SimpleNamespace(
        dialect=dialect,
        table="lingxing_fulfillment_submissions",
        seller_id="S1",
        marketplace_id="M1",
        resubmit=resubmit,
    )


def test_settled_orders_are_dropped_in_sql_through_the_ledger_key():
    (query, parameters), (count, count_parameters) = orders_queries(
        "SELECT * FROM wms WHERE seller = ?;  ", ["S1"], ledger(SqliteDialect())
    )
    assert query.startswith("SELECT * FROM (\nSELECT * FROM wms WHERE seller = ?\n) lingxing_orders WHERE NOT EXISTS")
    assert "l.order_id = CAST(lingxing_orders.id AS TEXT)" in query
    assert "l.state IN ('sending', 'accepted', 'uncertain') OR (l.state = 'complete')" in query
    assert parameters == ["S1", "S1", "M1"]
    assert (
        count
        == "SELECT COUNT(DISTINCT lingxing_orders.id) FROM (\nSELECT * FROM wms WHERE seller = ?\n) lingxing_orders"
    )
    assert count_parameters == ["S1"], "every order the query gives: the settled ones are the difference"


def test_named_parameters_get_named_ones_and_no_parameters_keep_a_literal_percent():
    (query, parameters), _ = orders_queries(
        "SELECT * FROM wms WHERE seller = %(seller)s", {"seller": "S1"}, ledger(Dialect())
    )
    assert "l.seller_id = %(lingxing_seller_id)s AND l.marketplace_id = %(lingxing_marketplace_id)s" in query
    assert parameters == {"seller": "S1", "lingxing_seller_id": "S1", "lingxing_marketplace_id": "M1"}
    (query, parameters), (count, count_parameters) = orders_queries(
        "SELECT * FROM wms WHERE t LIKE '1Z%'", None, ledger(MySqlDialect())
    )
    assert "LIKE '1Z%%'" in query and "CAST(lingxing_orders.id AS CHAR)" in query
    assert parameters == ["S1", "M1"]
    assert "LIKE '1Z%'" in count and count_parameters is None, "run without parameters, the % stays as written"


def test_on_error_lets_orders_whose_outcome_was_error_through_to_the_claim():
    (query, _), _ = orders_queries("SELECT 1 AS id", None, ledger(Dialect(), resubmit="on_error"))
    assert "(l.state = 'complete' AND (l.result_code IS NULL OR l.result_code <> 'Error'))" in query


def test_parameters_of_another_kind_are_refused():
    with pytest.raises(LingxingInputError, match="orders_sql_parameters must be a dict"):
        orders_queries("SELECT 1", "S1", ledger(Dialect()))
