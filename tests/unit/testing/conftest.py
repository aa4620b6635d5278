"""Fixtures of the simulator's own suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.support.simulator_client import Client
from tests.support.tls import loopback_tls  # noqa: F401  (a fixture: the throwaway CA of the HTTPS tests)


@pytest.fixture
def sim() -> Iterator[LingxingSimulator]:
    """A simulator without latency: these tests are about behaviour, not timing."""
    with LingxingSimulator(latency=0.0) as simulator:
        yield simulator


@pytest.fixture
def client(sim: LingxingSimulator) -> Client:
    return Client(sim)
