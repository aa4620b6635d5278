"""A WMS shipments table in a test warehouse (one row per order item), and the orders_sql that reads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.support.databases import Warehouse

SELLER_ID, MARKETPLACE_ID = "A1SIMNA0000001", "ATVPDKIKX0DER"


def create(db: Warehouse, table: str) -> None:
    db.execute(
        f"CREATE TABLE {table} (order_ref BIGINT NOT NULL, item_no VARCHAR(40) NOT NULL, amazon_order_id VARCHAR(40),"
        " tracking VARCHAR(40), carrier VARCHAR(20), service VARCHAR(20), qty INTEGER, seller VARCHAR(20),"
        " note VARCHAR(40))"
    )


def shipment(n: int, tracking: str | None = None, items: int = 1) -> list[tuple[Any, ...]]:
    """Rows of order n: one per item (tracking numbers starting ERR come back as Error from the simulator)."""
    return [
        (n, f"{n:010d}-{i}", f"111-{n:07d}-0000001", tracking or f"1Z{n:010d}", "UPS", "Ground", 1 + i, SELLER_ID, "x")
        for i in range(items)
    ]


def ship(db: Warehouse, table: str, orders: Iterable[int], **kwargs: Any) -> None:
    rows = [row for n in orders for row in shipment(n, **kwargs)]
    p = db.placeholder
    db.executemany(f"INSERT INTO {table} VALUES ({', '.join([p] * 9)})", rows)


def orders_sql(db: Warehouse, table: str) -> str:
    """The query a user writes: their column names mapped to the operator's, filtered to one seller."""
    return (
        f"SELECT order_ref AS id, amazon_order_id AS platform_order_no, tracking AS tracking_no,"
        f" carrier AS carrier_code, carrier AS carrier_name, service AS shipping_service, item_no AS order_item_no,"
        f" qty AS quantity, note FROM {table} WHERE seller = {db.placeholder}"
    )
