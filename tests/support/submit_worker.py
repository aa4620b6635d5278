"""One try of the submit task in a process of its own (a worker), killed with SIGKILL at a chosen boundary.

    python submit_worker.py '{"run_id": ..., "try_number": 1, "kill_at": "claimed", "arguments": {...}}'

`arguments` are LingxingSubmitFulfillmentOperator's; the environment holds the connections. Boundaries:
`claimed` (the claim committed), `sending` (the first chunks marked sending, their requests not sent), `answered`
(Lingxing answered the first request, the ledger not yet written), `recorded` (every chunk recorded, execute
returned, its XCom not pushed). Prints `RESULT <json>` or `FAILED <class>: <message>` (exit 3).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from types import SimpleNamespace
from typing import Any

from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.operators.fulfillment import LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.warehouse.ledger import SubmissionLedger
from airflow_provider_lingxing.warehouse.submissions import SENDING


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after(cls: type, name: str) -> None:
    real = getattr(cls, name)

    def then_die(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        die()

    setattr(cls, name, then_die)


def main(spec: dict[str, Any]) -> None:
    kill_at = spec.get("kill_at")
    if kill_at == "claimed":
        kill_after(SubmissionLedger, "claim")
    elif kill_at == "sending":
        real_record = SubmissionLedger.record

        def record_then_die(self: SubmissionLedger, transitions: Any) -> Any:
            moved = real_record(self, transitions)
            if any(move.to == SENDING for move in transitions):
                die()
            return moved

        SubmissionLedger.record = record_then_die  # type: ignore[method-assign]
    elif kill_at == "answered":
        kill_after(LingxingHook, "submit_fulfillment")
    ti = SimpleNamespace(
        dag_id="crash_loop", run_id=spec["run_id"], task_id="submit", map_index=-1, try_number=spec["try_number"]
    )
    operator = LingxingSubmitFulfillmentOperator(task_id="submit", **spec["arguments"])
    try:
        result = operator.execute({"ti": ti})
    except Exception as error:
        print(f"FAILED {type(error).__name__}: {error}", flush=True)
        sys.exit(3)
    if kill_at == "recorded":
        die()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
