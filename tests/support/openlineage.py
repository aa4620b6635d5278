"""What OpenLineage's own file transport wrote, for tests that run Airflow's OpenLineage listener."""

from __future__ import annotations

import json
from pathlib import Path


def read_events(path: Path) -> list[dict]:
    """The events OpenLineage's file transport appended (processes emitting at once may share a line)."""
    text, decoder, events, at = path.read_text(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return events
        event, at = decoder.raw_decode(text, at)
        events.append(event)
