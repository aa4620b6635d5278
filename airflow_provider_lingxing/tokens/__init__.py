"""The access token of a connection: the keeper that follows the token protocol, and the stores that share
the token between processes (the process's own; an Airflow Variable inside a task or the triggerer)."""

from __future__ import annotations

from airflow_provider_lingxing.tokens.keeper import TokenKeeper
from airflow_provider_lingxing.tokens.stores import PROCESS_TOKEN_STORE, MemoryTokenStore, TokenStore
from airflow_provider_lingxing.tokens.variable import VariableTokenStore, default_token_store, in_airflow_runtime

__all__ = [
    "PROCESS_TOKEN_STORE",
    "MemoryTokenStore",
    "TokenKeeper",
    "TokenStore",
    "VariableTokenStore",
    "default_token_store",
    "in_airflow_runtime",
]
