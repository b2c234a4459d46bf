"""The dbt unit tests (``unit_tests:`` in the models' schema files): each pricing model's worked
example and the rules around it (month-end periods, weighted_sum and latest, prepaid drawdown,
tax, a mismatch's cause), run by dbt itself on DuckDB and PostgreSQL.

A customer's run leaves them out (``orchestration.dbt.build_args``); here they run against a
warehouse the worked-examples plan was loaded into, so that dbt knows every input's real column
types: ``tests/test_worked_examples.py`` calls :func:`assert_dbt_unit_tests_pass` on the
warehouse it built, on both. Each unit test is asserted by name: one that silently stopped
running fails there."""

from __future__ import annotations

import yaml

from connectors.warehouse import warehouse_from_url
from orchestration.dbt import DBT_PROJECT_DIR, invoke_dbt, runs_folder


def _declared_unit_tests() -> set[str]:
    names = set()
    for schema_file in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for test in yaml.safe_load(schema_file.read_text()).get("unit_tests", []):
            names.add(test["name"])
    return names


def test_every_pricing_model_has_a_unit_test_named_after_it():
    from golive.plan import PRICING_MODELS

    assert set(PRICING_MODELS) <= _declared_unit_tests()


def assert_dbt_unit_tests_pass(warehouse_url: str) -> None:
    """Run every dbt unit test on a warehouse the worked-examples plan was built into (dbt reads
    the inputs' column types from its relations): each declared test ran and passed."""
    warehouse = warehouse_from_url(warehouse_url)
    result = invoke_dbt(
        ["test", "--select", "test_type:unit"],
        warehouse.dbt_env(),
        runs_folder(warehouse) / "unit_tests",
    )
    outcomes = {
        event["data"]["node_info"]["node_name"]: event["data"]["status"] for event in result.results
    }
    failed = {name: status for name, status in outcomes.items() if status != "pass"}
    assert not failed, "\n".join([*result.errors, str(failed)])
    assert set(outcomes) == _declared_unit_tests()
    assert result.success
