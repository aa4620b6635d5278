"""Bytes on the wire: requests for the sync path, httpx for the async one, one policy for both.

Every request first takes its slot from the limiter (`limits/`), is built (signed) only then, and any failure
leaves as the same typed error on both paths (`transport/failures.py`).
"""

from __future__ import annotations

from airflow_provider_lingxing.transport.sessions import Transport

__all__ = ["Transport"]
