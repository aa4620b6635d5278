"""The operators' task instance, without a metadata DB (Variables and the log: tests/conftest.py's fixtures)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.task_instance import FakeTaskInstance


@pytest.fixture
def context() -> dict[str, Any]:
    return {"ti": FakeTaskInstance()}
