"""Redis tests: a key prefix of their own (`redis_prefix`), and a fresh process state for the fallback warning."""

from tests.support.local_redis import fresh_redis_state, redis_prefix  # noqa: F401 (fixtures)
