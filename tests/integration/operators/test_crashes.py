"""Workers killed with SIGKILL at each boundary of a submission, then the task's retry, a clear and a new run; and
runs started together on overlapping orders. On SQLite, PostgreSQL and MySQL, against the simulator, which
counts every order that reaches Lingxing: each reaches it at most once, and each ends accepted, refused,
complete or reported uncertain.
"""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest

from tests.support.ledger_loop import SETTLED, Loop

pytestmark = [
    pytest.mark.integration,
    pytest.mark.lingxing_simulator(latency=0.05, complete_after_polls=1, single_token_per_app=False),
]

ORDERS = range(1, 41)  # 4 chunks of 10


@pytest.fixture
def loop(warehouse, lingxing_connection):
    each = Loop(warehouse, lingxing_connection)
    each.ship(ORDERS)
    yield each
    each.drop()


def killed(loop: Loop, kill_at: str, **kwargs) -> None:
    worker = loop.worker(kill_at=kill_at, **kwargs)
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == -signal.SIGKILL, output


def assert_at_most_once_and_settled(loop: Loop) -> None:
    received = loop.received()
    assert all(n == 1 for n in received.values()), f"sent twice: {[i for i, n in received.items() if n > 1]}"
    states = loop.states()
    assert sorted(states, key=int) == [str(n) for n in ORDERS]
    assert set(states.values()) <= SETTLED, states


@pytest.mark.parametrize("kill_at", ["claimed", "sending", "answered", "recorded"])
def test_a_worker_killed_at_each_boundary_then_retry_clear_and_a_new_run(loop, kill_at):
    killed(loop, kill_at)
    retry = loop.submit(try_number=2)
    clear = loop.submit(try_number=3)
    assert clear == retry, "a clear returns what the retry stored, sending nothing"
    new_run = loop.submit("scheduled__2", claim_timeout=timedelta(0))
    assert_at_most_once_and_settled(loop)
    states = loop.states()
    uncertain = sorted((i for i, s in states.items() if s == "uncertain"), key=int)
    if kill_at in ("claimed", "recorded"):
        assert uncertain == [] and sum(loop.received().values()) == 40, "nothing was in flight: everything goes once"
    else:
        assert uncertain, "the chunks on the wire when the worker died are reported (and, above, never resent)"
    returned = {i for task in new_run for i in task["message_ids"]}
    accepted = {i for i, s in states.items() if s == "accepted"}
    assert returned == accepted, "the new run returns every accepted task whose results are not loaded"


def test_claims_of_a_dead_run_are_taken_over_after_claim_timeout_and_its_retry_sends_nothing(loop):
    killed(loop, "claimed")
    assert loop.submit("scheduled__2") == [], "within claim_timeout another run leaves them alone"
    taken = loop.submit("scheduled__3", claim_timeout=timedelta(0))
    assert sum(len(t["message_ids"]) for t in taken) == 40
    assert loop.submit(try_number=2) == taken, "the dead run's retry finds them sent by another: nothing to send"
    assert_at_most_once_and_settled(loop)
    assert sum(loop.received().values()) == 40


def test_four_runs_started_together_on_overlapping_orders_send_each_once(loop):
    """Four workers at once on a fresh ledger (its first use: a race-free create), each given 25 orders that
    overlap the next run's by 15."""
    sql = loop.arguments()["orders_sql"] + f" AND order_ref BETWEEN {loop.db.placeholder} AND {loop.db.placeholder}"
    workers = [
        loop.worker(
            f"scheduled__{n}", orders_sql=sql, orders_sql_parameters=[loop.arguments()["seller_id"], lo, lo + 24]
        )
        for n, lo in enumerate((1, 6, 11, 16))
    ]
    outputs = [worker.communicate(timeout=180)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], "\n".join(outputs)
    assert_at_most_once_and_settled(loop)
    assert loop.received() == {str(n): 1 for n in ORDERS}
