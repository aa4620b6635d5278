"""Two worker processes x 1,000 task ids each, against one simulated bucket of 10: with and without Redis.

Each process fetches the results of 1,000 task ids with LingxingHook (100 requests of 10, up to 10 at once): 200
requests at latency L through a bucket of 10 cannot take less than 200 / 10 x L, the bound. (a) The connection names
a Redis (`redis_conn_id`): every request takes a lease first, so the two processes together stay within the bucket.
(b) No Redis: each process has its own budget of 10, 20 requests arrive at once, the simulator refuses the extra
ones with 3001008 and the hook backs off and retries: the throttling the README warns about. Printed per run: wall
time and its ratio to the bound, 3001008 answers, the peak in flight the simulator saw. Needs Redis on
127.0.0.1:6379 (keys under a prefix of this run, deleted afterwards).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid

import redis
from cryptography.fernet import Fernet

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT
from airflow_provider_lingxing.testing.simulator import SimulatorProcess

LATENCY = 0.2
IDS_PER_WORKER = 1000
WORKERS = 2
SELLER_ID = "A1SIMNA0000001"
WALL_TARGET = 1.3
RESULTS = GET_FULFILLMENT_RESULT.path
READY, DONE = "distributed_budget: ready", "distributed_budget: done"


def worker(ids: int, first_id: int) -> None:
    """One worker process: ready, wait for the start line, fetch, print its wall time."""
    from airflow_provider_lingxing.hooks.lingxing import LingxingHook

    hook = LingxingHook()
    hook.token_keeper.current()  # the token, and Redis, before the clock starts
    print(READY, flush=True)
    sys.stdin.readline()
    hook.get_fulfillment_results(SELLER_ID, range(first_id, first_id + ids))
    print(DONE, flush=True)


class Worker:
    """A worker process whose output is read as it comes (its log goes to stdout too), noting when it is done."""

    def __init__(self, env: dict[str, str], first_id: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.distributed_budget", "worker", str(IDS_PER_WORKER), str(first_id)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.ready, self.done = threading.Event(), threading.Event()
        self.finished_at = 0.0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            if line.strip() == READY:
                self.ready.set()
            elif line.strip() == DONE:
                self.finished_at = time.perf_counter()
                self.done.set()

    def start(self) -> None:
        self.process.stdin.write("go\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]

    def wait(self, event: threading.Event, what: str) -> None:
        while not event.wait(0.1):
            if self.process.poll() is not None:
                raise RuntimeError(f"a worker exited ({self.process.returncode}) before it was {what}")


def run(sim: SimulatorProcess, env: dict[str, str], app_id: str) -> dict[str, float]:
    sim.reset()
    workers = [Worker(env, n * 10**6 + 1) for n in range(WORKERS)]
    for one in workers:
        one.wait(one.ready, "ready")
    started = time.perf_counter()
    for one in workers:
        one.start()
    for one in workers:
        one.wait(one.done, "done")
    wall = max(one.finished_at for one in workers) - started  # an interpreter's exit is not timed
    for one in workers:
        one.process.wait(timeout=120)
    stats = sim.stats()
    return {
        "wall": wall,
        "rate_limited": stats["rate_limited"],
        "peak": stats["peak_in_flight"][app_id][RESULTS],
        "tokens": stats["tokens_issued"]["access"],
    }


def main() -> None:
    prefix = f"lingxing-bench-{uuid.uuid4().hex[:8]}"
    calls = WORKERS * math.ceil(IDS_PER_WORKER / GET_FULFILLMENT_RESULT.batch_limit)  # type: ignore[operator]
    bound = calls / GET_FULFILLMENT_RESULT.capacity * LATENCY
    client = redis.Redis("127.0.0.1", 6379)
    try:
        with SimulatorProcess("--latency", str(LATENCY)) as sim:
            lingxing = json.loads(sim.connection_json())
            base = {
                **os.environ,
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW_CONN_LINGXING_BENCH_REDIS": json.dumps(
                    {"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {"key_prefix": prefix}}
                ),
            }
            with_redis = {**lingxing, "extra": {"redis_conn_id": "lingxing_bench_redis"}}
            alone = {**lingxing, "extra": {"max_retries": 30}}
            print(
                f"{WORKERS} worker processes x {IDS_PER_WORKER} ids = {calls} requests of 10 at "
                f"{LATENCY * 1000:.0f} ms, bucket {GET_FULFILLMENT_RESULT.capacity}: bound {bound:.2f} s"
            )
            print(f"{'':28} {'wall s':>7} {'x bound':>8} {'3001008':>8} {'peak':>5} {'tokens':>7}")
            figures = {}
            for name, connection in (("(a) Redis leases", with_redis), ("(b) no Redis (own budgets)", alone)):
                if connection is alone:
                    sim.configure(single_token_per_app=False)  # each process its own token: only the bucket here
                env = {**base, "AIRFLOW_CONN_LINGXING_DEFAULT": json.dumps(connection)}
                figures[name] = f = run(sim, env, lingxing["login"])
                print(
                    f"{name:28} {f['wall']:7.2f} {f['wall'] / bound:8.2f} {f['rate_limited']:8d} "
                    f"{f['peak']:5d} {f['tokens']:7d}"
                )
            a = figures["(a) Redis leases"]
            verdict = (
                "ok" if a["rate_limited"] == 0 and a["peak"] <= 10 and a["wall"] <= WALL_TARGET * bound else "MISSED"
            )
            print(f"(a) target: 0 x 3001008, peak <= 10, wall <= {WALL_TARGET} x bound: {verdict}")
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
