"""The example DAGs parse as the DAG processor parses them: no import error, and no Variable, connection or DB use."""

from __future__ import annotations

import inspect
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk import Asset, AssetAlias, BaseHook, Connection, Variable
from sqlalchemy import event
from sqlalchemy.engine import Engine

from airflow_provider_lingxing.operators.fulfillment import (
    FulfillmentResultOperator,
    LingxingSubmitFulfillmentOperator,
)
from airflow_provider_lingxing.sensors.fulfillment import FulfillmentResultSensor

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow < 3.2
    from airflow.models.dagbag import DagBag

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
POOL = "lingxing_api"


class ParseTimeAccess(AssertionError):
    """Raised by every Variable, connection or metadata DB access while the DAG files are parsed."""


@pytest.fixture
def no_parse_time_access(monkeypatch):
    """Make a Variable, connection or SQL statement fail the parse: the DAG processor runs files every 30 s."""

    def refuse(what):
        def raiser(*args, **kwargs):
            raise ParseTimeAccess(f"{what} at parse time: {args[1:] or args} {kwargs}")

        return raiser

    for cls, name in ((Variable, "get"), (Variable, "set"), (Connection, "get"), (BaseHook, "get_connection")):
        monkeypatch.setattr(cls, name, classmethod(refuse(f"{cls.__name__}.{name}")))
    listener = refuse("SQL statement")
    event.listen(Engine, "before_cursor_execute", listener)
    yield
    event.remove(Engine, "before_cursor_execute", listener)


def parse(folder: Path) -> DagBag:
    options = {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}
    return DagBag(dag_folder=str(folder), safe_mode=False, **options)


@pytest.fixture
def bag(no_parse_time_access) -> DagBag:
    return parse(EXAMPLE_DAGS)


def test_every_example_parses_without_import_errors(bag):
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "lingxing_fulfillment_loop",
        "lingxing_fulfillment_report",
        "lingxing_mark_shipped",
        "lingxing_results_to_warehouse",
    }


def test_the_guard_catches_a_dag_reading_a_variable_at_parse_time(no_parse_time_access, tmp_path):
    (tmp_path / "reads_a_variable.py").write_text(
        "import pendulum\nfrom airflow.sdk import DAG, Variable\n"
        "with DAG('reads_a_variable', start_date=pendulum.datetime(2026, 1, 1), schedule=None):\n"
        "    Variable.get('seller')\n"
    )
    errors = parse(tmp_path).import_errors
    assert len(errors) == 1
    assert "Variable.get at parse time" in next(iter(errors.values()))


def test_mark_shipped_submits_then_waits_deferred_then_loads(bag):
    dag = bag.dags["lingxing_mark_shipped"]
    assert dag.schedule is None  # triggered with the orders in the run's conf
    submit, wait, load = (dag.get_task(t) for t in ("submit_mark_shipped", "wait_for_amazon", "load_results"))
    assert set(dag.task_ids) == {"submit_mark_shipped", "wait_for_amazon", "load_results"}
    assert isinstance(submit, LingxingSubmitFulfillmentOperator)
    assert isinstance(wait, FulfillmentResultSensor)
    assert isinstance(load, FulfillmentResultOperator)
    assert wait.upstream_task_ids == {"submit_mark_shipped"}
    assert load.upstream_task_ids == {"submit_mark_shipped", "wait_for_amazon"}
    assert wait.deferrable is True
    assert load.sql_conn_id == "lingxing_warehouse"
    assert load.table == "lingxing_fulfillment_results"
    assert {"seller_id", "marketplace_id", "region", "orders"} <= set(dag.params)


def test_mark_shipped_retries_fit_each_task(bag):
    dag = bag.dags["lingxing_mark_shipped"]
    # A retried submit resumes after the last accepted submission (tests/integration/operators) and never re-sends
    # an uncertain one, so every task retries after at least a minute
    submit, wait, load = (
        dag.get_task("submit_mark_shipped"),
        dag.get_task("wait_for_amazon"),
        dag.get_task("load_results"),
    )
    assert submit.retries >= 1 and submit.retry_delay >= timedelta(minutes=1)
    assert wait.retries >= 1 and wait.retry_delay >= timedelta(minutes=1)
    assert load.retries >= 1 and load.retry_delay >= timedelta(minutes=1)


def test_results_to_warehouse_loads_daily_what_a_variable_lists(bag):
    dag = bag.dags["lingxing_results_to_warehouse"]
    assert set(dag.task_ids) == {"fulfillment_task_ids", "load_results"}
    load = dag.get_task("load_results")
    assert isinstance(load, FulfillmentResultOperator)
    assert load.upstream_task_ids == {"fulfillment_task_ids"}
    assert load.sql_conn_id == "lingxing_warehouse"
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert all(task.retries >= 1 for task in dag.tasks)


def test_the_loop_maps_submit_wait_load_per_seller_every_hour_with_orders_from_sql(bag):
    dag = bag.dags["lingxing_fulfillment_loop"]
    assert dag.schedule == "@hourly" and dag.catchup is False and dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is True, "it writes to Amazon: on only once its SQL reads the user's WMS"
    assert set(dag.task_ids) == {
        "sellers",
        "mark_shipped.submit_mark_shipped",
        "mark_shipped.wait_for_amazon",
        "mark_shipped.load_results",
    }
    submit, wait, load = (
        dag.get_task(f"mark_shipped.{t}") for t in ("submit_mark_shipped", "wait_for_amazon", "load_results")
    )
    for task in (submit, wait, load):
        assert type(task.task_group).__name__ == "MappedTaskGroup", f"{task.task_id}: once per (seller, marketplace)"
    assert submit.upstream_task_ids == {"sellers"}
    assert "mark_shipped.submit_mark_shipped" in wait.upstream_task_ids
    assert {"mark_shipped.submit_mark_shipped", "mark_shipped.wait_for_amazon"} <= load.upstream_task_ids
    assert isinstance(submit, LingxingSubmitFulfillmentOperator) and isinstance(load, FulfillmentResultOperator)
    assert isinstance(wait, FulfillmentResultSensor) and wait.deferrable is True
    assert submit.orders_sql and "FROM wms_shipments" in submit.orders_sql and submit.orders is None
    assert submit.sql_conn_id == load.sql_conn_id == "lingxing_warehouse", "ledger and results in one warehouse"
    assert submit.ledger_table == load.ledger_table == "lingxing_fulfillment_submissions"
    assert load.trigger_rule == "all_done", "what finished is loaded even when the wait failed"
    assert submit.retries >= 1 and load.retries >= 1


@pytest.mark.parametrize(
    "dag_id", ["lingxing_fulfillment_loop", "lingxing_mark_shipped", "lingxing_results_to_warehouse"]
)
def test_every_task_shares_the_lingxing_api_pool(bag, dag_id):
    assert {task.task_id: task.pool for task in bag.dags[dag_id].tasks} == dict.fromkeys(
        bag.dags[dag_id].task_ids, POOL
    )


def test_the_report_runs_when_a_load_updates_the_results_tables_asset(bag):
    """The load declares the alias its table's Asset is added to; the report is scheduled on that Asset."""
    load = bag.dags["lingxing_mark_shipped"].get_task("load_results")
    report = bag.dags["lingxing_fulfillment_report"]
    assert load.outlets == [AssetAlias("lingxing_results:lingxing_fulfillment_results")]
    assert list(report.timetable.asset_condition.objects) == [
        Asset("postgres://warehouse.example.com:5432/analytics/public/lingxing_fulfillment_results")
    ]
