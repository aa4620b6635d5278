"""Templated fields read back: without `render_template_as_native_obj`, Jinja renders a list as its text."""

from __future__ import annotations

import ast
import json
from typing import Any


def parse_rendered(value: Any) -> Any:
    """`"[1, 2]"`, `"[{'task_id': '1'}]"` or JSON text → the value; anything else unchanged."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{", "("):
        try:
            return ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value
