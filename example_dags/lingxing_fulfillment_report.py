"""A report that runs whenever mark-shipped outcomes land in the warehouse: data-aware scheduling on the results
table's Asset, which FulfillmentResultOperator updates each time a load adds or changes rows.

The Asset URI is the table's, as the database's Airflow provider writes it (README, "Monitoring"):
`postgres://host:5432/database/schema/table`, `mysql://host:3306/database/table`, or for SQLite
`sqlite:///absolute/path/warehouse.db/main/table`. Set yours in RESULTS_ASSET (the tests and `make e2e` set
LINGXING_RESULTS_ASSET).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, BaseHook, task

WAREHOUSE = "lingxing_warehouse"
RESULTS_TABLE = "lingxing_fulfillment_results"
RESULTS_ASSET = Asset(
    os.environ.get(
        "LINGXING_RESULTS_ASSET", "postgres://warehouse.example.com:5432/analytics/public/lingxing_fulfillment_results"
    )
)

with DAG(
    dag_id="lingxing_fulfillment_report",
    description="Amazon's mark-shipped outcomes so far, each time new ones are loaded",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=[RESULTS_ASSET],
    catchup=False,
    tags=["lingxing", "example"],
) as dag:

    @task
    def outcomes_report(triggering_asset_events: Any = None) -> dict[str, Any]:
        """Which loads triggered this run, and the outcome counts of the table now."""
        events = triggering_asset_events[RESULTS_ASSET] if triggering_asset_events else []
        loads = [
            {"dag_id": e.source_dag_id, "run_id": e.source_run_id, "task_id": e.source_task_id, **(e.extra or {})}
            for e in events
        ]
        for load in loads:
            print(f"Loaded by {load['dag_id']}.{load['task_id']} ({load['run_id']}): {load.get('rows')} row(s)")
        hook = BaseHook.get_connection(WAREHOUSE).get_hook()
        records = hook.get_records(
            f"SELECT result_code, COUNT(*) FROM {RESULTS_TABLE} GROUP BY result_code ORDER BY result_code"
        )
        outcomes = {str(code): int(count) for code, count in records}
        print(f"Outcomes in {RESULTS_TABLE}: {outcomes}")
        return {"loads": loads, "outcomes": outcomes}

    outcomes_report()
