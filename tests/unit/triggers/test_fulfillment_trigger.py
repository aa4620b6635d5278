"""FulfillmentResultTrigger: its payload, its polling and the one event it yields."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace

import pytest
from airflow.sdk.serde import deserialize, serialize

from airflow_provider_lingxing.api.compact_ids import pack_task_ids, unpack_task_ids
from airflow_provider_lingxing.exceptions import LingxingAuthError, LingxingRateLimitError
from airflow_provider_lingxing.triggers import fulfillment as trigger_module
from airflow_provider_lingxing.triggers import polling
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger
from tests.support.samples import SELLER_ID, task_result
from tests.support.scripted_hook import ScriptedHook

CLASSPATH = "airflow_provider_lingxing.triggers.fulfillment.FulfillmentResultTrigger"
START = 1_800_000_000.0


LONG_WARNING = {"message_id": "1", "result_code": "Warning", "result_description": "x" * 300}


def result(task_id: int, status: str | None = "Complete", failure: str | None = None) -> dict:
    """A task answer with a long message, which must never reach a trigger event."""
    return task_result(task_id, status, failure, messages=[LONG_WARNING])


def scripted(results: dict | None = None, error: Exception | None = None) -> ScriptedHook:
    """A hook for a trigger: async calls only, all for SELLER_ID."""
    return ScriptedHook(results=results, error=error, seller_id=SELLER_ID, blocking=False)


def polled(hook: ScriptedHook) -> list[list[int]]:
    """The task ids of each results call, in order."""
    return [task_ids for _, task_ids in hook.result_calls]


@pytest.fixture
def clock(monkeypatch):
    """A fake clock for the trigger module: sleeping advances it, and every requested sleep is recorded."""
    state = SimpleNamespace(now=START, sleeps=[])

    async def sleep(seconds: float) -> None:
        state.sleeps.append(seconds)
        state.now += seconds
        await asyncio.sleep(0)

    fake_asyncio = SimpleNamespace(sleep=sleep, get_running_loop=asyncio.get_running_loop)
    monkeypatch.setattr(trigger_module, "asyncio", fake_asyncio)
    monkeypatch.setattr(trigger_module, "time", SimpleNamespace(time=lambda: state.now))
    return state


def make_trigger(hook: ScriptedHook, caplog=None, **kwargs) -> FulfillmentResultTrigger:
    kwargs.setdefault("fulfillment_task_ids", [1, 2, 3])
    kwargs.setdefault("poll_interval", 30)
    trigger = FulfillmentResultTrigger(lingxing_conn_id="lingxing_default", seller_id=SELLER_ID, **kwargs)
    trigger._hook = lambda: hook
    if caplog is not None:
        caplog.set_level(logging.INFO, logger="lingxing.test.trigger")
        trigger._log = logging.getLogger("lingxing.test.trigger")
    return trigger


async def events_of(trigger: FulfillmentResultTrigger) -> list[dict]:
    """The events, with packed task ids shown as lists."""
    events = [event.payload async for event in trigger.run()]
    for event in events:
        if "fulfillment_task_ids" in event:
            event["fulfillment_task_ids"] = unpack_task_ids(event["fulfillment_task_ids"])
    return events


def test_serialize_round_trips_json_safe_and_without_secrets():
    trigger = FulfillmentResultTrigger(
        lingxing_conn_id="lx",
        seller_id=SELLER_ID,
        fulfillment_task_ids=["3", 1, 2],
        pending_task_ids=[3, "2"],
        poll_interval=45,
        end_time=START + 3600,
        success_statuses=("done", "Complete"),
        failure_statuses="rejected",
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "lingxing_conn_id": "lx",
        "seller_id": SELLER_ID,
        "fulfillment_task_ids": pack_task_ids([1, 2, 3]),
        "pending_task_ids": pack_task_ids([2, 3]),
        "poll_interval": 45.0,
        "end_time": START + 3600,
        "success_statuses": ["done", "Complete"],
        "failure_statuses": ["rejected"],
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    again = FulfillmentResultTrigger(**deserialize(serialize(kwargs)))
    assert again.serialize() == (classpath, kwargs)


def test_no_end_time_serialises_as_none():
    _, kwargs = FulfillmentResultTrigger(
        lingxing_conn_id="lx", seller_id=SELLER_ID, fulfillment_task_ids=[1]
    ).serialize()
    assert kwargs["end_time"] is None
    assert unpack_task_ids(kwargs["pending_task_ids"]) == [1]


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [
        ({"fulfillment_task_ids": []}, "fulfillment_task_ids: must be a non-empty list of task ids, got []"),
        ({"pending_task_ids": ["x"]}, "pending_task_ids[0]: must be a positive integer"),
        ({"pending_task_ids": [b"1"]}, "got b'1' (bytes)"),
        ({"fulfillment_task_ids": ["١٢"]}, "fulfillment_task_ids[0]: must be a positive integer"),
        ({"fulfillment_task_ids": [True]}, "got True (bool)"),
        ({"fulfillment_task_ids": [2**63]}, f"no larger than 9223372036854775807 (2**63-1), got {2**63}"),
        ({"seller_id": 123}, "seller_id: must be the Amazon seller id as a string"),
        ({"failure_statuses": ["complete"]}, "both hold ['complete']"),
    ],
)
def test_bad_arguments_are_refused(kwargs, culprit):
    kwargs = {"seller_id": SELLER_ID, "fulfillment_task_ids": [1], **kwargs}
    with pytest.raises(ValueError) as info:
        FulfillmentResultTrigger(lingxing_conn_id="lx", **kwargs)
    assert culprit in str(info.value)


async def test_polls_pending_ids_until_all_done_then_yields_one_success(clock, caplog):
    hook = scripted(
        {2: [result(2, "in_process"), result(2)], 3: [None, result(3, "pending"), result(3)]},
    )
    trigger = make_trigger(hook, caplog, pending_task_ids=[2, 3], end_time=START + 3600)
    assert await events_of(trigger) == [
        {"status": "success", "seller_id": SELLER_ID, "fulfillment_task_ids": [1, 2, 3]}
    ]
    assert polled(hook) == [[2, 3], [2, 3], [3]]
    assert hook.closed
    assert clock.sleeps == [30.0, 30.0, 30.0]
    assert [r.getMessage() for r in caplog.records] == [
        "1/3 complete, 0 failed, 2 pending (statuses: in_process=1, missing=1)",
        "2/3 complete, 0 failed, 1 pending (statuses: pending=1)",
        "3/3 complete, 0 failed, 0 pending",
    ]


async def test_nothing_pending_succeeds_without_a_call(clock):
    hook = scripted()
    events = await events_of(make_trigger(hook, fulfillment_task_ids=[1], pending_task_ids=[]))
    assert events == [{"status": "success", "seller_id": SELLER_ID, "fulfillment_task_ids": [1]}]
    assert polled(hook) == []


async def test_failure_event_names_ids_and_reasons_and_stays_small(clock):
    hook = scripted(
        {
            1: [result(1)],
            2: [result(2, "in_process"), result(2, "fatal", failure="Amazon: invalid tracking number")],
            3: [result(3, "in_process"), result(3, "Cancelled")],
        }
    )
    events = await events_of(make_trigger(hook))
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "failure"
    assert event["failed"] == {"2": "status fatal: Amazon: invalid tracking number", "3": "status Cancelled"}
    assert event["failed_count"] == 2
    assert event["message"].startswith("2 of 3 mark-shipped tasks failed: 2 (status fatal: Amazon: invalid")
    assert "processing_summary" not in json.dumps(event)
    assert len(json.dumps(event)) < 500
    assert len(polled(hook)) == 2


async def test_timeout_polls_once_more_at_the_deadline_and_names_pending_ids(clock):
    hook = scripted({1: [result(1, "in_process"), result(1)], 2: [result(2, "in_process")]})
    trigger = make_trigger(hook, fulfillment_task_ids=[1, 2, 3], poll_interval=60, end_time=START + 100)
    events = await events_of(trigger)
    assert clock.sleeps == [60.0, 40.0]
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "error"
    assert event["reason"] == "timeout"
    assert event["pending"] == {"2": "in_process", "3": "missing"} and event["pending_count"] == 2
    assert "Sensor has timed out at 2027-01-15T08:01:40+00:00." in event["message"]
    assert "still pending (last status): 2 (in_process), 3 (missing)" in event["message"]


async def test_deferrable_timeout_lists_unknown_statuses_warned_once_each(clock, caplog):
    hook = scripted({1: [result(1, "shipped")], 2: [result(2, "DONE")], 3: [result(3, "in_process")]})
    trigger = make_trigger(hook, caplog, fulfillment_task_ids=[1, 2, 3], poll_interval=30, end_time=START + 100)
    (event,) = await events_of(trigger)
    assert event["reason"] == "timeout"
    assert event["pending"] == {"1": "shipped", "3": "in_process"}
    assert event["message"].endswith("Statuses the provider does not know, treated as pending: 'shipped' (tasks 1).")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(polled(hook)) == 4
    assert warnings == [
        "Task 1 has status 'shipped', which the provider does not know: treated as pending (success statuses: "
        "Complete, done; failure statuses: fatal, cancelled)"
    ]


async def test_deadline_already_past_polls_once_without_sleeping(clock):
    hook = scripted({1: [result(1)]})
    events = await events_of(make_trigger(hook, fulfillment_task_ids=[1], end_time=START - 5))
    assert clock.sleeps == []
    assert events == [{"status": "success", "seller_id": SELLER_ID, "fulfillment_task_ids": [1]}]


@pytest.mark.parametrize(
    "error",
    [
        LingxingAuthError("ip not permit", code="3001002", path="/pb/mp/order/getFulfillmentResult", hint="h"),
        LingxingRateLimitError("requests too frequently", code="3001008", request_id="r-9"),
    ],
)
async def test_api_error_after_the_hooks_retries_ends_with_an_error_event(clock, error):
    hook = scripted(error=error)
    events = await events_of(make_trigger(hook))
    assert events == [
        {
            "status": "error",
            "reason": "api_error",
            "error_class": type(error).__name__,
            "message": error.message,
            "code": error.code,
            "request_id": error.request_id,
            "path": error.path,
            "hint": error.hint,
        }
    ]
    assert json.loads(json.dumps(events[0])) == events[0]
    assert hook.closed


async def test_an_error_without_a_public_class_is_reported_as_its_public_parent(clock):
    from airflow_provider_lingxing.api.retry import TransportFailure

    hook = scripted(error=TransportFailure("could not connect to x", delivered=False, path="/p"))
    (event,) = await events_of(make_trigger(hook))
    assert event["error_class"] == "LingxingTransientError"


async def test_a_bug_is_not_disguised_as_an_api_error(clock):
    hook = scripted(error=KeyError("oops"))
    with pytest.raises(KeyError):
        await events_of(make_trigger(hook))
    assert hook.closed


async def test_triggers_of_one_app_and_seller_share_one_poller_and_its_hook_closes_after_the_last(clock):
    made: list[ScriptedHook] = []

    def make() -> ScriptedHook:
        made.append(scripted({1: [result(1, "in_process"), result(1)], 2: [result(2)]}))
        return made[-1]

    first = make_trigger(scripted(), fulfillment_task_ids=[1])
    second = make_trigger(scripted(), fulfillment_task_ids=[2])
    third = make_trigger(scripted(), fulfillment_task_ids=[2])
    first._hook = second._hook = make
    third.lingxing_conn_id = "another"  # another connection of the same app id: the same poller
    third._hook = make
    events = await asyncio.gather(events_of(first), events_of(second), events_of(third))
    assert [e[0]["status"] for e in events] == ["success"] * 3
    assert len(made) == 2, "one hook per connection"
    assert polled(made[0]) == [[1, 2], [1]], "one request per round for every trigger's ids"
    assert polled(made[1]) == []
    assert all(hook.closed for hook in made)


async def test_a_wait_for_20000_tasks_serializes_in_a_few_kilobytes():
    ids = list(range(1_912_000_000_000_000_000, 1_912_000_000_000_040_000, 2))
    _, kwargs = FulfillmentResultTrigger(
        lingxing_conn_id="lx", seller_id=SELLER_ID, fulfillment_task_ids=ids
    ).serialize()
    assert len(json.dumps(serialize(kwargs))) < 10_000
    assert FulfillmentResultTrigger(**deserialize(serialize(kwargs))).fulfillment_task_ids == ids


async def test_the_failure_event_of_thousands_of_tasks_lists_the_first_20_and_a_count(clock):
    hook = scripted({i: [result(i, "fatal", failure="x" * 100)] for i in range(1, 3001)})
    (event,) = await events_of(make_trigger(hook, fulfillment_task_ids=range(1, 3001)))
    assert event["failed_count"] == 3000 and len(event["failed"]) == 20
    assert "… and 2980 more (3000 in all)" in event["message"]
    assert len(json.dumps(event)) < 10_000


async def test_a_cancelled_trigger_leaves_the_shared_poller_and_the_others_go_on(clock):
    hook = scripted({1: [result(1, "in_process")], 2: [result(2, "pending"), result(2, "pending"), result(2)]})
    cancelled, staying = make_trigger(hook, fulfillment_task_ids=[1]), make_trigger(hook, fulfillment_task_ids=[2])
    doomed = asyncio.ensure_future(events_of(cancelled))
    going_on = asyncio.ensure_future(events_of(staying))
    while not polled(hook):
        await asyncio.sleep(0)
    doomed.cancel()  # as the triggerer does when the task is cleared or the trigger reassigned
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await going_on == [{"status": "success", "seller_id": SELLER_ID, "fulfillment_task_ids": [2]}]
    assert polled(hook) == [[1, 2], [2], [2]], "the cancelled trigger's id left the rounds"
    assert hook.closed
    assert not any(polling._POLLERS.values()), "the poller closed with its last trigger"
