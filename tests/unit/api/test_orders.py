"""submitFulfillment order validation: every problem at once, each naming the order by index."""

from __future__ import annotations

import copy

import pytest

from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.api.orders import (
    chunks,
    message_id,
    normalize_order,
    order_problems,
    submission,
)
from tests.support import samples
from tests.support.samples import DROP

ID_RULE = "must be a positive integer (an int or a string of ASCII digits) no larger than 9223372036854775807 (2**63-1)"
QUANTITY_RULE = "must be a positive integer (an int or a string of ASCII digits) no larger than 999999999"


def order(n: int = 1, **changes) -> dict:
    return samples.order(n, **{"shipping_service": "Ground", **changes})


def test_a_valid_list_has_no_problem():
    assert order_problems([order(1), order(2), order(3)]) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"tracking_no": DROP}, "orders[0].tracking_no: must be a non-empty string, got nothing"),
        ({"tracking_no": "  "}, "orders[0].tracking_no: must be a non-empty string, got '  '"),
        ({"tracking_no": 12345}, "orders[0].tracking_no: must be a non-empty string, got 12345"),
        ({"platform_order_no": DROP}, "orders[0].platform_order_no: must be a non-empty string, got nothing"),
        ({"carrier_code": ""}, "orders[0].carrier_code: must be a non-empty string, got ''"),
        ({"carrier_name": DROP}, "orders[0].carrier_name: must be a non-empty string, got nothing"),
        ({"shipping_service": 3}, "orders[0].shipping_service: must be a string (may be empty, or left out), got 3"),
        (
            {"id": DROP},
            f"orders[0].id: {ID_RULE}, got nothing",
        ),
        (
            {"id": 0},
            f"orders[0].id: {ID_RULE}, got 0",
        ),
        (
            {"id": -5},
            f"orders[0].id: {ID_RULE}, got -5",
        ),
        (
            {"id": True},
            f"orders[0].id: {ID_RULE}, got True (bool)",
        ),
        (
            {"id": "12a"},
            f"orders[0].id: {ID_RULE}, got '12a'",
        ),
        (
            {"id": 2**63},
            f"orders[0].id: {ID_RULE}, got {2**63}",
        ),
        (
            {"id": "²"},
            f"orders[0].id: {ID_RULE}, got '²'",
        ),
        (
            {"id": 1.0},
            f"orders[0].id: {ID_RULE}, got 1.0 (float)",
        ),
        (
            {"order_item": DROP},
            "orders[0].order_item: must be a non-empty list of {order_item_no, quantity}, got nothing",
        ),
        (
            {"order_item": []},
            "orders[0].order_item: must be a non-empty list of {order_item_no, quantity}, got [] (list)",
        ),
        ({"order_item": "x"}, "orders[0].order_item: must be a non-empty list of {order_item_no, quantity}, got 'x'"),
        ({"order_item": ["x"]}, "orders[0].order_item[0]: must be a dict {order_item_no, quantity}, got 'x'"),
        (
            {"order_item": [{"quantity": 1}]},
            "orders[0].order_item[0].order_item_no: must be a non-empty string, got nothing",
        ),
        (
            {"order_item": [{"order_item_no": "1"}]},
            f"orders[0].order_item[0].quantity: {QUANTITY_RULE}, got nothing",
        ),
        (
            {"order_item": [{"order_item_no": "1", "quantity": 0}]},
            f"orders[0].order_item[0].quantity: {QUANTITY_RULE}, got 0",
        ),
        (
            {"order_item": [{"order_item_no": "1", "quantity": 1.5}]},
            f"orders[0].order_item[0].quantity: {QUANTITY_RULE}, got 1.5 (float)",
        ),
        (
            {"order_item": [{"order_item_no": "1", "quantity": 10**9}]},
            f"orders[0].order_item[0].quantity: {QUANTITY_RULE}, got {10**9}",
        ),
        (
            {"tracking_number": "1Z"},
            "orders[0]: must be a dict of the fields id, platform_order_no, tracking_no, carrier_code, "
            "carrier_name, shipping_service, order_item, got unknown field(s) tracking_number",
        ),
    ],
)
def test_each_problem_is_named_with_its_order_index(changes, problem):
    assert order_problems([order(1, **changes)]) == [problem]


def test_the_largest_ids_and_string_digits_are_accepted():
    assert order_problems([order(2**63 - 1), order(2, id="00042"), order(3, shipping_service="")]) == []


def test_shipping_service_may_be_left_out_and_is_sent_empty():
    sent = normalize_order(
        order(7, id="0007", shipping_service=DROP, order_item=[{"order_item_no": "9", "quantity": "3"}])
    )
    assert sent["shipping_service"] == ""
    assert sent["id"] == 7 and sent["order_item"] == [{"order_item_no": "9", "quantity": 3}]
    assert message_id({"id": "0007"}) == "7"


def test_duplicate_ids_are_reported_against_the_first_occurrence():
    problems = order_problems([order(1), order(2), order(3, id=1), order(4, id="2")])
    assert problems == [
        "orders[2].id: must be unique, not the id of orders[0], got 1",
        "orders[3].id: must be unique, not the id of orders[1], got '2'",
    ]


def test_all_problems_of_all_orders_come_at_once():
    orders = [order(1), order(2, tracking_no=DROP, carrier_code=""), "not an order", order(4, order_item=[])]
    assert order_problems(orders) == [
        "orders[1].tracking_no: must be a non-empty string, got nothing",
        "orders[1].carrier_code: must be a non-empty string, got ''",
        "orders[2]: must be an order dict, got 'not an order'",
        "orders[3].order_item: must be a non-empty list of {order_item_no, quantity}, got [] (list)",
    ]


@pytest.mark.parametrize(
    ("orders", "problem"),
    [
        ([], "orders: must be a non-empty list of order dicts, got [] (list)"),
        ({"id": 1}, "orders: must be a non-empty list of order dicts, got {'id': 1} (dict)"),
    ],
)
def test_the_list_itself_is_checked(orders, problem):
    assert order_problems(orders) == [problem]


def test_submission_normalises_region_and_orders():
    orders = [order(1, id="1"), order(2)]
    before = copy.deepcopy(orders)
    body = submission(" eu ", " A1SELLER ", "A1PA6795UKMFR9", orders)
    assert body["region"] == "EU" and body["seller_id"] == "A1SELLER" and body["marketplace_id"] == "A1PA6795UKMFR9"
    assert [o["id"] for o in body["order_list"]] == [1, 2]
    assert orders == before


@pytest.mark.parametrize(
    ("region", "marketplace_id", "sent"),
    [
        ("fe", "A1VC38T7YXB528", "FE"),
        (None, "A1VC38T7YXB528", "FE"),
        ("", "ATVPDKIKX0DER", "NA"),
        (None, "A1PA6795UKMFR9", "EU"),
        (None, "A21TJRUUN4KGV", "EU"),
        (" Na ", "A2Q3Y263D00KWC", "NA"),
        ("EU", "A28R8C7NBKEWEA", "EU"),
    ],
)
def test_the_region_is_taken_in_any_case_or_derived_from_the_marketplace(region, marketplace_id, sent):
    assert submission(region, "A1SELLER", marketplace_id, [order(1)])["region"] == sent


def test_a_region_that_contradicts_the_marketplace_is_refused_naming_both():
    with pytest.raises(LingxingInputError) as raised:
        submission("NA", "A1SELLER", "A1PA6795UKMFR9", [order(1)])
    assert "region: must be EU, the region of marketplace_id 'A1PA6795UKMFR9' (DE), or left out, got 'NA'" in str(
        raised.value
    )


def test_no_region_for_an_unknown_marketplace_is_refused_listing_the_known_ones():
    with pytest.raises(LingxingInputError) as raised:
        submission(None, "A1SELLER", "A28R8C7NBKEWEA", [order(1)])
    text = str(raised.value)
    assert "region: must be given for marketplace_id 'A28R8C7NBKEWEA'" in text and text.endswith("got None")
    assert "ATVPDKIKX0DER (US, NA)" in text and "A1VC38T7YXB528 (JP, FE)" in text


def test_submission_raises_one_error_with_every_problem():
    with pytest.raises(LingxingInputError) as raised:
        submission("US", "", "ATVPDKIKX0DER", [order(1), order(2, tracking_no=DROP), order(3, id=1)])
    text = str(raised.value)
    assert "4 problem(s)" in text and "nothing was sent" in text
    assert "region: must be one of NA, EU, FE (any case), got 'US'" in text
    assert "seller_id: must be the Amazon seller id as a string" in text and text.count("got ''") == 1
    assert "orders[1].tracking_no: must be a non-empty string, got nothing" in text
    assert "orders[2].id: must be unique, not the id of orders[0], got 1" in text


def test_a_long_problem_list_is_cut_with_a_count():
    with pytest.raises(LingxingInputError) as raised:
        submission("NA", "S", "M", [order(i, tracking_no=DROP) for i in range(1, 81)])
    text = str(raised.value)
    assert "80 problem(s)" in text and "orders[49].tracking_no: must be a non-empty string, got nothing" in text
    assert "orders[50]" not in text and "… and 30 more" in text


def test_orders_go_in_chunks_of_the_size_asked():
    orders = [order(i) for i in range(1, 8)]
    assert [[o["id"] for o in chunk] for chunk in chunks(orders, 3)] == [[1, 2, 3], [4, 5, 6], [7]]
