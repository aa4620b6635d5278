"""The operators' task instance and log, without a metadata DB (Variables: tests/conftest.py's fixture)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.task_instance import FakeTaskInstance


@pytest.fixture
def context() -> dict[str, Any]:
    return {"ti": FakeTaskInstance()}


@pytest.fixture
def captured_log(caplog):
    """Route an operator's logger to caplog (Airflow 3 logs through structlog)."""
    caplog.set_level(logging.INFO, logger="lingxing.operators.test")

    def attach(obj) -> pytest.LogCaptureFixture:
        obj._cached_logger = obj._log = logging.getLogger("lingxing.operators.test")
        return caplog

    return attach
