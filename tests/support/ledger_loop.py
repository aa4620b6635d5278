"""The scheduled loop in a test: a warehouse with a WMS shipments table and the ledger, the simulator, and
submit tries run in this process or in a worker process of their own (killed at a boundary if asked)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator
from tests.support import shipments
from tests.support.databases import Warehouse

WORKER = Path(__file__).with_name("submit_worker.py")
LOGGER = "lingxing.ledger_loop"
"""The operators' log in this process goes to this standard logger (capture it with caplog)."""
SETTLED = {"accepted", "refused", "complete", "uncertain"}


@dataclass
class Loop:
    db: Warehouse
    sim: Any
    wms: str = field(default_factory=lambda: f"ledger_wms_{uuid.uuid4().hex[:10]}")
    ledger: str = field(default_factory=lambda: f"ledger_sub_{uuid.uuid4().hex[:10]}")
    results: str = field(default_factory=lambda: f"ledger_res_{uuid.uuid4().hex[:10]}")

    def __post_init__(self) -> None:
        shipments.create(self.db, self.wms)

    def drop(self) -> None:
        for table in (self.wms, self.ledger, self.results):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")

    def ship(self, orders: range | list[int], **kwargs: Any) -> None:
        shipments.ship(self.db, self.wms, orders, **kwargs)

    def arguments(self, **overrides: Any) -> dict[str, Any]:
        return {
            "region": "NA",
            "seller_id": shipments.SELLER_ID,
            "marketplace_id": shipments.MARKETPLACE_ID,
            "sql_conn_id": self.db.conn_id,
            "ledger_table": self.ledger,
            "orders_sql": shipments.orders_sql(self.db, self.wms),
            "orders_sql_parameters": [shipments.SELLER_ID],
            "max_orders_per_task": 10,
            **overrides,
        }

    def submit(self, run_id: str = "scheduled__1", try_number: int = 1, hook: Any = None, **overrides: Any) -> Any:
        """One submit try in this process (a retry or clear: same run_id, next try_number)."""
        operator = LingxingSubmitFulfillmentOperator(task_id="submit", **self.arguments(**overrides))
        operator._log = operator._cached_logger = logging.getLogger(LOGGER)  # type: ignore[attr-defined]
        if hook is not None:
            operator.hook = hook
        ti = SimpleNamespace(dag_id="crash_loop", run_id=run_id, task_id="submit", map_index=-1, try_number=try_number)
        return operator.execute({"ti": ti})

    def worker(self, run_id: str = "scheduled__1", try_number: int = 1, kill_at: str | None = None, **overrides: Any):
        """One submit try in a worker process of its own; a Popen, started (wait() for it)."""
        spec = {
            "run_id": run_id,
            "try_number": try_number,
            "kill_at": kill_at,
            "arguments": self.arguments(**overrides),
        }
        return subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def load(self, tasks: Any) -> Any:
        operator = FulfillmentResultOperator(
            task_id="load",
            seller_id=shipments.SELLER_ID,
            fulfillment_task_ids=tasks,
            sql_conn_id=self.db.conn_id,
            table=self.results,
            ledger_table=self.ledger,
        )
        return operator.execute({"ti": SimpleNamespace(xcom_push=lambda **kw: None)})

    def states(self) -> dict[str, str]:
        return {str(order_id): state for order_id, state in self.db.query(f"SELECT order_id, state FROM {self.ledger}")}

    def received(self) -> Counter[str]:
        """How many times each order reached Lingxing (a task holds it), as the simulator counted."""
        counts = self.sim.stats()["orders_received"].get(shipments.SELLER_ID, {}).get(shipments.MARKETPLACE_ID, {})
        return Counter({str(order_id): n for order_id, n in counts.items()})
