"""A catalogue of bad input: the connection, the hook's arguments, the sensor's and operators' arguments, and
malformed answers from the server. Each gets a clear error naming the culprit, raised by the provider (not from
deep inside a library), before any call or write where the input is ours; a malformed value inside an
otherwise good answer is loaded as NULL with a warning naming it, never as a wrong value.
"""

from __future__ import annotations

import json
import traceback
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor
from airflow_provider_lingxing.testing.simulator import LingxingSimulator
from airflow_provider_lingxing.triggers.fulfillment import FulfillmentResultTrigger
from tests.reliability.reliability_pipeline import (
    RESULTS_PATH,
    SELLER_ID,
    SUBMIT_PATH,
    Transcript,
    capture_logs,
    connection,
    order,
)
from tests.support.task_instance import FakeTaskInstance
from tests.support.variables import VariableStore

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

PACKAGE = "airflow_provider_lingxing"
ID_RULE = "must be a positive integer (an int or a string of ASCII digits) no larger than 9223372036854775807 (2**63-1)"
TOKEN_PATH = "/api/auth-server/oauth/access-token"


def assert_clear(error: BaseException, culprit: str) -> None:
    """The message names the culprit; the provider raised it; no library exception hangs off it."""
    assert culprit in str(error), f"{culprit!r} not in {error}"
    frames = traceback.extract_tb(error.__traceback__)
    assert any(PACKAGE.replace("_", "") in f.filename.replace("_", "") for f in frames[-3:]), (
        f"raised from {frames[-1].filename}"
    )
    chained = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    while chained is not None:
        assert type(chained).__module__.startswith(PACKAGE), f"a {type(chained).__name__} hangs off the error"
        chained = chained.__cause__ or (None if chained.__suppress_context__ else chained.__context__)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch, variables: VariableStore):
    with LingxingSimulator(latency=0.0, complete_after_polls=1) as simulator:
        monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", connection(simulator))
        yield simulator


def context(task_id: str = "task") -> dict[str, Any]:
    return {"ti": FakeTaskInstance(task_id, dag_id="reliability_pipeline")}


# ---------------------------------------------------------------------------------------------- the connection

CONNECTIONS = {
    "app id missing": ({"login": ""}, "login (App ID) is empty"),
    "app id too short": ({"login": "ak_short"}, "login (App ID) must be 16, 24 or 32 bytes long"),
    "app id 17 bytes": ({"login": "ak_SimuLingxing12"}, "got 17 bytes"),
    "app secret missing": ({"password": ""}, "password (App Secret) is empty"),
    "URL scheme ftp": ({"host": "ftp://openapi.lingxing.com"}, "must be an http:// or https:// URL"),
    "URL without host": ({"host": "https://"}, "has no host name"),
    "URL port not a number": ({"host": "https://openapi.lingxing.com:http"}, "has a port that is not a number"),
    "URL port out of range": ({"host": "https://openapi.lingxing.com:70000"}, "has a port that is not a number"),
    "URL with a space": ({"host": "https://openapi lingxing.com"}, "characters a host name cannot have"),
    "URL unclosed IPv6": ({"host": "http://[::1"}, "host (Base URL) is not a URL"),
    "URL with a password": ({"host": "https://me:hunter2@openapi.lingxing.com"}, "must not hold a user name"),
    "timeout not a number": ({"extra": {"timeout": "soon"}}, "extra `timeout` must be a number of seconds"),
    "timeout negative": ({"extra": {"timeout": -1}}, "extra `timeout` must be a number of seconds > 0"),
    "timeout infinite": ({"extra": {"timeout": "inf"}}, "extra `timeout` must be a number of seconds > 0"),
    "max_retries not a number": ({"extra": {"max_retries": "three"}}, "extra `max_retries` must be a whole number"),
    "max_retries fractional": ({"extra": {"max_retries": 2.5}}, "extra `max_retries` must be a whole number"),
    "verify not a boolean": ({"extra": {"verify": "maybe"}}, "extra `verify` must be true or false"),
    "extra not JSON": ({"extra": "{timeout: 3"}, "extra is not valid JSON"),
    "redis_conn_id with a space": ({"extra": {"redis_conn_id": "my redis"}}, "extra `redis_conn_id` must be the id"),
    "redis_conn_id not text": ({"extra": {"redis_conn_id": 6379}}, "extra `redis_conn_id` must be the id"),
    "redis_conn_id names nothing": (
        {"extra": {"redis_conn_id": "no_such_redis"}},
        "extra redis_conn_id 'no_such_redis' names no Airflow connection",
    ),
    "extra a JSON list": ({"extra": "[30]"}, "extra must be a JSON object"),
}


@pytest.mark.parametrize("case", CONNECTIONS)
def test_a_bad_connection_is_refused_before_any_call(case: str, sim: LingxingSimulator, monkeypatch):
    changes, culprit = CONNECTIONS[case]
    conn = {**json.loads(connection(sim)), **changes}
    if isinstance(conn.get("extra"), dict) and "extra" in changes:
        conn["extra"] = {**json.loads(connection(sim))["extra"], **changes["extra"]}
    monkeypatch.setenv("AIRFLOW_CONN_LINGXING_DEFAULT", json.dumps(conn))
    with pytest.raises(LingxingInputError) as raised:
        LingxingHook().get_fulfillment_results(SELLER_ID, [1003100])
    assert_clear(raised.value, culprit)
    assert "Lingxing connection 'lingxing_default'" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert sim.stats()["requests_total"] == 0


# ---------------------------------------------------------------------------------------------- arguments


def submit(**changes: Any) -> Callable[[], Any]:
    arguments = {
        "task_id": "submit",
        "region": "NA",
        "seller_id": SELLER_ID,
        "marketplace_id": "ATVPDKIKX0DER",
        "orders": [order(1), order(2)],
        **changes,
    }
    return lambda: LingxingSubmitFulfillmentOperator(**arguments).execute(context("submit"))


def wait(**changes: Any) -> Callable[[], Any]:
    arguments = {"task_id": "wait", "seller_id": SELLER_ID, "fulfillment_task_ids": [1003100], **changes}
    return lambda: FulfillmentResultSensor(**arguments).execute(context("wait"))


def load(**changes: Any) -> Callable[[], Any]:
    arguments = {"task_id": "load", "seller_id": SELLER_ID, "fulfillment_task_ids": [1003100], **changes}
    return lambda: FulfillmentResultOperator(**arguments).execute(context("load"))


def hook(method: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: getattr(LingxingHook(), method)(*args, **kwargs)


def bad_order(**changes: Any) -> dict[str, Any]:
    return {**order(1), **changes}


VICTIM = f"reliability_victim_{uuid.uuid4().hex[:8]}"
"""A table that `x; DROP TABLE <victim>` must leave alone."""

ARGUMENTS: dict[str, tuple[Callable[[], Any], str]] = {
    "hook: seller_id empty": (hook("get_fulfillment_results", "", [1]), "seller_id: must be the Amazon seller id"),
    "hook: seller_id an int": (hook("get_fulfillment_results", 123, [1]), "not the numeric `sid`), got 123"),
    "hook: task ids empty": (hook("get_fulfillment_results", SELLER_ID, []), "task_ids: must be a non-empty list"),
    "hook: task id not a number": (hook("get_fulfillment_results", SELLER_ID, ["12a"]), f"task_ids[0]: {ID_RULE}"),
    "hook: task id zero": (hook("get_fulfillment_results", SELLER_ID, [0]), f"task_ids[0]: {ID_RULE}, got 0"),
    "hook: task id a boolean": (hook("get_fulfillment_results", SELLER_ID, [True]), "task_ids[0]: must be"),
    "hook: task id 2**63": (hook("get_fulfillment_results", SELLER_ID, [2**63]), "no larger than 9223372036854775807"),
    "hook: region unknown": (hook("submit_fulfillment", "XX", SELLER_ID, "M", [order(1)]), "region: must be one"),
    "hook: region contradicts": (
        hook("submit_fulfillment", "NA", SELLER_ID, "A1PA6795UKMFR9", [order(1)]),
        "region: must be EU, the region of marketplace_id 'A1PA6795UKMFR9' (DE), or left out, got 'NA'",
    ),
    "hook: no region, unknown marketplace": (
        hook("submit_fulfillment", None, SELLER_ID, "M", [order(1)]),
        "region: must be given for marketplace_id 'M'",
    ),
    "hook: no orders": (hook("submit_fulfillment", "NA", SELLER_ID, "M", []), "order_list: must be a non-empty list"),
    "hook: method DELETE": (hook("request", "DELETE", "/erp/sc/data/seller/lists"), "method must be GET or POST"),
    "hook: token endpoint": (hook("request", "POST", TOKEN_PATH), "is a token endpoint"),
    "hook: GET with a body": (hook("request", "GET", "/erp/sc/data/seller/lists", body={"a": 1}), "body must be None"),
    "hook: params not a dict": (hook("request", "GET", "/erp/sc/data/seller/lists", params=[1]), "params must be"),
    "hook: empty conn id": (lambda: LingxingHook(lingxing_conn_id=" "), "lingxing_conn_id is empty"),
    "sensor: seller_id empty": (wait(seller_id=" "), "seller_id: must be the Amazon seller id"),
    "sensor: ids rendered with junk": (wait(fulfillment_task_ids="[1003100, 'x']"), "ids[1]: must be a positive"),
    "sensor: ids missing": (wait(fulfillment_task_ids=None), "fulfillment_task_ids: must be a task id, the submit"),
    "sensor: no success status": (wait(success_statuses=[]), "success_statuses: must be a non-empty list"),
    "sensor: statuses overlap": (wait(failure_statuses=["complete"]), "both hold ['complete']"),
    "submit: region unknown": (submit(region="moon"), "region: must be one of NA, EU, FE (any case), got 'moon'"),
    "submit: region contradicts": (
        submit(region="fe"),
        "region: must be NA, the region of marketplace_id 'ATVPDKIKX0DER' (US), or left out, got 'fe'",
    ),
    "submit: seller_id empty": (submit(seller_id=""), "seller_id: must be the Amazon seller id"),
    "submit: orders not a list": (submit(orders="all of them"), "orders: must be a non-empty list of order dicts"),
    "submit: duplicate order ids": (
        submit(orders=[order(1), order(1)]),
        "orders[1].id: must be unique, not the id of orders[0], got 1",
    ),
    "submit: order id negative": (submit(orders=[bad_order(id=-5)]), f"orders[0].id: {ID_RULE}, got -5"),
    "submit: tracking_no missing": (
        submit(orders=[{k: v for k, v in order(1).items() if k != "tracking_no"}]),
        "orders[0].tracking_no: must be a non-empty string, got nothing",
    ),
    "submit: quantity a word": (
        submit(orders=[bad_order(order_item=[{"order_item_no": "1", "quantity": "two"}])]),
        "orders[0].order_item[0].quantity: must be a positive integer",
    ),
    "submit: unknown order field": (submit(orders=[bad_order(carrier="UPS")]), "got unknown field(s) carrier"),
    "submit: chunk size zero": (submit(max_orders_per_task=0), "max_orders_per_task: must be a positive integer"),
    "load: table with SQL": (load(table=f"x; DROP TABLE {VICTIM}"), "table: must be a table name"),
    "load: table with 3 parts": (load(table="schema.table.extra"), "got 'schema.table.extra'"),
    "load: table quoted": (load(table='"results"'), "table: must be a table name"),
    "load: table an SQL keyword": (load(table="order"), "table: must be a name that is no SQL reserved word"),
    "load: templated table renders SQL": (
        lambda: _rendered_load(f"results; DROP TABLE {VICTIM}"),
        "table: must be a table name",
    ),
    "load: seller_id empty": (load(seller_id=""), "seller_id: must be the Amazon seller id"),
    "load: ids of junk": (load(fulfillment_task_ids=[{"task_id": "abc"}]), "ids[0].task_id: must be a positive"),
    "load: sql conn is not SQL": (load(sql_conn_id="lingxing_default"), "not a SQL (DbApiHook) connection"),
}


def _rendered_load(table: str) -> Any:
    """The table comes from a template (dag_run.conf) and renders to SQL: refused at execute, before any call."""
    operator = FulfillmentResultOperator(
        task_id="load", seller_id=SELLER_ID, fulfillment_task_ids=[1003100], sql_conn_id="warehouse_pg", table="{{ t }}"
    )
    operator.render_template_fields({"t": table})
    return operator.execute(context("load"))


BAD_IDS: dict[str, tuple[Any, str]] = {
    "bytes": (b"1003100", "b'1003100' (bytes)"),
    "bool": (True, "True (bool)"),
    "Arabic-Indic digits": ("١٢", "'١٢'"),
    "superscript two": ("²", "'²'"),
    "2**63": (2**63, str(2**63)),
}
"""Ids no component may read as a number: each is named, with the rule and its bound, before any call."""

ID_COMPONENTS: dict[str, tuple[Callable[[Any], Callable[[], Any]], str]] = {
    "hook results": (lambda v: hook("get_fulfillment_results", SELLER_ID, [1003100, v]), "task_ids[1]"),
    "hook submit": (lambda v: hook("submit_fulfillment", "NA", SELLER_ID, "M", [bad_order(id=v)]), "order_list[0].id"),
    "sensor": (lambda v: wait(fulfillment_task_ids=[1003100, v]), "fulfillment_task_ids[1]"),
    "deferrable sensor": (lambda v: wait(fulfillment_task_ids=[v], deferrable=True), "fulfillment_task_ids[0]"),
    "trigger": (
        lambda v: lambda: FulfillmentResultTrigger(lingxing_conn_id="x", seller_id=SELLER_ID, fulfillment_task_ids=[v]),
        "fulfillment_task_ids[0]",
    ),
    "results operator": (lambda v: load(fulfillment_task_ids=[{"task_id": v}]), "fulfillment_task_ids[0].task_id"),
    "submit operator": (lambda v: submit(orders=[order(1), bad_order(id=v)]), "orders[1].id"),
}


@pytest.mark.parametrize("component", ID_COMPONENTS)
@pytest.mark.parametrize("case", BAD_IDS)
def test_every_component_refuses_a_bad_id_the_same_way(case: str, component: str, sim: LingxingSimulator):
    value, shown = BAD_IDS[case]
    make, argument = ID_COMPONENTS[component]
    with pytest.raises(ValueError) as raised:
        make(value)()
    assert_clear(raised.value, f"{argument}: {ID_RULE}, got {shown}")
    assert sim.stats()["requests_total"] == 0, "a call was made"


def test_the_catalogue_is_large_enough():
    assert len(CONNECTIONS) + len(ARGUMENTS) + len(ANSWERS) >= 30


@pytest.fixture
def victim(postgres_table):
    """A table the SQL in a bad table name would drop."""
    postgres_table.execute(f"CREATE TABLE {VICTIM} (id INTEGER)")
    yield VICTIM
    postgres_table.execute(f"DROP TABLE IF EXISTS {VICTIM}")


@pytest.mark.parametrize("case", ARGUMENTS)
def test_a_bad_argument_is_refused_before_any_call_or_write(case: str, sim: LingxingSimulator, victim, postgres_table):
    run, culprit = ARGUMENTS[case]
    with pytest.raises((LingxingInputError, ValueError)) as raised:
        run()
    assert_clear(raised.value, culprit)
    assert sim.stats()["requests_total"] == 0, "a call was made"
    assert postgres_table.exists(victim), "the SQL in the table name ran"


# ---------------------------------------------------------------------------------------------- malformed answers


def rewrite(sim: LingxingSimulator, path: str, change: Callable[[dict[str, Any]], Any]) -> None:
    """Every successful answer on `path` gets its envelope changed by `change` before it is sent."""
    handle = sim.handle

    def rewritten(request: Any) -> Any:
        answer = handle(request)
        if request.path == path and answer.code in ("0", "200"):
            answer = replace(answer, body=json.dumps(change(json.loads(answer.body))).encode())
        return answer

    sim.handle = rewritten


def in_results(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    """Change every task result of a getFulfillmentResult answer."""
    return lambda envelope: {**envelope, "data": [{**task, **changes} for task in envelope["data"]]}


def in_summary(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda envelope: {
        **envelope,
        "data": [{**t, "processing_summary": {**t["processing_summary"], **changes}} for t in envelope["data"]],
    }


def without_data(envelope: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in envelope.items() if k != "data"}


def with_data(data: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda envelope: {**envelope, "data": data}


LOADED_NULL = [("1", "Success", None), ("17", "Error", None)]
"""Order 1 succeeded, order 17 was refused (`ERR…`): the rows when only the column checked is NULL."""
UNKNOWN_OUTCOMES = [("1", None, None), ("17", None, None)]
UNCONFIRMED = [("1", "Unreported", None), ("17", "Error", None)]
"""Without a readable successful count, nothing confirms that order 1 (not listed by Lingxing) succeeded."""

# path, change, culprit, then either None: an error names the culprit; or (column, rows): the answer is loaded
# as these (message_id, result_code, column) rows, and a warning names the culprit
ANSWERS: dict[str, tuple[str, Callable[[dict[str, Any]], Any], str, tuple[str, list] | None]] = {
    "results: no data": (RESULTS_PATH, without_data, "the answer has no `data` field", None),
    "results: data an object": (RESULTS_PATH, with_data({"task_id": "1"}), "got dict", None),
    "results: data a string": (RESULTS_PATH, with_data("[]"), "expected a list of task results, got str", None),
    "results: data of numbers": (RESULTS_PATH, with_data([1, 2]), "expected each task result to be an object", None),
    "results: task_id junk": (RESULTS_PATH, in_results(task_id="abc"), "a task result has task_id 'abc'", None),
    "results: count a word": (
        RESULTS_PATH,
        in_summary(messages_processed="n/a"),
        "'n/a' is not a count",
        ("messages_processed", LOADED_NULL),
    ),
    "results: count a float": (
        RESULTS_PATH,
        in_summary(messages_with_error="1.0"),
        "'1.0' is not a count",
        ("messages_with_error", LOADED_NULL),
    ),
    "results: count too big": (
        RESULTS_PATH,
        in_summary(messages_successful="99999999999"),
        "'99999999999' is not a count",
        ("messages_successful", UNCONFIRMED),
    ),
    "results: summary a string": (
        RESULTS_PATH,
        in_results(processing_summary="garbage"),
        "processing_summary 'garbage' is not an object",
        ("messages_processed", UNCONFIRMED),
    ),
    "results: ship_time a date": (
        RESULTS_PATH,
        in_results(ship_time="2023-02-16 10:33:40"),
        "ship_time '2023-02-16 10:33:40' is not Unix seconds",
        ("ship_time", LOADED_NULL),
    ),
    "results: ship_time negative": (
        RESULTS_PATH,
        in_results(ship_time="-1"),
        "ship_time '-1' is not Unix seconds",
        ("ship_time", LOADED_NULL),
    ),
    "results: ship_time in ms": (
        RESULTS_PATH,
        in_results(ship_time="1675848605000"),
        "ship_time '1675848605000' is not Unix seconds",
        ("ship_time", LOADED_NULL),
    ),
    "results: message_id junk": (
        RESULTS_PATH,
        in_results(result=[{"message_id": "9" * 40, "result_code": "Error"}]),
        "has no valid message_id: not loaded",
        ("result_description", UNKNOWN_OUTCOMES),
    ),
    "results: result a string": (
        RESULTS_PATH,
        in_results(result="Error"),
        "result 'Error' is not a list: message outcomes loaded as NULL",
        ("result_description", UNKNOWN_OUTCOMES),
    ),
    "submit: data null": (SUBMIT_PATH, with_data(None), "carries no task id", None),
    "submit: task_id junk": (
        SUBMIT_PATH,
        with_data({"task_id": "pending", "task_status": "pending", "failure_reason": None}),
        "carries no task id",
        None,
    ),
    "token: no access_token": (
        TOKEN_PATH,
        with_data({"refresh_token": "r", "expires_in": 7199}),
        "the token answer lacks access_token",
        None,
    ),
    "token: expires_in a word": (
        TOKEN_PATH,
        lambda e: {**e, "data": {**e["data"], "expires_in": "soon"}},
        "the token answer lacks access_token, refresh_token or expires_in",
        None,
    ),
}


@pytest.mark.parametrize("case", ANSWERS)
def test_a_malformed_answer_is_named_never_loaded_wrong(case: str, sim: LingxingSimulator, postgres_table):
    path, change, culprit, loaded = ANSWERS[case]
    created = None
    if path != TOKEN_PATH:
        created = LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(1), order(17)])
    rewrite(sim, path, change)
    task_ids = [{"task_id": created["task_id"], "message_ids": ["1", "17"]}] if created else [1003100]
    if path == SUBMIT_PATH:
        run = submit(orders=[order(3)])
    else:
        run = load(fulfillment_task_ids=task_ids, sql_conn_id=postgres_table.conn_id, table=postgres_table.name)
    transcript = Transcript()
    if loaded is None:
        with capture_logs(transcript), pytest.raises(AirflowFailException) as raised:
            run()
        error = raised.value if culprit in str(raised.value) else raised.value.__cause__
        assert_clear(error, culprit)
        assert not postgres_table.exists(), "a table was written from a malformed answer"
        if path == SUBMIT_PATH:
            assert len(sim.stats()["submissions"][SELLER_ID]) == 2, "the submission was sent again"
        return
    with capture_logs(transcript):
        summary = run()
    assert summary["rows"] == 2
    assert any(culprit in line and f"task {created['task_id']}" in line for line in transcript.lines), culprit
    column, expected = loaded
    rows = postgres_table.query(f"SELECT message_id, result_code, {column} FROM {postgres_table.name}")
    assert sorted(rows) == expected


def test_a_task_result_without_status_times_out_naming_it(sim: LingxingSimulator):
    """No status_code: the task is not done, and the sensor's timeout says which task and what it last saw."""
    created = LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(1)])
    rewrite(sim, RESULTS_PATH, in_results(status_code=None))
    with pytest.raises(AirflowSensorTimeout) as raised:
        wait(fulfillment_task_ids=[created["task_id"]], timeout=0.3, poke_interval=0.1)()
    assert f"{created['task_id']} (unknown)" in str(raised.value)


def test_a_done_status_completes_the_wait(sim: LingxingSimulator):
    """`done` (the submit answer's word) counts as complete, in any case, like `Complete`."""
    created = [LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(n)]) for n in (1, 2)]
    rewrite(sim, RESULTS_PATH, lambda e: {**e, "data": [{**t, "status_code": "DONE"} for t in e["data"]]})
    results = wait(fulfillment_task_ids=created, timeout=5, poke_interval=0.1)()
    assert [r["task_id"] for r in results] == [c["task_id"] for c in created]


def test_an_unknown_status_is_warned_once_and_named_at_the_timeout(sim: LingxingSimulator):
    created = LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(1)])
    rewrite(sim, RESULTS_PATH, in_results(status_code="Shipped"))
    transcript = Transcript()
    with capture_logs(transcript), pytest.raises(AirflowSensorTimeout) as raised:
        wait(fulfillment_task_ids=[created["task_id"]], timeout=0.5, poke_interval=0.1)()
    assert str(raised.value).endswith(
        f"Statuses the provider does not know, treated as pending: 'Shipped' (tasks {created['task_id']})."
    )
    warned = [line for line in transcript.lines if "which the provider does not know" in line]
    assert len(warned) == 1 and f"Task {created['task_id']} has status 'Shipped'" in warned[0]
    assert sim.stats()["requests_total"] > 3, "the sensor polled more than once"


def test_a_task_answered_twice_keeps_its_most_advanced_copy(sim: LingxingSimulator):
    """A stale copy of a task ahead of its final one in the same answer must not hide the completion."""
    created = LingxingHook().submit_fulfillment("NA", SELLER_ID, "ATVPDKIKX0DER", [order(1), order(17)])
    stale = {"status_code": "in_process", "result": [], "processing_summary": {}}
    rewrite(sim, RESULTS_PATH, lambda e: {**e, "data": [{**t, **stale} for t in e["data"]] + e["data"]})
    results = wait(fulfillment_task_ids=[created["task_id"]], timeout=5, poke_interval=0.1)()
    assert [(r["task_id"], r["status_code"], len(r["result"])) for r in results] == [
        (created["task_id"], "Complete", 1)
    ]
