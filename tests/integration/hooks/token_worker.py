"""One OS process of the multi-process token test: many calls through new hooks sharing a SQLite store.

Usage, from the repository root: `python -m tests.integration.hooks.token_worker STORE_PATH START_AT CALLS SEED`;
prints a JSON summary on its last line.
"""

from __future__ import annotations

import json
import random
import sys
import time

from airflow_provider_lingxing.api.retry import RetryPolicy
from airflow_provider_lingxing.exceptions import LingxingApiError
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from tests.integration.hooks.sqlite_token_store import SqliteTokenStore

SELLER_ID = "A1SIMNA0000001"


def main(store_path: str, start_at: float, calls: int, seed: int) -> None:
    rng = random.Random(seed)
    store = SqliteTokenStore(store_path)
    failures: list[dict] = []
    fetched = result_calls = 0
    time.sleep(max(0.0, start_at - time.time()))
    for n in range(calls):
        hook = LingxingHook(token_store=store, retry_policy=RetryPolicy(base_delay=0.05, max_delay=1.0))
        try:
            if n % 8 == 0:
                hook.list_sellers()
            else:
                result_calls += 1
                hook.get_fulfillment_results(SELLER_ID, rng.sample(range(1, 200), 25))
        except LingxingApiError as error:
            failures.append({"type": type(error).__name__, "code": error.code, "message": str(error)})
        fetched += hook.token_keeper.fetched
        hook.close()
        time.sleep(rng.uniform(0, 0.03))
    print(json.dumps({"calls": calls, "result_calls": result_calls, "failures": failures, "fetched": fetched}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
