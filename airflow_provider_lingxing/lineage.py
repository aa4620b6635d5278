"""OpenLineage datasets of what the operators read and write, built with the OpenLineage provider's and
common-sql's own naming, so they match what Airflow's SQL operators report for the same tables.

Imported only from `get_openlineage_facets_on_complete` (inside a try: the `[openlineage]` extra is optional):
without `apache-airflow-providers-openlineage` nothing imports this module and nothing changes.

- A Lingxing endpoint: namespace the connection's base URL (`https://openapi.lingxing.com`), name its path
  (`/pb/mp/order/getFulfillmentResult`).
- A warehouse table: namespace and name as common-sql names them (`hook.get_openlineage_database_info`):
  PostgreSQL `postgres://host:5432` + `database.schema.table`, MySQL `mysql://host:3306` + `database.table`.
  SQLite has no OpenLineage naming (neither common-sql nor the sqlite provider defines one); ours is
  `sqlite://<absolute file path>` + `main.table` (`main` is SQLite's name of the file's own schema).
- Written tables carry a `schema` facet (columns and types as created) and an `outputStatistics` facet (rows
  written: inserted or changed); the orders SQL goes through common-sql's lineage parsing (input tables with
  their schema from the database, the `sql` job facet).

Data flows one way: the submit operator reads the orders (`orders_sql`) and writes them to Lingxing's
submitFulfillment (an output) and to the ledger; the results operator reads getFulfillmentResult (an input) and
writes the results table and, with `ledger_table`, the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from airflow.providers.openlineage.extractors import OperatorLineage
from airflow.providers.openlineage.sqlparser import (
    DatabaseInfo,
    SQLParser,
    from_table_meta,
    get_openlineage_facets_with_sql,
)
from openlineage.client.event_v2 import Dataset, OutputDataset
from openlineage.client.facet_v2 import output_statistics_output_dataset, schema_dataset, sql_job
from openlineage.common.sql import DbTableMeta  # type: ignore[import-untyped]

from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, SUBMIT_FULFILLMENT, normalize_path
from airflow_provider_lingxing.assets import SQLITE_SCHEMA, sqlite_file
from airflow_provider_lingxing.warehouse.dialects import TableSpec, dialect_for


def endpoint_dataset(base_url: str, path: str) -> Dataset:
    """A Lingxing endpoint: where mark-shipped orders go, or where their results come from."""
    return Dataset(namespace=base_url.rstrip("/"), name=normalize_path(path))


def _conn_type(hook: Any) -> str:
    return str(getattr(hook, "conn_type", "") or "").lower()


def database_info(hook: Any, connection: Any) -> DatabaseInfo | None:
    """common-sql's description of the database behind `hook`; for SQLite, which has none, ours."""
    if _conn_type(hook) == "sqlite":
        return DatabaseInfo(scheme="sqlite", authority=sqlite_file(connection))
    return hook.get_openlineage_database_info(connection)


def _default_schema(hook: Any, connection: Any) -> str | None:
    """Where an unqualified table lives: PostgreSQL's current schema; MySQL has none (its databases are its
    schemas, so the connection's database stands there); SQLite's `main`."""
    if _conn_type(hook) == "sqlite":
        return SQLITE_SCHEMA
    return hook.get_openlineage_default_schema() or getattr(hook, "schema", None) or connection.schema


def table_dataset(
    hook: Any, table: str, columns: Sequence[tuple[str, str]], rows_written: int | None = None
) -> OutputDataset | None:
    """A table the operator wrote, with its columns and the rows it wrote; None when the database cannot be
    named (a connection type common-sql gives no lineage for)."""
    connection = hook.get_connection(hook.get_conn_id())
    info = database_info(hook, connection)
    if info is None:
        return None
    meta = DbTableMeta(table)
    if meta.schema is None:
        meta = DbTableMeta(f"{_default_schema(hook, connection)}.{table}")
    located = from_table_meta(meta, info.database, SQLParser.create_namespace(info), info.is_uppercase_names)
    fields = [
        schema_dataset.SchemaDatasetFacetFields(name=name, type=sql_type.removesuffix(" NOT NULL"))
        for name, sql_type in columns
    ]
    output_facets: dict[str, Any] = {}
    if rows_written is not None:
        output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows_written
        )
    return OutputDataset(
        namespace=located.namespace,
        name=located.name,
        facets={"schema": schema_dataset.SchemaDatasetFacet(fields=fields)},
        outputFacets=output_facets,
    )


PYFORMAT_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s")
"""psycopg's and mysqlclient's placeholders, which the OpenLineage SQL parser cannot read."""


def sql_lineage(hook: Any, conn_id: str, sql: str) -> OperatorLineage:
    """What a query reads, through common-sql's lineage parsing (input tables, their schema, the `sql` job
    facet). Placeholders the parser cannot read become NULL for parsing only; the `sql` facet keeps the query as
    written. SQLite, which common-sql gives no database information for, is parsed with our naming."""
    connection = hook.get_connection(conn_id)
    info = database_info(hook, connection)
    parsable = PYFORMAT_PLACEHOLDER.sub("NULL", sql).replace("%%", "%")
    found: OperatorLineage | None
    if info is not None and _conn_type(hook) == "sqlite":
        parser = SQLParser(dialect="sqlite", default_schema=SQLITE_SCHEMA)
        found = parser.generate_openlineage_metadata_from_sql(
            sql=parsable, hook=hook, database_info=info, use_connection=False
        )
    else:
        found = get_openlineage_facets_with_sql(hook=hook, sql=parsable, conn_id=conn_id, database=None)
    found = found or OperatorLineage()
    found.job_facets["sql"] = sql_job.SQLJobFacet(query=SQLParser.normalize_sql(sql))
    return found


def operator_lineage(
    inputs: Sequence[Dataset | None], outputs: Sequence[Dataset | None], read: OperatorLineage | None = None
) -> OperatorLineage:
    """One task's lineage: its datasets (None ones left out) and what a query it ran read."""
    read = read or OperatorLineage()
    return OperatorLineage(
        inputs=[*read.inputs, *(d for d in inputs if d is not None)],
        outputs=[d for d in outputs if d is not None],
        run_facets=read.run_facets,
        job_facets=read.job_facets,
    )


def written_table(hook: Any, table: str, spec: TableSpec, rows_written: int | None) -> OutputDataset | None:
    """A table the provider creates (`spec`), with its columns typed as this database creates them."""
    dialect = dialect_for(hook)
    columns = [(name, dialect.column_type(sql_type)) for name, sql_type in spec.columns]
    return table_dataset(hook, table, columns, rows_written)


def results_lineage(base_url: str, hook: Any | None, written: Sequence[tuple[str, TableSpec, int]]) -> OperatorLineage:
    """FulfillmentResultOperator: getFulfillmentResult in; the results table (and the ledger) out, when loaded
    into a warehouse (`hook`), each (table, its spec, rows written)."""
    tables = [written_table(hook, *table) for table in written] if hook is not None else []
    return operator_lineage([endpoint_dataset(base_url, GET_FULFILLMENT_RESULT.path)], tables)


def submission_lineage(
    base_url: str,
    hook: Any | None,
    *,
    sent: bool,
    orders_sql: tuple[str, str] | None = None,
    ledger: tuple[str, TableSpec, int] | None = None,
) -> OperatorLineage:
    """LingxingSubmitFulfillmentOperator: the orders query's tables in (`orders_sql`: (conn id, the query as
    rendered)); submitFulfillment out when anything was `sent`, and the ledger (table, spec, rows written)."""
    read = sql_lineage(hook, *orders_sql) if hook is not None and orders_sql is not None else None
    outputs = [endpoint_dataset(base_url, SUBMIT_FULFILLMENT.path) if sent else None]
    if hook is not None and ledger is not None:
        outputs.append(written_table(hook, *ledger))
    return operator_lineage([], outputs, read)
