"""The access token of an app id: the keeper that follows the token protocol, and the stores that share the token
between processes (the process's own; an Airflow Variable inside a task or the triggerer; the deployment's Redis,
encrypted, when the connection names a `redis_conn_id`)."""

from __future__ import annotations

from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.tokens.keeper import TokenKeeper
from airflow_provider_lingxing.tokens.stores import PROCESS_TOKEN_STORE, LockingTokenStore, MemoryTokenStore, TokenStore
from airflow_provider_lingxing.tokens.variable import (
    VariableTokenStore,
    default_token_store,
    in_airflow_runtime,
    mask_secrets,
)

__all__ = [
    "PROCESS_TOKEN_STORE",
    "LockingTokenStore",
    "MemoryTokenStore",
    "TokenKeeper",
    "TokenStore",
    "VariableTokenStore",
    "default_token_store",
    "in_airflow_runtime",
    "mask_secrets",
    "token_store_for",
]


def token_store_for(settings: LingxingSettings) -> TokenStore:
    """The connection's store: Redis in front of the default store when it names a `redis_conn_id`."""
    fallback = default_token_store()
    if settings.redis_conn_id is None:
        return fallback
    try:
        from airflow_provider_lingxing.shared_redis import shared_redis
        from airflow_provider_lingxing.tokens.redis import RedisTokenStore
    except ImportError as error:
        raise LingxingInputError(
            f"Lingxing connection {settings.conn_id!r}: extra `redis_conn_id` needs the Redis provider: "
            f"pip install 'airflow-provider-lingxing[redis]' ({error})"
        ) from None
    return RedisTokenStore(shared_redis(settings.redis_conn_id), fallback)
