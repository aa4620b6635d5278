"""A real DAG run (dag.test()) with Airflow's OpenLineage listener and OpenLineage's own file transport: the events
of the submit and results tasks name what they read and wrote, as common-sql names those tables, with their
columns and the rows written; and the load records an event for the results table's Asset."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest

pytest.importorskip("airflow.providers.openlineage", reason="the [openlineage] extra is not installed")

from airflow.sdk import Asset

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, SUBMIT_FULFILLMENT
from airflow_provider_lingxing.api.results import COLUMN_TYPES
from airflow_provider_lingxing.warehouse.submissions import LEDGER_TABLE
from tests.support import shipments
from tests.support.openlineage import read_events

pytestmark = [pytest.mark.integration, pytest.mark.lingxing_simulator(latency=0.0, complete_after_polls=1)]

DAG_FILE = Path(__file__).parents[1] / "dags" / "lineage_loop.py"
ORDERS = 12


def located(warehouse, table: str) -> tuple[str, str]:
    """(namespace, name) of a table as common-sql names it (SQLite: ours), and its Asset URI."""
    if warehouse.name == "postgres":
        return "postgres://127.0.0.1:5432", f"test.public.{table}"
    if warehouse.name == "mysql":
        return "mysql://127.0.0.1:3306", f"test.{table}"
    return f"sqlite://{json.loads(warehouse.connection_json)['host']}", f"main.{table}"


def asset_uri(warehouse, table: str) -> str:
    namespace, name = located(warehouse, table)
    return Asset(f"{namespace}/{name.replace('.', '/')}").uri


def completed(events: list[dict], task_id: str) -> dict:
    [event] = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == f"lineage_loop.{task_id}"]
    return event


def described(dataset: dict) -> tuple:
    """A dataset as a user reads it: where, what, its column names and the rows written (if said)."""
    fields = [f["name"] for f in dataset.get("facets", {}).get("schema", {}).get("fields", [])]
    rows = dataset.get("outputFacets", {}).get("outputStatistics", {}).get("rowCount")
    return dataset["namespace"], dataset["name"], fields, rows


@pytest.fixture
def tables(warehouse):
    names = {kind: f"observe_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("wms", "ledger", "results")}
    shipments.create(warehouse, names["wms"])
    shipments.ship(warehouse, names["wms"], range(1, ORDERS + 1))
    yield names
    for table in names.values():
        warehouse.execute(f"DROP TABLE IF EXISTS {table}")


def test_lineage_events_and_the_asset_event_of_a_loop_run(
    airflow_home, lingxing_connection, warehouse, tables, tmp_path
):
    events_file = tmp_path / "openlineage.jsonl"
    airflow_home.copy_dag(DAG_FILE)
    run = airflow_home.run_dag(
        DAG_FILE.stem,
        "lineage_loop",
        env={
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events_file), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "observe",
            "LINEAGE_SQL_CONN_ID": warehouse.conn_id,
            "LINEAGE_ORDERS_SQL": shipments.orders_sql(warehouse, tables["wms"]),
            "LINEAGE_LEDGER": tables["ledger"],
            "LINEAGE_RESULTS": tables["results"],
        },
    )
    assert run.state == "success", run.output[-4000:]
    events = read_events(events_file)
    lingxing = lingxing_connection.base_url.rstrip("/")

    submit = completed(events, "submit")
    [orders_table] = submit["inputs"]
    namespace, name, columns, _ = described(orders_table)
    assert (namespace, name) == located(warehouse, tables["wms"])
    if warehouse.name != "sqlite":  # common-sql reads the columns from the server's information_schema
        assert columns[:3] == ["order_ref", "item_no", "amazon_order_id"]
    assert submit["job"]["facets"]["sql"]["query"].startswith("SELECT order_ref AS id")
    assert [described(d) for d in submit["outputs"]] == [
        (lingxing, SUBMIT_FULFILLMENT.path, [], None),
        (*located(warehouse, tables["ledger"]), [c for c, _ in LEDGER_TABLE.columns], ORDERS),
    ]

    load = completed(events, "load")
    assert [described(d) for d in load["inputs"]] == [(lingxing, GET_FULFILLMENT_RESULT.path, [], None)]
    assert [described(d) for d in load["outputs"]] == [
        (*located(warehouse, tables["results"]), [c for c, _ in COLUMN_TYPES], ORDERS),
        (*located(warehouse, tables["ledger"]), [c for c, _ in LEDGER_TABLE.columns], ORDERS),
    ]
    results_schema = load["outputs"][0]["facets"]["schema"]["fields"]
    assert results_schema[0] == {"name": "seller_id", "type": "VARCHAR(64)", "fields": []}
    assert not [e for e in events if "secret" in json.dumps(e).lower() or "access_token" in json.dumps(e)]

    with sqlite3.connect(airflow_home.path / "airflow.db") as db:
        asset_events = db.execute(
            "SELECT asset.uri, asset_event.extra FROM asset_event JOIN asset ON asset.id = asset_event.asset_id "
            "WHERE asset_event.source_run_id = ?",
            (run.run_id,),
        ).fetchall()
    assert [(uri, json.loads(extra)) for uri, extra in asset_events] == [
        (asset_uri(warehouse, tables["results"]), {"rows": ORDERS})
    ]
