"""Shipped orders read from the warehouse: `orders_sql` rows, one per order item, grouped into order_list items.

The user's query is wrapped so that the database drops the orders the ledger already settled (sent, accepted,
uncertain or complete) in the same statement, through the ledger's primary key: a long history costs one
indexed anti-join, not a transfer into Python. Orders claimed by another run or refused earlier come through:
the claim compares their age and content (fingerprint).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from decimal import Decimal
from typing import Any

from airflow_provider_lingxing.api.orders import order_problems
from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.warehouse.ledger import SubmissionLedger
from airflow_provider_lingxing.warehouse.submissions import (
    ACCEPTED,
    COMPLETE,
    ERROR_CODE,
    RESUBMIT_ON_ERROR,
    SENDING,
    UNCERTAIN,
)

ROW_COLUMNS = (
    "id",
    "platform_order_no",
    "tracking_no",
    "carrier_code",
    "carrier_name",
    "shipping_service",
    "order_item_no",
    "quantity",
)
"""What orders_sql returns, one row per order item (other columns are ignored)."""
ORDER_FIELDS = ("platform_order_no", "tracking_no", "carrier_code", "carrier_name", "shipping_service")
TEXT_FIELDS = (*ORDER_FIELDS, "order_item_no")
ALIAS = "lingxing_orders"


def orders_queries(sql: str, parameters: Any, ledger: SubmissionLedger) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """`sql` wrapped to drop the orders the ledger settled, and a query counting every order `sql` gives (those
    settled are the difference: the ledger is probed once), each with its parameters.

    Parameters keep the user's style: a mapping gets two named ones added (`lingxing_seller_id`,
    `lingxing_marketplace_id`), a sequence (or None) two positional ones at the end. Without parameters, a
    `%` in the query is literal; with the `%s` placeholder style it is doubled, since the query now has some.
    """
    dialect = ledger.dialect
    text = given = sql.strip().rstrip(";").rstrip()
    if isinstance(parameters, Mapping):
        seller, marketplace = dialect.named("lingxing_seller_id"), dialect.named("lingxing_marketplace_id")
        values: Any = {
            **parameters,
            "lingxing_seller_id": ledger.seller_id,
            "lingxing_marketplace_id": ledger.marketplace_id,
        }
    elif parameters is None or (isinstance(parameters, Sequence) and not isinstance(parameters, (str, bytes))):
        seller = marketplace = dialect.placeholder
        if parameters is None and dialect.placeholder == "%s":
            text = text.replace("%", "%%")
        values = [*(parameters or ()), ledger.seller_id, ledger.marketplace_id]
    else:
        raise LingxingInputError(
            f"orders_sql_parameters must be a dict (named parameters) or a list (positional ones), "
            f"got {type(parameters).__name__}"
        )
    done = f"l.state = '{COMPLETE}'"
    if ledger.resubmit == RESUBMIT_ON_ERROR:
        done += f" AND (l.result_code IS NULL OR l.result_code <> '{ERROR_CODE}')"
    settled = (
        f"SELECT 1 FROM {ledger.table} l WHERE l.seller_id = {seller} AND l.marketplace_id = {marketplace} "
        f"AND l.order_id = CAST({ALIAS}.id AS {dialect.text_type}) "
        f"AND (l.state IN ('{SENDING}', '{ACCEPTED}', '{UNCERTAIN}') OR ({done}))"
    )
    unsettled = f"SELECT * FROM (\n{text}\n) {ALIAS} WHERE NOT EXISTS ({settled})"
    counted = f"SELECT COUNT(DISTINCT {ALIAS}.id) FROM (\n{given}\n) {ALIAS}"
    return (unsettled, values), (counted, parameters)


def read_rows(conn: Any, sql: str, parameters: Any) -> tuple[list[str], list[Sequence[Any]]]:
    """Run a query on `conn` and commit (ending its snapshot); the column names and the rows."""
    try:
        with closing(conn.cursor()) as cursor:
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            columns = [str(d[0]) for d in cursor.description or ()]
            rows = list(cursor.fetchall())
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return columns, rows


def _plain(value: Any, text: bool) -> Any:
    """A database value as an order field: integral decimals as ints, numbers in text fields as text."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bytes):
        value = value.decode()
    if text and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _key(order_id: Any) -> str:
    text = str(order_id).strip()
    return str(int(text)) if text.isascii() and text.isdigit() else repr(order_id)


def orders_from_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Order items grouped by `id` into submitFulfillment order_list items, in order of first appearance.

    Raises LingxingInputError naming missing columns, and listing every problem of the orders (a field that
    differs between the rows of one order, and everything api/orders.py checks), before anything is claimed.
    """
    names = [name.lower() for name in columns]
    if missing := [c for c in ROW_COLUMNS if c not in names]:
        raise LingxingInputError(
            f"orders_sql returns no column {', '.join(missing)}: it must return one row per order item with the "
            f"columns {', '.join(ROW_COLUMNS)} (other columns are ignored)"
        )
    at = {c: names.index(c) for c in ROW_COLUMNS}
    orders: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for row in rows:
        value = {c: _plain(row[at[c]], c in TEXT_FIELDS) for c in ROW_COLUMNS}
        if value["shipping_service"] is None:
            value["shipping_service"] = ""
        item = {"order_item_no": value["order_item_no"], "quantity": value["quantity"]}
        order = orders.get(key := _key(value["id"]))
        if order is None:
            orders[key] = {"id": value["id"], **{f: value[f] for f in ORDER_FIELDS}, "order_item": [item]}
            continue
        order["order_item"].append(item)
        for f in ORDER_FIELDS:
            if order[f] != value[f]:
                problems.append(f"orders_sql rows of order id {value['id']} differ in {f}: {order[f]!r}, {value[f]!r}")
    grouped = list(orders.values())
    problems += [  # one pass over every order; `orders[i]` in a message becomes the order's id
        re.sub(r"^orders\[(\d+)\]", lambda index: f"orders_sql id {grouped[int(index[1])]['id']}", problem)
        for problem in (order_problems(grouped, argument="orders") if grouped else ())
    ]
    if problems:
        shown = list(dict.fromkeys(problems))
        raise LingxingInputError(
            f"{len(shown)} problem(s) in the orders orders_sql returned, nothing was claimed or sent:\n  "
            + "\n  ".join(shown[:50])
            + (f"\n  … and {len(shown) - 50} more" if len(shown) > 50 else "")
        )
    return grouped
