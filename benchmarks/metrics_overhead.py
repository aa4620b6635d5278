"""What the provider's metrics cost a call: CPU per request with Airflow's metrics off, and sent to StatsD (UDP on
loopback, InfluxDB tags and legacy names: the most packets per request), measured in the same run.

Each setting runs in a fresh interpreter (Airflow reads `[metrics]` when it starts), alternating, against one
simulator process; the figure is the median over the rounds.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys

from airflow_provider_lingxing.testing.simulator import SimulatorProcess

REQUESTS = 400
ROUNDS = 3
TARGET = 1.15

MEASURE = f"""
import json, time
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
hook = LingxingHook()
ids = list(range(1, 11))
for _ in range(20):
    hook.get_fulfillment_results("A1SIMNA0000001", ids)
started = time.process_time()
for _ in range({REQUESTS}):
    hook.get_fulfillment_results("A1SIMNA0000001", ids)
print(json.dumps((time.process_time() - started) / {REQUESTS}))
"""


def _cpu_per_request(env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE], env=env, capture_output=True, text=True, check=True, timeout=600
    )
    return float(json.loads(done.stdout.splitlines()[-1]))


def main() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a StatsD server that reads nothing: sends still cost
    sink.bind(("127.0.0.1", 0))
    statsd = {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(sink.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
        "AIRFLOW__METRICS__LEGACY_NAMES_ON": "True",
    }
    try:
        with SimulatorProcess("--latency", "0", "--complete-after-polls", "1") as sim:
            base = {**os.environ, "AIRFLOW_CONN_LINGXING_DEFAULT": sim.connection_json()}
            off, on = [], []
            for _ in range(ROUNDS):
                off.append(_cpu_per_request({**base, "AIRFLOW__METRICS__STATSD_ON": "False"}))
                on.append(_cpu_per_request({**base, **statsd}))
    finally:
        sink.close()
    cpu_off, cpu_on = statistics.median(off), statistics.median(on)
    print(
        f"CPU per get_fulfillment_results request (10 ids, median of {ROUNDS} x {REQUESTS}): metrics off "
        f"{cpu_off * 1e6:.0f} us, to StatsD {cpu_on * 1e6:.0f} us (10 packets per request)"
    )
    print(f"  ratio {cpu_on / cpu_off:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
