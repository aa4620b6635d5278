"""Airflow Variables kept in a dict, served through `airflow.sdk.Variable` itself: every module that reads or
writes a Variable (the submit operator's progress record, the token store) sees this store, however it imported
`Variable`, and no module global is patched. The `variables` fixture (tests/conftest.py) installs a fresh one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Variable

_MISSING: Any = object()


class VariableStore:
    """`get`/`set`/`delete` with the Task SDK's signatures and JSON handling; values are kept as stored strings.

    `fail_set_after = n` makes every `set` after the n-th raise, as when the API server cannot be reached.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.fail_set_after: int | None = None
        self.sets = 0

    def get(self, key: str, default: Any = _MISSING, deserialize_json: bool = False) -> Any:
        if key not in self.values:
            if default is _MISSING:
                raise KeyError(f"Variable {key} does not exist")
            return default
        return json.loads(self.values[key]) if deserialize_json else self.values[key]

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self.sets += 1
        if self.fail_set_after is not None and self.sets > self.fail_set_after:
            raise ConnectionError("API server unreachable")
        if not serialize_json and not isinstance(value, str):
            raise TypeError(f"Variable {key}: a value that is not a string needs serialize_json=True")
        self.values[key] = json.dumps(value) if serialize_json else value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)

    def serve(self, monkeypatch: pytest.MonkeyPatch) -> VariableStore:
        """Make `airflow.sdk.Variable` read and write this store until the test ends."""
        for name in ("get", "set", "delete"):
            monkeypatch.setattr(Variable, name, getattr(self, name))
        return self

    def serve_metadata_database(self, monkeypatch: pytest.MonkeyPatch) -> VariableStore:
        """Make `airflow.models.Variable` (the server side: the API server, the CLI) use this store too."""
        from airflow.models import Variable as MetadataVariable

        def get(key: str, default_var: Any = _MISSING, deserialize_json: bool = False) -> Any:
            return self.get(key, default_var, deserialize_json)

        monkeypatch.setattr(MetadataVariable, "get", get)
        monkeypatch.setattr(MetadataVariable, "set", self.set)
        monkeypatch.setattr(MetadataVariable, "delete", self.delete)
        return self
