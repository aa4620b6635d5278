"""Runs the token DAG with dag.test() in a fresh Airflow home; prints a JSON summary on its last line.

Usage (AIRFLOW_HOME and the connection already in the environment): run_token_dag.py DAG_FILE VARIABLE
(VARIABLE: the token's Variable, `lingxing_token__<owner_fingerprint(Base URL, app id)>`).
"""

from __future__ import annotations

import importlib.util
import json
import sys


def main(dag_file: str, variable: str) -> None:
    spec = importlib.util.spec_from_file_location("lingxing_token_variable", dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = module.DAG.test()

    from airflow.models import Variable
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        returned = (
            session.query(XComModel.value)
            .filter(XComModel.task_id == "results", XComModel.run_id == run.run_id)
            .scalar()
        )
    print(
        json.dumps(
            {
                "state": str(run.state),
                "returned": returned if not isinstance(returned, bytes) else returned.decode(),
                "variable": Variable.get(variable, default_var=None),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
