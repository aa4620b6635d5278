"""submitFulfillment order validation: every problem at once, each naming the order by index."""

from __future__ import annotations

import copy

import pytest

from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.api.orders import (
    message_id,
    normalize_order,
    order_problems,
    validate_submission,
)


def order(n: int = 1, **changes) -> dict:
    base = {
        "id": n,
        "platform_order_no": f"111-0000000-{n:07d}",
        "tracking_no": f"1Z{n:08d}",
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "shipping_service": "Ground",
        "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1}],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def test_a_valid_list_has_no_problem():
    assert order_problems([order(1), order(2), order(3)]) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"tracking_no": DROP}, "orders[0].tracking_no is missing"),
        ({"tracking_no": "  "}, "orders[0].tracking_no is empty"),
        ({"tracking_no": 12345}, "orders[0].tracking_no must be a string, got int"),
        ({"platform_order_no": DROP}, "orders[0].platform_order_no is missing"),
        ({"carrier_code": ""}, "orders[0].carrier_code is empty"),
        ({"carrier_name": DROP}, "orders[0].carrier_name is missing"),
        ({"shipping_service": 3}, "orders[0].shipping_service must be a string, got int"),
        ({"id": DROP}, "orders[0].id is missing"),
        ({"id": 0}, "orders[0].id 0 is not a positive integer of at most 20 digits"),
        ({"id": -5}, "orders[0].id -5 is not a positive integer of at most 20 digits"),
        ({"id": True}, "orders[0].id True is not a positive integer of at most 20 digits"),
        ({"id": "12a"}, "orders[0].id '12a' is not a positive integer of at most 20 digits"),
        ({"id": 10**20}, f"orders[0].id {10**20} is not a positive integer of at most 20 digits"),
        ({"id": "²"}, "orders[0].id '²' is not a positive integer of at most 20 digits"),
        ({"id": 1.0}, "orders[0].id 1.0 is not a positive integer of at most 20 digits"),
        ({"order_item": DROP}, "orders[0].order_item is missing"),
        ({"order_item": []}, "orders[0].order_item is empty: give at least one {order_item_no, quantity}"),
        ({"order_item": "x"}, "orders[0].order_item must be a list of {order_item_no, quantity}, got str"),
        ({"order_item": ["x"]}, "orders[0].order_item[0] must be a dict, got str"),
        ({"order_item": [{"quantity": 1}]}, "orders[0].order_item[0].order_item_no is missing"),
        ({"order_item": [{"order_item_no": "1"}]}, "orders[0].order_item[0].quantity is missing"),
        (
            {"order_item": [{"order_item_no": "1", "quantity": 0}]},
            "orders[0].order_item[0].quantity 0 is not a positive integer of at most 9 digits",
        ),
        (
            {"order_item": [{"order_item_no": "1", "quantity": 1.5}]},
            "orders[0].order_item[0].quantity 1.5 is not a positive integer of at most 9 digits",
        ),
        (
            {"order_item": [{"order_item_no": "1", "quantity": 10**9}]},
            f"orders[0].order_item[0].quantity {10**9} is not a positive integer of at most 9 digits",
        ),
        (
            {"tracking_number": "1Z"},
            "orders[0] has unknown field(s) tracking_number (known: id, platform_order_no, tracking_no, "
            "carrier_code, carrier_name, shipping_service, order_item)",
        ),
    ],
)
def test_each_problem_is_named_with_its_order_index(changes, problem):
    assert order_problems([order(1, **changes)]) == [problem]


def test_the_largest_ids_and_string_digits_are_accepted():
    assert order_problems([order(10**20 - 1), order(2, id="00042"), order(3, shipping_service="")]) == []


def test_shipping_service_may_be_left_out_and_is_sent_empty():
    sent = normalize_order(
        order(7, id="0007", shipping_service=DROP, order_item=[{"order_item_no": "9", "quantity": "3"}])
    )
    assert sent["shipping_service"] == ""
    assert sent["id"] == 7 and sent["order_item"] == [{"order_item_no": "9", "quantity": 3}]
    assert message_id({"id": "0007"}) == "7"


def test_duplicate_ids_are_reported_against_the_first_occurrence():
    problems = order_problems([order(1), order(2), order(3, id=1), order(4, id="2")])
    assert problems == ["orders[2].id 1 duplicates orders[0].id", "orders[3].id 2 duplicates orders[1].id"]


def test_all_problems_of_all_orders_come_at_once():
    orders = [order(1), order(2, tracking_no=DROP, carrier_code=""), "not an order", order(4, order_item=[])]
    assert order_problems(orders) == [
        "orders[1].tracking_no is missing",
        "orders[1].carrier_code is empty",
        "orders[2] must be a dict, got str",
        "orders[3].order_item is empty: give at least one {order_item_no, quantity}",
    ]


@pytest.mark.parametrize(
    ("orders", "problem"),
    [([], "orders is empty: give at least one order"), ({"id": 1}, "orders must be a list of order dicts, got dict")],
)
def test_the_list_itself_is_checked(orders, problem):
    assert order_problems(orders) == [problem]


def test_validate_submission_normalises_region_and_orders():
    orders = [order(1, id="1"), order(2)]
    before = copy.deepcopy(orders)
    region, sent = validate_submission(" eu ", "A1SELLER", "A1PA6795UKMFR9", orders)
    assert region == "EU"
    assert [o["id"] for o in sent] == [1, 2]
    assert orders == before


def test_validate_submission_raises_one_input_error_with_every_problem():
    with pytest.raises(LingxingInputError) as raised:
        validate_submission("US", "", "ATVPDKIKX0DER", [order(1), order(2, tracking_no=DROP), order(3, id=1)])
    text = str(raised.value)
    assert "4 problem(s)" in text and "nothing was sent" in text
    assert "region 'US' is not one of NA, EU, FE (case-insensitive)" in text
    assert "seller_id '' is not a non-empty string" in text
    assert "orders[1].tracking_no is missing" in text
    assert "orders[2].id 1 duplicates orders[0].id" in text


def test_a_long_problem_list_is_cut_with_a_count():
    with pytest.raises(LingxingInputError) as raised:
        validate_submission("NA", "S", "M", [order(i, tracking_no=DROP) for i in range(1, 81)])
    text = str(raised.value)
    assert "80 problem(s)" in text and "orders[49].tracking_no is missing" in text
    assert "orders[50]" not in text and "… and 30 more" in text
