"""Without the optional [openlineage] extra nothing changes: the operators import no lineage code, report no
lineage, and still declare the results table's Asset alias (Assets are Airflow's own)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from airflow.sdk import AssetAlias

from airflow_provider_lingxing.operators.fulfillment import FulfillmentResultOperator, LingxingSubmitFulfillmentOperator

OPENLINEAGE_MODULES = ("openlineage", "airflow.providers.openlineage", "airflow_provider_lingxing.lineage")


def operators() -> tuple[LingxingSubmitFulfillmentOperator, FulfillmentResultOperator]:
    submit = LingxingSubmitFulfillmentOperator(
        task_id="submit", seller_id="A1", marketplace_id="ATVPDKIKX0DER", orders=[], sql_conn_id="warehouse"
    )
    load = FulfillmentResultOperator(task_id="load", seller_id="A1", fulfillment_task_ids=[], sql_conn_id="warehouse")
    return submit, load


@pytest.fixture
def without_openlineage(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if apache-airflow-providers-openlineage were not installed: importing it raises ImportError."""
    for name in list(sys.modules):
        if name.startswith(OPENLINEAGE_MODULES):
            monkeypatch.delitem(sys.modules, name)
    for name in ("openlineage", "airflow.providers.openlineage", "airflow_provider_lingxing.lineage"):
        monkeypatch.setitem(sys.modules, name, None)


def test_without_openlineage_the_operators_report_no_lineage(without_openlineage: None) -> None:
    for operator in operators():
        assert operator.get_openlineage_facets_on_complete(task_instance=None) is None


def test_the_operators_import_no_lineage_code() -> None:
    """Lineage is built only when Airflow's OpenLineage listener asks for it, at the end of a task."""
    script = (
        "import json, sys\n"
        "import airflow_provider_lingxing.operators.fulfillment, airflow_provider_lingxing.sensors.fulfillment\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('openlineage', "
        "'airflow.providers.openlineage.sqlparser', 'airflow.providers.openlineage.extractors', "
        "'airflow_provider_lingxing.lineage')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_the_results_operator_declares_its_table_alias_only_with_a_warehouse() -> None:
    _, load = operators()
    to_xcom = FulfillmentResultOperator(task_id="xcom", seller_id="A1", fulfillment_task_ids=[])
    mine = AssetAlias("lineage_report")
    with_own = FulfillmentResultOperator(
        task_id="own", seller_id="A1", fulfillment_task_ids=[], sql_conn_id="w", table="s.t", outlets=mine
    )

    assert load.outlets == [AssetAlias("lingxing_results:lingxing_fulfillment_results")]
    assert to_xcom.outlets == []
    assert with_own.outlets == [mine, AssetAlias("lingxing_results:s.t")]
