"""The ledger's pure parts: how a round's moves pack into statements, and the open tasks a run returns."""

from __future__ import annotations

from airflow_provider_lingxing.warehouse.submissions import (
    ACCEPTED,
    IDS_PER_STATEMENT,
    OpenTasks,
    Transition,
    statements,
)


def ids(start: int, count: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(start, start + count))


def test_moves_pack_into_statements_of_at_most_the_limit_and_a_big_move_is_split():
    small, big, last = ids(1, 10), ids(100, IDS_PER_STATEMENT + 5), ids(5000, 20)
    moves = [
        Transition(small, ACCEPTED, task_id="1"),
        Transition(big, ACCEPTED, task_id="2"),
        Transition(last, ACCEPTED),
    ]
    packed = list(statements(moves))
    assert [sum(len(part) for _, part in group) for group in packed] == [10, IDS_PER_STATEMENT, 25]
    assert [order_id for group in packed for _, part in group for order_id in part] == [*small, *big, *last]
    assert [[move.task_id for move, _ in group] for group in packed] == [["1"], ["2"], ["2", None]], (
        "a move split over statements keeps its task id"
    )


def test_open_tasks_read_during_the_last_wave_gain_the_tasks_created_after():
    read = OpenTasks(
        [{"task_id": "1003105", "message_ids": ["5"]}, {"task_id": "1003100", "message_ids": ["1"]}],
        stale=["1002000"],
        own=["1003105"],
    )
    merged = read.including({"1003105": ["5"], "1003110": ["12", "9"]})
    assert merged.tasks == [
        {"task_id": "1003100", "message_ids": ["1"]},
        {"task_id": "1003105", "message_ids": ["5"]},
        {"task_id": "1003110", "message_ids": ["9", "12"]},
    ]
    assert merged.own == ["1003105", "1003110"] and merged.stale == ["1002000"]
