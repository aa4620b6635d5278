"""The task instance an operator or the sensor reads from its context, without a metadata DB."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


class FakeTaskInstance:
    """Identity (dag, run, task, map index, try), XCom pushes (JSON round-tripped, as XCom stores them) and the
    first reschedule date a reschedule-mode sensor asks for."""

    def __init__(
        self,
        task_id: str = "submit",
        try_number: int = 1,
        *,
        dag_id: str = "mark_shipped",
        map_index: int = -1,
        start_date: datetime | None = None,
    ) -> None:
        self.dag_id = dag_id
        self.run_id = "manual__2026-03-01T00:00:00+00:00"
        self.task_id = task_id
        self.map_index = map_index
        self.try_number = try_number
        self.start_date = start_date or datetime.now(timezone.utc)
        self.first_reschedule: datetime | None = None
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return self.first_reschedule
