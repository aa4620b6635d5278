"""The submission ledger on the three databases: claims through the unique key, takeovers, transitions, reports."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from airflow.sdk import BaseHook

from airflow_provider_lingxing.warehouse import results as results_table
from airflow_provider_lingxing.warehouse.ledger import SubmissionLedger
from airflow_provider_lingxing.warehouse.submissions import (
    ACCEPTED,
    CLAIMED,
    IDS_PER_STATEMENT,
    REFUSED,
    RELEASED,
    SENDING,
    UNCERTAIN,
    TaskIdentity,
    Transition,
    complete_orders,
)

pytestmark = pytest.mark.integration

SELLER, MARKETPLACE = "A1SIMNA0000001", "ATVPDKIKX0DER"


@pytest.fixture
def table(warehouse):
    name = warehouse.new_table("ledger_sub")
    yield name
    warehouse.execute(f"DROP TABLE IF EXISTS {name}")


def identity(run: str = "scheduled__1", try_number: int = 1, map_index: int = -1) -> TaskIdentity:
    return TaskIdentity("loop", run, "submit", map_index, try_number)


def ledger(warehouse, table, who: TaskIdentity | None = None, **kwargs) -> SubmissionLedger:
    hook = BaseHook.get_connection(warehouse.conn_id).get_hook()
    kwargs.setdefault("claim_timeout", timedelta(hours=1))
    kwargs.setdefault("max_task_age", timedelta(days=3))
    return SubmissionLedger(
        hook, table, seller_id=SELLER, marketplace_id=MARKETPLACE, identity=who or identity(), **kwargs
    ).open()


def sending(book: SubmissionLedger, ids: list[str]) -> list[str]:
    (moved,) = book.record([Transition(tuple(ids), SENDING)])
    return moved


def accepted(book: SubmissionLedger, ids: list[str], task_id: str) -> None:
    book.record([Transition(tuple(ids), ACCEPTED, task_id=task_id)])


def refused(book: SubmissionLedger, ids: list[str], message: str) -> None:
    book.record([Transition(tuple(ids), REFUSED, message=message)])


def prints(*ids: int, version: str = "a") -> dict[str, str]:
    return {str(i): f"{version}{i}" for i in ids}


def states(warehouse, table) -> dict[str, str]:
    return dict(warehouse.query(f"SELECT order_id, state FROM {table}"))


def test_a_claimed_order_is_sent_by_one_run_only(warehouse, table):
    first = ledger(warehouse, table)
    claim = first.claim(prints(1, 2, 3))
    assert claim.mine == ["1", "2", "3"]
    assert sending(first, ["1", "2"]) == ["1", "2"]
    accepted(first, ["1", "2"], "1003100")
    other = ledger(warehouse, table, identity("scheduled__2"))
    claim = other.claim(prints(1, 2, 3, 4))
    assert claim.mine == ["4"]
    assert claim.skipped["already sent"] == ["1", "2"]
    assert claim.skipped["claimed by another run (taken over after claim_timeout if it died)"] == ["3"]
    assert states(warehouse, table) == {"1": "accepted", "2": "accepted", "3": "claimed", "4": "claimed"}
    first.close()
    other.close()


def test_one_round_of_many_chunks_gives_each_order_its_own_chunks_fate(warehouse, table):
    """A round's moves to one state go as one statement: every order still gets its own chunk's task id or
    message, a move larger than one statement's ids included."""
    big = IDS_PER_STATEMENT + 5
    book = ledger(warehouse, table)
    ids = [str(i) for i in range(1, big + 51)]
    assert book.claim(prints(*map(int, ids))).mine == ids
    chunks = [tuple(ids[:big]), *(tuple(ids[k : k + 10]) for k in range(big, big + 50, 10))]
    assert book.record([Transition(chunk, SENDING) for chunk in chunks]) == [list(chunk) for chunk in chunks]
    first, second, third, fourth, fifth, sixth = chunks
    book.record(
        [
            Transition(first, ACCEPTED, task_id="1003100"),
            Transition(second, REFUSED, message="orderList[0] bad"),
            Transition(third, ACCEPTED, task_id="1003101"),
            Transition(fourth, UNCERTAIN, message="answer lost"),
            Transition(fifth, RELEASED),
            Transition(sixth, CLAIMED),
        ]
    )
    rows = {
        order_id: rest for order_id, *rest in warehouse.query(f"SELECT order_id, state, task_id, refusal FROM {table}")
    }
    assert {rows[i][1] for i in first} == {"1003100"} and {rows[i][0] for i in first} == {"accepted"}
    assert {tuple(rows[i]) for i in second} == {("refused", None, "orderList[0] bad")}
    assert {tuple(rows[i]) for i in third} == {("accepted", "1003101", None)}
    assert {tuple(rows[i]) for i in fourth} == {("uncertain", None, "answer lost")}
    assert not set(fifth) & set(rows), "released orders leave the ledger"
    assert {rows[i][0] for i in sixth} == {"claimed"}, "a chunk to be sent again is back to claimed"
    book.close()


def test_two_runs_claiming_at_once_split_the_orders(warehouse, table):
    """Overlapping orders claimed at the same moment: every order goes to exactly one of them."""
    ledger(warehouse, table).close()  # the table, created once; its race-free create is tested with the loads
    start = threading.Barrier(4)
    claims: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def claim(n: int) -> None:
        try:
            run = ledger(warehouse, table, identity(f"scheduled__{n}"))  # a connection of its own, as a worker
            ids = range(1 + 50 * n, 201 + 50 * n)  # each overlaps the next by 150
            start.wait()
            claims[n] = run.claim(prints(*ids)).mine
            run.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    claimed = [order_id for mine in claims.values() for order_id in mine]
    assert sorted(claimed, key=int) == [str(i) for i in range(1, 351)], "each order claimed once, none lost"


def test_the_same_task_takes_its_claims_over_at_once_and_others_after_the_timeout(warehouse, table):
    dead = ledger(warehouse, table)
    dead.claim(prints(1, 2))
    other = ledger(warehouse, table, identity("scheduled__2"))
    assert other.claim(prints(1, 2)).mine == []
    retry = ledger(warehouse, table, identity(try_number=2))
    assert retry.claim(prints(1, 2)).mine == ["1", "2"], "the task's retry takes its claims at once"
    assert sending(dead, ["1", "2"]) == [], "the dead try's claim id no longer owns them: it sends nothing"
    later = ledger(warehouse, table, identity("scheduled__3"), claim_timeout=timedelta(0))
    assert later.claim(prints(1, 2)).mine == ["1", "2"], "after claim_timeout any run takes them"
    assert sending(retry, ["1", "2"]) == []


def test_a_send_left_by_a_dead_try_becomes_uncertain_and_is_never_claimed(warehouse, table):
    dead = ledger(warehouse, table)
    dead.claim(prints(1, 2, 3))
    sending(dead, ["1", "2"])
    retry = ledger(warehouse, table, identity(try_number=2))
    claim = retry.claim(prints(1, 2, 3))
    assert claim.uncertain_now == ["1", "2"]
    assert claim.mine == ["3"]
    assert claim.skipped["uncertain (may have reached Lingxing; see the release statement in docs/ledger.md)"] == [
        "1",
        "2",
    ]
    assert retry.uncertain_orders() == (2, ["1", "2"])
    warehouse.execute(retry.release_statement("uncertain", ["2"]))
    assert ledger(warehouse, table, identity("scheduled__9")).claim(prints(1, 2)).mine == ["2"], "released"


def test_a_refused_order_is_claimed_again_only_once_changed(warehouse, table):
    first = ledger(warehouse, table)
    first.claim(prints(1, 2))
    sending(first, ["1", "2"])
    refused(first, ["1"], "orderList[0].carrierCode承运商code不能为空")
    first.release(["2"])
    later = ledger(warehouse, table, identity("scheduled__2"))
    claim = later.claim(prints(1, 2))
    assert claim.mine == ["2"]
    assert claim.skipped["refused earlier and unchanged (fix the order and it is sent again)"] == ["1"]
    assert warehouse.query(f"SELECT refusal FROM {table} WHERE order_id = '1'") == [
        ("orderList[0].carrierCode承运商code不能为空",)
    ]
    changed = ledger(warehouse, table, identity("scheduled__3"))
    assert changed.claim({"1": "b1"}).mine == ["1"]


@pytest.mark.parametrize(("resubmit", "sent_again"), [("never", []), ("on_error", ["1"])])
def test_an_order_whose_outcome_was_error_is_sent_again_once_changed_only_on_error(
    warehouse, table, resubmit, sent_again
):
    first = ledger(warehouse, table)
    first.claim(prints(1, 2))
    sending(first, ["1", "2"])
    accepted(first, ["1", "2"], "1003100")
    hook = BaseHook.get_connection(warehouse.conn_id).get_hook()
    outcomes = [("1003100", "1", "Error", "The order id is not valid."), ("1003100", "2", "Success", None)]
    conn = hook.get_conn()
    cursor = conn.cursor()
    assert complete_orders(cursor, hook, table, SELLER, outcomes) == 2
    conn.commit()
    conn.close()
    assert states(warehouse, table) == {"1": "complete", "2": "complete"}
    unchanged = ledger(warehouse, table, identity("scheduled__2"), resubmit=resubmit)
    assert unchanged.claim(prints(1, 2)).mine == []
    changed = ledger(warehouse, table, identity("scheduled__3"), resubmit=resubmit)
    assert changed.claim(prints(1, 2, version="b")).mine == sent_again


def test_open_tasks_are_this_task_s_and_the_unloaded_ones_up_to_max_task_age(warehouse, table):
    earlier = ledger(warehouse, table, identity("scheduled__1"))
    earlier.claim(prints(1, 2, 3))
    sending(earlier, ["1", "2", "3"])
    accepted(earlier, ["1", "2"], "1003100")
    accepted(earlier, ["3"], "1003101")
    now = ledger(warehouse, table, identity("scheduled__2"))
    now.claim(prints(4))
    sending(now, ["4"])
    accepted(now, ["4"], "1003102")
    opened = now.open_tasks()
    assert opened.tasks == [
        {"task_id": "1003100", "message_ids": ["1", "2"]},
        {"task_id": "1003101", "message_ids": ["3"]},
        {"task_id": "1003102", "message_ids": ["4"]},
    ]
    assert opened.own == ["1003102"] and opened.stale == []
    aged = ledger(warehouse, table, identity("scheduled__2"), max_task_age=timedelta(0))
    assert aged.open_tasks().tasks == [{"task_id": "1003102", "message_ids": ["4"]}], "its own task always"
    assert aged.open_tasks().stale == ["1003100", "1003101"]


def test_complete_marks_are_written_in_the_results_transaction(warehouse, table):
    """A load that fails leaves the ledger as it was: outcome and row are one commit."""
    first = ledger(warehouse, table)
    first.claim(prints(1))
    sending(first, ["1"])
    accepted(first, ["1"], "1003100")
    hook = BaseHook.get_connection(warehouse.conn_id).get_hook()
    results = warehouse.new_table("ledger_res")

    def complete_then_fail(cursor):
        complete_orders(cursor, hook, table, SELLER, [("1003100", "1", "Success", None)])
        raise RuntimeError("the load failed after the ledger write")

    try:
        with pytest.raises(RuntimeError):
            results_table.upsert_rows(hook, results, [], also=complete_then_fail)
        assert states(warehouse, table) == {"1": "accepted"}
        results_table.upsert_rows(
            hook,
            results,
            [],
            also=lambda cursor: complete_orders(cursor, hook, table, SELLER, [("1003100", "1", "Success", None)]),
        )
        assert states(warehouse, table) == {"1": "complete"}
    finally:
        warehouse.execute(f"DROP TABLE IF EXISTS {results}")
