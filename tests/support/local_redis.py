"""The local Redis (127.0.0.1:6379) for the distributed-limiter tests, and a loopback proxy that can be cut.

A test that needs Redis skips when it is absent, unless LINGXING_REQUIRE_REDIS=1 (as .ci/run sets). Every test gets
its own key prefix (`redis_prefix`) and leaves no key behind.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, suppress

import pytest
import redis

HOST, PORT = "127.0.0.1", 6379
REQUIRE_REDIS = "LINGXING_REQUIRE_REDIS"


def connection_json(port: int = PORT, key_prefix: str | None = None) -> str:
    """An Airflow `redis` connection to the local server (or to a proxy/dead port), for AIRFLOW_CONN_<ID>."""
    extra = {"key_prefix": key_prefix} if key_prefix else {}
    return json.dumps({"conn_type": "redis", "host": HOST, "port": port, "extra": extra})


def require_redis() -> redis.Redis:
    """A client of the local Redis; skips the calling test when it is absent (fails under LINGXING_REQUIRE_REDIS=1)."""
    client = redis.Redis(HOST, PORT, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        why = f"Redis at {HOST}:{PORT} is absent: {error}"
        if os.environ.get(REQUIRE_REDIS) == "1":
            pytest.fail(f"{why}; {REQUIRE_REDIS}=1 requires it")
        pytest.skip(why)
    return client


@pytest.fixture(autouse=True)
def fresh_redis_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a process of its own for the one fallback warning and the fallback flag; `redis` names the
    local server (AIRFLOW_CONN_REDIS)."""
    from airflow_provider_lingxing import shared_redis

    monkeypatch.setattr(shared_redis, "_warned", threading.Event())
    monkeypatch.setattr(shared_redis, "_down", set())
    monkeypatch.setenv("AIRFLOW_CONN_REDIS", connection_json())


def delete_prefixed(client: redis.Redis, prefix: str) -> None:
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    client = require_redis()
    prefix = f"lingxing-test-redis-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        delete_prefixed(client, prefix)
        client.close()


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connecting is refused at once)."""
    with closing(socket.socket()) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class LoopbackProxy:
    """Forwards a loopback port to the local Redis. `cut()` drops every connection and refuses new ones (each is
    closed at once) until `restore()`; `stop()` closes everything and the port."""

    def __init__(self, target: tuple[str, int] = (HOST, PORT)) -> None:
        self.target = target
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._stopped.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self._cut.set()
        self._drop_connections()

    def restore(self) -> None:
        self._cut.clear()

    def stop(self) -> None:
        self._stopped.set()
        with suppress(OSError):
            self._listener.close()
        self._drop_connections()

    def _drop_connections(self) -> None:
        with self._lock:
            for sock in self._sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def __enter__(self) -> LoopbackProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
