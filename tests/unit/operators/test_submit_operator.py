"""LingxingSubmitFulfillmentOperator without a ledger: validation before any call, chunking, concurrency, the XCom
shape, and never re-sending within one task instance (its record in a Variable survives its success)."""

from __future__ import annotations

import json
import re

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_lingxing.exceptions import (
    LingxingAuthError,
    LingxingBadRequestError,
    LingxingInputError,
    LingxingRateLimitError,
    LingxingSubmissionUncertainError,
)
from airflow_provider_lingxing.operators.fulfillment import LingxingSubmitFulfillmentOperator, SubmissionRecord
from tests.support.samples import order
from tests.support.scripted_hook import ScriptedHook
from tests.support.task_instance import FakeTaskInstance


def operator(orders, hook: ScriptedHook | None = None, **kwargs) -> LingxingSubmitFulfillmentOperator:
    op = LingxingSubmitFulfillmentOperator(
        task_id="submit",
        region=kwargs.pop("region", "na"),
        seller_id=kwargs.pop("seller_id", "A1SELLER"),
        marketplace_id=kwargs.pop("marketplace_id", "ATVPDKIKX0DER"),
        orders=orders,
        **kwargs,
    )
    op.hook = hook or ScriptedHook()
    return op


def ids(n: int, start: int = 1) -> list[str]:
    return [str(i) for i in range(start, start + n)]


def retry(n: int = 2) -> dict:
    return {"ti": FakeTaskInstance(try_number=n)}


def test_templated_arguments():
    assert set(LingxingSubmitFulfillmentOperator.template_fields) == {
        "region",
        "seller_id",
        "marketplace_id",
        "orders",
        "max_orders_per_task",
        "lingxing_conn_id",
        "sql_conn_id",
        "ledger_table",
        "orders_sql",
        "orders_sql_parameters",
    }


def test_orders_are_split_into_chunks_and_each_submission_is_returned(variables, context):
    hook = ScriptedHook()
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
    (record,) = (json.loads(v) for v in variables.values.values())
    assert [t["task_id"] for t in record["accepted"]] == ["1003101", "1003102", "1003103"], "kept after success"


def test_the_default_chunk_is_100_and_templated_sizes_are_read(variables, context):
    hook = ScriptedHook()
    assert len(operator([order(i) for i in range(1, 102)], hook).execute(context)) == 2
    variables.values.clear()
    hook = ScriptedHook()
    assert len(operator([order(i) for i in range(1, 11)], hook, max_orders_per_task="3").execute(context)) == 4


def test_orders_rendered_as_text_are_read_back(variables, context):
    hook = ScriptedHook()
    out = operator(str([order(1), order(2)]), hook).execute(context)
    assert out == [{"task_id": "1003101", "message_ids": ["1", "2"]}]


def test_chunks_go_concurrently_up_to_the_endpoint_capacity(variables, context):
    """100 chunks at 20 ms each: 10 in flight at once (submitFulfillment's bucket), never more, each sent once."""
    hook = ScriptedHook(max_in_flight=None, latency=0.02)
    out = operator([order(i) for i in range(1, 1001)], hook, max_orders_per_task=10).execute(context)
    assert hook.peak_in_flight == 10
    assert hook.sent_ids() == list(range(1, 1001))
    assert sorted(int(i) for t in out for i in t["message_ids"]) == list(range(1, 1001))
    by_task = {t["task_id"]: t["message_ids"] for t in out}
    assert len(by_task) == 100 and all(len(m) == 10 for m in by_task.values())


def test_pool_slots_bound_the_chunks_in_flight(variables, context):
    hook = ScriptedHook(max_in_flight=3, latency=0.02)
    operator([order(i) for i in range(1, 101)], hook, max_orders_per_task=10).execute(context)
    assert hook.peak_in_flight == 3


@pytest.mark.parametrize("size", [0, -1, "x", 1.5, True, "²"])
def test_a_bad_chunk_size_is_refused_before_any_call(variables, context, size):
    hook = ScriptedHook()
    with pytest.raises(LingxingInputError, match=r"^max_orders_per_task: must be a positive integer"):
        operator([order(1)], hook, max_orders_per_task=size).execute(context)
    assert hook.submitted == [] and variables.sets == 0


def test_every_problem_is_reported_before_any_call(variables, context):
    hook = ScriptedHook()
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


def test_an_uncertain_chunk_fails_without_retry_and_is_never_sent_again(variables, context):
    hook = ScriptedHook(["ok", LingxingSubmissionUncertainError("connection dropped after sending")])
    orders = [order(i) for i in range(1, 301)]
    with pytest.raises(AirflowFailException) as raised:
        operator(orders, hook, max_orders_per_task=100).execute(context)
    text = str(raised.value)
    assert "chunk 2/3 (ids 101, 102, 103, 104, 105 … (100 in all)): uncertain" in text
    assert "it may have reached Lingxing" in text
    assert "chunk 3/3 (ids 201, 202, 203, 204, 205 … (100 in all)): not sent: not started after chunk 2 ended" in text
    assert "do not submit these orders again: task 1003101 (ids 1, 2, 3, 4, 5 … (100 in all))" in text
    assert len(hook.submitted) == 1

    clear = ScriptedHook()
    clear.next_task_id = 1003200
    out = operator(orders, clear, max_orders_per_task=100).execute(retry())
    assert clear.sent_ids() == list(range(201, 301)), "the uncertain chunk is never sent again; the unsent one is"
    assert [t["task_id"] for t in out] == ["1003101", "1003201"]


def refuse_chunk_of(first_id: int, error: Exception):
    """A script refusing, on every call, the chunk whose first order is `first_id`."""
    return lambda call: error if call["order_list"][0]["id"] == first_id else "ok"


def test_a_chunk_refused_for_a_passing_reason_goes_again_one_at_a_time(variables, context, captured_log):
    """A rate limit (or a token rotated by another client) that outlasted the hook's retries: the chunk goes
    again in the same execution, and the rest one chunk at a time."""
    hook = ScriptedHook([LingxingRateLimitError("bucket full", code="3001008")], max_in_flight=None)
    op = operator([order(i) for i in range(1, 31)], hook, max_orders_per_task=10)
    log = captured_log(op)
    out = op.execute(context)
    assert sorted(len(t["message_ids"]) for t in out) == [10, 10, 10]
    assert hook.sent_ids() == list(range(1, 31)), "each order once"
    assert "sent again, one chunk at a time from now on" in log.text


def test_a_retry_after_a_refused_chunk_resumes_after_the_accepted_ones(variables, context):
    refused = LingxingRateLimitError("bucket full", code="3001008")
    hook = ScriptedHook(refuse_chunk_of(201, refused))
    orders = [order(i) for i in range(1, 451)]
    with pytest.raises(AirflowException) as raised:
        operator(orders, hook, max_orders_per_task=100).execute(context)
    assert not isinstance(raised.value, AirflowFailException), "nothing uncertain: Airflow may retry"
    text = str(raised.value)
    assert "4 of 5 chunk(s) accepted" in text and "Lingxing refused it" in text
    assert "chunk 3/5 (ids 201, 202, 203, 204, 205 … (100 in all)): not sent" in text
    assert "task 1003101 (ids 1, 2, 3" in text and "task 1003102 (ids 101, 102, 103" in text
    assert "a retry or the next run sends it" in text

    again = ScriptedHook()
    again.next_task_id = 1003200
    out = operator(orders, again, max_orders_per_task=100).execute(retry())
    assert [s["message_ids"][0] for s in out] == ["1", "101", "301", "401", "201"]
    assert again.sent_ids() == list(range(201, 301))
    assert sorted(hook.sent_ids() + again.sent_ids()) == list(range(1, 451)), "every order sent exactly once"


def test_a_refusal_of_the_call_releases_the_chunk_and_fails_without_retry(variables, context):
    hook = ScriptedHook([LingxingAuthError("ip not permit, add ip to white list", code="3001002")])
    with pytest.raises(AirflowFailException, match="fix the cause, then clear this task"):
        operator([order(1), order(2)], hook).execute(context)
    cleared = ScriptedHook()
    assert operator([order(1), order(2)], cleared).execute(retry()) == [
        {"task_id": "1003101", "message_ids": ["1", "2"]}
    ]


def test_a_102_keeps_the_named_order_refused_until_it_changes_and_releases_the_rest(variables, context):
    """The 102 scenario: chunk 1 accepted, chunk 2 refused for its order 4. A clear with the order fixed sends the
    fixed order and its chunk-mate once, and chunk 1 never again; unchanged, the refused order is not sent."""
    refusal = LingxingBadRequestError("orderList[1].carrierCode承运商code不能为空", code="102")
    hook = ScriptedHook(["ok", refusal])
    orders = [order(i) for i in range(1, 5)]
    with pytest.raises(AirflowFailException) as raised:
        operator(orders, hook, max_orders_per_task=2).execute(context)
    assert "ids 4 are kept refused until changed" in str(raised.value)

    unchanged = ScriptedHook()
    unchanged.next_task_id = 1003200
    out = operator(orders, unchanged, max_orders_per_task=2).execute(retry())
    assert unchanged.sent_ids() == [3], "the chunk-mate goes; the refused order, unchanged, does not"

    fixed = ScriptedHook()
    fixed.next_task_id = 1003300
    orders[3] = order(4, carrier_code="USPS")
    out = operator(orders, fixed, max_orders_per_task=2).execute(retry(3))
    assert fixed.sent_ids() == [4]
    assert [t["task_id"] for t in out] == ["1003101", "1003201", "1003301"]
    assert sorted(hook.sent_ids() + unchanged.sent_ids() + fixed.sent_ids()) == [1, 2, 3, 4]


def test_a_clear_after_success_returns_the_stored_tasks_and_sends_nothing(variables, context, captured_log):
    """30 orders in 6 tasks; the usual reaction to a downstream failure is to clear the submit task too."""
    hook = ScriptedHook()
    orders = [order(i) for i in range(1, 31)]
    first = operator(orders, hook, max_orders_per_task=5).execute(context)
    cleared = ScriptedHook()
    op = operator(orders, cleared, max_orders_per_task=5)
    log = captured_log(op)
    assert op.execute(retry()) == first
    assert cleared.submitted == [] and len(hook.submitted) == 6
    assert "Returned 6 task(s) this task instance created in an earlier try" in log.text
    assert "edit Variable lingxing_submit_progress." in log.text, "how to send again on purpose"


def test_an_unexpected_error_while_sending_counts_as_uncertain(variables, context, captured_log):
    hook = ScriptedHook([RuntimeError("worker lost its socket")])
    with pytest.raises(
        AirflowFailException, match=re.escape("it may have reached Lingxing (RuntimeError: worker lost its socket")
    ):
        operator([order(1)], hook).execute(context)
    again = ScriptedHook()
    op = operator([order(1)], again)
    log = captured_log(op)
    assert op.execute(retry()) == []
    assert again.submitted == []
    assert "1 order(s) of seller A1SELLER in marketplace ATVPDKIKX0DER are uncertain (ids 1)" in log.text


def test_an_answer_without_task_id_counts_as_uncertain(variables, context):
    hook = ScriptedHook([{"task_status": "in_process"}])
    with pytest.raises(AirflowFailException, match="carries no task id"):
        operator([order(1)], hook).execute(context)


def test_a_changed_order_list_keeps_the_accepted_orders_and_sends_the_new_ones(variables, context):
    hook = ScriptedHook(refuse_chunk_of(2, LingxingRateLimitError("bucket full", code="3001008")))
    with pytest.raises(AirflowException):
        operator([order(1), order(2)], hook, max_orders_per_task=1).execute(context)
    again = ScriptedHook()
    again.next_task_id = 1003200
    out = operator([order(1, tracking_no="CHANGED"), order(3)], again, max_orders_per_task=1).execute(retry())
    assert again.sent_ids() == [3], "order 1 was accepted: never sent again, even changed"
    assert out == [
        {"task_id": "1003101", "message_ids": ["1"]},
        {"task_id": "1003201", "message_ids": ["3"]},
    ]


def test_progress_that_cannot_be_recorded_stops_before_sending(variables, context):
    variables.fail_set_after = 0
    hook = ScriptedHook()
    with pytest.raises(AirflowException, match="its sending mark could not be recorded"):
        operator([order(1)], hook).execute(context)
    assert hook.submitted == []


def test_an_accepted_chunk_that_cannot_be_recorded_stops_the_rest(variables, context):
    variables.fail_set_after = 1
    hook = ScriptedHook()
    with pytest.raises(AirflowFailException) as raised:
        operator([order(1), order(2)], hook, max_orders_per_task=1).execute(context)
    assert "accepted as task 1003101 (task status in_process; the record could not be written" in str(raised.value)
    assert "do not submit these orders again: task 1003101 (ids 1)" in str(raised.value)
    assert len(hook.submitted) == 1


def test_a_missing_lingxing_connection_fails_before_anything_is_recorded(variables, context):
    class NoConnection(ScriptedHook):
        @property
        def settings(self):
            raise RuntimeError("The conn_id `lingxing_default` isn't defined")

    hook = NoConnection()
    with pytest.raises(LingxingInputError, match="lingxing_conn_id 'lingxing_default': the connection could not"):
        operator([order(1)], hook).execute(context)
    assert variables.sets == 0 and hook.submitted == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"orders": None}, "either as orders"),
        ({"orders_sql": "SELECT 1"}, "either as orders"),
        ({"orders": None, "orders_sql": "SELECT 1"}, "orders_sql needs sql_conn_id"),
        ({"resubmit": "always"}, "resubmit must be 'never' or 'on_error'"),
        ({"resubmit": "on_error"}, "needs sql_conn_id"),
        ({"sql_conn_id": "w", "ledger_table": "order"}, r"ledger_table: .*no SQL reserved word \('order' is one\)"),
        ({"claim_timeout": -1}, "claim_timeout must be a timedelta"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_parsed(kwargs, message):
    arguments = {"task_id": "submit", "region": "NA", "seller_id": "S", "marketplace_id": "M", "orders": [], **kwargs}
    with pytest.raises(LingxingInputError, match=message):
        LingxingSubmitFulfillmentOperator(**arguments)


def test_the_record_is_one_per_task_instance(variables):
    one, other = FakeTaskInstance(), FakeTaskInstance()
    other.map_index = 3
    assert SubmissionRecord(one).key != SubmissionRecord(other).key
    assert SubmissionRecord(one).key == SubmissionRecord(FakeTaskInstance(try_number=2)).key
    assert len(SubmissionRecord(one).key) <= 250


def test_a_record_written_before_the_ledger_is_read(variables, context):
    """An in-flight chunk of the old format stays uncertain, its submitted chunks stay accepted."""
    key = SubmissionRecord(context["ti"]).key
    old = {"fingerprint": "x", "submitted": [{"task_id": "1003050", "message_ids": ["1"]}], "in_flight": None}
    old["in_flight"] = {"chunk": 1, "message_ids": ["2"]}
    variables.values[key] = json.dumps(old)
    hook = ScriptedHook()
    out = operator([order(1), order(2), order(3)], hook, max_orders_per_task=1).execute(retry())
    assert hook.sent_ids() == [3]
    assert [t["task_id"] for t in out] == ["1003050", "1003101"]
