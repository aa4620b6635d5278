"""A StatsD server on loopback for metric tests: a UDP socket that collects what Airflow's Stats sends, and the
Airflow config (as environment variables) that points a process's `[metrics]` at it."""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass, field


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


@dataclass
class StatsdListener:
    prefix: str = "airflow"
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def env(self, *, influxdb_tags: bool = True) -> dict[str, str]:
        """Airflow `[metrics]` settings sending this process's Stats here (InfluxDB-style tags: StatsD's way
        of carrying tags, as the Prometheus statsd_exporter reads them)."""
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": self.prefix,
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": str(influxdb_tags),
        }

    def collect(self, quiet_for: float = 0.5) -> list[Sample]:
        """Every sample received until none arrived for `quiet_for` seconds (the sender has finished)."""
        self.socket.settimeout(quiet_for)
        try:
            while True:
                packet = self.socket.recv(65535).decode()
                self.samples.extend(Sample.parse(line) for line in packet.splitlines() if line)
        except TimeoutError:
            pass
        return self.samples

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
        self.socket.close()
