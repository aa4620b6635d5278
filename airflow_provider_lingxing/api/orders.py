"""submitFulfillment's order_list (§6): every problem found at once, before the first order is sent.

A 102 refusal on chunk 3 of 5 leaves chunks 1–2 submitted and the rest not, so anything the server could refuse
is checked here first. carrier_name is required (the page lists it and allows "" only for shipping_service);
shipping_service may be left out and is then sent as "".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_lingxing.api.endpoints import REGIONS
from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.api.fulfillment import MAX_TASK_ID_DIGITS

MAX_ORDER_ID_DIGITS = MAX_TASK_ID_DIGITS
MAX_QUANTITY_DIGITS = 9
"""Quantities are read as 32-bit ints server side (the page is silent; 9 digits always fit)."""
REQUIRED_TEXT_FIELDS = ("platform_order_no", "tracking_no", "carrier_code", "carrier_name")
OPTIONAL_TEXT_FIELDS = ("shipping_service",)
ORDER_FIELDS = ("id", *REQUIRED_TEXT_FIELDS, *OPTIONAL_TEXT_FIELDS, "order_item")
ORDER_ITEM_FIELDS = ("order_item_no", "quantity")
MAX_PROBLEMS_SHOWN = 50


def _positive_int(value: Any, max_digits: int) -> int | None:
    """The value as a positive int of at most `max_digits` digits (ints or ASCII digit strings), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 10**max_digits:
        return None
    return int(text)


def _text_problem(where: str, value: Any, *, allow_empty: bool = False) -> str | None:
    if not isinstance(value, str):
        return f"{where} must be a string, got {type(value).__name__}"
    if not allow_empty and not value.strip():
        return f"{where} is empty"
    return None


def _unknown_keys(where: str, value: Mapping[str, Any], known: tuple[str, ...]) -> list[str]:
    unknown = sorted(str(key) for key in value if key not in known)
    if not unknown:
        return []
    return [f"{where} has unknown field(s) {', '.join(unknown)} (known: {', '.join(known)})"]


def _item_problems(where: str, items: Any) -> list[str]:
    if not isinstance(items, list):
        return [f"{where} must be a list of {{order_item_no, quantity}}, got {type(items).__name__}"]
    if not items:
        return [f"{where} is empty: give at least one {{order_item_no, quantity}}"]
    problems = []
    for j, item in enumerate(items):
        at = f"{where}[{j}]"
        if not isinstance(item, Mapping):
            problems.append(f"{at} must be a dict, got {type(item).__name__}")
            continue
        problems += _unknown_keys(at, item, ORDER_ITEM_FIELDS)
        if "order_item_no" not in item:
            problems.append(f"{at}.order_item_no is missing")
        elif problem := _text_problem(f"{at}.order_item_no", item["order_item_no"]):
            problems.append(problem)
        if "quantity" not in item:
            problems.append(f"{at}.quantity is missing")
        elif _positive_int(item["quantity"], MAX_QUANTITY_DIGITS) is None:
            problems.append(
                f"{at}.quantity {item['quantity']!r} is not a positive integer of at most {MAX_QUANTITY_DIGITS} digits"
            )
    return problems


def order_problems(orders: Any, *, argument: str = "orders") -> list[str]:
    """Every problem of an order_list, each naming the order by index, e.g. `orders[3].tracking_no is missing`."""
    if not isinstance(orders, list):
        return [f"{argument} must be a list of order dicts, got {type(orders).__name__}"]
    if not orders:
        return [f"{argument} is empty: give at least one order"]
    problems: list[str] = []
    first_index_of: dict[int, int] = {}
    for i, order in enumerate(orders):
        at = f"{argument}[{i}]"
        if not isinstance(order, Mapping):
            problems.append(f"{at} must be a dict, got {type(order).__name__}")
            continue
        problems += _unknown_keys(at, order, ORDER_FIELDS)
        if "id" not in order:
            problems.append(f"{at}.id is missing")
        elif (order_id := _positive_int(order["id"], MAX_ORDER_ID_DIGITS)) is None:
            problems.append(
                f"{at}.id {order['id']!r} is not a positive integer of at most {MAX_ORDER_ID_DIGITS} digits"
            )
        elif order_id in first_index_of:
            problems.append(f"{at}.id {order_id} duplicates {argument}[{first_index_of[order_id]}].id")
        else:
            first_index_of[order_id] = i
        for field in REQUIRED_TEXT_FIELDS:
            if field not in order:
                problems.append(f"{at}.{field} is missing")
            elif problem := _text_problem(f"{at}.{field}", order[field]):
                problems.append(problem)
        for field in OPTIONAL_TEXT_FIELDS:
            if field in order and (problem := _text_problem(f"{at}.{field}", order[field], allow_empty=True)):
                problems.append(problem)
        if "order_item" not in order:
            problems.append(f"{at}.order_item is missing")
        else:
            problems += _item_problems(f"{at}.order_item", order["order_item"])
    return problems


def region_problem(region: Any) -> str | None:
    if isinstance(region, str) and region.strip().upper() in REGIONS:
        return None
    return f"region {region!r} is not one of {', '.join(REGIONS)} (case-insensitive)"


def normalize_region(region: str) -> str:
    return region.strip().upper()


def normalize_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """The order as sent: ids and quantities as ints, shipping_service defaulted to "" (call after validation)."""
    return {
        "id": int(str(order["id"]).strip()),
        **{field: order[field] for field in REQUIRED_TEXT_FIELDS},
        **{field: order.get(field, "") for field in OPTIONAL_TEXT_FIELDS},
        "order_item": [
            {"order_item_no": item["order_item_no"], "quantity": int(str(item["quantity"]).strip())}
            for item in order["order_item"]
        ],
    }


def message_id(order: Mapping[str, Any]) -> str:
    """The message id Lingxing reports an order under: its `id`, as a string."""
    return str(int(str(order["id"]).strip()))


def submission_problems(region: Any, seller_id: Any, marketplace_id: Any, orders: Any) -> list[str]:
    problems = [problem] if (problem := region_problem(region)) else []
    for name, value in (("seller_id", seller_id), ("marketplace_id", marketplace_id)):
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} {value!r} is not a non-empty string")
    return problems + order_problems(orders)


def validate_submission(
    region: Any, seller_id: Any, marketplace_id: Any, orders: Any
) -> tuple[str, list[dict[str, Any]]]:
    """The normalised region and orders; raises LingxingInputError listing every problem at once."""
    problems = submission_problems(region, seller_id, marketplace_id, orders)
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        text = f"{len(problems)} problem(s) in the mark-shipped submission, nothing was sent:\n  " + "\n  ".join(shown)
        if len(problems) > len(shown):
            text += f"\n  … and {len(problems) - len(shown)} more"
        raise LingxingInputError(text)
    return normalize_region(region), [normalize_order(order) for order in orders]
