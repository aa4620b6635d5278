"""The results table on real databases (a SQLite file and PostgreSQL): one transaction, idempotent upserts."""

from __future__ import annotations

import threading
from datetime import datetime

import pendulum
import pytest
from airflow.sdk import BaseHook

from airflow_provider_lingxing.api.results import COLUMNS, task_rows
from airflow_provider_lingxing.warehouse import results as wh

pytestmark = pytest.mark.integration

FETCHED_AT = pendulum.datetime(2026, 3, 1, 12, 0, 0, 123456, tz="UTC")


def result(task_id: int, errors: dict[str, str] | None = None) -> dict:
    return {
        "task_id": str(task_id),
        "status_code": "Complete",
        "ship_time": "1772366400",
        "processing_summary": {
            "messages_processed": "10",
            "messages_successful": str(10 - len(errors or {})),
            "messages_with_error": str(len(errors or {})),
            "messages_with_warning": "",
        },
        "result": [
            {"message_id": m, "result_code": "Error", "result_message_code": "25", "result_description": text}
            for m, text in (errors or {}).items()
        ],
        "failure": None,
    }


def rows_for(tasks: int, per_task: int = 10, fetched_at=FETCHED_AT, errors: dict[str, str] | None = None) -> list:
    """`tasks` complete tasks of `per_task` known messages each; `errors` (message id → text) in the first."""
    rows = []
    for t in range(tasks):
        ids = [str(t * per_task + m) for m in range(1, per_task + 1)]
        first_task_errors = errors if t == 0 else None
        rows += task_rows("A1SELLER", result(1003100 + t, first_task_errors), fetched_at=fetched_at, message_ids=ids)
    return rows


def sql_hook(warehouse):
    return BaseHook.get_connection(warehouse.conn_id).get_hook()


def test_a_load_creates_the_table_with_typed_columns(warehouse):
    loaded, changed = wh.upsert_rows(sql_hook(warehouse), warehouse.table, rows_for(3))
    assert (loaded, changed) == (30, 30)
    table = warehouse.rows()
    assert len(table) == 30
    first = dict(zip(COLUMNS, table[0], strict=True))
    assert (first["seller_id"], first["task_id"], first["message_id"]) == ("A1SELLER", "1003100", "1")
    assert (
        first["result_code"] == "Success"
        and first["messages_processed"] == 10
        and first["messages_with_warning"] is None
    )
    if warehouse.name in ("postgres", "mysql"):
        assert first["ship_time"] == datetime(2026, 3, 1, 12, 0, 0)
        assert first["fetched_at"] == datetime(2026, 3, 1, 12, 0, 0, 123456)
        types = dict(
            warehouse.query(
                f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{warehouse.table}'"
            )
        )
        timestamp, integer = (
            ("timestamp without time zone", "integer") if warehouse.name == "postgres" else ("datetime", "int")
        )
        assert types["ship_time"] == timestamp and types["messages_processed"] == integer
    else:
        assert first["ship_time"] == "2026-03-01 12:00:00"
        assert warehouse.query(f"SELECT datetime(fetched_at) FROM {warehouse.table} LIMIT 1") == [
            ("2026-03-01 12:00:00",)
        ]


def test_loading_twice_gives_the_same_table(warehouse):
    hook = sql_hook(warehouse)
    wh.upsert_rows(hook, warehouse.table, rows_for(5, errors={"3": "bad"}))
    once = warehouse.rows()
    later = pendulum.datetime(2026, 3, 2, tz="UTC")
    assert wh.upsert_rows(hook, warehouse.table, rows_for(5, fetched_at=later, errors={"3": "bad"})) == (50, 0)
    assert warehouse.rows() == once, "unchanged outcomes are not rewritten, fetched_at included"


def test_a_changed_outcome_is_updated_and_new_rows_are_added(warehouse):
    hook = sql_hook(warehouse)
    wh.upsert_rows(hook, warehouse.table, rows_for(2))
    later = pendulum.datetime(2026, 3, 2, tz="UTC")
    loaded, changed = wh.upsert_rows(hook, warehouse.table, rows_for(3, fetched_at=later, errors={"4": "late error"}))
    assert (loaded, changed) == (30, 20), "task 1003100 changed (a message and its counts), 1003102 is new"
    by_key = {(r[1], r[2]): dict(zip(COLUMNS, r, strict=True)) for r in warehouse.rows()}
    assert len(by_key) == 30
    assert by_key[("1003100", "4")]["result_code"] == "Error"
    assert by_key[("1003100", "4")]["result_description"] == "late error"
    assert by_key[("1003100", "5")]["messages_with_error"] == 1
    assert str(by_key[("1003100", "5")]["fetched_at"]).startswith("2026-03-02")
    assert str(by_key[("1003101", "15")]["fetched_at"]).startswith("2026-03-01"), "unchanged rows keep theirs"


def test_a_load_killed_after_its_first_batch_leaves_the_table_as_it_was(warehouse, monkeypatch):
    hook = sql_hook(warehouse)
    wh.upsert_rows(hook, warehouse.table, rows_for(2))
    before = warehouse.rows()
    load_class = wh.load_for(hook)
    real_write = load_class.write
    batches = []

    def dies_after_first_batch(self, values):
        if batches:
            raise KeyboardInterrupt("worker killed mid-load")
        batches.append(len(values))
        real_write(self, values)

    monkeypatch.setattr(load_class, "write", dies_after_first_batch)
    later = pendulum.datetime(2026, 3, 2, tz="UTC")
    with pytest.raises(KeyboardInterrupt):
        wh.upsert_rows(hook, warehouse.table, rows_for(6, fetched_at=later, errors={"1": "x"}), batch_rows=7)
    assert batches == [7]
    assert warehouse.rows() == before


def test_a_first_load_that_fails_creates_no_table(warehouse, monkeypatch):
    hook = sql_hook(warehouse)
    monkeypatch.setattr(wh.load_for(hook), "write", lambda self, values: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        wh.upsert_rows(hook, warehouse.table, rows_for(1))
    if warehouse.name == "mysql":  # MySQL commits DDL on its own: the table stays, empty
        assert warehouse.query(f"SELECT COUNT(*) FROM {warehouse.table}") == [(0,)]
    else:
        assert not warehouse.exists()


def test_create_table_false_loads_into_an_existing_table_only(warehouse):
    hook = sql_hook(warehouse)
    with pytest.raises(Exception, match=r"(?i)no such table|does not exist|doesn't exist"):
        wh.upsert_rows(hook, warehouse.table, rows_for(1), create_table=False)
    warehouse.execute(wh.create_table_sql(warehouse.table))
    assert wh.upsert_rows(hook, warehouse.table, rows_for(1), create_table=False) == (10, 10)


def test_text_survives_as_given(warehouse):
    text = "Tab\there, newline\nthere, back\\slash, 引号 'quote' \"dq\", ; DROP TABLE x; --"
    rows = rows_for(1, errors={"2": text})
    wh.upsert_rows(sql_hook(warehouse), warehouse.table, rows)
    assert warehouse.query(f"SELECT result_description FROM {warehouse.table} WHERE message_id = '2'") == [(text,)]


def test_a_schema_qualified_table(postgres_warehouse):
    schema = f"s_{postgres_warehouse.table}"
    postgres_warehouse.execute(f"CREATE SCHEMA {schema}")
    try:
        table = f"{schema}.results"
        assert wh.upsert_rows(sql_hook(postgres_warehouse), table, rows_for(1)) == (10, 10)
        assert len(postgres_warehouse.rows(table)) == 10
    finally:
        postgres_warehouse.execute(f"DROP SCHEMA {schema} CASCADE")


def test_psycopg2_connections_load_the_same_table(postgres_warehouse):
    """PostgresHook uses psycopg 3 when it can; with psycopg2 the rows go through COPY text instead."""
    import psycopg2

    class Psycopg2Hook:
        conn_type = "postgres"

        def get_conn(self):
            return psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")

    rows = rows_for(3, errors={"2": "Tab\tnew\nline back\\slash 引号"})
    wh.upsert_rows(Psycopg2Hook(), postgres_warehouse.table, rows)
    by_psycopg2 = postgres_warehouse.rows()
    postgres_warehouse.execute(f"DROP TABLE {postgres_warehouse.table}")
    wh.upsert_rows(sql_hook(postgres_warehouse), postgres_warehouse.table, rows)
    assert postgres_warehouse.rows() == by_psycopg2
    assert len(by_psycopg2) == 30


def test_overlapping_loads_neither_duplicate_nor_lose_rows(warehouse):
    hook = sql_hook(warehouse)
    wh.upsert_rows(hook, warehouse.table, rows_for(1))
    errors: list[BaseException] = []

    def load(tasks: int, day: int) -> None:
        try:
            for _ in range(3):
                at = pendulum.datetime(2026, 3, day, tz="UTC")
                wh.upsert_rows(hook, warehouse.table, list(reversed(rows_for(tasks, fetched_at=at))))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=load, args=(n, n)) for n in (20, 25, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert warehouse.query(f"SELECT COUNT(*) FROM {warehouse.table}") == [(300,)]
    assert len(set(warehouse.query(f"SELECT task_id, message_id FROM {warehouse.table}"))) == 300


def test_four_first_loads_into_a_new_table_at_once_all_succeed(warehouse):
    """CREATE TABLE IF NOT EXISTS from four sessions at once: PostgreSQL fails three of them on pg_type's unique
    index unless the create is serialised (an advisory lock)."""
    hook = sql_hook(warehouse)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def first_load(n: int) -> None:
        try:
            rows = [dict(row, task_id=str(2000000 + n)) for row in rows_for(1)]
            start.wait()
            wh.upsert_rows(hook, warehouse.table, rows)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=first_load, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert warehouse.query(f"SELECT COUNT(DISTINCT task_id), COUNT(*) FROM {warehouse.table}") == [(4, 40)]
