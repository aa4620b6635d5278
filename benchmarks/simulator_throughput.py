"""What the simulator sustains: signed getFulfillmentResult calls per second from 10 and 20 keep-alive clients.

The simulator runs in its own process (as `make demo` runs it), so the clients' interpreter does not share its
GIL. Twenty clients are spread over two app ids so each (app id, path) bucket sees its documented capacity
(10) and every answer is real work; a 3001008 would show a bucket leak. At 20 ms latency the bound is
clients / latency (each client waits one latency per call); at 0 ms the figure is the server's CPU ceiling.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from urllib.parse import urlencode, urlsplit

from airflow_provider_lingxing.api import endpoints, signing
from airflow_provider_lingxing.testing.simulator import SimulatorProcess

SECOND_APP = ("ak_BenchSecond01", "QmVuY2g+U2Vjb25k")
DURATION = 3.0
WARM_UP = 0.5
PATH = endpoints.GET_FULFILLMENT_RESULT.path
COUNTS_LOCK = threading.Lock()
BODY = signing.encode_body({"seller_id": "A1SIMNA0000001", "task_id": [1003083]})


def fetch_token(base_url: str, app_id: str, app_secret: str) -> str:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    query = urlencode({"appId": app_id, "appSecret": app_secret})
    connection.request("POST", f"{endpoints.ACCESS_TOKEN.path}?{query}")
    answer = json.loads(connection.getresponse().read())
    connection.close()
    return answer["data"]["access_token"]


def client_loop(base_url: str, app_id: str, token: str, stop: threading.Event, counts: Counter) -> None:
    """One keep-alive client: sign afresh, send, read, repeat (the next request leaves on each answer)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    body = json.loads(BODY)
    local: Counter = Counter()
    while not stop.is_set():
        query = signing.signed_query(body, app_id=app_id, access_token=token, timestamp=str(int(time.time())))
        connection.request("POST", f"{PATH}?{urlencode(query)}", body=BODY, headers=headers)
        local[str(json.loads(connection.getresponse().read())["code"])] += 1
    connection.close()
    with COUNTS_LOCK:
        counts.update(local)


def measure(clients: int, latency: float) -> dict[str, float]:
    with SimulatorProcess("--latency", str(latency), "--extra-app", "=".join(SECOND_APP)) as sim:
        base_url, apps = sim.base_url, [(sim.app_id, sim.app_secret), SECOND_APP]
        tokens = [(app_id, fetch_token(base_url, app_id, secret)) for app_id, secret in apps]
        per_app = endpoints.GET_FULFILLMENT_RESULT.capacity
        assignments = [tokens[min(i // per_app, len(tokens) - 1)] for i in range(clients)]
        warm_stop, stop = threading.Event(), threading.Event()
        warm_counts: Counter = Counter()
        warm = [
            threading.Thread(target=client_loop, args=(base_url, a, t, warm_stop, warm_counts)) for a, t in assignments
        ]
        for thread in warm:
            thread.start()
        time.sleep(WARM_UP)
        warm_stop.set()
        for thread in warm:
            thread.join()
        counts: Counter = Counter()
        threads = [threading.Thread(target=client_loop, args=(base_url, a, t, stop, counts)) for a, t in assignments]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(DURATION)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    total = sum(counts.values())
    return {
        "per_second": total / elapsed,
        "ok_share": counts["0"] / total if total else 0.0,
        "rate_limited": counts["3001008"],
        "other": total - counts["0"] - counts["3001008"],
    }


def main() -> None:
    print("clients  latency   answers/s  ok share  3001008  other  ratio to bound (clients/latency)")
    for latency in (0.0, 0.02):
        for clients in (10, 20):
            figures = measure(clients, latency)
            bound = f"{figures['per_second'] / (clients / latency):.2f}" if latency else "n/a (CPU-bound)"
            print(
                f"{clients:7d}  {latency * 1000:5.0f} ms  {figures['per_second']:9.0f}  {figures['ok_share']:8.3f}"
                f"  {figures['rate_limited']:7d}  {figures['other']:5d}  {bound}",
                flush=True,
            )


if __name__ == "__main__":
    main()
