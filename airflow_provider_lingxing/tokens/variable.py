"""The deployment-wide token store: an Airflow Variable per connection, read and written by every worker and
the triggerer through the task supervisor."""

from __future__ import annotations

import json
import logging
import sys
import threading

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


class VariableTokenStore:
    """One Airflow Variable per connection (`lingxing_token__<conn_id>`): every worker and the triggerer read
    and write it, so they all use the one live token."""

    description = (
        "Lingxing access token shared by every worker and the triggerer (written by the Lingxing provider; "
        "deleting it only makes the next call fetch a new token)"
    )

    def get(self, key: str) -> AccessToken | None:
        from airflow.sdk import Variable

        raw = Variable.get(key, default=None)
        if raw is None:
            return None
        try:
            return AccessToken.from_json(raw if isinstance(raw, str) else json.dumps(raw))
        except ValueError:
            _log.warning("Variable %s does not hold a Lingxing token; a new token will replace it", key)
            return None

    def put(self, key: str, token: AccessToken) -> None:
        from airflow.sdk import Variable

        Variable.set(key, token.to_json(), description=self.description)


def default_token_store() -> TokenStore:
    """The Variable inside a task or the triggerer, else the process's own store."""
    return VariableTokenStore() if in_airflow_runtime() else PROCESS_TOKEN_STORE
