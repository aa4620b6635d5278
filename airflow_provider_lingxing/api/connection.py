"""A `lingxing` connection's fields → validated settings, before any network call (pure: no Airflow import).

Each message names the field to fix and never quotes the secret or a whole URL (it could hold a password).
The connection form and its extras are described in docs/architecture.md.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit, urlunsplit

from airflow_provider_lingxing.api.endpoints import DEFAULT_BASE_URL
from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.api.signing import VALID_APP_ID_BYTES

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5

_log = logging.getLogger(__name__)


class ConnectionFields(Protocol):
    """What is read of an Airflow `Connection` (any object with these attributes will do)."""

    @property
    def conn_id(self) -> str: ...
    @property
    def host(self) -> str | None: ...
    @property
    def schema(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def extra(self) -> str | None: ...


@dataclass(frozen=True)
class LingxingSettings:
    """A validated connection. repr hides the secret."""

    conn_id: str
    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool = True
    redis_conn_id: str | None = None
    """An Airflow `redis` connection: one concurrency budget and one token per app id across the deployment."""
    ca_bundle: str | None = None
    """A PEM file of the CA certificates to trust (a corporate TLS proxy's CA); None: the environment's, else
    certifi's (transport/tls.py)."""


def _extra(extras: Mapping[str, Any], name: str) -> Any:
    for key in (name, f"extra__lingxing__{name}"):
        value = extras.get(key)
        if value is not None and value != "":
            return value
    return None


HOST_NAME = re.compile(r"[\w.-]+|[0-9a-f:.]*:[0-9a-f:.]*")
"""A host name (letters, digits, `.`, `-`, `_`, any script) or an IPv6 address as urlsplit gives it."""


def _url_problem(parts: SplitResult) -> str | None:
    """What is wrong with a Base URL, or None; never quotes it whole (it could hold a password)."""
    if parts.scheme.lower() not in ("http", "https"):
        return f"must be an http:// or https:// URL, such as {DEFAULT_BASE_URL} (got scheme {parts.scheme!r})"
    if "@" in parts.netloc:
        return "must not hold a user name or password: the App ID and App Secret go in login and password"
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    if port == 0 or parts.netloc.endswith(":"):
        return "has a port that is not a number from 1 to 65535"
    if not parts.hostname:
        return f"has no host name, such as {DEFAULT_BASE_URL}"
    if not HOST_NAME.fullmatch(parts.hostname):
        return f"has a host name {parts.hostname!r} with characters a host name cannot have"
    return None


def _base_url(host: str | None, schema: str | None, port: int | None, where: str) -> str:
    """The connection's host as a base URL; a bare host takes the schema field's scheme, else https."""
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = (schema or "").strip().lower()
        host = f"{scheme if scheme in ('http', 'https') else 'https'}://{host}"
    try:
        parts = urlsplit(host)
        problem = _url_problem(parts)
    except ValueError:
        problem = "is not a URL (an unclosed `[` of an IPv6 address?)"
    if problem is not None:
        raise LingxingInputError(f"{where}: host (Base URL) {problem}")
    netloc = f"{parts.netloc}:{port}" if port and parts.port is None else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def _timeout(value: Any, where: str) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value) if not isinstance(value, bool) else 0.0
    except (TypeError, ValueError):
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise LingxingInputError(f"{where}: extra `timeout` must be a number of seconds > 0, got {value!r}")
    return seconds


def _max_retries(value: Any, where: str) -> int:
    if value is None:
        return DEFAULT_MAX_RETRIES
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        raise LingxingInputError(f"{where}: extra `max_retries` must be a whole number >= 0, got {value!r}")
    return int(text)


def _verify(value: Any, where: str) -> bool:
    if value is None or isinstance(value, bool):
        return value is not False
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise LingxingInputError(f"{where}: extra `verify` must be true or false, got {value!r}")
    return text in ("true", "1", "yes")


AIRFLOW_CONN_ID = re.compile(r"[\w.-]+", re.ASCII)
"""The characters Airflow allows in a connection id."""


def _redis_conn_id(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not AIRFLOW_CONN_ID.fullmatch(value.strip()):
        raise LingxingInputError(
            f"{where}: extra `redis_conn_id` must be the id of an Airflow `redis` connection "
            f"(letters, digits, `_`, `.`, `-`), got {value!r}"
        )
    return value.strip()


def _ca_bundle(value: Any, verify: bool, where: str) -> str | None:
    if value is None:
        return None
    path = value.strip() if isinstance(value, str) else ""
    if not path:
        raise LingxingInputError(f"{where}: extra `ca_bundle` must be the path of a PEM file, got {value!r}")
    if not verify:
        raise LingxingInputError(
            f"{where}: extra `ca_bundle` is set but `verify` is false, so it would not be used: remove one of them"
        )
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise LingxingInputError(
            f"{where}: extra `ca_bundle` names {path!r}, which is not a readable file on this machine: give the path "
            "of a PEM file of the CA certificates to trust, present on every worker and the triggerer"
        )
    return path


def settings_from_connection(conn: ConnectionFields) -> LingxingSettings:
    """Validates a connection before any network call; each message names the field to fix."""
    where = f"Lingxing connection {conn.conn_id!r}"
    base_url = _base_url(conn.host, conn.schema, conn.port, where)
    app_id = (conn.login or "").strip()
    if not app_id:
        raise LingxingInputError(f"{where}: login (App ID) is empty: set it to the app id from the Lingxing ERP")
    if len(app_id.encode()) not in VALID_APP_ID_BYTES:
        raise LingxingInputError(
            f"{where}: login (App ID) must be 16, 24 or 32 bytes long (it is the AES key of the sign), "
            f"got {len(app_id.encode())} bytes"
        )
    app_secret = conn.password or ""
    if not app_secret.strip():
        raise LingxingInputError(f"{where}: password (App Secret) is empty: set it to the app secret")
    try:
        extras = json.loads(conn.extra) if conn.extra else {}
    except ValueError:
        raise LingxingInputError(f"{where}: extra is not valid JSON") from None
    if not isinstance(extras, Mapping):
        raise LingxingInputError(f"{where}: extra must be a JSON object")
    verify = _verify(_extra(extras, "verify"), where)
    if not verify:
        _log.warning("%s: TLS verification is off (extra verify=false): tokens could be intercepted", where)
    return LingxingSettings(
        conn.conn_id,
        base_url,
        app_id,
        app_secret,
        _timeout(_extra(extras, "timeout"), where),
        _max_retries(_extra(extras, "max_retries"), where),
        verify,
        _redis_conn_id(_extra(extras, "redis_conn_id"), where),
        _ca_bundle(_extra(extras, "ca_bundle"), verify, where),
    )
