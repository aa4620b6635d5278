"""A faithful local stand-in for the parts of the Lingxing OpenAPI this provider uses (no account needed).

A real HTTP/1.1 server (keep-alive, one daemon thread per connection) bound to 127.0.0.1 that behaves as
docs/lingxing-openapi.md describes: token endpoints (form fields or query parameters), the gateway
checks of every business call (query parameters, token, timestamp, sign), the concurrency bucket per
(app id, path), the seller list, submitFulfillment and getFulfillmentResult, plus seeded faults.

From Python::

    with LingxingSimulator(latency=0.0) as sim:
        sim.base_url, sim.app_id, sim.app_secret, sim.connection_json()
        sim.config.fail_with_code = "2001004"      # switch faults mid-run
        sim.stats(); sim.reset()

From the shell: ``python -m airflow_provider_lingxing.testing.simulator --port 8765 [--help]``; from Python in
a process of its own (load tests, benchmarks): ``with SimulatorProcess("--latency", "0.01") as sim: ...``.

Choices where the documentation is silent (each is what a client must already survive):

- A new task is ``pending``; each getFulfillmentResult answer that includes it counts as one poll of it.
  With ``complete_after_polls=N`` (default 2) poll 1 says ``pending``, polls 2..N-1 ``in_process`` and
  poll N (and later) the final status. With ``complete_after_seconds=S`` the age decides instead:
  ``pending`` before S/2, ``in_process`` before S, final after.
- The final status is ``Complete``, or ``fatal`` with a non-null ``failure`` when an order's tracking_no
  starts with ``FAIL``, when ``fail_task_predicate(body)`` is true at submission, or when the task id is in
  ``fail_task_ids`` when it completes. Until a task is Complete its counts are empty strings and its
  ``result`` is empty; a fatal task keeps empty counts.
- Per-message outcomes: tracking_no starting ``ERR`` → ``Error`` (code 25), ``WARN`` → ``Warning``;
  others succeed and are not listed. ``messages_successful`` = processed − errors (a warning succeeded).
- Faults that replace the answer (HTTP 500/502/503, non-JSON body, 103, 2001007, and 3001008 as if another
  client held the bucket) happen before the request is processed: nothing is created. A dropped connection
  happens after: the request did its work (a task was created and recorded) and the answer is lost, the case a
  non-idempotent client must survive. ``fail_with_code`` (e.g. ``1``/``100``/``500`` "服务内部错误", or ``500``
  with ``fail_message="404 NOT_FOUND"``) answers before any check, or after the work with ``fail_after_work``;
  ``fail_times=N`` limits it to the next N business calls. Faults and ``fail_with_code`` apply to ``fault_paths``.
- A competing client of the same app id (``rotate_token_every=N``) fetches a token right after every N-th
  accepted business call of that app; it never calls itself, and its fetches count as ``rotated``.
- ``clock_offset`` skews the gateway's clock: the sign's two minutes, token ages, ``response_time`` and the HTTP
  ``Date`` header (sent on every answer) all read it.
- A sign still holding ``%`` after the query is decoded is decoded once more (clients that URL-encode the sign
  before their HTTP library encodes the query again); a wrong sign is refused either way.
- Fault draws come from `random.Random(seed)` in arrival order: a sequential client sees the same faults for
  the same seed; concurrent clients see the same draws, possibly shared out in another order.
- Task ids are never reused, even across ``reset()``, so a stale id cannot point at a new task.
- Seller ids are not checked against the seller list on submission.
- It listens on loopback only: anyone who can reach it gets tokens with the published app secret. Another
  address needs ``allow_remote=True`` (``--allow-remote``). ``certfile``/``keyfile`` (``--certfile``) or ``tls``
  (an ``ssl.SSLContext``) serve HTTPS.

Modules: config (settings), signing (its own sign check), gateway (routes, capacities, envelopes), tokens,
parameters (the 102 rules), fulfillment (tasks), faults, service (`LingxingSimulator`), server (HTTP), cli,
process (`SimulatorProcess`).
"""

from airflow_provider_lingxing.testing.simulator.cli import build_parser, config_from_args, main
from airflow_provider_lingxing.testing.simulator.config import (
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    HOST,
    SimulatorConfig,
    default_sellers,
    is_loopback,
    new_token,
)
from airflow_provider_lingxing.testing.simulator.fulfillment import FIRST_TASK_ID
from airflow_provider_lingxing.testing.simulator.gateway import (
    BUSINESS_MESSAGES,
    GATEWAY_MESSAGES,
    GATEWAY_PARAMS,
    Answer,
    Request,
    gateway_answer,
)
from airflow_provider_lingxing.testing.simulator.parameters import results_problem, submission_problem
from airflow_provider_lingxing.testing.simulator.process import SimulatorProcess
from airflow_provider_lingxing.testing.simulator.service import (
    CONFIG_PATH,
    RESET_PATH,
    STATS_PATH,
    LingxingSimulator,
)

__all__ = [
    "BUSINESS_MESSAGES",
    "CONFIG_PATH",
    "DEFAULT_APP_ID",
    "DEFAULT_APP_SECRET",
    "FIRST_TASK_ID",
    "GATEWAY_MESSAGES",
    "GATEWAY_PARAMS",
    "HOST",
    "RESET_PATH",
    "STATS_PATH",
    "Answer",
    "LingxingSimulator",
    "Request",
    "SimulatorConfig",
    "SimulatorProcess",
    "build_parser",
    "config_from_args",
    "default_sellers",
    "gateway_answer",
    "is_loopback",
    "main",
    "new_token",
    "results_problem",
    "submission_problem",
]
