"""What the sensor reads from Airflow, without a metadata DB."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support.task_instance import FakeTaskInstance


@pytest.fixture
def context():
    """What the sensor reads from the task context: the task instance's start and reschedule history."""
    started = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    return {"ti": FakeTaskInstance("wait_for_amazon", start_date=started)}
