"""Fixtures of the simulator's own suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simulator_client import Client

from airflow_provider_lingxing.testing.simulator import LingxingSimulator


@pytest.fixture
def sim() -> Iterator[LingxingSimulator]:
    """A simulator without latency: these tests are about behaviour, not timing."""
    with LingxingSimulator(latency=0.0) as simulator:
        yield simulator


@pytest.fixture
def client(sim: LingxingSimulator) -> Client:
    return Client(sim)
