"""Codes no retry can fix fail fast everywhere: one call, no retry by the hook or by Airflow, a message that says
what to do. Each code is answered by the simulator to every business call (`fail_with_code`), and met through
each way a DAG reaches the API: the hook (sync and async), the submit operator, the sensor (poke and deferrable)
and the results operator.
"""

from __future__ import annotations

import asyncio

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_lingxing.exceptions import LingxingFatalError
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from tests.reliability.reliability_pipeline import (
    RESULTS_PATH,
    RETRY_LINE,
    SELLER_ID,
    SUBMIT_PATH,
    Fault,
    SimulatorTap,
    Transcript,
    capture_logs,
    connection,
    order,
    run_trigger,
)
from tests.support.task_instance import FakeTaskInstance
from tests.support.variables import VariableStore

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

HINTS = {
    "2001001": "check the connection's App ID (login)",
    "2001002": "check the connection's App Secret (password)",
    "2001004": "grant it in the Lingxing ERP (OpenAPI settings)",
    "2001006": "the body sent differs from what was signed (a bug)",
    "3001002": "add the Airflow workers' and triggerer's egress IPs in the ERP",
    "102": "A request parameter is invalid",
    "401": "enable it in the Lingxing ERP",
    "403": "renew it in the Lingxing ERP",
}
"""What the user reads to act on each code (api/envelope.py's hints, written out here as the user sees them)."""


def hook_sync(sim: LingxingSimulator, task_ids: list[int]) -> None:
    LingxingHook().get_fulfillment_results(SELLER_ID, task_ids)


def hook_async(sim: LingxingSimulator, task_ids: list[int]) -> None:
    async def call() -> None:
        hook = LingxingHook()
        try:
            await hook.aget_fulfillment_results(SELLER_ID, task_ids)
        finally:
            await hook.aclose()

    asyncio.run(call())


def submit_operator(sim: LingxingSimulator, task_ids: list[int]) -> None:
    operator = LingxingSubmitFulfillmentOperator(
        task_id="submit", region="NA", seller_id=SELLER_ID, marketplace_id="ATVPDKIKX0DER", orders=[order(1)]
    )
    operator.execute(context("submit"))


def sensor_poke(sim: LingxingSimulator, task_ids: list[int]) -> None:
    sensor = FulfillmentResultSensor(task_id="wait", seller_id=SELLER_ID, fulfillment_task_ids=task_ids, retries=3)
    sensor.execute(context("wait"))


def sensor_deferrable(sim: LingxingSimulator, task_ids: list[int]) -> None:
    """The first poke succeeds (the task is pending), the trigger's poll meets the code."""
    code, sim.config.fail_with_code = sim.config.fail_with_code, None
    waiting = context("wait")
    sensor = FulfillmentResultSensor(
        task_id="wait", seller_id=SELLER_ID, fulfillment_task_ids=task_ids, deferrable=True, poke_interval=0.01
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(waiting)
    sim.config.fail_with_code = code
    event = asyncio.run(run_trigger(*deferred.value.trigger.serialize()))
    sensor.resume_execution(deferred.value.method_name, {"event": event}, waiting)


def results_operator(sim: LingxingSimulator, task_ids: list[int]) -> None:
    FulfillmentResultOperator(task_id="load", seller_id=SELLER_ID, fulfillment_task_ids=task_ids).execute(
        context("load")
    )


def context(task_id: str) -> dict:
    return {"ti": FakeTaskInstance(task_id, dag_id="reliability_pipeline")}


WAYS = {
    "hook": (hook_sync, RESULTS_PATH),
    "hook async": (hook_async, RESULTS_PATH),
    "submit operator": (submit_operator, SUBMIT_PATH),
    "sensor poke": (sensor_poke, RESULTS_PATH),
    "sensor deferrable": (sensor_deferrable, RESULTS_PATH),
    "results operator": (results_operator, RESULTS_PATH),
}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("code", HINTS)
def test_a_fatal_code_fails_at_once_with_what_to_do(code: str, way: str, variables: VariableStore, monkeypatch):
    run, path = WAYS[way]
    transcript = Transcript()
    with LingxingSimulator(latency=0.0) as sim:
        tap = SimulatorTap(sim, Fault("none"), seed=0)
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", connection(sim))
        created = LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(2)])
        before = sim.stats()["requests"].get(path, {})
        sim.config.fail_with_code = code
        with capture_logs(transcript), pytest.raises(AirflowFailException) as raised:
            run(sim, [int(created["task_id"])])
        after = sim.stats()["requests"][path]
        transcript.add_error(raised.value)
        assert not transcript.leaks(tap.secrets())

    refused = {c: n - before.get(c, 0) for c, n in after.items() if c != "0" and n != before.get(c, 0)}
    assert refused == {code: 1}, f"{way} sent {refused} to {path}, expected one refused call"
    assert transcript.count(RETRY_LINE) == 0
    error = raised.value
    cause = error if isinstance(error, LingxingFatalError) else error.__cause__
    assert isinstance(cause, LingxingFatalError), f"{type(error).__name__} from {type(cause).__name__}"
    assert f"code {code}" in str(error)
    assert HINTS[code] in str(error)


@pytest.mark.parametrize(
    ("login", "password", "code"),
    [("ak_UnknownApp001", None, "2001001"), (None, "NotTheRightSecret0=", "2001002")],
)
def test_wrong_credentials_fail_at_the_token_call(login, password, code, monkeypatch):
    with LingxingSimulator(latency=0.0) as sim:
        conn = connection(sim).replace(sim.app_id, login or sim.app_id)
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", conn.replace(sim.app_secret, password or sim.app_secret))
        with pytest.raises(AirflowFailException) as raised:
            LingxingHook().get_fulfillment_results(SELLER_ID, [1])
        stats = sim.stats()
    assert stats["requests"] == {"/api/auth-server/oauth/access-token": {code: 1}}, "one token call, nothing else"
    assert HINTS[code] in str(raised.value)
    assert isinstance(raised.value, LingxingFatalError)


def test_an_uncertain_submission_through_the_hook_is_not_retried_by_airflow(monkeypatch):
    """A DAG calling the hook itself (a @task with retries) must not send a submission twice either."""
    with LingxingSimulator(latency=0.0, drop_probability=1.0, fault_paths={SUBMIT_PATH}) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", connection(sim))
        with pytest.raises(AirflowFailException) as raised:
            LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(1)])
        assert len(sim.stats()["submissions"][SELLER_ID]) == 1, "created once, its answer lost"
    assert "it was NOT re-sent" in str(raised.value)
    assert "Check in Lingxing whether the task was created before submitting these orders again" in str(raised.value)
