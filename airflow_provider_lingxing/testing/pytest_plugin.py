"""pytest fixtures for testing DAGs against the Lingxing simulator (registered through the `pytest11` entry point).

Two lines in a DAG author's test::

    def test_my_dag(lingxing_connection):          # AIRFLOW_CONN_LINGXING_DEFAULT points at the simulator
        ...run the DAG or task...; assert lingxing_connection.stats()["tasks"]["created"] == 1

Simulator settings for one test: ``@pytest.mark.lingxing_simulator(latency=0, complete_after_polls=1)``.
The import stays light (no Airflow, no simulator) so every pytest run of an environment with the provider
installed pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_lingxing.testing.simulator import LingxingSimulator

CONNECTION_ENV = "AIRFLOW_CONN_LINGXING_DEFAULT"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lingxing_simulator(**settings): settings of the `lingxing_simulator` fixture (SimulatorConfig fields)",
    )


@pytest.fixture
def lingxing_simulator(request: pytest.FixtureRequest) -> Iterator[LingxingSimulator]:
    """A started Lingxing OpenAPI simulator on a free loopback port, stopped after the test."""
    from airflow_provider_lingxing.testing.simulator import LingxingSimulator

    settings: dict = {}
    for marker in reversed(list(request.node.iter_markers("lingxing_simulator"))):
        settings.update(marker.kwargs)
    with LingxingSimulator(**settings) as simulator:
        yield simulator


@pytest.fixture
def lingxing_connection(
    lingxing_simulator: LingxingSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LingxingSimulator]:
    """The simulator, with the `lingxing_default` Airflow connection pointing at it for this test."""
    monkeypatch.setenv(CONNECTION_ENV, lingxing_simulator.connection_json())
    yield lingxing_simulator
