"""The results table's SQL on the three dialects: names refused before any call, DDL, upserts, row shaping."""

from __future__ import annotations

from datetime import datetime

import pendulum
import pytest

from airflow_provider_lingxing.api.results import COLUMNS
from airflow_provider_lingxing.exceptions import LingxingInputError
from airflow_provider_lingxing.warehouse import results as warehouse
from airflow_provider_lingxing.warehouse.dialects import Dialect, MySqlDialect, SqliteDialect, validate_table


@pytest.mark.parametrize("table", ["lingxing_fulfillment_results", "analytics.results", "_t1", "A" * 63])
def test_identifiers_and_schema_qualified_names_are_accepted(table):
    assert validate_table(table) == table


@pytest.mark.parametrize(
    "table",
    [
        "results; DROP TABLE users",
        "a.b.c",
        "1results",
        "results ",
        "res-ults",
        '"results"',
        "",
        "A" * 64,
        "résultats",
        None,
        ["results"],
    ],
)
def test_anything_else_is_refused_with_the_name(table):
    with pytest.raises(LingxingInputError, match=r"^table: must be a table name: letters, digits and _"):
        validate_table(table)


@pytest.mark.parametrize("table", ["order", "user", "select", "ORDER", "analytics.group", "key.results", "rank"])
def test_sql_keywords_are_refused_before_any_call(table):
    """Spliced into SQL unquoted, they would fail after the API call (a keyword of any supported database)."""
    with pytest.raises(LingxingInputError, match=r"^table: must be a name that is no SQL reserved word"):
        validate_table(table, "table")


@pytest.mark.parametrize("table", ["lingxing_results_staging", "analytics.LINGXING_RESULTS_STAGING"])
def test_the_staging_table_name_is_refused(table):
    with pytest.raises(LingxingInputError, match="the provider's own staging table"):
        validate_table(table)


def test_the_ddl_is_portable_and_keys_on_seller_task_message():
    ddl = warehouse.create_table_sql("analytics.results", Dialect())
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS analytics.results (")
    assert "    ship_time TIMESTAMP,\n" in ddl and "    fetched_at TIMESTAMP NOT NULL,\n" in ddl
    assert "    messages_processed INTEGER,\n" in ddl
    assert ddl.rstrip().endswith("PRIMARY KEY (seller_id, task_id, message_id)\n)")
    assert [line.split()[0] for line in ddl.splitlines()[1:15]] == list(COLUMNS)


def test_mysql_stores_timestamps_as_datetime_and_text_as_utf8mb4():
    ddl = warehouse.create_table_sql("results", MySqlDialect())
    assert "    ship_time DATETIME(6),\n" in ddl and "    fetched_at DATETIME(6) NOT NULL,\n" in ddl
    assert "    result_description TEXT,\n" in ddl


def test_the_upsert_binds_every_value_and_updates_only_changed_rows():
    sql = warehouse.upsert_sql("results", 2, SqliteDialect())
    assert sql.count("?") == 2 * len(COLUMNS)
    assert "ON CONFLICT (seller_id, task_id, message_id) DO UPDATE SET" in sql
    assert "WHERE target.status_code IS NOT excluded.status_code" in sql
    assert "target.fetched_at IS NOT" not in sql, "a later fetch of the same outcome changes nothing"
    sql = warehouse.upsert_sql("results", 1, Dialect())
    assert sql.count("%s") == len(COLUMNS) and "target.failure IS DISTINCT FROM excluded.failure" in sql


def test_mysql_assigns_fetched_at_before_the_content_it_compares():
    """MySQL's ON DUPLICATE KEY UPDATE sees earlier assignments: fetched_at must be decided on the old row."""
    sql = warehouse.upsert_sql("results", 1, MySqlDialect())
    assert sql.count("%s") == len(COLUMNS)
    clause = sql[sql.index("ON DUPLICATE KEY UPDATE ") :]
    assert clause.startswith("ON DUPLICATE KEY UPDATE fetched_at = IF(NOT (status_code <=> VALUES(status_code)) OR")
    assert clause.index("fetched_at = IF(") < clause.index("status_code = VALUES(status_code)")
    assert "seller_id =" not in clause, "the key is not rewritten"


class FakeHook:
    def __init__(self, conn_type):
        self.conn_type = conn_type


@pytest.mark.parametrize(
    ("conn_type", "load"),
    [("postgres", warehouse.PostgresLoad), ("sqlite", warehouse.SqliteLoad), ("mysql", warehouse.MySqlLoad)],
)
def test_supported_connection_types_pick_their_load(conn_type, load):
    assert warehouse.load_for(FakeHook(conn_type)) is load


@pytest.mark.parametrize("conn_type", ["mssql", "oracle", None])
def test_unsupported_connection_types_are_refused_by_name(conn_type):
    with pytest.raises(LingxingInputError, match="which the results table does not support: use one of mysql"):
        warehouse.load_for(FakeHook(conn_type))


def test_unsupported_types_are_refused_before_connecting():
    class Refusing(FakeHook):
        def get_conn(self):
            raise AssertionError("connected")

    with pytest.raises(LingxingInputError):
        warehouse.upsert_rows(Refusing("mssql"), "results", [])
    with pytest.raises(LingxingInputError):
        warehouse.upsert_rows(Refusing("sqlite"), "bad name", [])
    with pytest.raises(LingxingInputError):
        warehouse.upsert_rows(Refusing("postgres"), "order", [])


def row(task_id="1", message_id="1", **changes):
    base = dict.fromkeys(COLUMNS)
    base.update(seller_id="S", task_id=task_id, message_id=message_id, fetched_at=pendulum.now("UTC"))
    base.update(changes)
    return base


def test_duplicate_keys_keep_the_last_row():
    rows = warehouse.unique_rows(
        [row("2", "1"), row("1", "2", result_code="Error"), row("1", "2", result_code="Success")]
    )
    assert [(r["task_id"], r["message_id"], r["result_code"]) for r in rows] == [
        ("2", "1", None),
        ("1", "2", "Success"),
    ]


def test_timestamps_are_bound_as_naive_utc():
    shanghai = pendulum.datetime(2026, 3, 1, 20, 0, 0, tz="Asia/Shanghai")
    (values,) = warehouse.row_values([row(ship_time=shanghai, fetched_at=shanghai)], Dialect.timestamp)
    assert values[COLUMNS.index("ship_time")] == datetime(2026, 3, 1, 12, 0, 0)
    assert type(values[COLUMNS.index("ship_time")]) is datetime
    (values,) = warehouse.row_values([row(ship_time=None, fetched_at=shanghai)], SqliteDialect.timestamp)
    assert values[COLUMNS.index("fetched_at")] == "2026-03-01 12:00:00"
    assert values[COLUMNS.index("ship_time")] is None


def test_copy_text_escapes_what_would_split_a_field():
    assert warehouse._copy_text(None) == "\\N"
    assert warehouse._copy_text("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert warehouse._copy_text(3) == "3"
    assert warehouse._copy_text(datetime(2026, 3, 1, 12, 0, 0, 5)) == "2026-03-01 12:00:00.000005"
