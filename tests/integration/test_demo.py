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


def expected_outcome(tracking_no: str) -> str:
    """The simulator's documented rule: tracking numbers starting ERR fail, WARN warn, the rest succeed."""
    return "Error" if tracking_no.startswith("ERR") else "Warning" if tracking_no.startswith("WARN") else "Success"


@pytest.mark.integration
def test_make_demo_runs_the_loop_twice_and_the_second_run_sends_the_new_shipments_only(tmp_path):
    demo = load_demo()
    home = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--home", str(home)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout

    from airflow_provider_lingxing.testing.simulator.config import default_sellers

    sellers = default_sellers()
    first, second = (demo.shipments(n, sellers) for n in (1, 2))
    orders = {row[0]: row[3] for row in first + second}
    assert len({r[0] for r in first}) == 24 and len({r[0] for r in second}) == 12
    assert "orders read 24, claimed 24, sent 24, skipped as already sent 0" in out
    assert "orders read 36, claimed 12, sent 12, skipped as already sent 24" in out, "the second run: new only"
    assert "0 order(s) received twice" in out

    warehouse = home / "warehouse.db"
    with sqlite3.connect(warehouse) as conn:
        rows = conn.execute(f"SELECT message_id, result_code, status_code FROM {demo.RESULTS}").fetchall()
        ledger = dict(conn.execute(f"SELECT order_id, state FROM {demo.LEDGER}").fetchall())
    assert sorted(int(r[0]) for r in rows) == sorted(orders), "one row per order, every order loaded"
    assert all(code == expected_outcome(orders[int(mid)]) for mid, code, _ in rows)
    assert {r[2] for r in rows} == {"Complete"}
    assert set(ledger.values()) == {"complete"} and len(ledger) == len(orders)
    expected = Counter(expected_outcome(t) for t in orders.values())
    assert set(expected) == {"Success", "Warning", "Error"}  # the demo shows all three
    assert "deferred: the trigger now polls Lingxing" in out
    assert out.count("task mark_shipped.load_results finished") == 4, "2 sellers × 2 runs"
    assert f"The warehouse is the SQLite file {warehouse}" in out
