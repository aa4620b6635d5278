"""OpenLineage datasets and Assets of what the operators read and write, named as common-sql and the database
providers name them (no database is reached: SQLite and MySQL need none, PostgreSQL tables are schema-qualified)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("airflow.providers.openlineage", reason="the [openlineage] extra is not installed")

from airflow.providers.mysql.assets.mysql import convert_asset_to_openlineage as mysql_asset_to_openlineage
from airflow.providers.openlineage.sqlparser import SQLParser
from airflow.providers.postgres.assets.postgres import convert_asset_to_openlineage as postgres_asset_to_openlineage
from airflow.sdk import Asset, BaseHook
from openlineage.client.serde import Serde

from airflow_provider_lingxing import lineage
from airflow_provider_lingxing.api.results import COLUMN_TYPES
from airflow_provider_lingxing.assets import table_asset

CONNECTIONS = {
    "observe_pg": {"conn_type": "postgres", "host": "db.example.internal", "login": "etl", "schema": "analytics"},
    "observe_my": {"conn_type": "mysql", "host": "mysql.example.internal", "login": "etl", "schema": "shop"},
}


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    connections = {**CONNECTIONS, "observe_lite": {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}}
    for conn_id, fields in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return {conn_id: BaseHook.get_connection(conn_id).get_hook() for conn_id in connections}


def as_json(dataset: object) -> dict:
    return json.loads(Serde.to_json(dataset))


def test_an_endpoint_is_named_by_the_connection_host_and_its_path() -> None:
    dataset = lineage.endpoint_dataset("https://openapi.lingxing.com/", "pb/mp/order/getFulfillmentResult")

    assert (dataset.namespace, dataset.name) == ("https://openapi.lingxing.com", "/pb/mp/order/getFulfillmentResult")


def test_a_written_table_carries_its_columns_and_the_rows_written(hooks: dict, tmp_path: Path) -> None:
    dataset = lineage.table_dataset(hooks["observe_lite"], "lingxing_fulfillment_results", COLUMN_TYPES, 30)

    event = as_json(dataset)
    assert (event["namespace"], event["name"]) == (
        f"sqlite://{tmp_path}/warehouse.db",
        "main.lingxing_fulfillment_results",
    )
    fields = [(f["name"], f["type"]) for f in event["facets"]["schema"]["fields"]]
    assert fields[:3] == [("seller_id", "VARCHAR(64)"), ("task_id", "VARCHAR(32)"), ("message_id", "VARCHAR(32)")]
    assert [name for name, _ in fields] == [name for name, _ in COLUMN_TYPES]
    assert event["outputFacets"]["outputStatistics"]["rowCount"] == 30


@pytest.mark.parametrize(
    ("conn_id", "table", "namespace", "name"),
    [
        (
            "observe_pg",
            "reports.lingxing_results",
            "postgres://db.example.internal:5432",
            "analytics.reports.lingxing_results",
        ),
        ("observe_my", "lingxing_results", "mysql://mysql.example.internal:3306", "shop.lingxing_results"),
        ("observe_my", "archive.lingxing_results", "mysql://mysql.example.internal:3306", "archive.lingxing_results"),
    ],
)
def test_server_tables_are_named_as_common_sql_names_them(
    hooks: dict, conn_id: str, table: str, namespace: str, name: str
) -> None:
    hook = hooks[conn_id]
    dataset = lineage.table_dataset(hook, table, COLUMN_TYPES)

    assert (dataset.namespace, dataset.name) == (namespace, name)
    assert dataset.namespace == SQLParser.create_namespace(
        hook.get_openlineage_database_info(hook.get_connection(conn_id))
    )
    assert "outputStatistics" not in dataset.outputFacets


@pytest.mark.parametrize(
    ("conn_id", "table", "to_openlineage"),
    [
        ("observe_pg", "reports.lingxing_results", postgres_asset_to_openlineage),
        ("observe_my", "lingxing_results", mysql_asset_to_openlineage),
    ],
)
def test_the_asset_of_a_table_is_the_dataset_its_lineage_reports(
    hooks: dict, conn_id: str, table: str, to_openlineage
) -> None:
    hook = hooks[conn_id]
    asset = table_asset(hook, table)
    dataset = lineage.table_dataset(hook, table, COLUMN_TYPES)

    translated = to_openlineage(asset, None)  # the provider's own Asset → OpenLineage mapping
    assert (translated.namespace, translated.name) == (dataset.namespace, dataset.name)
    assert asset == Asset(asset.uri)  # already in Airflow's normal form: a downstream Asset(uri) matches it


def test_a_sqlite_asset_is_its_file_schema_and_table(hooks: dict, tmp_path: Path) -> None:
    asset = table_asset(hooks["observe_lite"], "lingxing_fulfillment_results")

    assert asset == Asset(f"sqlite://{tmp_path}/warehouse.db/main/lingxing_fulfillment_results")  # sqlite:///tmp/...


def test_orders_sql_inputs_come_from_the_sql_parser(hooks: dict, tmp_path: Path) -> None:
    sql = "SELECT o.id, o.platform_order_no, i.order_item_no FROM shipped o JOIN shipped_items i ON i.order_id = o.id"

    read = lineage.sql_lineage(hooks["observe_lite"], "observe_lite", sql)

    assert sorted((d.namespace, d.name) for d in read.inputs) == [
        (f"sqlite://{tmp_path}/warehouse.db", "main.shipped"),
        (f"sqlite://{tmp_path}/warehouse.db", "main.shipped_items"),
    ]
    assert read.job_facets["sql"].query == sql


def test_one_task_lineage_joins_what_it_read_called_and_wrote(hooks: dict) -> None:
    read = lineage.sql_lineage(hooks["observe_lite"], "observe_lite", "SELECT * FROM shipped")
    endpoint = lineage.endpoint_dataset("https://openapi.lingxing.com", "/pb/mp/order/submitFulfillment")
    ledger = lineage.table_dataset(hooks["observe_lite"], "lingxing_fulfillment_submissions", [("id", "TEXT")], 3)

    task = lineage.operator_lineage([None], [endpoint, ledger, None], read)

    assert [d.name for d in task.inputs] == ["main.shipped"]
    assert [d.name for d in task.outputs] == ["/pb/mp/order/submitFulfillment", "main.lingxing_fulfillment_submissions"]
    assert "sql" in task.job_facets
