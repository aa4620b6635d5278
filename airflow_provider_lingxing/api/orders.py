"""submitFulfillment's body: every problem found at once, before the first order is sent.

A 102 refusal on chunk 3 of 5 leaves chunks 1–2 submitted and the rest not, so anything the server could refuse
is checked here first, with the rules of api/arguments.py. carrier_name is required (the page lists it and allows
"" only for shipping_service); shipping_service may be left out and is then sent as "". The fields and the
policy: docs/lingxing-openapi.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_lingxing.api import arguments
from airflow_provider_lingxing.api.arguments import problem
from airflow_provider_lingxing.api.errors import LingxingInputError

MAX_QUANTITY = 999_999_999
"""Quantities are read as 32-bit ints server side (the page is silent; 9 digits always fit)."""
REQUIRED_TEXT_FIELDS = ("platform_order_no", "tracking_no", "carrier_code", "carrier_name")
OPTIONAL_TEXT_FIELDS = ("shipping_service",)
ORDER_FIELDS = ("id", *REQUIRED_TEXT_FIELDS, *OPTIONAL_TEXT_FIELDS, "order_item")
ORDER_ITEM_FIELDS = ("order_item_no", "quantity")
MAX_PROBLEMS_SHOWN = 50


def _rule_problem(check: Any, *args: Any, **kwargs: Any) -> str | None:
    """The message of an `arguments` rule, or None when the value passes it."""
    try:
        check(*args, **kwargs)
    except LingxingInputError as error:
        return str(error)
    return None


def _text_problem(where: str, fields: Mapping[str, Any], field: str, *, optional: bool = False) -> str | None:
    value = fields.get(field, arguments.NOTHING)
    if optional:
        if value is arguments.NOTHING or isinstance(value, str):
            return None
        return problem(f"{where}.{field}", "a string (may be empty, or left out)", value)
    if isinstance(value, str) and value.strip():
        return None
    return problem(f"{where}.{field}", "a non-empty string", value)


def _unknown_keys(where: str, value: Mapping[str, Any], known: tuple[str, ...]) -> list[str]:
    unknown = sorted(str(key) for key in value if key not in known)
    if not unknown:
        return []
    return [problem(where, f"a dict of the fields {', '.join(known)}", got=f"unknown field(s) {', '.join(unknown)}")]


def _item_problems(where: str, items: Any) -> list[str]:
    if not isinstance(items, list) or not items:
        return [problem(where, "a non-empty list of {order_item_no, quantity}", items)]
    problems = []
    for j, item in enumerate(items):
        at = f"{where}[{j}]"
        if not isinstance(item, Mapping):
            problems.append(problem(at, "a dict {order_item_no, quantity}", item))
            continue
        problems += _unknown_keys(at, item, ORDER_ITEM_FIELDS)
        if text := _text_problem(at, item, "order_item_no"):
            problems.append(text)
        quantity = item.get("quantity", arguments.NOTHING)
        if text := _rule_problem(arguments.positive_int, quantity, f"{at}.quantity", at_most=MAX_QUANTITY):
            problems.append(text)
    return problems


def order_problems(orders: Any, *, argument: str = "orders") -> list[str]:
    """Every problem of an order_list, each naming the order by index, e.g. `orders[3].tracking_no: must be …`."""
    if not isinstance(orders, list) or not orders:
        return [problem(argument, "a non-empty list of order dicts", orders)]
    problems: list[str] = []
    first_index_of: dict[int, int] = {}
    for i, order in enumerate(orders):
        at = f"{argument}[{i}]"
        if not isinstance(order, Mapping):
            problems.append(problem(at, "an order dict", order))
            continue
        problems += _unknown_keys(at, order, ORDER_FIELDS)
        try:
            order_id = arguments.positive_id(order.get("id", arguments.NOTHING), f"{at}.id")
        except LingxingInputError as error:
            problems.append(str(error))
        else:
            if order_id in first_index_of:
                rule = f"unique, not the id of {argument}[{first_index_of[order_id]}]"
                problems.append(problem(f"{at}.id", rule, order["id"]))
            else:
                first_index_of[order_id] = i
        problems += [text for field in REQUIRED_TEXT_FIELDS if (text := _text_problem(at, order, field))]
        problems += [text for field in OPTIONAL_TEXT_FIELDS if (text := _text_problem(at, order, field, optional=True))]
        problems += _item_problems(f"{at}.order_item", order.get("order_item", arguments.NOTHING))
    return problems


def normalize_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """The order as sent: ids and quantities as ints, shipping_service defaulted to "" (call after validation)."""
    return {
        "id": arguments.positive_id(order["id"], "id"),
        **{field: order[field] for field in REQUIRED_TEXT_FIELDS},
        **{field: order.get(field, "") for field in OPTIONAL_TEXT_FIELDS},
        "order_item": [
            {
                "order_item_no": item["order_item_no"],
                "quantity": arguments.positive_int(item["quantity"], "quantity", at_most=MAX_QUANTITY),
            }
            for item in order["order_item"]
        ],
    }


def message_id(order: Mapping[str, Any]) -> str:
    """The message id Lingxing reports an order under: its `id`, as a string."""
    return str(arguments.positive_id(order["id"], "id"))


def submission_problems(region: Any, seller_id: Any, marketplace_id: Any, orders: Any, *, argument: str) -> list[str]:
    problems = [text] if (text := _rule_problem(arguments.seller_id, seller_id)) else []
    try:
        marketplace = arguments.marketplace_id(marketplace_id)
    except LingxingInputError as error:
        problems.append(str(error))
        if region is not None and (text := _rule_problem(arguments.region, region)):
            problems.append(text)
    else:
        if text := _rule_problem(arguments.submission_region, region, marketplace):
            problems.append(text)
    return problems + order_problems(orders, argument=argument)


def submission(
    region: Any, seller_id: Any, marketplace_id: Any, orders: Any, *, argument: str = "orders"
) -> dict[str, Any]:
    """The submitFulfillment body; the region, if None or blank, derived from the marketplace id.

    Raises LingxingInputError listing every problem at once (`argument` names the order list in the messages).
    """
    problems = submission_problems(region, seller_id, marketplace_id, orders, argument=argument)
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        text = f"{len(problems)} problem(s) in the mark-shipped submission, nothing was sent:\n  " + "\n  ".join(shown)
        if len(problems) > len(shown):
            text += f"\n  … and {len(problems) - len(shown)} more"
        raise LingxingInputError(text)
    marketplace = arguments.marketplace_id(marketplace_id)
    return {
        "region": arguments.submission_region(region, marketplace),
        "seller_id": arguments.seller_id(seller_id),
        "marketplace_id": marketplace,
        "order_list": [normalize_order(order) for order in orders],
    }


def chunks(orders: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """The orders in submissions of at most `size` (one Lingxing task each)."""
    return [orders[i : i + size] for i in range(0, len(orders), size)]
