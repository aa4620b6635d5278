"""What the operators read from Airflow and Lingxing, without a metadata DB or a network."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_lingxing.operators import fulfillment
from tests.unit.operators.operator_fakes import FakeTaskInstance, FakeVariables


@pytest.fixture
def variables(monkeypatch) -> type[FakeVariables]:
    monkeypatch.setattr(FakeVariables, "store", {})
    monkeypatch.setattr(FakeVariables, "fail_set_after", None)
    monkeypatch.setattr(FakeVariables, "sets", 0)
    monkeypatch.setattr(fulfillment, "Variable", FakeVariables)
    return FakeVariables


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
