"""The 102 (参数不合法) rules of the two fulfillment endpoints, in the documented message style.

Messages name the field as the documentation does: `orderList[0].carrierCode承运商code不能为空`.
"""

from __future__ import annotations

from typing import Any

REGIONS = ("NA", "EU", "FE")
"""What submitFulfillment's `region` accepts, exactly (upper case)."""
RESULTS_BATCH_LIMIT = 10
"""Most task ids one getFulfillmentResult request may carry."""

_SUBMIT_FIELDS = (
    ("region", "region站点区域"),
    ("seller_id", "sellerId店铺id"),
    ("marketplace_id", "marketplaceId市场id"),
)
_ORDER_FIELDS = (
    ("platform_order_no", "platformOrderNo平台订单号"),
    ("tracking_no", "trackingNo跟踪号"),
    ("carrier_code", "carrierCode承运商code"),
    ("carrier_name", "carrierName承运商名称"),
)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _positive_int(value: Any, max_digits: int = 20) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return isinstance(value, int) and 0 < value < 10**max_digits


def submission_problem(body: dict[str, Any]) -> str | None:
    """The 102 message for an invalid submitFulfillment body, or None when it is valid."""
    for name, label in _SUBMIT_FIELDS:
        if _blank(body.get(name)):
            return f"{label}不能为空"
        if not isinstance(body[name], str):
            return f"{label}必须为字符串"
    if body["region"] not in REGIONS:
        return f"region站点区域不合法: {body['region']}, 可选值 {', '.join(REGIONS)}"
    order_list = body.get("order_list")
    if _blank(order_list):
        return "orderList订单列表不能为空"
    if not isinstance(order_list, list):
        return "orderList订单列表必须为数组"
    for i, order in enumerate(order_list):
        where = f"orderList[{i}]."
        if not isinstance(order, dict):
            return f"orderList[{i}]必须为对象"
        if _blank(order.get("id")):
            return f"{where}id订单id不能为空"
        if not _positive_int(order["id"]):
            return f"{where}id订单id必须为不超过20位的正整数"
        for name, label in _ORDER_FIELDS:
            if _blank(order.get(name)):
                return f"{where}{label}不能为空"
            if not isinstance(order[name], str):
                return f"{where}{label}必须为字符串"
        if not isinstance(order.get("shipping_service", ""), str):
            return f"{where}shippingService运输服务必须为字符串"
        items = order.get("order_item")
        if _blank(items):
            return f"{where}orderItem订单商品不能为空"
        if not isinstance(items, list):
            return f"{where}orderItem订单商品必须为数组"
        for j, item in enumerate(items):
            item_where = f"{where}orderItem[{j}]."
            if not isinstance(item, dict) or _blank(item.get("order_item_no")):
                return f"{item_where}orderItemNo订单商品编号不能为空"
            if not _positive_int(item.get("quantity"), max_digits=9):
                return f"{item_where}quantity数量必须为正整数"
    return None


def results_problem(body: dict[str, Any]) -> str | None:
    """The 102 message for an invalid getFulfillmentResult body, or None when it is valid."""
    if _blank(body.get("seller_id")):
        return "sellerId店铺id不能为空"
    task_ids = body.get("task_id")
    if _blank(task_ids):
        return "taskId任务id数组不能为空"
    if not isinstance(task_ids, list):
        return "taskId任务id必须为数组"
    if len(task_ids) > RESULTS_BATCH_LIMIT:
        return f"taskId任务id数组长度不能超过{RESULTS_BATCH_LIMIT}"
    if not all(_positive_int(task_id) for task_id in task_ids):
        return "taskId任务id必须为正整数"
    return None
