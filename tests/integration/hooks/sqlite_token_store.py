"""A token store several OS processes share through one SQLite file (test-only).

It stands in for the Airflow Variable store in the multi-process test: the same get/put contract, real
cross-process visibility, and no API server or scheduler needed to run several worker processes.
"""

from __future__ import annotations

import sqlite3

from airflow_provider_lingxing.api.tokens import AccessToken


class SqliteTokenStore:
    def __init__(self, path: str) -> None:
        self.path = path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def get(self, key: str) -> AccessToken | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM tokens WHERE key = ?", (key,)).fetchone()
        return AccessToken.from_json(row[0]) if row else None

    def put(self, key: str, token: AccessToken) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO tokens (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, token.to_json()),
            )
