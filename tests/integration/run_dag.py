"""Run one DAG with `dag.test()` and print its outcome as one `DAG_RUN_RESULT {json}` line.

Started by the `airflow_home` fixture (tests/conftest.py) in a fresh interpreter whose
environment already points at a migrated AIRFLOW_HOME: `python run_dag.py DAG_FILE DAG_ID [CONF_JSON]`.
"""

from __future__ import annotations

import json
import sys

from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

RESULT_PREFIX = "DAG_RUN_RESULT "


def main(dag_file: str, dag_id: str, conf: str | None = None) -> None:
    bag = DagBag(dag_folder=dag_file)
    if dag_id not in bag.dags:
        sys.exit(f"DAG {dag_id!r} not found in {dag_file}; import errors: {bag.import_errors}")
    run = bag.dags[dag_id].test(run_conf=json.loads(conf) if conf else None)
    with create_session() as session:
        tasks = {
            ti.task_id: {"state": ti.state, "try_number": ti.try_number}
            for ti in run.get_task_instances(session=session)
        }
        xcoms = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.map_index == -1
            )
        ).all()
        values: dict[str, dict] = {}
        for xcom in xcoms:
            values.setdefault(xcom.task_id, {})[xcom.key] = xcom.value
    outcome = {"state": run.state, "run_id": run.run_id, "tasks": tasks, "xcom": values}
    print(RESULT_PREFIX + json.dumps(outcome, default=str), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
