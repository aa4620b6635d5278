"""What a triggerer does with a deferred task's trigger, for tests that run triggers in their own event loop."""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import BaseTrigger


async def first_event(trigger: BaseTrigger) -> dict[str, Any]:
    """The payload of the trigger's first event: what the deferred task resumes with."""
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")
