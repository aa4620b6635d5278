"""What the sensor reads from Airflow, without a metadata DB."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from unittest import mock

import pytest


@pytest.fixture
def context():
    """What the sensor reads from the task context: the task instance's start and reschedule history."""
    ti = mock.Mock()
    ti.start_date = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    ti.get_first_reschedule_date.return_value = None
    return {"ti": ti}


@pytest.fixture
def captured_log(caplog):
    """Route an operator's or trigger's logger to caplog (Airflow 3 logs through structlog)."""
    caplog.set_level(logging.INFO, logger="lingxing.test")

    def attach(obj) -> pytest.LogCaptureFixture:
        obj._cached_logger = obj._log = logging.getLogger("lingxing.test")
        return caplog

    return attach
