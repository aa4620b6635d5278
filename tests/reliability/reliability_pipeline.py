"""The mark-shipped pipeline of the reliability suite, its faults, and what a run leaves to check.

Submit 200 orders as 20 Lingxing tasks → wait with FulfillmentResultSensor (poke, reschedule or deferrable) →
load every message into a PostgreSQL table. `Pipeline` drives the real operators, sensor and trigger in this
process, standing in for what Airflow does between them (a new try, a reschedule, the triggerer); the DAG in
dags/reliability_mixed_faults.py runs the same pipeline through dag.test() and imports the orders from here.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import random
import re
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import structlog
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_lingxing.operators.fulfillment import (
    FulfillmentResultOperator,
    LingxingSubmitFulfillmentOperator,
)
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
from tests.support.task_instance import FakeTaskInstance
from tests.support.variables import VariableStore

SELLER_ID = "A1SIMNA0000001"
MARKETPLACE_ID = "ATVPDKIKX0DER"
REGION = "NA"
ORDER_COUNT = 200
ORDERS_PER_TASK = 10
TASK_COUNT = ORDER_COUNT // ORDERS_PER_TASK
FAULT_RATE = 0.2
CLIENT_TIMEOUT = 0.5
"""The connection's `timeout` extra: a slow answer (SLOW_DELAY) outlasts it."""
SLOW_DELAY = 1.0
MAX_RETRIES = 5
"""The connection's `max_retries` extra (the hook's default), the per-call retry budget."""
TASK_RETRIES = 2
"""Each task's `retries`, as a DAG author sets them: the budget left when one call's own retries run out."""
MODES = ("poke", "reschedule", "deferrable")
POKE_INTERVAL = 0.05
SENSOR_TIMEOUT = 120
MAX_SUBMIT_STOPS = 40
"""Uncertain submissions one row may resolve by hand before the test gives up on it."""

RETRY_LINE = re.compile(r"; retry \d+ of \d+ in ")
RENEWAL_LINE = re.compile(r"getting the shared token or a new one")
RESULTS_PATH = "/pb/mp/order/getFulfillmentResult"
SUBMIT_PATH = "/pb/mp/order/submitFulfillment"


def order(n: int) -> dict[str, Any]:
    """Order n: every 17th is refused by Amazon (`ERR…` → Error), every 23rd gets a Warning, the rest succeed."""
    tracking_no = f"ERR-{n:06d}" if n % 17 == 0 else f"WARN-{n:06d}" if n % 23 == 0 else f"1Z{n:08d}"
    return {
        "id": n,
        "platform_order_no": f"111-{n:07d}-{n:07d}",
        "tracking_no": tracking_no,
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1 + n % 3}],
    }


def orders(first: int = 1) -> list[dict[str, Any]]:
    """ORDER_COUNT orders, ids from `first` on."""
    return [order(n) for n in range(first, first + ORDER_COUNT)]


def expected_result_code(n: int) -> str:
    return "Error" if n % 17 == 0 else "Warning" if n % 23 == 0 else "Success"


# ---------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: simulator settings, plus token faults the simulator is told to make (its
    expire_tokens() / rotate_token()) before that share of business calls."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    expire_tokens: float = 0.0
    rotate_tokens: float = 0.0

    @property
    def ambiguous_settings(self) -> dict[str, float]:
        """The settings whose faults leave a submission's fate unknown (the request may have been processed)."""
        return {k: v for k, v in self.settings.items() if k in AMBIGUOUS_SETTINGS}


AMBIGUOUS_SETTINGS = (
    "http_500_probability",
    "http_502_probability",
    "http_503_probability",
    "non_json_probability",
    "drop_probability",
    "slow_probability",
)
SINGLE_FAULTS = (
    Fault("HTTP 500", {"http_500_probability": FAULT_RATE}),
    Fault("HTTP 502", {"http_502_probability": FAULT_RATE}),
    Fault("HTTP 503", {"http_503_probability": FAULT_RATE}),
    Fault("dropped connection", {"drop_probability": FAULT_RATE}),
    Fault("slower than timeout", {"slow_probability": FAULT_RATE}),
    Fault("non-JSON body", {"non_json_probability": FAULT_RATE}),
    Fault("3001008 bucket full", {"bucket_full_probability": FAULT_RATE}),
    Fault("103 too frequent", {"limiter_103_probability": FAULT_RATE}),
    Fault("2001003 token expired", expire_tokens=FAULT_RATE),
    Fault("2001005 token rotated", rotate_tokens=FAULT_RATE),
    Fault("2001007 sign expired", {"sign_expired_probability": FAULT_RATE}),
)
_SHARE = FAULT_RATE / len(SINGLE_FAULTS)
MIXED = Fault(
    "all mixed",
    {name: _SHARE for fault in SINGLE_FAULTS for name in fault.settings},
    expire_tokens=_SHARE,
    rotate_tokens=_SHARE,
)
"""Every fault at once, FAULT_RATE of the calls in all (each fault an equal share)."""


class SimulatorTap:
    """Wraps the simulator's `handle`: records every sign it is sent, makes the token faults, and can hold the
    ambiguous faults back until the first getFulfillmentResult call (so submissions meet only the faults a
    client can prove were not processed, and everything after meets them all)."""

    def __init__(self, sim: Any, fault: Fault, *, seed: int, hold_back_ambiguous: bool = False) -> None:
        self.sim = sim
        self.fault = fault
        self.signs: set[str] = set()
        self.slow_answers = 0
        """Answers that took longer than the client waits (the simulator counts them as served)."""
        self._rng = random.Random(seed)
        self._held = fault.ambiguous_settings if hold_back_ambiguous else {}
        sim.configure({**fault.settings, **dict.fromkeys(self._held, 0.0)})
        self._handle = sim.handle
        sim.handle = self.handle

    def handle(self, request: Any) -> Any:
        if sign := request.query.get("sign"):
            self.signs.add(sign)
        if self._held and request.path == RESULTS_PATH:
            held, self._held = self._held, {}
            self.sim.configure(held)
        if request.path.startswith("/pb/"):
            draw = self._rng.random()
            if draw < self.fault.expire_tokens:
                self.sim.expire_tokens()
            elif draw < self.fault.expire_tokens + self.fault.rotate_tokens:
                self.sim.rotate_token()
        started = time.monotonic()
        answer = self._handle(request)
        if time.monotonic() - started >= CLIENT_TIMEOUT:
            self.slow_answers += 1
        return answer

    def secrets(self) -> set[str]:
        """The app secret, every token issued, every sign sent, as they would appear in text or in a URL."""
        issued = self.sim.issued_tokens()
        plain = {self.sim.app_secret, *issued["access"], *issued["refresh"], *self.signs}
        return plain | {quote(s, safe="") for s in plain}


def connection(sim: Any, **extra: Any) -> str:
    """AIRFLOW_CONN_LINGXING_DEFAULT for the simulator with the suite's low client timeout."""
    conn = json.loads(sim.connection_json())
    conn["extra"] = {"timeout": CLIENT_TIMEOUT, "max_retries": MAX_RETRIES, **extra}
    return json.dumps(conn)


# ---------------------------------------------------------------------------------------------- what was said


class Transcript:
    """Everything a run said or handed over, as text: log lines (structlog and stdlib, every level),
    exceptions with their tracebacks, XComs, trigger payloads and events."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, kind: str, value: Any) -> None:
        self.lines.append(f"[{kind}] {value if isinstance(value, str) else json.dumps(value, default=str)}")

    def add_error(self, error: BaseException) -> None:
        self.add("exception", f"{error!r}\n{''.join(traceback.format_exception(error))}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def count(self, pattern: re.Pattern[str]) -> int:
        return sum(len(pattern.findall(line)) for line in self.lines if line.startswith("[log]"))

    def leaks(self, secrets: set[str]) -> list[str]:
        """Each line holding a secret, with the secret replaced (so the failure message does not leak it)."""
        found = []
        for line in self.lines:
            hits = [s for s in secrets if s and s in line]
            if hits:
                for secret in hits:
                    line = line.replace(secret, "<SECRET>")
                found.append(line[:300])
        return found


class _TranscriptHandler(logging.Handler):
    def __init__(self, transcript: Transcript) -> None:
        super().__init__(logging.DEBUG)
        self.transcript = transcript

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.transcript.add("log", f"{record.levelname} {record.name}: {text}")


@contextmanager
def capture_logs(transcript: Transcript) -> Iterator[Transcript]:
    """Route every structlog event and stdlib record, at DEBUG, into the transcript."""

    def keep(logger: Any, method: str, event: dict[str, Any]) -> Any:
        text = str(event.get("event", ""))
        if args := event.get("positional_args"):
            try:
                text %= args
            except (TypeError, ValueError):
                text += f" {args!r}"
        rest = {k: v for k, v in event.items() if k not in ("event", "positional_args", "exc_info")}
        if exc_info := event.get("exc_info"):
            error = exc_info if isinstance(exc_info, BaseException) else None
            text += "\n" + ("".join(traceback.format_exception(error)) if error else traceback.format_exc())
        transcript.add("log", f"{method} {text} {rest if rest else ''}")
        raise structlog.DropEvent

    previous = structlog.get_config()
    structlog.configure(processors=[keep], wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    handler = _TranscriptHandler(transcript)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "urllib3", "httpx", "httpcore")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield transcript
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**previous)


@dataclass
class Stop:
    """A submission the operator refused to guess about, and how the test resolved it."""

    message: str
    resume_message: str
    created_before: list[str]
    task_found: str | None


def airflow_retries(error: BaseException) -> bool:
    """Whether Airflow retries a task that raised `error` (when it has retries left)."""
    no_retry = (AirflowFailException, AirflowSensorTimeout, AirflowSkipException)
    return isinstance(error, Exception) and not isinstance(error, no_retry)


class Pipeline:
    """The real operators, sensor and trigger, run in this process with Airflow's moves between them."""

    def __init__(
        self, sim: Any, transcript: Transcript, *, sql_conn_id: str, table: str, variables: VariableStore
    ) -> None:
        self.sim = sim
        self.transcript = transcript
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.variables = variables
        self.stops: list[Stop] = []
        self.tries: dict[str, int] = {}
        self.retried: dict[str, int] = {}
        """Airflow retries each task used (tries after a failure Airflow retries, not after a clear)."""

    def _context(self, task_id: str) -> dict[str, Any]:
        return {"ti": FakeTaskInstance(task_id, self.tries[task_id], dag_id="reliability_pipeline")}

    def _execute(self, task_id: str, run: Callable[[], Any]) -> Any:
        """A task run as Airflow runs it: a failure it retries starts a new try, up to TASK_RETRIES of them.
        Its XCom and its exceptions go to the transcript."""
        while True:
            self.tries[task_id] = self.tries.get(task_id, 0) + 1
            try:
                value = run()
            except BaseException as error:
                self.transcript.add_error(error)
                if not airflow_retries(error) or self.retried.get(task_id, 0) >= TASK_RETRIES:
                    raise
                self.retried[task_id] = self.retried.get(task_id, 0) + 1
                continue
            self.transcript.add(f"xcom {task_id}", value)
            return value

    # submit

    def submit(self) -> list[dict[str, Any]]:
        """Run the submit task; after an uncertain stop, clear it once (it sends nothing it may have sent), then do
        what its message says (look in Lingxing for a task holding the uncertain orders, edit the record
        Variable) and clear it again.

        The operators read their Variables from `self.variables` (a store `airflow.sdk.Variable` serves).
        """
        while True:
            try:
                return self._execute("submit", self._submit_try)
            except AirflowFailException as error:
                if "may have reached Lingxing" not in str(error) or len(self.stops) >= MAX_SUBMIT_STOPS:
                    raise
                self.stops.append(self._resolve(str(error)))

    def _submit_try(self) -> Any:
        operator = LingxingSubmitFulfillmentOperator(
            task_id="submit",
            region=REGION,
            seller_id=SELLER_ID,
            marketplace_id=MARKETPLACE_ID,
            orders=orders(),
            max_orders_per_task=ORDERS_PER_TASK,
        )
        return operator.execute(self._context("submit"))

    def _created_tasks(self) -> list[dict[str, Any]]:
        return self.sim.stats()["submissions"].get(SELLER_ID, [])

    def _record(self) -> tuple[str, dict[str, Any]]:
        (key,) = (key for key in self.variables.values if key.startswith("lingxing_submit_progress."))
        return key, json.loads(self.variables.values[key])

    def _resolve(self, message: str) -> Stop:
        _, record = self._record()
        created_before = [t["task_id"] for t in record["accepted"]]
        try:
            self._execute("submit", self._submit_try)
            resume_message = "success"
        except AirflowFailException as error:
            resume_message = str(error)
        assert self.sim.stats()["duplicate_order_ids"] == {}, "a cleared submit task sent an order again"
        deadline = time.monotonic() + 30
        while self.sim.stats()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)  # a slow answer's request may still be at work in Lingxing
        key, record = self._record()
        uncertain = set(record["uncertain"])
        found = [s for s in self._created_tasks() if s["order_ids"] and set(s["order_ids"]) <= uncertain]
        for task in found:
            record["accepted"].append({"task_id": task["task_id"], "message_ids": task["order_ids"]})
        record["uncertain"] = []  # each either found in Lingxing, or released to be sent
        self.variables.values[key] = json.dumps(record)
        return Stop(message, resume_message, created_before, ",".join(t["task_id"] for t in found) or None)

    # wait

    def _sensor(self, mode: str, submissions: list[dict[str, Any]]) -> Any:
        return FulfillmentResultSensor(
            task_id=f"wait_{mode}",
            seller_id=SELLER_ID,
            fulfillment_task_ids=submissions,
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
            poke_interval=POKE_INTERVAL,
            timeout=SENSOR_TIMEOUT,
        )

    def wait(self, mode: str, submissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._execute(f"wait_{mode}", lambda: getattr(self, f"_wait_{mode}")(submissions))

    def _wait_poke(self, submissions: list[dict[str, Any]]) -> Any:
        return self._sensor("poke", submissions).execute(self._context("wait_poke"))

    def _wait_reschedule(self, submissions: list[dict[str, Any]]) -> Any:
        first: datetime | None = None
        while True:
            context = self._context("wait_reschedule")
            context["ti"].first_reschedule = first
            try:
                return self._sensor("reschedule", submissions).execute(context)
            except AirflowRescheduleException as reschedule:
                first = first or context["ti"].start_date
                time.sleep(max(0.0, (reschedule.reschedule_date - datetime.now(timezone.utc)).total_seconds()))

    def _wait_deferrable(self, submissions: list[dict[str, Any]]) -> Any:
        context = self._context("wait_deferrable")
        try:
            return self._sensor("deferrable", submissions).execute(context)
        except TaskDeferred as deferred:
            classpath, kwargs = deferred.trigger.serialize()
            self.transcript.add("trigger", {"classpath": classpath, "kwargs": kwargs})
            event = asyncio.run(run_trigger(classpath, kwargs))
            self.transcript.add("event", event)
            return self._sensor("deferrable", submissions).resume_execution(
                deferred.method_name, {"event": event}, context
            )

    # load

    def load(self, submissions: list[dict[str, Any]]) -> dict[str, int]:
        operator = FulfillmentResultOperator(
            task_id="load",
            seller_id=SELLER_ID,
            fulfillment_task_ids=submissions,
            sql_conn_id=self.sql_conn_id,
            table=self.table,
        )
        return self._execute("load", lambda: operator.execute(self._context("load")))


async def run_trigger(classpath: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the triggerer does with a deferred task: rebuild the trigger from its payload, take its first event."""
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


# ---------------------------------------------------------------------------------------------- the matrix


@dataclass
class MatrixRow:
    fault: str
    mode: str
    outcome: str
    calls: int
    faults: int
    retries: int
    renewals: int
    task_retries: int
    stops: int
    rows: int
    seconds: float


def injected_faults(stats: dict[str, Any], slow_answers: int) -> int:
    """Answers that were not a success (a token fault shows as the 2001003/2001005 it caused), plus the slow."""
    bad = sum(n for codes in stats["requests"].values() for code, n in codes.items() if code not in ("0", "200"))
    return bad + slow_answers


def fault_breakdown(stats: dict[str, Any], slow_answers: int) -> str:
    """`http_502 2, 2001005 3, slow 1`: what a mixed row met, by answer."""
    counts: dict[str, int] = {}
    for codes in stats["requests"].values():
        for code, n in codes.items():
            if code not in ("0", "200"):
                counts[code] = counts.get(code, 0) + n
    if slow_answers:
        counts["slower than timeout"] = slow_answers
    return ", ".join(f"{code} ×{n}" for code, n in sorted(counts.items())) or "none"


def format_matrix(rows: list[MatrixRow]) -> str:
    """The matrix as a text table; `retries` are the hook's (per call), `task retries` Airflow's."""
    header = [f.name.replace("_", " ") for f in fields(MatrixRow)]
    header[-1] = "s"
    cells = [(*astuple(r)[:-1], f"{r.seconds:.1f}") for r in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *cells, strict=True)]

    def line(values: Sequence[Any]) -> str:
        return "  ".join(
            str(v).ljust(w) if i < 3 else str(v).rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(c) for c in cells)])
