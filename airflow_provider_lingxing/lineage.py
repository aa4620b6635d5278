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
"""

from __future__ import annotations

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
from openlineage.client.facet_v2 import output_statistics_output_dataset, schema_dataset
from openlineage.common.sql import DbTableMeta  # type: ignore[import-untyped]

from airflow_provider_lingxing.api.endpoints import normalize_path
from airflow_provider_lingxing.assets import SQLITE_SCHEMA, sqlite_file


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


def sql_lineage(hook: Any, conn_id: str, sql: str) -> OperatorLineage:
    """What a query reads, through common-sql's lineage parsing (input tables, their schema, the `sql` job
    facet). SQLite, which common-sql gives no database information for, is parsed with our naming."""
    connection = hook.get_connection(conn_id)
    info = database_info(hook, connection)
    if info is not None and _conn_type(hook) == "sqlite":
        parser = SQLParser(dialect="sqlite", default_schema=SQLITE_SCHEMA)
        return parser.generate_openlineage_metadata_from_sql(
            sql=sql, hook=hook, database_info=info, use_connection=False
        )
    found = get_openlineage_facets_with_sql(hook=hook, sql=sql, conn_id=conn_id, database=None)
    return found or OperatorLineage()


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
