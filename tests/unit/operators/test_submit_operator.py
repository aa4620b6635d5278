"""LingxingSubmitFulfillmentOperator: validation before any call, chunking, XCom shape, and never re-sending."""

from __future__ import annotations

import re

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_lingxing.exceptions import (
    LingxingBadRequestError,
    LingxingInputError,
    LingxingRateLimitError,
    LingxingSubmissionUncertainError,
)
from airflow_provider_lingxing.operators.fulfillment import LingxingSubmitFulfillmentOperator, SubmissionRecord
from tests.unit.operators.operator_fakes import FakeLingxingHook, FakeTaskInstance


def order(n: int, **changes) -> dict:
    base = {
        "id": n,
        "platform_order_no": f"111-0000000-{n:07d}",
        "tracking_no": f"1Z{n:08d}",
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "order_item": [{"order_item_no": f"{n:014d}", "quantity": 1}],
    }
    base.update(changes)
    return base


def operator(orders, hook: FakeLingxingHook | None = None, **kwargs) -> LingxingSubmitFulfillmentOperator:
    op = LingxingSubmitFulfillmentOperator(
        task_id="submit",
        region=kwargs.pop("region", "na"),
        seller_id=kwargs.pop("seller_id", "A1SELLER"),
        marketplace_id=kwargs.pop("marketplace_id", "ATVPDKIKX0DER"),
        orders=orders,
        **kwargs,
    )
    op.hook = hook or FakeLingxingHook()
    return op


def ids(n: int, start: int = 1) -> list[str]:
    return [str(i) for i in range(start, start + n)]


def test_templated_arguments():
    assert set(LingxingSubmitFulfillmentOperator.template_fields) == {
        "region",
        "seller_id",
        "marketplace_id",
        "orders",
        "max_orders_per_task",
        "lingxing_conn_id",
    }


def test_orders_are_split_into_chunks_and_each_submission_is_returned(variables, context):
    hook = FakeLingxingHook()
    orders = [order(i) for i in range(1, 251)]
    out = operator(orders, hook, max_orders_per_task=100).execute(context)
    assert out == [
        {"task_id": "1003101", "message_ids": ids(100)},
        {"task_id": "1003102", "message_ids": ids(100, 101)},
        {"task_id": "1003103", "message_ids": ids(50, 201)},
    ]
    assert [len(call["order_list"]) for call in hook.submitted] == [100, 100, 50]
    assert {call["region"] for call in hook.submitted} == {"NA"}
    assert hook.submitted[0]["order_list"][0]["shipping_service"] == ""
    assert hook.closed == 1
    assert variables.store == {}, "the progress Variable is deleted once the task succeeds"


def test_the_default_chunk_is_100_and_templated_sizes_are_read(variables, context):
    hook = FakeLingxingHook()
    assert len(operator([order(i) for i in range(1, 102)], hook).execute(context)) == 2
    hook = FakeLingxingHook()
    assert len(operator([order(i) for i in range(1, 11)], hook, max_orders_per_task="3").execute(context)) == 4


def test_orders_rendered_as_text_are_read_back(variables, context):
    hook = FakeLingxingHook()
    out = operator(str([order(1), order(2)]), hook).execute(context)
    assert out == [{"task_id": "1003101", "message_ids": ["1", "2"]}]


@pytest.mark.parametrize("size", [0, -1, "x", 1.5, True, "²"])
def test_a_bad_chunk_size_is_refused_before_any_call(variables, context, size):
    hook = FakeLingxingHook()
    with pytest.raises(LingxingInputError, match=r"^max_orders_per_task: must be a positive integer"):
        operator([order(1)], hook, max_orders_per_task=size).execute(context)
    assert hook.submitted == [] and variables.sets == 0


def test_every_problem_is_reported_before_any_call(variables, context):
    hook = FakeLingxingHook()
    orders = [order(i) for i in range(1, 151)]
    del orders[120]["tracking_no"]
    orders[149]["id"] = 3
    with pytest.raises(LingxingInputError) as raised:
        operator(orders, hook, region="US", max_orders_per_task=100).execute(context)
    text = str(raised.value)
    assert "region: must be one of NA, EU, FE (any case), got 'US'" in text
    assert "orders[120].tracking_no: must be a non-empty string, got nothing" in text
    assert "orders[149].id: must be unique, not the id of orders[2], got 3" in text
    assert hook.submitted == [] and variables.sets == 0


def test_an_uncertain_chunk_fails_without_retry_and_names_what_was_created(variables, context):
    hook = FakeLingxingHook(["ok", LingxingSubmissionUncertainError("connection dropped after sending")])
    orders = [order(i) for i in range(1, 301)]
    with pytest.raises(AirflowFailException) as raised:
        operator(orders, hook, max_orders_per_task=100).execute(context)
    text = str(raised.value)
    assert "chunk 2 of 3 (orders[100:200], ids 101, 102, 103, 104, 105 … (100 in all))" in text
    assert "it may have reached Lingxing" in text
    assert "do not submit these orders again: task 1003101 (ids 1, 2, 3, 4, 5 … (100 in all))" in text
    assert len(hook.submitted) == 1

    retry = FakeLingxingHook()
    with pytest.raises(AirflowFailException) as raised:
        operator(orders, retry, max_orders_per_task=100).execute({"ti": FakeTaskInstance(try_number=2)})
    assert retry.submitted == [], "a retry sends nothing while a chunk's fate is unknown"
    assert "was sending chunk 2 of 3" in str(raised.value) and "task 1003101" in str(raised.value)


def test_a_retry_after_a_refused_chunk_resumes_after_the_accepted_ones(variables, context):
    hook = FakeLingxingHook(["ok", "ok", LingxingRateLimitError("bucket full", code="3001008")])
    orders = [order(i) for i in range(1, 451)]
    with pytest.raises(AirflowException) as raised:
        operator(orders, hook, max_orders_per_task=100).execute(context)
    assert not isinstance(raised.value, AirflowFailException), "a refused chunk created nothing: Airflow may retry"
    text = str(raised.value)
    assert "stopped at chunk 3 of 5" in text and "Lingxing refused it" in text
    assert "task 1003101 (ids 1, 2, 3" in text and "task 1003102 (ids 101, 102, 103" in text
    assert "A retry of this task resumes at chunk 3" in text

    retry = FakeLingxingHook()
    retry.next_task_id = 1003200
    out = operator(orders, retry, max_orders_per_task=100).execute({"ti": FakeTaskInstance(try_number=2)})
    assert [s["task_id"] for s in out] == ["1003101", "1003102", "1003201", "1003202", "1003203"]
    assert [s["message_ids"][0] for s in out] == ["1", "101", "201", "301", "401"]
    sent = [o["id"] for call in hook.submitted + retry.submitted for o in call["order_list"]]
    assert sorted(sent) == list(range(1, 451)), "every order sent exactly once across both tries"
    assert variables.store == {}


def test_a_fatal_refusal_is_not_retried_and_a_clear_resumes(variables, context):
    hook = FakeLingxingHook(["ok", LingxingBadRequestError("orderList[0].carrierCode承运商code不能为空", code="102")])
    orders = [order(i) for i in range(1, 5)]
    with pytest.raises(
        AirflowFailException, match="Not retried: fix the cause, then clear this task to resume at chunk 2"
    ):
        operator(orders, hook, max_orders_per_task=2).execute(context)
    cleared = FakeLingxingHook()
    out = operator(orders, cleared, max_orders_per_task=2).execute(context)
    assert [s["message_ids"] for s in out] == [["1", "2"], ["3", "4"]]
    assert [[o["id"] for o in c["order_list"]] for c in cleared.submitted] == [[3, 4]]


def test_a_first_chunk_refused_leaves_nothing_to_resume(variables, context):
    hook = FakeLingxingHook([LingxingRateLimitError("bucket full", code="3001008")])
    with pytest.raises(AirflowException, match="Already created in Lingxing, do not submit these orders again: none"):
        operator([order(1)], hook).execute(context)
    again = FakeLingxingHook()
    assert operator([order(1)], again).execute(context) == [{"task_id": "1003101", "message_ids": ["1"]}]


def test_an_unexpected_error_while_sending_counts_as_uncertain(variables, context):
    hook = FakeLingxingHook([RuntimeError("worker lost its socket")])
    with pytest.raises(
        AirflowFailException, match=re.escape("it may have reached Lingxing (RuntimeError: worker lost its socket")
    ):
        operator([order(1)], hook).execute(context)
    with pytest.raises(AirflowFailException, match="may or may not have reached Lingxing"):
        operator([order(1)], FakeLingxingHook()).execute(context)


def test_an_answer_without_task_id_counts_as_uncertain(variables, context):
    hook = FakeLingxingHook([{"task_status": "in_process"}])
    with pytest.raises(AirflowFailException, match="carries no task id"):
        operator([order(1)], hook).execute(context)


def test_a_changed_order_list_is_not_resumed(variables, context):
    hook = FakeLingxingHook(["ok", LingxingRateLimitError("bucket full", code="3001008")])
    with pytest.raises(AirflowException):
        operator([order(1), order(2)], hook, max_orders_per_task=1).execute(context)
    retry = FakeLingxingHook()
    with pytest.raises(AirflowFailException, match="submitted a different order list") as raised:
        operator([order(1), order(3)], retry, max_orders_per_task=1).execute(context)
    assert "task 1003101 (ids 1)" in str(raised.value)
    assert retry.submitted == []


def test_progress_that_cannot_be_recorded_stops_before_sending(variables, context):
    variables.fail_set_after = 0
    hook = FakeLingxingHook()
    with pytest.raises(AirflowFailException, match="could not record progress"):
        operator([order(1)], hook).execute(context)
    assert hook.submitted == []


def test_an_accepted_chunk_that_cannot_be_recorded_stops_the_rest(variables, context):
    variables.fail_set_after = 1
    hook = FakeLingxingHook()
    with pytest.raises(AirflowFailException) as raised:
        operator([order(1), order(2)], hook, max_orders_per_task=1).execute(context)
    assert "it was created as task 1003101, but that could not be recorded" in str(raised.value)
    assert "do not submit these orders again: task 1003101 (ids 1)" in str(raised.value)
    assert len(hook.submitted) == 1


def test_the_record_is_one_per_task_instance(variables):
    one, other = FakeTaskInstance(), FakeTaskInstance()
    other.map_index = 3
    assert SubmissionRecord(one).key != SubmissionRecord(other).key
    assert SubmissionRecord(one).key == SubmissionRecord(FakeTaskInstance(try_number=2)).key
    assert len(SubmissionRecord(one).key) <= 250
