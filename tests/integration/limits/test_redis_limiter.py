"""The deployment-wide budget in the local Redis: leases that outlive no killed holder, a fair queue, processes
racing on an empty bucket, and Redis lost before or during a run (the process's own budget takes over)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

from airflow_provider_lingxing import shared_redis as shared_redis_module
from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, SELLER_LIST
from airflow_provider_lingxing.limits.budget import ProcessBudgets
from airflow_provider_lingxing.limits.redis import ACQUIRE, LeaseKeys, RedisLimiter
from airflow_provider_lingxing.shared_redis import SharedRedis, fallback_in_use
from tests.support.local_redis import LoopbackProxy, connection_json, dead_port

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("redis_worker.py")
REPO = Path(__file__).resolve().parents[3]
APP_ID = "ak_redis_test_app"  # as redis_worker.py
CAPACITY = GET_FULFILLMENT_RESULT.capacity
RESULTS = GET_FULFILLMENT_RESULT.path


def limiter(prefix: str, conn_id: str = "redis", lease_seconds: float = 30) -> RedisLimiter:
    """A limiter as one process has it: its own clients and its own local budget."""
    return RedisLimiter(SharedRedis(conn_id, prefix=prefix), lease_seconds=lease_seconds, budgets=ProcessBudgets())


def worker(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.01)


class Gauge:
    def __init__(self) -> None:
        self.now = self.peak = self.granted = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.granted += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def test_a_sigkilled_holders_slots_come_back_when_their_leases_expire(redis_prefix):
    client = redis.Redis()
    keys = LeaseKeys.of(SharedRedis("redis", prefix=redis_prefix), APP_ID, GET_FULFILLMENT_RESULT)
    holder = worker("hold", redis_prefix, "2", str(CAPACITY))
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        assert client.zcard(keys.leases) == CAPACITY
        granted = threading.Event()

        def take() -> None:
            with limiter(redis_prefix).slot(APP_ID, GET_FULFILLMENT_RESULT):
                granted.set()

        waiter = threading.Thread(target=take)
        waiter.start()
        wait_for(lambda: client.zcard(keys.queue) == 1, "the waiter queued behind the holder")
        assert not granted.is_set(), "the bucket is full: nobody gets a slot while the holder lives"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert client.zcard(keys.leases) == CAPACITY, "a killed process gives nothing back by itself"
        waiter.join(timeout=30)
        assert granted.is_set(), "the killed holder's leases expired and the waiter got its slot"
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
    assert client.zcard(keys.leases) == 0 and client.zcard(keys.queue) == 0


@pytest.mark.parametrize("second", ["sync", "async"])
def test_two_processes_racing_on_an_empty_bucket_never_exceed_its_capacity(redis_prefix, second):
    calls = 200
    racers = [worker("race", redis_prefix, str(calls), kind) for kind in ("sync", second)]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready", racer.stderr.read()
    outcomes = []
    for racer in racers:
        racer.stdin.write("go\n")
        racer.stdin.flush()
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err[-3000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(o["granted"] for o in outcomes) == 2 * calls
    assert max(o["peak"] for o in outcomes) == CAPACITY, outcomes


def test_the_queue_is_first_come_first_served_across_processes(redis_prefix):
    """Capacity 1 (the seller list): waiters of two processes get the slot in the order they asked for it."""
    one, other = limiter(redis_prefix), limiter(redis_prefix)
    client = redis.Redis()
    keys = LeaseKeys.of(one.shared, APP_ID, SELLER_LIST)
    served: list[str] = []
    holding = one.slot(APP_ID, SELLER_LIST)
    holding.__enter__()
    waiters = []
    for n, (name, process) in enumerate([("A1", one), ("B1", other), ("B2", other), ("A2", one)]):
        budgets = ProcessBudgets()  # each waiter its own local budget: only Redis orders them

        def take(name: str = name, process: RedisLimiter = process, budgets: ProcessBudgets = budgets) -> None:
            mine = RedisLimiter(process.shared, lease_seconds=30, budgets=budgets)
            with mine.slot(APP_ID, SELLER_LIST):
                served.append(name)

        waiter = threading.Thread(target=take)
        waiter.start()
        waiters.append(waiter)
        wait_for(lambda n=n: client.zcard(keys.queue) == n + 1, f"{name} queued")
    holding.__exit__(None, None, None)
    for waiter in waiters:
        waiter.join(timeout=30)
    assert served == ["A1", "B1", "B2", "A2"]


def test_a_waiter_whose_process_died_loses_its_place_and_blocks_nobody(redis_prefix):
    alive = limiter(redis_prefix)
    keys = LeaseKeys.of(alive.shared, APP_ID, SELLER_LIST)
    client = redis.Redis()
    with alive.slot(APP_ID, SELLER_LIST):
        # A waiter queues (first in line) and dies: it never asks again, so its place lapses after waiter_ms.
        assert client.register_script(ACQUIRE)(keys=keys.all(), args=[1, "dead-waiter", 30_000, 300]) == 0
        assert client.zrank(keys.queue, "dead-waiter") == 0
    with alive.slot(APP_ID, SELLER_LIST):
        assert client.zrank(keys.queue, "dead-waiter") is None
        assert client.zcard(keys.leases) == 1


def test_redis_down_before_the_run_the_process_budget_serves_with_one_warning(redis_prefix, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DOWN", connection_json(dead_port()))
    down, gauge = limiter(redis_prefix, "redis_down"), Gauge()

    def calls() -> None:
        for _ in range(10):
            with down.slot(APP_ID, GET_FULFILLMENT_RESULT):
                gauge.enter()
                time.sleep(0.005)
                gauge.leave()

    with caplog.at_level(logging.INFO, logger=shared_redis_module.__name__):
        threads = [threading.Thread(target=calls) for _ in range(25)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert gauge.granted == 250 and gauge.peak == CAPACITY
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "'redis_down' unreachable" in warnings[0].getMessage()
    assert "falling back to this process's own concurrency budget" in warnings[0].getMessage()
    assert fallback_in_use()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_redis_lost_during_the_run_every_request_still_gets_a_slot(redis_prefix, monkeypatch, caplog, kind):
    proxy = LoopbackProxy()
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_PROXIED", connection_json(proxy.port))
    proxied, gauge = limiter(redis_prefix, "redis_proxied"), Gauge()
    calls, cut_after = 300, 100

    def hold() -> None:
        gauge.enter()
        if gauge.granted == cut_after:
            proxy.cut()
        time.sleep(0.002)
        gauge.leave()

    def sync_calls(share: int) -> None:
        for _ in range(share):
            with proxied.slot(APP_ID, GET_FULFILLMENT_RESULT):
                hold()

    async def async_calls(share: int) -> None:
        for _ in range(share):
            async with proxied.aslot(APP_ID, GET_FULFILLMENT_RESULT):
                hold()

    async def all_async() -> None:
        try:
            await asyncio.gather(*(async_calls(calls // 20) for _ in range(20)))
        finally:
            await proxied.shared.aclose()

    with caplog.at_level(logging.INFO, logger=shared_redis_module.__name__):
        if kind == "sync":
            threads = [threading.Thread(target=sync_calls, args=(calls // 20,)) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        else:
            asyncio.run(all_async())
    proxy.stop()
    assert gauge.granted == calls and gauge.peak <= CAPACITY
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert fallback_in_use()


def test_after_the_pause_redis_is_tried_again_and_the_fallback_ends(redis_prefix, monkeypatch):
    now = [1000.0]
    proxy = LoopbackProxy()
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_PROXIED", connection_json(proxy.port))
    shared = SharedRedis("redis_proxied", prefix=redis_prefix, clock=lambda: now[0])
    lim = RedisLimiter(shared, lease_seconds=30, budgets=ProcessBudgets())
    keys = LeaseKeys.of(shared, APP_ID, GET_FULFILLMENT_RESULT)
    client = redis.Redis()
    with proxy:
        with lim.slot(APP_ID, GET_FULFILLMENT_RESULT):
            assert client.zcard(keys.leases) == 1 and not fallback_in_use()
        proxy.cut()
        with lim.slot(APP_ID, GET_FULFILLMENT_RESULT):
            assert fallback_in_use() and client.zcard(keys.leases) == 0
        proxy.restore()
        with lim.slot(APP_ID, GET_FULFILLMENT_RESULT):
            assert client.zcard(keys.leases) == 0, "within the pause after a failure, Redis is not asked"
        now[0] += shared_redis_module.RETRY_AFTER_SECONDS
        with lim.slot(APP_ID, GET_FULFILLMENT_RESULT):
            assert client.zcard(keys.leases) == 1, "after the pause, leases come from Redis again"
        assert not fallback_in_use()


@pytest.mark.parametrize("second", ["sync", "async"])
@pytest.mark.lingxing_simulator(latency=0.03)
def test_two_worker_processes_through_the_connections_redis_stay_under_the_bucket_with_one_token(
    lingxing_simulator, redis_prefix, monkeypatch, second
):
    """The user's set-up: the `lingxing` connection names a `redis` connection; two processes fetch results."""
    lingxing = {**json.loads(lingxing_simulator.connection_json()), "extra": {"redis_conn_id": "redis"}}
    monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", json.dumps(lingxing))
    monkeypatch.setenv("AIRFLOW_CONN_REDIS", connection_json(key_prefix=redis_prefix))
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    ids = 200
    workers = [worker("hook", str(ids), kind) for kind in ("sync", second)]
    for one in workers:
        assert one.stdout.readline().strip() == "ready", one.stderr.read()
    for one in workers:
        one.stdin.write("go\n")
        one.stdin.flush()
    outcomes = []
    for one in workers:
        out, err = one.communicate(timeout=120)
        assert one.returncode == 0, err[-3000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))

    stats = lingxing_simulator.stats()
    assert stats["rate_limited"] == 0
    assert stats["peak_in_flight"][lingxing_simulator.app_id][RESULTS] == CAPACITY
    assert stats["requests"][RESULTS] == {"0": 2 * ids // 10}
    assert stats["tokens_issued"]["access"] == 1 == sum(o["fetched"] for o in outcomes)
    assert redis.Redis().keys(f"{redis_prefix}:token:*"), "the token was shared through Redis"


@pytest.mark.lingxing_simulator(latency=0.0)
def test_the_progress_line_says_when_the_fallback_is_in_use(lingxing_simulator, redis_prefix, monkeypatch, caplog):
    """A sensor's poke against a Redis that does not answer: the call goes through, and its line says why it is
    only this process's budget that bounds it."""
    from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
    from tests.support.task_instance import FakeTaskInstance

    lingxing = {**json.loads(lingxing_simulator.connection_json()), "extra": {"redis_conn_id": "redis_down"}}
    monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", json.dumps(lingxing))
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DOWN", connection_json(dead_port(), key_prefix=redis_prefix))
    sensor = FulfillmentResultSensor(task_id="wait", seller_id="A1SIMNA0000001", fulfillment_task_ids=[1003100])
    sensor._cached_logger = sensor._log = logging.getLogger("lingxing.test.sensor")  # structlog's, to caplog
    caplog.set_level(logging.INFO, logger="lingxing.test.sensor")
    assert not sensor.hook.fallback_note()
    sensor.poke({"ti": FakeTaskInstance("wait")})
    lines = [r.getMessage() for r in caplog.records if r.name == "lingxing.test.sensor"]
    assert lines and lines[-1].startswith("0/1 complete, 0 failed, 1 pending (statuses: missing=1)")
    assert lines[-1].endswith(
        " [Redis 'redis_down' unreachable: this process's own concurrency budget and token store in use; "
        "other workers are not counted]"
    )
