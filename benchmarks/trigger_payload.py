"""The size of a deferred sensor's trigger kwargs, as Airflow serialises them into its metadata database.

A MySQL metadata database keeps a trigger's kwargs in a TEXT column: 65,535 bytes. Task ids go packed (sorted gaps,
zlib, base64: `api/compact_ids.py`); printed for 5,000 and 20,000 ids, both as one run's consecutive ids and with
gaps from other clients' tasks in between, beside the plain JSON list they replace.
"""

from __future__ import annotations

import json
import random

from airflow.sdk.serde import serialize

from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger

MYSQL_TEXT_BYTES = 65_535
FIRST_TASK_ID = 1_912_000_000_000_000_000
TARGET_BYTES = 60_000


def task_ids(count: int, *, gaps: bool) -> list[int]:
    rng, current, ids = random.Random(count), FIRST_TASK_ID, []
    for _ in range(count):
        current += rng.choice([1, 1, 1, 2, 3, 17, 250]) if gaps else 1
        ids.append(current)
    return ids


def kwargs_bytes(ids: list[int]) -> tuple[int, int]:
    """(serialised kwargs as shipped, the same with the ids as a plain JSON list)."""
    trigger = FulfillmentResultTrigger(
        lingxing_conn_id="lingxing_default", seller_id="A1MQMW3JWPNCBX", fulfillment_task_ids=ids, end_time=2e9
    )
    _, kwargs = trigger.serialize()
    plain = {**kwargs, "fulfillment_task_ids": ids, "pending_task_ids": ids}
    return len(json.dumps(serialize(kwargs))), len(json.dumps(serialize(plain)))


def main() -> None:
    print(f"trigger kwargs, serialised (MySQL TEXT holds {MYSQL_TEXT_BYTES:,} bytes; target < {TARGET_BYTES:,})")
    print(f"{'task ids':>9} {'ids':12} {'packed B':>9} {'plain list B':>13} {'ratio':>7}  verdict")
    for count in (5_000, 20_000):
        for gaps in (False, True):
            packed, plain = kwargs_bytes(task_ids(count, gaps=gaps))
            kind = "with gaps" if gaps else "consecutive"
            verdict = "ok" if packed < TARGET_BYTES else "MISSED"
            print(f"{count:9,} {kind:12} {packed:9,} {plain:13,} {plain / packed:7.0f}x  {verdict}")


if __name__ == "__main__":
    main()
