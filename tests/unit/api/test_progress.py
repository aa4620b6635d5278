"""The done / failed / pending verdict and the progress line shared by the sensor and its trigger."""

from __future__ import annotations

import pytest

from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.api.progress import (
    MAX_REASON_CHARS,
    FulfillmentProgress,
    advancement,
    check_statuses,
    most_advanced,
)
from tests.support.samples import task_result


def test_the_issue_example_line():
    progress = FulfillmentProgress(range(1, 41))
    answer = [task_result(i) for i in range(1, 8)] + [task_result(i, "in_process") for i in range(8, 38)]
    progress.record(answer)
    assert progress.line() == "7/40 complete, 0 failed, 33 pending (statuses: in_process=30, missing=3)"
    assert progress.pending_ids == list(range(8, 41))
    assert not progress.finished


def test_success_status_is_case_insensitive_and_results_keep_task_id_order():
    progress = FulfillmentProgress([30, 10, 20])
    progress.record([task_result(20, "COMPLETE"), task_result(10, "complete"), task_result(30)])
    assert progress.finished
    assert [r["task_id"] for r in progress.done_results()] == ["10", "20", "30"]
    assert progress.done_results()[0] == task_result(10, "complete")
    assert progress.line() == "3/3 complete, 0 failed, 0 pending"


def test_done_ids_are_settled_and_a_later_answer_cannot_undo_them():
    progress = FulfillmentProgress([1, 2])
    progress.record([task_result(1), task_result(2, "pending")])
    assert progress.pending_ids == [2]
    progress.record([task_result(1, "in_process"), task_result(2)])
    assert progress.finished
    assert [r["status_code"] for r in progress.done_results()] == ["Complete", "Complete"]


@pytest.mark.parametrize("status", ["fatal", "FATAL", "Cancelled"])
def test_failure_status_fails_the_task(status):
    progress = FulfillmentProgress([5, 6])
    progress.record([task_result(5, status), task_result(6, "in_process")])
    assert progress.failed == {5: f"status {status}"}
    assert progress.pending_ids == [6]
    assert progress.line() == "0/2 complete, 1 failed, 1 pending (statuses: in_process=1)"


def test_failure_reason_wins_over_a_success_status():
    progress = FulfillmentProgress([5])
    progress.record([task_result(5, "Complete", failure="Amazon rejected the feed")])
    assert progress.failed == {5: "status Complete: Amazon rejected the feed"}
    assert not progress.finished


def test_blank_failure_is_no_failure():
    progress = FulfillmentProgress([5, 6])
    progress.record([task_result(5, failure=""), task_result(6, "in_process", failure="  ")])
    assert progress.done == {5}
    assert progress.pending_ids == [6]


def test_failure_message_names_each_failed_id_and_its_reason():
    progress = FulfillmentProgress([1, 2, 3])
    progress.record(
        [task_result(1), task_result(2, "fatal", failure="token of seller revoked"), task_result(3, "cancelled")]
    )
    message = progress.failure_message()
    assert message.startswith("2 of 3 mark-shipped tasks failed: ")
    assert "2 (status fatal: token of seller revoked)" in message
    assert "3 (status cancelled)" in message
    assert "1/3 complete, 2 failed, 0 pending" in message


def test_long_reason_is_shortened():
    progress = FulfillmentProgress([1])
    progress.record([task_result(1, "fatal", failure="x" * 5000)])
    assert len(progress.failed[1]) < MAX_REASON_CHARS + 20


def test_missing_and_blank_statuses_are_pending_and_named():
    progress = FulfillmentProgress([1, 2, 3])
    progress.record([task_result(1, None), task_result(2, "")])
    assert progress.pending_ids == [1, 2, 3]
    assert progress.line() == "0/3 complete, 0 failed, 3 pending (statuses: unknown=2, missing=1)"
    assert progress.pending_message().startswith(
        "Mark-shipped tasks still pending (last status): 1 (unknown), 2 (unknown), 3 (missing)."
    )


def test_last_status_follows_the_latest_answer():
    progress = FulfillmentProgress([1])
    progress.record([task_result(1, "in_process")])
    progress.record([])
    assert "1 (missing)" in progress.pending_message()


def test_answers_for_other_or_malformed_ids_are_ignored():
    progress = FulfillmentProgress([1])
    progress.record([task_result(99), {"task_id": "abc", "status_code": "Complete"}, "junk", task_result(1, "pending")])
    assert progress.done == set()
    assert progress.line() == "0/1 complete, 0 failed, 1 pending (statuses: pending=1)"


def test_custom_statuses():
    progress = FulfillmentProgress([1, 2], success_statuses=("done",), failure_statuses=("rejected",))
    progress.record([task_result(1, "DONE"), task_result(2, "Complete")])
    assert progress.done == {1}
    assert progress.pending_ids == [2]
    progress.record([task_result(2, "Rejected")])
    assert progress.failed == {2: "status Rejected"}


def test_ids_known_done_are_not_pending():
    progress = FulfillmentProgress([1, 2, 3], done=[1, 3, 77])
    assert progress.pending_ids == [2]
    assert progress.line() == "2/3 complete, 0 failed, 1 pending (statuses: missing=1)"


@pytest.mark.parametrize(
    ("success", "failure", "culprit"),
    [
        ((), ("fatal",), "success_statuses: must be a non-empty list of status names, got () (tuple)"),
        (("Complete",), [""], "failure_statuses[0]: must be a status name, got ''"),
        (("Complete",), [3], "failure_statuses[0]: must be a status name, got 3"),
        (
            ("Complete",),
            ("complete",),
            "failure_statuses: must be statuses that are not also success_statuses (both hold ['complete']), "
            "got ('complete',) (tuple)",
        ),
        (("Complete",), 5, "failure_statuses: must be a non-empty list of status names, got 5"),
    ],
)
def test_bad_status_sets_are_refused(success, failure, culprit):
    with pytest.raises(LingxingInputError) as info:
        check_statuses(success, failure)
    assert str(info.value) == culprit


def test_a_single_status_string_is_one_status():
    assert check_statuses("Complete", (" fatal ", "Cancelled")) == (["Complete"], ["fatal", "Cancelled"])


@pytest.mark.parametrize("status", ["done", "DONE", "Done"])
def test_done_in_any_case_counts_as_complete(status):
    progress = FulfillmentProgress([1, 2])
    progress.record([task_result(1, status), task_result(2)])
    assert progress.finished
    assert [r["status_code"] for r in progress.done_results()] == [status, "Complete"]


def test_an_unknown_status_is_pending_and_warned_once_per_task():
    progress = FulfillmentProgress([1, 2, 3])
    first = progress.record([task_result(1, "shipped"), task_result(2, "Shipped"), task_result(3, "in_process")])
    assert progress.pending_ids == [1, 2, 3]
    assert len(first) == 2
    assert first[0].startswith("Task 1 has status 'shipped', which the provider does not know: treated as pending")
    assert "success statuses: Complete, done; failure statuses: fatal, cancelled" in first[0]
    assert progress.record([task_result(1, "shipped"), task_result(2, "verified"), task_result(3, "pending")]) == []
    assert progress.line() == "0/3 complete, 0 failed, 3 pending (statuses: pending=1, shipped=1, verified=1)"


def test_the_pending_message_lists_the_unknown_statuses_seen():
    progress = FulfillmentProgress([1, 2, 3, 4])
    progress.record(
        [task_result(1, "shipped"), task_result(2, "shipped"), task_result(3, "on_hold"), task_result(4, "in_process")]
    )
    assert progress.pending_message().endswith(
        "Statuses the provider does not know, treated as pending: 'shipped' (tasks 1, 2); 'on_hold' (tasks 3)."
    )
    plain = FulfillmentProgress([1])
    plain.record([task_result(1, "in_process"), task_result(1, None)])
    assert "does not know" not in plain.pending_message()


def with_messages(task_id: int, status: str, messages: int) -> dict:
    return {**task_result(task_id, status), "result": [{"message_id": str(m)} for m in range(1, messages + 1)]}


@pytest.mark.parametrize(
    ("copies", "kept"),
    [
        ([task_result(1, "pending"), task_result(1, "Complete")], 1),
        ([task_result(1, "Complete"), task_result(1, "pending")], 0),
        ([task_result(1, "in_process"), task_result(1, "fatal")], 1),
        ([task_result(1, None), task_result(1, "shipped")], 1),
        ([task_result(1, "pending"), task_result(1, "pending", failure="refused")], 1),
        ([with_messages(1, "Complete", 1), with_messages(1, "Complete", 3)], 1),
        ([with_messages(1, "Complete", 3), with_messages(1, "Complete", 1)], 0),
        ([with_messages(1, "pending", 5), with_messages(1, "Complete", 0)], 1),
    ],
)
def test_a_task_id_answered_twice_keeps_its_most_advanced_copy(copies, kept):
    assert most_advanced(copies)[1] is copies[kept]
    progress, alone = FulfillmentProgress([1]), FulfillmentProgress([1])
    progress.record(copies)
    alone.record([copies[kept]])
    assert (progress.done, progress.failed, progress.last_status) == (alone.done, alone.failed, alone.last_status)


def test_duplicates_do_not_hide_a_completion():
    progress = FulfillmentProgress([1])
    progress.record([task_result(1, "Complete"), task_result(1, "in_process")])
    assert progress.finished


def test_advancement_uses_the_caller_s_statuses():
    assert advancement(task_result(1, "shipped"), ["shipped"], ["fatal"]) > advancement(task_result(1, "pending"))
    assert advancement(task_result(1, "shipped")) == advancement(task_result(1, "pending"))


@pytest.mark.parametrize("task_id", ["١٢", "²", b"12", True, str(2**63), "12a"])
def test_answers_with_ids_no_rule_accepts_are_ignored(task_id):
    progress = FulfillmentProgress([12])
    progress.record([{"task_id": task_id, "status_code": "Complete"}])
    assert progress.pending_ids == [12]


def test_messages_about_thousands_of_tasks_list_the_first_20_and_a_count():
    progress = FulfillmentProgress(range(1, 3001))
    progress.record(
        [task_result(i, "shipped") for i in range(1, 1001)] + [task_result(i, "fatal") for i in range(1001, 1101)]
    )
    pending, failure, unknown = progress.pending_message(), progress.failure_message(), progress.unknown_message()
    assert "1 (shipped), 2 (shipped)" in pending and "20 (shipped), … and 2880 more (2900 in all)" in pending
    assert "21 (shipped)" not in pending
    assert "1020 (status fatal); … and 80 more (100 in all)" in failure
    assert "'shipped' (tasks 1, 2, 3" in unknown and "… and 980 more (1000 in all))" in unknown
    assert max(len(pending), len(failure), len(unknown)) < 1000


def test_twenty_ids_are_listed_whole():
    progress = FulfillmentProgress(range(1, 21))
    progress.record([])
    assert "20 (missing)." in progress.pending_message() and "more" not in progress.pending_message()
