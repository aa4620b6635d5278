"""A real Airflow deployment on this machine, for the end-to-end checks (`make e2e`, `make e2e-celery`).

The processes Airflow 3 runs in production, each its own OS process group with its log in `home/logs/`:
`api-server` (serves the Execution API that every task and the triggerer talk to), `scheduler` (LocalExecutor),
`dag-processor` and `triggerer`; or any other set of `airflow …` commands (`components`: name → arguments), such as
several Celery workers and triggerers. The metadata DB is a dedicated PostgreSQL database, dropped and created anew.
Used as a context manager, it ends every process group it started (SIGTERM, then SIGKILL) on the way out,
whatever happened, a SIGTERM to the test process included.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
LOCAL_EXECUTOR = {component: (component,) for component in COMPONENTS}
STOP_GRACE_SECONDS = 30


def progress(text: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {text}", flush=True)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def exclusive(name: str, timeout: float = 900) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named `name`: a second run on this server waits instead of dropping the
    database under the first one."""
    with closing(psycopg2.connect(dbname="postgres", **PG)) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            deadline = time.monotonic() + timeout
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,))
                if cursor.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another end-to-end run held database {name} for {timeout:.0f}s")
                progress(f"waiting for another end-to-end run using database {name}")
                time.sleep(10)
            try:
                yield
            finally:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


def recreate_database(name: str) -> None:
    with closing(psycopg2.connect(dbname="postgres", **PG)) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def connect(database: str) -> Iterator[Any]:
    with closing(psycopg2.connect(dbname=database, **PG)) as conn:
        conn.autocommit = True
        yield conn


def query(database: str, sql: str, params: tuple = ()) -> list[tuple]:
    with connect(database) as conn, conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class Deployment:
    home: Path
    database: str
    dags_folder: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    components: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(LOCAL_EXECUTOR))
    """Process name → `airflow` arguments; the name also names its log (`logs/<name>.log`)."""
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _previous_handler: Any = None

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def env(self) -> dict[str, str]:
        base_url = f"http://127.0.0.1:{self.port}"
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{self.database}"
            ),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__SECRET_KEY": self._secret("api_secret_key"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            **self.extra_env,
        }

    def _secret(self, name: str) -> str:
        """One random value per deployment, shared by all its processes (they verify each other's tokens)."""
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text()

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run one airflow CLI command to completion; its output is returned and appended to logs/cli.log."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        with (self.logs / "cli.log").open("a") as log:
            log.write(f"$ airflow {' '.join(args)}\n{done.stdout}\n")
        if done.returncode:
            raise RuntimeError(f"`airflow {' '.join(args[:2])}` failed ({done.returncode}):\n{done.stdout[-4000:]}")
        return done.stdout

    def prepare(self) -> None:
        """A fresh metadata database, migrated, with the `lingxing_api` pool."""
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.home / "airflow").mkdir(parents=True, exist_ok=True)
        recreate_database(self.database)
        started = time.monotonic()
        self.airflow("db", "migrate")
        progress(f"airflow db migrate on PostgreSQL database {self.database}: {time.monotonic() - started:.0f}s")

    def start(self) -> None:
        for component, arguments in self.components.items():
            log = (self.logs / f"{component}.log").open("w")
            self.processes[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *arguments],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
            log.close()
        progress(f"started {', '.join(f'{c} (pid {p.pid})' for c, p in self.processes.items())}")

    def check_alive(self) -> None:
        for component, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"airflow {component} exited with {process.returncode}:\n{self.tail(component + '.log')}"
                )

    def wait_until(self, what: str, ready, timeout: float, interval: float = 1.0) -> Any:
        """Poll `ready()` until it returns something truthy, failing early when a component dies."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        while True:
            self.check_alive()
            try:
                result = ready()
            except (OSError, psycopg2.Error):
                result = None
            if result:
                progress(f"{what}: {time.monotonic() - started:.0f}s")
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout:.0f}s\n{self.diagnostics()}")
            time.sleep(interval)

    def api_healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/api/v2/monitor/health"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200

    def dag_ready(self, dag_id: str) -> bool:
        rows = query(self.database, "SELECT is_paused FROM dag WHERE dag_id = %s", (dag_id,))
        serialized = query(self.database, "SELECT 1 FROM serialized_dag WHERE dag_id = %s", (dag_id,))
        return bool(rows and serialized and rows[0][0] is False)

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = query(self.database, "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
        rows = query(
            self.database,
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s",
            (dag_id, run_id),
        )
        return {task_id: (state, tries) for task_id, state, tries in rows}

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / name
        if not path.exists():
            return f"({name}: no log)"
        return f"--- {name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def task_logs(self) -> str:
        files = sorted((self.logs / "tasks").rglob("*.log")) if (self.logs / "tasks").exists() else []
        return "\n".join(self.tail(str(f.relative_to(self.logs)), 30) for f in files)

    def diagnostics(self) -> str:
        return "\n".join([*(self.tail(f"{c}.log") for c in self.components), self.task_logs()])

    def __enter__(self) -> Deployment:
        """Started; a SIGTERM to this process (CI timeout, kill) unwinds through __exit__ like an error does."""
        self._previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            signal.signal(signal.SIGTERM, self._previous_handler)

    def stop(self) -> None:
        """SIGTERM every process group started, SIGKILL what is left after the grace period."""
        for process in self.processes.values():
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # children left in the group, if any
            process.wait()
        progress("stopped " + ", ".join(f"{c} ({p.returncode})" for c, p in self.processes.items()))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
