"""The local PostgreSQL that integration and reliability tests load into (127.0.0.1:5432, db test, user postgres).

A test that needs it skips when it is absent, unless LINGXING_REQUIRE_POSTGRES=1 (as .ci/run sets): then it fails,
so CI cannot pass by skipping it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

POSTGRES = {"host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
CONNECTION_JSON = json.dumps({"conn_type": "postgres", **POSTGRES})
"""The Airflow connection to it, for an AIRFLOW_CONN_<ID> variable."""
REQUIRE_POSTGRES = "LINGXING_REQUIRE_POSTGRES"


def connect() -> Any:
    import psycopg

    return psycopg.connect(
        host=POSTGRES["host"],
        port=POSTGRES["port"],
        user=POSTGRES["login"],
        dbname=POSTGRES["schema"],
        connect_timeout=3,
    )


def require_postgres() -> None:
    """Skip the calling test when the server is absent (fail instead under LINGXING_REQUIRE_POSTGRES=1)."""
    try:
        connect().close()
    except Exception as error:
        why = f"PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} (db {POSTGRES['schema']}) is absent: {error}"
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{why}; {REQUIRE_POSTGRES}=1 requires it")
        pytest.skip(why)
