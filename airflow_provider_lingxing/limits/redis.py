"""The deployment-wide budget: concurrency leases per (app id, endpoint) in the deployment's Redis.

Every request of every process takes a lease before it leaves and gives it back when its answer is in:
at most `endpoint.capacity` leases exist per (app id, endpoint path), whoever holds them, so workers on several
machines and several triggerers stay together under Lingxing's bucket. Each lease expires by itself a little after
the request timeout (`lease_seconds`), so a killed worker's slot returns on its own, as the gateway's own tokens do.

Taking and giving back are Lua scripts (atomic, on Redis' own clock). Waiters queue in arrival order (a ticket
each): a freed slot goes to the longest waiter, which is woken through its own list (BLPOP), so nobody starves and
nobody polls hot. A waiter that stops renewing its place (its process died) is dropped after `WAITER_SECONDS`.
Each process first takes a slot of its own budget (`limits/budget.py`), so at most `capacity` of its requests queue
in Redis, and that budget is the fallback when Redis does not answer. Key layout: docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import redis

from airflow_provider_lingxing.api.endpoints import Endpoint
from airflow_provider_lingxing.api.tokens import app_fingerprint
from airflow_provider_lingxing.limits.budget import PROCESS_BUDGETS, ProcessBudgets
from airflow_provider_lingxing.shared_redis import SharedRedis

LEASE_MARGIN_SECONDS = 5.0
"""A lease outlives the request timeout by this much: a slow answer still holds its slot."""
WAITER_SECONDS = 3.0
"""A queued waiter renews its place at least this often (it wakes every `WAKE_SECONDS`), or loses it."""
WAKE_SECONDS = 0.5
"""Longest a waiter sleeps without being woken before it asks again (covers leases that merely expired)."""

_PURGE_AND_WAKE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge(now)
  local purged = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
  for _, waiter in ipairs(dead) do
    redis.call('ZREM', KEYS[2], waiter)
    redis.call('DEL', KEYS[5] .. waiter)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  return purged + #dead
end
local function wake(capacity, waiter_ms, except)
  local free = capacity - redis.call('ZCARD', KEYS[1])
  if free <= 0 then return end
  for _, waiter in ipairs(redis.call('ZRANGE', KEYS[2], 0, free - 1)) do
    if waiter ~= except then
      redis.call('RPUSH', KEYS[5] .. waiter, 1)
      redis.call('PEXPIRE', KEYS[5] .. waiter, waiter_ms)
    end
  end
end
local function keep(ttl_ms)
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl_ms) end
end
"""

ACQUIRE = (
    _PURGE_AND_WAKE
    + """
-- KEYS: leases, queue, seen, tickets, wake-list prefix. ARGV: capacity, id, lease ms, waiter ms.
-- Returns 1 with a lease taken, or 0 with the caller queued (or kept in its place) in arrival order.
local capacity, id = tonumber(ARGV[1]), ARGV[2]
local lease_ms, waiter_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local purged = purge(now)
local free = capacity - redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[2], id)
if not rank then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), id)
  rank = redis.call('ZCARD', KEYS[2]) - 1
end
keep(2 * math.max(lease_ms, waiter_ms))
if rank < free then
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('DEL', KEYS[5] .. id)
  redis.call('ZADD', KEYS[1], now + lease_ms, id)
  if purged > 0 then wake(capacity, waiter_ms, id) end
  return 1
end
redis.call('ZADD', KEYS[3], now + waiter_ms, id)
if purged > 0 then wake(capacity, waiter_ms, id) end
return 0
"""
)

RELEASE = (
    _PURGE_AND_WAKE
    + """
-- KEYS as ACQUIRE. ARGV: capacity, id, waiter ms. Gives a lease back, or leaves the queue; wakes the next waiters.
local capacity, id, waiter_ms = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local released = redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('DEL', KEYS[5] .. id)
purge(now_ms())
wake(capacity, waiter_ms, id)
return released
"""
)


@dataclass(frozen=True)
class LeaseKeys:
    """The keys of one (app id, endpoint) budget; one hash tag, so a script's keys share a slot."""

    leases: str
    queue: str
    seen: str
    tickets: str
    wake_prefix: str

    @classmethod
    def of(cls, shared: SharedRedis, app_id: str, endpoint: Endpoint) -> LeaseKeys:
        base = shared.key("limit", "{" + f"{app_fingerprint(app_id)}:{endpoint.path}" + "}")
        return cls(f"{base}:leases", f"{base}:queue", f"{base}:seen", f"{base}:tickets", f"{base}:wake:")

    def all(self) -> list[str]:
        return [self.leases, self.queue, self.seen, self.tickets, self.wake_prefix]

    def wake(self, lease_id: str) -> str:
        return self.wake_prefix + lease_id


class RedisLimiter:
    """Slots from the deployment's Redis, behind this process's own budget (its local gate and fallback).

    `lease_seconds`: the request timeout plus `LEASE_MARGIN_SECONDS` (the hook passes its connection's timeout).
    """

    def __init__(self, shared: SharedRedis, *, lease_seconds: float, budgets: ProcessBudgets = PROCESS_BUDGETS) -> None:
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        self.shared = shared
        self.lease_ms = int(lease_seconds * 1000)
        self.waiter_ms = int(WAITER_SECONDS * 1000)
        self._budgets = budgets

    @classmethod
    def for_timeout(cls, shared: SharedRedis, request_timeout: float) -> RedisLimiter:
        return cls(shared, lease_seconds=request_timeout + LEASE_MARGIN_SECONDS)

    @contextlib.contextmanager
    def slot(self, app_id: str, endpoint: Endpoint) -> Iterator[None]:
        with self._budgets.budget(app_id, endpoint):
            keys, lease_id = LeaseKeys.of(self.shared, app_id, endpoint), uuid.uuid4().hex
            leased = self._take(keys, lease_id, endpoint.capacity)
            try:
                yield
            finally:
                if leased:
                    self._give_back(keys, lease_id, endpoint.capacity)

    @contextlib.asynccontextmanager
    async def aslot(self, app_id: str, endpoint: Endpoint) -> AsyncIterator[None]:
        async with self._budgets.budget(app_id, endpoint):
            keys, lease_id = LeaseKeys.of(self.shared, app_id, endpoint), uuid.uuid4().hex
            leased = await self._atake(keys, lease_id, endpoint.capacity)
            try:
                yield
            finally:
                if leased:
                    await self._agive_back(keys, lease_id, endpoint.capacity)

    # -- sync ---------------------------------------------------------------------------------------

    def _take(self, keys: LeaseKeys, lease_id: str, capacity: int) -> bool:
        """True with a lease held; False when Redis is unreachable (the local budget alone then bounds us)."""
        if not self.shared.usable():
            return False
        try:
            client, acquire = self.shared.client(), self.shared.script(ACQUIRE)
            while not acquire(keys=keys.all(), args=[capacity, lease_id, self.lease_ms, self.waiter_ms]):
                client.blpop([keys.wake(lease_id)], timeout=WAKE_SECONDS)
        except redis.RedisError as error:
            self.shared.failed(error, "taking a concurrency lease")
            return False
        except BaseException:
            self._give_back(keys, lease_id, capacity)  # interrupted while queued: leave the queue
            raise
        self.shared.answered()
        return True

    def _give_back(self, keys: LeaseKeys, lease_id: str, capacity: int) -> None:
        """Best effort: a lease not given back expires after `lease_seconds`."""
        try:
            self.shared.script(RELEASE)(keys=keys.all(), args=[capacity, lease_id, self.waiter_ms])
        except redis.RedisError as error:
            self.shared.failed(error, "giving a concurrency lease back")

    # -- async --------------------------------------------------------------------------------------

    async def _atake(self, keys: LeaseKeys, lease_id: str, capacity: int) -> bool:
        if not self.shared.usable():
            return False
        try:
            client, acquire = await self.shared.aclient(), await self.shared.ascript(ACQUIRE)
            while not await acquire(keys=keys.all(), args=[capacity, lease_id, self.lease_ms, self.waiter_ms]):
                await client.blpop([keys.wake(lease_id)], timeout=WAKE_SECONDS)
        except redis.RedisError as error:
            self.shared.failed(error, "taking a concurrency lease")
            return False
        except BaseException:
            await asyncio.shield(self._agive_back(keys, lease_id, capacity))
            raise
        self.shared.answered()
        return True

    async def _agive_back(self, keys: LeaseKeys, lease_id: str, capacity: int) -> None:
        try:
            release = await self.shared.ascript(RELEASE)
            await release(keys=keys.all(), args=[capacity, lease_id, self.waiter_ms])
        except redis.RedisError as error:
            self.shared.failed(error, "giving a concurrency lease back")
