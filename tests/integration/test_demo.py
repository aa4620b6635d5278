"""`make demo` end to end: scripts/demo.py in a fresh interpreter, as the Makefile runs it, in a temporary home."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def load_demo():
    spec = importlib.util.spec_from_file_location("lingxing_demo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_outcome(order: dict) -> str:
    """The simulator's documented rule: tracking numbers starting ERR fail, WARN warn, the rest succeed."""
    tracking_no = order["tracking_no"]
    return "Error" if tracking_no.startswith("ERR") else "Warning" if tracking_no.startswith("WARN") else "Success"


@pytest.mark.integration
def test_make_demo_loads_one_row_per_order_and_prints_the_table(tmp_path):
    demo = load_demo()
    home = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout

    orders = demo.demo_orders()
    expected = Counter(expected_outcome(order) for order in orders)
    assert set(expected) == {"Success", "Warning", "Error"}  # the demo shows all three

    warehouse = home / "warehouse.db"
    with sqlite3.connect(warehouse) as conn:
        rows = conn.execute(f"SELECT message_id, status_code, result_code, seller_id FROM {demo.TABLE}").fetchall()
    assert sorted(row[0] for row in rows) == sorted(str(order["id"]) for order in orders)
    assert Counter(row[2] for row in rows) == expected
    outcome_by_id = {str(order["id"]): expected_outcome(order) for order in orders}
    assert all(outcome_by_id[message_id] == code for message_id, _, code, _ in rows)
    assert {row[1] for row in rows} == {"Complete"}
    assert {row[3] for row in rows} == {demo.SELLER["seller_id"]}

    assert "the sensor defers" in out and "deferred: the trigger now polls Lingxing" in out
    assert "task load_results finished" in out
    table = out[out.index(f"==> {demo.TABLE} in {warehouse}") :]
    for code in ("Success", "Warning", "Error"):
        assert table.count(f" {code} ") == expected[code]
    assert (
        f"{len(orders)} orders in 1 Lingxing task(s): {expected['Success']} Success, "
        f"{expected['Warning']} Warning, {expected['Error']} Error"
    ) in out
    assert f"The table is in the SQLite file {warehouse}" in out
