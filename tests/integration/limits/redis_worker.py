"""A worker process for the Redis limiter tests: `python redis_worker.py MODE PREFIX ...` (Redis conn id `redis`).

hold PREFIX LEASE_SECONDS COUNT: takes COUNT result slots, prints `held`, then sleeps until killed.
race PREFIX CALLS sync|async: prints `ready`, waits for a line on stdin (the start), then takes CALLS slots
(20 threads or coroutines), each counting itself in the Redis key PREFIX:in-flight while it holds its slot;
prints {"peak": most holders seen at once, "granted": slots granted, "seconds": wall} as JSON.
hook IDS sync|async: prints `ready`, waits for a line on stdin, then fetches the results of IDS task ids with
LingxingHook (connection `lingxing_default`, as the environment gives it); prints {"results": n, "fetched": tokens}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time

import redis

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.limits.redis import RedisLimiter
from airflow_provider_lingxing.shared_redis import shared_redis

APP_ID = "ak_redis_test_app"
HOLD_SECONDS = 0.02
CONCURRENCY = 20


def hold(prefix: str, lease_seconds: float, count: int) -> None:
    limiter = RedisLimiter(shared_redis("redis", prefix), lease_seconds=lease_seconds)
    slots = contextlib.ExitStack()
    for _ in range(count):
        slots.enter_context(limiter.slot(APP_ID, GET_FULFILLMENT_RESULT))
    print("held", flush=True)
    time.sleep(3600)


def race(prefix: str, calls: int, kind: str) -> None:
    limiter = RedisLimiter(shared_redis("redis", prefix), lease_seconds=30)
    counter = redis.Redis("127.0.0.1", 6379)
    key = f"{prefix}:in-flight"
    peak, granted, lock = [0], [0], threading.Lock()

    def enter() -> None:
        now = counter.incr(key)
        with lock:
            peak[0], granted[0] = max(peak[0], now), granted[0] + 1

    def sync_worker(share: int) -> None:
        for _ in range(share):
            with limiter.slot(APP_ID, GET_FULFILLMENT_RESULT):
                enter()
                time.sleep(HOLD_SECONDS)
                counter.decr(key)

    async def async_worker(share: int) -> None:
        for _ in range(share):
            async with limiter.aslot(APP_ID, GET_FULFILLMENT_RESULT):
                await asyncio.to_thread(enter)
                await asyncio.sleep(HOLD_SECONDS)
                await asyncio.to_thread(counter.decr, key)

    shares = [calls // CONCURRENCY + (n < calls % CONCURRENCY) for n in range(CONCURRENCY)]
    limiter.shared.client().ping()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    if kind == "sync":
        workers = [threading.Thread(target=sync_worker, args=(share,)) for share in shares]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    else:

        async def main() -> None:
            await asyncio.gather(*(async_worker(share) for share in shares))
            await limiter.shared.aclose()

        asyncio.run(main())
    print(json.dumps({"peak": peak[0], "granted": granted[0], "seconds": time.monotonic() - started}), flush=True)


def fetch_results(ids: int, kind: str) -> None:
    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

    hook = LingxingHook()
    hook.settings  # noqa: B018  (the connection, and its Redis, resolved before the start)
    print("ready", flush=True)
    sys.stdin.readline()
    if kind == "sync":
        results = hook.get_fulfillment_results("A1SIMNA0000001", range(1, ids + 1))
    else:

        async def main() -> list[dict]:
            try:
                return await hook.aget_fulfillment_results("A1SIMNA0000001", range(1, ids + 1))
            finally:
                await hook.aclose()

        results = asyncio.run(main())
    print(json.dumps({"results": len(results), "fetched": hook.token_keeper.fetched}), flush=True)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "hook":
        fetch_results(int(rest[0]), rest[1])
        sys.exit()
    prefix, *rest = rest
    if mode == "hold":
        hold(prefix, float(rest[0]), int(rest[1]))
    else:
        race(prefix, int(rest[0]), rest[1])
