"""The Dagster code location: a snapshot of the asset graph (keys and groups), jobs, schedules
and sensors, so that a rename is a decision, not an accident; the nightly job runs; what the UI
shows of it (descriptions, typed columns from dbt, the plan and warehouse as run tags) holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import pytest

from connectors.warehouse import warehouse_from_url
from golive.migration import PRODUCTION_TABLES
from orchestration.dbt import ensure_manifest
from orchestration.definitions import build_definitions

ROOT = Path(__file__).resolve().parents[1]
PLAN = Path(__file__).parent / "fixtures" / "worked_examples" / "plan.yaml"

defs = build_definitions()

EXPECTED_GROUPS = {
    "1_discovery": {
        "raw/currencies",
        "raw/plan_metric_filters",
        "raw/plan_metrics",
        "raw/plan_tax_codes",
        "raw/plan_coupons",
        "raw/plan_coupon_products",
        "raw/plan_price_tiers",
        "raw/plan_products",
        "raw/plan_settings",
        "raw/plan_accounts",
    },
    "2_sandbox_load": {
        "raw/customers",
        "raw/contracts",
        "raw/contract_lines",
        "raw/usage_events",
        "raw/legacy_invoices",
        "raw/legacy_invoice_lines",
        "raw/legacy_journal_entries",
        "raw/legacy_revenue_schedule",
        "raw/price_overrides",
        "raw/price_override_tiers",
        "raw/price_override_rejections",
        "staging/stg_price_book",
        "staging/stg_price_tiers",
        "staging/stg_customers",
        "staging/stg_contracts",
        "staging/stg_contract_lines",
        "staging/stg_usage_events",
        "staging/stg_usage_metric_values",
        "staging/int_usage_event_ids",
        "staging/int_usage_events_classified",
        "staging/int_usage_customers_applied",
        "staging/stg_legacy_invoices",
        "staging/stg_legacy_invoice_lines",
        "staging/stg_legacy_journal_entries",
        "staging/stg_legacy_revenue_schedule",
        "quarantine/usage_events",
        "quarantine/records",
        "sandbox/record_counts",
        "sandbox/usage_events",
        "sandbox/usage_event_counts",
    },
    "3_metering": {
        "staging/int_contract_periods",
        "staging/int_usage_affected_days",
        "staging/int_usage_daily",
        "staging/int_usage_daily_distinct",
        "staging/int_usage_affected_periods",
        "staging/int_usage_contracts_applied",
        "sandbox/usage_aggregates",
        "sandbox/usage_unbilled",
    },
    "4_billing": {
        "staging/int_invoice_line_quantities",
        "staging/int_invoice_lines_priced",
        "staging/int_invoices_computed",
        "staging/int_invoice_settlements",
        "staging/int_invoice_line_groups",
        "sandbox/invoice_taxes",
        "sandbox/pricing_errors",
        "sandbox/invoices",
        "sandbox/invoice_lines",
        "sandbox/journal_entries",
        "sandbox/revenue_recognition",
    },
    "5_parallel_test": {
        "staging/int_parallel_test_invoices",
        "sandbox/reconciliation_invoices",
        "sandbox/reconciliation_lines",
        "sandbox/reconciliation_journal",
        "sandbox/reconciliation_revenue_schedule",
        "sandbox/parallel_test_summary",
        "sandbox/signoff",
    },
    "6_production_migration": {
        "audit/migration_runs",
        "production/journal_export",
        *(f"production/{table}" for table in PRODUCTION_TABLES),
    },
}

#: the usage assets, daily-partitioned (every other asset is not partitioned)
DAILY = {
    "raw/usage_events",
    "staging/stg_usage_events",
    "staging/stg_usage_metric_values",
    "staging/int_usage_event_ids",
    "staging/int_usage_events_classified",
    "staging/int_usage_customers_applied",
    "quarantine/usage_events",
    "sandbox/usage_events",
    "sandbox/usage_event_counts",
    "staging/int_usage_affected_days",
    "staging/int_usage_daily",
    "staging/int_usage_daily_distinct",
    "staging/int_usage_affected_periods",
    "staging/int_usage_contracts_applied",
    "sandbox/usage_aggregates",
    "sandbox/usage_unbilled",
}


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, set()).add(key.to_user_string())
    assert groups == EXPECTED_GROUPS
    partitioned = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def
    }
    assert partitioned == DAILY


def test_jobs_schedules_sensors_and_blocking_checks():
    assert {j.name for j in defs.jobs} == {"onboarding", "nightly_usage_refresh"}
    schedule = defs.resolve_schedule_def("nightly_usage_refresh_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.job_name == "nightly_usage_refresh"
    assert {s.name for s in defs.sensors} == {"alert_on_failure"}
    graph = defs.resolve_asset_graph()
    blocking = {
        (spec.asset_key.to_user_string(), spec.name)
        for assets_def in [*defs.assets, *defs.asset_checks]
        for spec in getattr(assets_def, "check_specs", [])
        if spec.blocking
    }
    assert ("sandbox/usage_event_counts", "counts_reconcile") in blocking
    # the migration itself refuses a failed sign-off (audited): the check does not block it
    assert ("sandbox/signoff", "signoff_criteria_pass") not in blocking
    # every production table waits on the sign-off, and reads from what it is promoted from
    invoices = graph.get(dg.AssetKey(["production", "invoices"]))
    assert {dg.AssetKey(["sandbox", "signoff"]), dg.AssetKey(["sandbox", "invoices"])} <= set(
        invoices.parent_keys
    )
    customers = graph.get(dg.AssetKey(["production", "customers"]))
    assert dg.AssetKey(["staging", "stg_customers"]) in customers.parent_keys


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory):
    """A DuckDB warehouse with every dbt model built (the worked examples, through the
    parallel test), its GX evidence in a folder of its own."""
    from orchestration.runner import run_stages

    folder = tmp_path_factory.mktemp("onboarded")
    url = f"duckdb:///{folder}/w.duckdb"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GOLIVE_WORKDIR", str(folder))
        assert run_stages(PLAN, url, through="parallel_test").success
    return url


def _dbt_nodes(resource_type: str) -> list[dict]:
    manifest = json.loads(ensure_manifest().read_text())
    group = "sources" if resource_type == "source" else "nodes"
    return [n for n in manifest[group].values() if n["resource_type"] == resource_type]


def test_every_model_source_and_test_is_described_in_dbt():
    """The schema files describe every model, source table and test: the UI shows these."""
    for kind in ("model", "source", "test"):
        missing = sorted(n["name"] for n in _dbt_nodes(kind) if not n.get("description"))
        assert not missing, f"add a description to these dbt {kind}s in their schema yml: {missing}"


def test_every_asset_check_job_and_schedule_has_a_description():
    graph = defs.resolve_asset_graph()
    fallback = re.compile(r"^dbt (model|source|seed|snapshot) ")
    undescribed = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if not (graph.get(key).description or "").strip()
        or fallback.match(graph.get(key).description)
    ]
    assert not undescribed
    checks = [
        spec
        for assets_def in [*defs.assets, *defs.asset_checks]
        for spec in getattr(assets_def, "check_specs", [])
    ]
    assert len(checks) > 20
    # a dbt test without its own description would show "dbt test <name>(...)"
    undescribed = [
        f"{c.asset_key.to_user_string()}:{c.name}"
        for c in checks
        if not (c.description or "").strip() or c.description.startswith("dbt test ")
    ]
    assert not undescribed
    assert all(j.description for j in defs.jobs)
    assert all(s.description for s in defs.schedules)


#: how DuckDB names the types the schema files declare (sums of counts widen to HUGEINT)
DUCKDB_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
}


def _declared(duckdb_type: str) -> str:
    decimal = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", duckdb_type)
    return f"decimal({decimal[1]},{decimal[2]})" if decimal else DUCKDB_TYPES[duckdb_type]


def test_dbt_assets_carry_the_typed_columns_the_warehouse_has(onboarded):
    """Every dbt model's asset has ``dagster/column_schema`` with every column typed, from the
    schema files; and those are the columns and types the built table has, in its order."""
    graph = defs.resolve_asset_graph()
    wh = warehouse_from_url(onboarded)
    actual: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in wh.query(
        "select table_schema, table_name, column_name, data_type from information_schema.columns"
        " order by table_schema, table_name, ordinal_position"
    ):
        actual.setdefault((schema, table), []).append((column, _declared(data_type)))
    models = _dbt_nodes("model")
    assert len(models) > 30
    wrong = {}
    for model in models:
        key = dg.AssetKey([model["schema"], model.get("alias") or model["name"]])
        schema = graph.get(key).metadata.get("dagster/column_schema")
        assert schema is not None, f"{key.to_user_string()} has no column schema"
        declared = [(c.name, c.type) for c in schema.columns]
        if declared != actual[tuple(key.path)]:
            wrong[key.to_user_string()] = {"declared": declared, "built": actual[tuple(key.path)]}
    assert not wrong, (
        "declare these models' columns with their data_type in their schema yml, in the table's "
        f"order: {json.dumps(wrong, indent=1)}"
    )
    invoices = graph.get(dg.AssetKey(["sandbox", "invoices"])).metadata["dagster/column_schema"]
    total = next(c for c in invoices.columns if c.name == "total")
    assert total.type == "decimal(38,10)"
    assert total.description == "subtotal - credits_applied + tax."


def test_the_code_location_loads_as_the_ui_loads_it(tmp_path):
    """``workspace.yaml``'s code location loads (what ``dagster dev`` does first)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate"]
        + ["-w", "workspace.yaml"],
        cwd=ROOT,
        env={**os.environ, "GOLIVE_PLAN": str(PLAN), "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location orchestration.definitions:defs" in (
        result.stdout + result.stderr
    )


def test_resources_and_jobs_show_the_plan_and_the_redacted_warehouse(monkeypatch):
    url = "postgresql://golive:s3cret-pw@db.internal:5432/warehouse"
    monkeypatch.setenv("GOLIVE_PLAN", str(PLAN))
    monkeypatch.setenv("GOLIVE_WAREHOUSE", url)
    monkeypatch.setenv("GOLIVE_ALERT_URLS", "json://127.0.0.1:9/alerts")
    located = build_definitions()
    # configured from the environment: the UI shows the variables' names, never their values
    assert located.resources["plan"].path == dg.EnvVar("GOLIVE_PLAN")
    assert located.resources["warehouse"].url == dg.EnvVar("GOLIVE_WAREHOUSE")
    assert located.resources["alerts"].urls == dg.EnvVar("GOLIVE_ALERT_URLS")
    expected = {
        "golive/plan": str(PLAN.resolve()),
        "golive/warehouse": "postgresql://golive:***@db.internal:5432/warehouse",
    }
    for job in located.jobs:
        assert expected.items() <= dict(job.tags).items()
        assert expected.items() <= dict(job.run_tags).items()
        assert expected.items() <= dict(job.metadata).items()
    schedule = located.resolve_schedule_def("nightly_usage_refresh_schedule")
    resolved = located.resolve_job_def(schedule.job_name)
    assert expected.items() <= dict(resolved.run_tags).items()
    # nothing in the definitions' jobs shows the password
    assert "s3cret" not in repr([(j.tags, j.run_tags, j.metadata) for j in located.jobs])


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def test_a_run_from_the_asset_graph_is_tagged_with_plan_and_warehouse(postgres_url):
    """*Materialize* in the UI launches a run with no golive tags: the resources add them when
    it starts, the warehouse's password as ``***``; the password is in no tag, metadata or log
    line of the run. (The test server trusts its clients, so the password is not checked.)"""
    url = _with_password(postgres_url, "s3cret-pw")
    located = build_definitions(plan_path=str(PLAN), warehouse_url=url)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*located.assets],
        selection=dg.AssetSelection.groups("1_discovery"),
        resources=located.resources,
        instance=instance,
    )
    assert result.success
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["golive/plan"] == str(PLAN.resolve())
    assert tags["golive/warehouse"] == warehouse_from_url(url).display_url
    assert "***" in tags["golive/warehouse"]
    logs = instance.all_logs(result.run_id)
    shown = repr(tags) + "".join(repr(record) for record in logs)
    assert "s3cret" not in shown


def test_nightly_job_refreshes_usage_aggregates(onboarded):
    """The nightly job re-ingests usage and refreshes usage_aggregates, nothing downstream;
    its runs carry the plan and the warehouse."""
    url = onboarded
    local = build_definitions(plan_path=str(PLAN), warehouse_url=url)
    job = local.resolve_job_def("nightly_usage_refresh")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "raw/usage_events" in selected and "sandbox/usage_aggregates" in selected
    assert "sandbox/invoices" not in selected and "raw/customers" not in selected
    day = job.partitions_def.get_last_partition_key()
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(instance=instance, partition_key=day)
    assert result.success
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["golive/plan"] == str(PLAN.resolve())
    assert tags["golive/warehouse"] == url
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw/usage_events", "sandbox/usage_aggregates", "sandbox/usage_event_counts"} <= done


def test_one_parse_serves_every_warehouse_of_an_adapter():
    """The parsed project is kept per adapter and pointed at each invocation's database: a
    call that names no database gets the profile's default, not the previous call's."""
    from orchestration.dbt import _parsed_project

    def databases(env):
        manifest = _parsed_project(env)
        return {n.database for n in manifest.nodes.values() if n.resource_type == "model"}

    assert databases({"GOLIVE_DBT_TARGET": "postgres", "GOLIVE_PG_DATABASE": "one"}) == {"one"}
    assert databases({"GOLIVE_DBT_TARGET": "duckdb", "GOLIVE_DUCKDB_PATH": "/x/two.duckdb"}) == {
        "two"
    }
    assert databases({"GOLIVE_DBT_TARGET": "postgres"}) == {"postgres"}
    assert databases({"GOLIVE_DBT_TARGET": "duckdb"}) == {"golive"}
    # Snowflake parses with its connection, and is kept once parsed like the others
    assert databases({"GOLIVE_DBT_TARGET": "snowflake", "GOLIVE_SF_DATABASE": "ONE"}) == {"ONE"}
    assert databases({"GOLIVE_DBT_TARGET": "snowflake", "GOLIVE_SF_DATABASE": "TWO"}) == {"TWO"}


def _stored_texts(home: Path) -> list[str]:
    """Every value in the Dagster instance's SQLite storage under ``home``, compressed blobs
    (the job and execution plan snapshots) decompressed."""
    import sqlite3
    import zlib

    texts = []
    for db in home.rglob("*.db"):
        con = sqlite3.connect(db)
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in con.execute(f'select * from "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        with contextlib.suppress(zlib.error):
                            value = zlib.decompress(value)
                        value = value.decode("utf-8", "replace")
                    texts.append(str(value))
        con.close()
    return texts


def test_a_given_warehouse_password_is_never_kept_in_dagster_storage(
    postgres_url, tmp_path, monkeypatch
):
    """``golive run --warehouse URL`` with a password: Dagster keeps each run's resource
    config in its storage (the shared deployment's web server reads it), so the config holds
    a reference to the URL, never the password; the run itself works."""
    from orchestration.resources import WarehouseResource
    from orchestration.runner import run_stages

    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    secret = "S3cretXYZ-never-stored"
    parts = urlsplit(postgres_url)
    netloc = f"{parts.username or 'postgres'}:{secret}@{parts.hostname}:{parts.port or 5432}"
    url = urlunsplit(parts._replace(netloc=netloc))
    run = run_stages(PLAN, url, through="discovery")
    assert run.success, [s.error for s in run.stages]
    assert warehouse_from_url(url).scalar("select count(*) from raw.plan_products") > 0
    stored = _stored_texts(home)
    assert not [t[:200] for t in stored if secret in t]
    assert any("golive-given-url:" in t for t in stored)  # the reference is what is kept
    # a reference this process did not give cannot be resolved: a clear error, no guess
    with pytest.raises(ValueError, match="launch the run again with golive"):
        WarehouseResource(url="golive-given-url:0123").get()
