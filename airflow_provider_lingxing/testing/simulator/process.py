"""`SimulatorProcess`: the command line in a child process, steered over its control endpoints."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import deque
from contextlib import suppress
from typing import Any

from airflow_provider_lingxing.testing.simulator.service import CONFIG_PATH, RESET_PATH, STATS_PATH


class SimulatorProcess:
    """The command line above (`--port 0` plus `cli_args`) in a child process, steered over HTTP.

    For load tests and benchmarks: the simulator's threads then run in their own interpreter, so its CPU
    neither competes for the client's GIL nor counts in the client's `time.process_time()` or tracemalloc
    figures, as with the real, remote service. Otherwise prefer `LingxingSimulator` (same process, faster).

        with SimulatorProcess("--latency", "0.01", "--complete-after-polls", "1") as sim:
            os.environ["AIRFLOW_CONN_LINGXING_DEFAULT"] = sim.connection_json()
            sim.configure(latency=0.05); sim.stats(); sim.reset()

    Leaving the block stops the process (terminate, then kill if it has not exited within 10 s). With
    `--certfile`, pass `cafile` (the CA that issued it) so the control calls can verify the server.
    """

    def __init__(self, *cli_args: str, start_timeout: float = 15.0, cafile: str | None = None) -> None:
        self.cli_args = cli_args
        self.start_timeout = start_timeout
        self.cafile = cafile
        self.process: subprocess.Popen[str] | None = None
        self.base_url = self.app_id = self.app_secret = self._connection = ""
        self._output: deque[str] = deque(maxlen=200)
        self._started = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self) -> SimulatorProcess:
        if self.process is not None:
            return self
        self.base_url = self.app_id = self.app_secret = self._connection = ""  # a restart forgets the last run
        self._output.clear()
        self._started = threading.Event()
        command = [sys.executable, "-m", "airflow_provider_lingxing.testing.simulator", "--port", "0", *self.cli_args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace"
        )
        try:
            self._reader = threading.Thread(target=self._read, name="lingxing-simulator-output", daemon=True)
            self._reader.start()
            signalled = self._started.wait(self.start_timeout)
            if not self._connection:
                if signalled:  # without a connection line: the output ended, the process is exiting
                    with suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=5)
                exited = self.process.poll()
                why = f"exited with code {exited}" if exited is not None else f"not ready in {self.start_timeout:g} s"
                raise RuntimeError(f"the simulator ({' '.join(command)}) {why}; its output:\n{self.output()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _read(self) -> None:
        """Parse the lines main() prints, then keep draining (stderr included) so the process never blocks."""
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._output.append(line)
            if self._started.is_set():
                continue
            text = line.strip()
            if text.startswith("Lingxing OpenAPI simulator listening on "):
                self.base_url = text.rsplit(" ", 1)[1]
            elif text.startswith("app id: "):
                self.app_id = text.split(": ", 1)[1]
            elif text.startswith("app secret: "):
                self.app_secret = text.split(": ", 1)[1]
            elif text.startswith("AIRFLOW_CONN_LINGXING_DEFAULT="):
                self._connection = text.split("=", 1)[1].strip("'")
                self._started.set()
        self._started.set()  # the output ended: no longer worth waiting for

    def output(self) -> str:
        """The process's last (up to 200) lines of stdout and stderr."""
        return "".join(self._output)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connection_json(self) -> str:
        """The value of AIRFLOW_CONN_LINGXING_DEFAULT (JSON form) pointing at this simulator."""
        return self._connection

    def configure(self, **settings: Any) -> dict[str, Any]:
        """POST /__simulator__/config: change scalar settings (all or none); returns them all after the change."""
        return self._call(CONFIG_PATH, json.dumps(settings).encode())

    def stats(self) -> dict[str, Any]:
        """GET /__simulator__/stats (see LingxingSimulator.stats)."""
        return self._call(STATS_PATH)

    def reset(self) -> None:
        """POST /__simulator__/reset: forget tokens, tasks and statistics."""
        self._call(RESET_PATH, b"")

    def _call(self, path: str, body: bytes | None = None) -> Any:
        if self.process is None:
            raise RuntimeError("the simulator process is not started: use `with SimulatorProcess(...) as sim`")
        request = urllib.request.Request(self.base_url + path, data=body, method="GET" if body is None else "POST")
        try:
            context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
            with urllib.request.urlopen(request, timeout=10, context=context) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            with error:
                refusal = error.read().decode("utf-8", "replace")
            raise ValueError(f"{request.method} {path}: {error.code} {refusal}") from None
