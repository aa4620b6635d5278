"""Sample orders and getFulfillmentResult answers in the documented shapes, shared by the tests."""

from __future__ import annotations

from typing import Any

SELLER_ID = "A1MQMW3JWPNCBX"
MARKETPLACE_ID = "ATVPDKIKX0DER"
DROP: Any = object()
"""Pass a field as DROP to leave it out of the sample."""


def order(n: int, **changes: Any) -> dict[str, Any]:
    """A valid submitFulfillment order whose id is `n`; `changes` replace (or DROP) fields."""
    entry = {
        "id": n,
        "platform_order_no": f"111-0000000-{n:07d}",
        "tracking_no": f"1Z{n:08d}",
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1}],
        **changes,
    }
    return {key: value for key, value in entry.items() if value is not DROP}


def task_result(
    task_id: int | str,
    status: str | None = "Complete",
    failure: str | None = None,
    *,
    messages: list[dict[str, Any]] | None = None,
    summary: dict[str, str] | None = None,
    ship_time: str = "1675848605",
) -> dict[str, Any]:
    """One task of a getFulfillmentResult answer: ids and counts as strings, `result` only for the messages
    Amazon reported on."""
    return {
        "result": messages or [],
        "task_id": str(task_id),
        "status_code": status,
        "ship_time": ship_time,
        "processing_summary": summary
        if summary is not None
        else {"messages_processed": "1", "messages_successful": "1"},
        "failure": failure,
    }
