"""The deployment-wide token store: an Airflow Variable per app id, read and written by every worker and the
triggerer through the task supervisor, and by the API server and the CLI (the UI's and `airflow connections
test`'s "Test") through the metadata database."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any

from airflow_provider_lingxing.api.tokens import AccessToken
from airflow_provider_lingxing.tokens.stores import PROCESS_TOKEN_STORE, TokenStore

_log = logging.getLogger(__name__)
_MASKED: set[str] = set()
_MASKED_LOCK = threading.Lock()


def mask_secrets(*secrets: str) -> None:
    """Registers each secret once with Airflow's log masker (each registration may message the supervisor)."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        with _MASKED_LOCK:
            if not secret or secret in _MASKED:
                continue
            _MASKED.add(secret)
        mask_secret(secret)


def in_airflow_runtime() -> bool:
    """True inside a task or the triggerer: the supervisor can read and write Variables for us."""
    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def in_airflow_server() -> bool:
    """True in the API server or the CLI: an Airflow process with the metadata database and no task supervisor."""
    return os.environ.get("_AIRFLOW_PROCESS_CONTEXT") == "server"


def _token(raw: Any, key: str) -> AccessToken | None:
    if raw is None:
        return None
    try:
        return AccessToken.from_json(raw if isinstance(raw, str) else json.dumps(raw))
    except ValueError:
        _log.warning("Variable %s does not hold a Lingxing token; a new token will replace it", key)
        return None


class VariableTokenStore:
    """One Airflow Variable per app id (`lingxing_token__<app fingerprint>`): every worker and the triggerer
    read and write it, so they all use the one live token."""

    description = (
        "Lingxing access token shared by every worker and the triggerer (written by the Lingxing provider; "
        "deleting it only makes the next call fetch a new token)"
    )

    def get(self, key: str) -> AccessToken | None:
        from airflow.sdk import Variable

        return _token(Variable.get(key, default=None), key)

    def put(self, key: str, token: AccessToken) -> None:
        from airflow.sdk import Variable

        Variable.set(key, token.to_json(), description=self.description)


class MetadataVariableTokenStore(VariableTokenStore):
    """The same Variable, read and written in the metadata database: where no task supervisor relays Variable
    writes (the API server running the UI's "Test" button, `airflow connections test`)."""

    def get(self, key: str) -> AccessToken | None:
        from airflow.models import Variable

        return _token(Variable.get(key, default_var=None), key)

    def put(self, key: str, token: AccessToken) -> None:
        from airflow.models import Variable

        Variable.set(key, token.to_json(), description=self.description)


def default_token_store() -> TokenStore:
    """The Variable inside a task or the triggerer, or in the API server and the CLI; else the process's own."""
    if in_airflow_runtime():
        return VariableTokenStore()
    if in_airflow_server():
        return MetadataVariableTokenStore()
    return PROCESS_TOKEN_STORE
