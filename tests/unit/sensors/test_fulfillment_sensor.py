"""FulfillmentResultSensor against a scripted hook: every outcome a DAG author can see."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_lingxing.api.compact_ids import pack_task_ids
from airflow_provider_lingxing.exceptions import (
    LingxingAuthError,
    LingxingInputError,
    LingxingRateLimitError,
    LingxingTransientError,
)
from airflow_provider_lingxing.sensors.fulfillment import DEFERRAL_GRACE_SECONDS, FulfillmentResultSensor
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger
from tests.support.samples import SELLER_ID, task_result
from tests.support.scripted_hook import ScriptedHook

ID_RULE = "must be a positive integer (an int or a string of ASCII digits) no larger than 9223372036854775807 (2**63-1)"


def make_sensor(hook: ScriptedHook | None, task_ids=(1, 2, 3), **kwargs) -> FulfillmentResultSensor:
    kwargs.setdefault("poke_interval", 0)
    kwargs.setdefault("timeout", 60)
    sensor = FulfillmentResultSensor(
        task_id="wait_for_amazon", seller_id=kwargs.pop("seller_id", SELLER_ID), fulfillment_task_ids=task_ids, **kwargs
    )
    if hook is not None:
        sensor.hook = hook
    return sensor


def no_calls() -> ScriptedHook:
    """A hook that must not be reached: bad input is refused before any API call."""
    return ScriptedHook(error=AssertionError("the API was called"))


def test_all_complete_at_first_poke_returns_results_in_task_id_order(context):
    hook = ScriptedHook(results={1: [task_result(1)], 2: [task_result(2)], 3: [task_result(3)]})
    returned = make_sensor(hook, task_ids=["3", 1, 2, "2"]).execute(context)
    assert returned == [task_result(1), task_result(2), task_result(3)]
    assert hook.result_calls == [(SELLER_ID, [1, 2, 3])]


def test_each_poke_asks_only_for_pending_ids(context, captured_log):
    hook = ScriptedHook(
        results={
            1: [task_result(1)],
            2: [task_result(2, "pending"), task_result(2, "in_process"), task_result(2)],
            3: [None, task_result(3)],
        }
    )
    sensor = make_sensor(hook)
    log = captured_log(sensor)
    assert sensor.execute(context) == [task_result(1), task_result(2), task_result(3)]
    assert [ids for _, ids in hook.result_calls] == [[1, 2, 3], [2, 3], [2]]
    assert [r.getMessage() for r in log.records if "complete" in r.getMessage()] == [
        "1/3 complete, 0 failed, 2 pending (statuses: missing=1, pending=1)",
        "2/3 complete, 0 failed, 1 pending (statuses: in_process=1)",
        "3/3 complete, 0 failed, 0 pending",
    ]


def test_a_failed_task_fails_at_once_without_retry_naming_id_and_reason(context):
    hook = ScriptedHook(
        results={
            1: [task_result(1)],
            2: [task_result(2, "fatal", failure="Amazon refused: seller token revoked")],
            3: [task_result(3, "in_process")],
        }
    )
    with pytest.raises(AirflowFailException) as info:
        make_sensor(hook, retries=3).execute(context)
    assert "1 of 3 mark-shipped tasks failed: 2 (status fatal: Amazon refused: seller token revoked)" in str(info.value)
    assert len(hook.result_calls) == 1


@pytest.mark.parametrize("status", ["cancelled", "FATAL"])
def test_failure_statuses_fail_case_insensitively(context, status):
    hook = ScriptedHook(results={1: [task_result(1, "in_process"), task_result(1, status)]})
    with pytest.raises(AirflowFailException, match=rf"1 \(status {status}\)"):
        make_sensor(hook, task_ids=[1]).execute(context)
    assert len(hook.result_calls) == 2


def test_failure_reason_fails_even_with_complete_status(context):
    hook = ScriptedHook(results={1: [task_result(1, "Complete", failure="feed rejected")]})
    with pytest.raises(AirflowFailException, match="feed rejected"):
        make_sensor(hook, task_ids=[1]).execute(context)


def test_soft_fail_skips_a_failed_task(context):
    hook = ScriptedHook(results={1: [task_result(1, "cancelled")]})
    with pytest.raises(AirflowSkipException):
        make_sensor(hook, task_ids=[1], soft_fail=True).execute(context)


def test_custom_statuses(context):
    hook = ScriptedHook(results={1: [task_result(1, "Complete"), task_result(1, "DONE")], 2: [task_result(2, "done")]})
    returned = make_sensor(hook, task_ids=[1, 2], success_statuses=["done"], failure_statuses=["rejected"]).execute(
        context
    )
    assert [r["status_code"] for r in returned] == ["DONE", "done"]


def test_timeout_names_pending_ids_and_their_last_status(context):
    hook = ScriptedHook(results={1: [task_result(1)], 2: [task_result(2, "in_process")], 3: [None]})
    with pytest.raises(AirflowSensorTimeout) as info:
        make_sensor(hook, timeout=0).execute(context)
    message = str(info.value)
    assert "Sensor has timed out" in message
    assert "still pending (last status): 2 (in_process), 3 (missing)" in message
    assert "1 (" not in message.split("Progress")[0]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_timeout_lists_the_unknown_statuses_seen_each_warned_once(context, captured_log, mode):
    hook = ScriptedHook(
        results={1: [task_result(1, "shipped")], 2: [task_result(2, "on_hold")], 3: [task_result(3, "Done")]}
    )
    sensor = make_sensor(hook, timeout=0, mode=mode)
    log = captured_log(sensor)
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor.execute(context)
    assert str(info.value).endswith(
        "Statuses the provider does not know, treated as pending: 'shipped' (tasks 1); 'on_hold' (tasks 2)."
    )
    warnings = [r.getMessage() for r in log.records if r.getMessage().startswith("Task ")]
    assert [w.split(",")[0] for w in warnings] == [
        "Task 1 has status 'shipped'",
        "Task 2 has status 'on_hold'",
    ]


def test_poke_mode_warns_once_per_task_across_pokes(context, captured_log):
    hook = ScriptedHook(
        results={1: [task_result(1, "shipped"), task_result(1, "shipped"), task_result(1, "verified"), task_result(1)]}
    )
    sensor = make_sensor(hook, task_ids=[1])
    log = captured_log(sensor)
    assert sensor.execute(context) == [task_result(1)]
    assert len(hook.result_calls) == 4
    warnings = [r.getMessage() for r in log.records if r.levelname == "WARNING" and r.getMessage().startswith("Task ")]
    assert [w[:30] for w in warnings] == ["Task 1 has status 'shipped', w"]


def test_done_in_any_case_is_complete_by_default(context):
    hook = ScriptedHook(results={1: [task_result(1, "done")], 2: [task_result(2, "DONE")], 3: [task_result(3)]})
    assert [r["status_code"] for r in make_sensor(hook).execute(context)] == ["done", "DONE", "Complete"]


def test_timeout_with_soft_fail_skips(context):
    hook = ScriptedHook(results={1: [task_result(1, "in_process")]})
    with pytest.raises(AirflowSkipException):
        make_sensor(hook, task_ids=[1], timeout=0, soft_fail=True).execute(context)


def test_api_errors_propagate_for_airflow_retries(context):
    sensor = make_sensor(
        ScriptedHook(error=LingxingTransientError("HTTP 502", path="/pb/mp/order/getFulfillmentResult"))
    )
    with pytest.raises(LingxingTransientError):
        sensor.execute(context)


def test_reschedule_mode_frees_the_slot_and_repolls_all_ids_in_the_next_process(context):
    hook = ScriptedHook(results={1: [task_result(1)], 2: [task_result(2, "in_process"), task_result(2)]})
    with pytest.raises(AirflowRescheduleException):
        make_sensor(hook, task_ids=[1, 2], mode="reschedule", poke_interval=30).execute(context)
    again = make_sensor(hook, task_ids=[1, 2], mode="reschedule", poke_interval=30)
    assert again.execute(context) == [task_result(1), task_result(2)]
    assert [ids for _, ids in hook.result_calls] == [[1, 2], [1, 2]]


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [
        ({"task_ids": ["1003083", "12a"]}, f"fulfillment_task_ids[1]: {ID_RULE}, got '12a'"),
        ({"task_ids": [0]}, f"fulfillment_task_ids[0]: {ID_RULE}, got 0"),
        ({"task_ids": None}, "fulfillment_task_ids: must be a task id, the submit operator's XCom"),
        ({"task_ids": "[1, 'x']"}, f"fulfillment_task_ids[1]: {ID_RULE}, got 'x'"),
        ({"task_ids": [b"1003100"]}, f"fulfillment_task_ids[0]: {ID_RULE}, got b'1003100' (bytes)"),
        ({"task_ids": ["١٢"]}, f"fulfillment_task_ids[0]: {ID_RULE}, got '١٢'"),
        ({"task_ids": [True]}, f"fulfillment_task_ids[0]: {ID_RULE}, got True (bool)"),
        ({"task_ids": [2**63]}, f"fulfillment_task_ids[0]: {ID_RULE}, got {2**63}"),
        ({"seller_id": ""}, "seller_id: must be the Amazon seller id as a string"),
        ({"seller_id": "   "}, "seller_id: must be the Amazon seller id as a string"),
        ({"seller_id": None}, "seller_id: must be the Amazon seller id as a string"),
        ({"seller_id": 123}, "not the numeric `sid`), got 123"),
    ],
)
@pytest.mark.parametrize("deferrable", [False, True])
def test_bad_input_fails_before_any_call_and_is_not_retried(context, kwargs, culprit, deferrable):
    sensor = make_sensor(None, task_ids=kwargs.get("task_ids", [1]), deferrable=deferrable, soft_fail=True)
    if "seller_id" in kwargs:
        sensor.seller_id = kwargs["seller_id"]
    sensor.hook = no_calls()
    with pytest.raises(LingxingInputError) as info:
        sensor.execute(context)
    assert culprit in str(info.value)
    assert isinstance(info.value, AirflowFailException)


@pytest.mark.parametrize("task_ids", [[], "[]"])
@pytest.mark.parametrize("deferrable", [False, True])
def test_nothing_to_wait_for_succeeds_at_once(context, task_ids, deferrable):
    """A submit task with nothing to send returns []: the sensor succeeds without a call."""
    sensor = make_sensor(None, task_ids=task_ids, deferrable=deferrable)
    sensor.hook = no_calls()
    assert sensor.execute(context) == []


@pytest.mark.parametrize(
    ("rendered", "asked"),
    [
        ([{"task_id": "7", "message_ids": ["1", "2"]}, {"task_id": "8", "message_ids": []}], [7, 8]),
        ({"task_id": "7"}, [7]),
        ("[{'task_id': '7', 'message_ids': ['1']}, {'task_id': 8}]", [7, 8]),
        ('["7", "8", "8"]', [7, 8]),
        ("[8, 7]", [7, 8]),
        ("8", [8]),
        (("8", 7), [7, 8]),
    ],
)
def test_accepts_lists_xcom_of_the_submit_operator_and_rendered_text(context, rendered, asked):
    hook = ScriptedHook(results={7: [task_result(7)], 8: [task_result(8)]})
    make_sensor(hook, task_ids=rendered).execute(context)
    assert hook.result_calls == [(SELLER_ID, asked)]


def test_templated_fields_render_before_validation(context):
    sensor = make_sensor(
        ScriptedHook(results={5: [task_result(5)]}), task_ids="{{ params.ids }}", seller_id="{{ params.seller }}"
    )
    assert set(sensor.template_fields) == {"seller_id", "fulfillment_task_ids", "lingxing_conn_id"}
    sensor.render_template_fields({"params": {"ids": ["5"], "seller": SELLER_ID}})
    assert sensor.execute(context) == [task_result(5)]
    assert sensor.hook.result_calls == [(SELLER_ID, [5])]


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [
        ({"success_statuses": []}, "success_statuses: must be a non-empty list of status names, got []"),
        ({"failure_statuses": ["Complete"]}, "both hold ['complete']"),
    ],
)
def test_bad_status_sets_fail_when_the_dag_is_parsed(kwargs, culprit):
    with pytest.raises(ValueError) as info:
        make_sensor(None, **kwargs)
    assert culprit in str(info.value)


# deferrable mode


def test_deferrable_pokes_once_then_defers_with_only_pending_ids(context):
    hook = ScriptedHook(results={1: [task_result(1)], 2: [task_result(2, "in_process")], 3: [None]})
    sensor = make_sensor(hook, deferrable=True, poke_interval=45, timeout=timedelta(hours=2), lingxing_conn_id="lx")
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context)
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    trigger = deferred.trigger
    assert isinstance(trigger, FulfillmentResultTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_lingxing.triggers.fulfillment.FulfillmentResultTrigger"
    assert kwargs == {
        "lingxing_conn_id": "lx",
        "seller_id": SELLER_ID,
        "fulfillment_task_ids": pack_task_ids([1, 2, 3]),
        "pending_task_ids": pack_task_ids([2, 3]),
        "poll_interval": 45.0,
        "end_time": context["ti"].start_date.timestamp() + 7200,
        "success_statuses": ["Complete", "done"],
        "failure_statuses": ["fatal", "cancelled"],
    }
    assert len(hook.result_calls) == 1


def test_the_deferral_itself_times_out_when_the_sensor_does(context, monkeypatch):
    """If the trigger's own clock is lost, Airflow still ends the wait: timeout = what is left, plus a grace."""
    now = context["ti"].start_date.timestamp() + 1800
    monkeypatch.setattr("airflow_provider_lingxing.sensors.fulfillment.time.time", lambda: now)
    sensor = make_sensor(ScriptedHook(results={}), deferrable=True, timeout=timedelta(hours=2))
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context)
    assert info.value.timeout == timedelta(seconds=5400 + DEFERRAL_GRACE_SECONDS)
    assert info.value.trigger.end_time == now + 5400


def test_a_deferral_past_its_timeout_is_a_sensor_timeout_and_soft_fail_skips(context):
    fail = {"error": "Trigger timeout"}
    with pytest.raises(AirflowSensorTimeout):
        make_sensor(no_calls(), deferrable=True).resume_execution("__fail__", fail, context)
    with pytest.raises(AirflowSkipException):
        make_sensor(no_calls(), deferrable=True, soft_fail=True).resume_execution("__fail__", fail, context)


def test_the_connection_id_is_templated_and_reaches_the_trigger(context):
    sensor = make_sensor(ScriptedHook(results={}), deferrable=True, lingxing_conn_id="{{ params.conn }}")
    sensor.render_template_fields({"params": {"conn": "lingxing_eu"}})
    assert sensor.lingxing_conn_id == "lingxing_eu"
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context)
    assert info.value.trigger.serialize()[1]["lingxing_conn_id"] == "lingxing_eu"


def test_deferrable_finishes_without_deferring_when_all_done_at_first_poke(context):
    hook = ScriptedHook(results={1: [task_result(1)]})
    assert make_sensor(hook, task_ids=[1], deferrable=True).execute(context) == [task_result(1)]


def test_deferrable_first_poke_failure_fails_and_soft_fail_skips(context):
    hook = ScriptedHook(results={1: [task_result(1, "fatal", failure="bad carrier")]})
    with pytest.raises(AirflowFailException, match="bad carrier"):
        make_sensor(hook, task_ids=[1], deferrable=True).execute(context)
    with pytest.raises(AirflowSkipException):
        make_sensor(hook, task_ids=[1], deferrable=True, soft_fail=True).execute(context)


def test_execute_complete_success_fetches_the_results_once(context, captured_log):
    hook = ScriptedHook(results={1: [task_result(1)], 2: [task_result(2)]})
    sensor = make_sensor(hook, deferrable=True)
    log = captured_log(sensor)
    event = {"status": "success", "seller_id": SELLER_ID, "fulfillment_task_ids": [1, 2]}
    assert sensor.resume_execution("execute_complete", {"event": event}, context) == [task_result(1), task_result(2)]
    assert hook.result_calls == [(SELLER_ID, [1, 2])]
    assert "2/2 complete, 0 failed, 0 pending" in log.text


def test_execute_complete_success_that_the_final_fetch_contradicts_is_retried(context):
    hook = ScriptedHook(results={1: [task_result(1)], 2: [None]})
    event = {"status": "success", "seller_id": SELLER_ID, "fulfillment_task_ids": [1, 2]}
    with pytest.raises(AirflowException, match="final fetch") as info:
        make_sensor(hook).resume_execution("execute_complete", {"event": event}, context)
    assert not isinstance(info.value, AirflowFailException)


def test_execute_complete_failure_fails_without_retry_and_soft_fail_skips(context):
    event = {"status": "failure", "message": "1 of 2 mark-shipped tasks failed: 2 (status cancelled)."}
    with pytest.raises(AirflowFailException, match=r"2 \(status cancelled\)"):
        make_sensor(no_calls()).resume_execution("execute_complete", {"event": event}, context)
    with pytest.raises(AirflowSkipException):
        make_sensor(no_calls(), soft_fail=True).resume_execution("execute_complete", {"event": event}, context)


def test_execute_complete_timeout_is_a_sensor_timeout(context):
    event = {"status": "error", "reason": "timeout", "message": "still pending (last status): 2 (in_process)"}
    with pytest.raises(AirflowSensorTimeout, match=r"2 \(in_process\)"):
        make_sensor(no_calls()).resume_execution("execute_complete", {"event": event}, context)
    with pytest.raises(AirflowSkipException):
        make_sensor(no_calls(), soft_fail=True).resume_execution("execute_complete", {"event": event}, context)


@pytest.mark.parametrize("error", [LingxingAuthError, LingxingRateLimitError])
def test_execute_complete_api_error_raises_the_same_class_as_poke_mode(context, error):
    raised = error("app not exist", code="2001001", request_id="r-1", path="/p", hint="check the App ID")
    event = FulfillmentResultTrigger._api_error_event(raised)
    with pytest.raises(error) as info:
        make_sensor(no_calls()).resume_execution("execute_complete", {"event": event}, context)
    assert str(info.value) == str(raised)
    assert info.value.retryable == raised.retryable


def test_execute_complete_without_event_fails_loudly(context):
    with pytest.raises(AirflowException, match="without a usable event"):
        make_sensor(no_calls()).resume_execution("execute_complete", {}, context)


def test_default_deferrable_follows_airflow_config():
    code = (
        "from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor as S\n"
        "print(S(task_id='t', seller_id='s', fulfillment_task_ids=[1]).deferrable)"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True"
    assert make_sensor(None).deferrable is False
