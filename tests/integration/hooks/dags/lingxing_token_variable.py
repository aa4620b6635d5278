"""Two tasks, each with its own hook: under Airflow the token lives in a Variable and is fetched once."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="lingxing_token_variable", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def lingxing_token_variable():
    @task
    def sellers() -> str:
        from airflow_provider_lingxing.hooks.lingxing import LingxingHook

        hook = LingxingHook()
        hook.list_sellers()
        return type(hook.token_keeper.store).__name__

    @task
    def results(store: str) -> list:
        from airflow_provider_lingxing.hooks.lingxing import LingxingHook

        hook = LingxingHook()
        hook.get_fulfillment_results("A1SIMNA0000001", [1, 2, 3])
        return [store, type(hook.token_keeper.store).__name__, hook.token_keeper.fetched]

    results(sellers())


DAG = lingxing_token_variable()
