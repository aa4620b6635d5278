"""A StatsD server on loopback for metric tests: a UDP socket that collects what Airflow's Stats sends, and the
Airflow config (as environment variables) that points a process's `[metrics]` at it."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One StatsD line: `airflow.lingxing.calls,path=/x,outcome=ok:1|c` → name, tags, value, kind."""

    name: str
    tags: dict[str, str]
    value: float
    kind: str

    @classmethod
    def parse(cls, line: str) -> Sample:
        metric, _, rest = line.partition(":")
        value, _, kind = rest.partition("|")
        name, *pairs = metric.split(",")
        return cls(name, dict(pair.split("=", 1) for pair in pairs), float(value), kind.split("|")[0])


class StatsdListener:
    """Receives on a loopback UDP port in a thread of its own, so a busy deployment cannot overflow the socket."""

    def __init__(self, prefix: str = "airflow") -> None:
        self.prefix = prefix
        self.samples: list[Sample] = []
        self.received_at = time.monotonic()
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = self.socket.getsockname()[1]
        self._lock = threading.Lock()
        self._open = True
        self._reader = threading.Thread(target=self._read, name="statsd-listener", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while self._open:
            try:
                packet = self.socket.recv(65535).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.samples.extend(Sample.parse(line) for line in packet.splitlines() if line)
                self.received_at = time.monotonic()

    def env(self, *, influxdb_tags: bool = True, only_lingxing: bool = False) -> dict[str, str]:
        """Airflow `[metrics]` settings sending a process's Stats here (InfluxDB-style tags: StatsD's way of
        carrying tags, as the Prometheus statsd_exporter reads them); `only_lingxing` drops Airflow's own."""
        env = {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": self.prefix,
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": str(influxdb_tags),
        }
        if only_lingxing:
            env["AIRFLOW__METRICS__METRICS_ALLOW_LIST"] = "lingxing."
        return env

    def collect(self, quiet_for: float = 0.5) -> list[Sample]:
        """Every sample received, once none arrived for `quiet_for` seconds (the senders have finished)."""
        while time.monotonic() - self.received_at < quiet_for:
            time.sleep(0.05)
        with self._lock:
            return list(self.samples)

    def lingxing(self) -> list[Sample]:
        """The provider's samples (`<prefix>.lingxing.*`), prefix removed."""
        start = f"{self.prefix}."
        return [
            Sample(s.name.removeprefix(start), s.tags, s.value, s.kind)
            for s in self.collect()
            if s.name.startswith(f"{start}lingxing.")
        ]

    def counts(self, name: str, *tag_names: str) -> Counter[tuple[str, ...]]:
        """Sum of the counter `name` (tagged form) per value of `tag_names`."""
        total: Counter[tuple[str, ...]] = Counter()
        for sample in self.lingxing():
            if sample.name == name and sample.kind == "c" and sample.tags:
                total[tuple(sample.tags.get(t, "") for t in tag_names)] += int(sample.value)
        return total

    def close(self) -> None:
        self._open = False
        self._reader.join()
        self.socket.close()


def simulator_answers(stats: dict) -> Counter[tuple[str, str]]:
    """The simulator's own count of its answers (`stats()["requests"]`) per (path, outcome), in the words of the
    `lingxing.calls` counter: its success codes 0 and 200 are `ok`."""
    return Counter(
        {
            (path, "ok" if code in ("0", "200") else code): n
            for path, codes in stats["requests"].items()
            for code, n in codes.items()
        }
    )
