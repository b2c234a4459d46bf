"""The Dagster code location: a snapshot of the asset graph (keys and groups), jobs, schedules
and sensors, so that a rename is a decision, not an accident; and the nightly job runs."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from golive.migration import PRODUCTION_TABLES
from orchestration.definitions import build_definitions

defs = build_definitions()

EXPECTED_GROUPS = {
    "discovery": {
        "raw/currencies",
        "raw/plan_metric_filters",
        "raw/plan_metrics",
        "raw/plan_tax_codes",
        "raw/plan_coupons",
        "raw/plan_coupon_products",
        "raw/plan_price_tiers",
        "raw/plan_products",
        "raw/plan_settings",
    },
    "sandbox_load": {
        "raw/customers",
        "raw/contracts",
        "raw/contract_lines",
        "raw/usage_events",
        "raw/legacy_invoices",
        "raw/legacy_invoice_lines",
        "raw/legacy_journal_entries",
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
        "staging/stg_legacy_invoices",
        "staging/stg_legacy_invoice_lines",
        "staging/stg_legacy_journal_entries",
        "quarantine/usage_events",
        "quarantine/records",
        "sandbox/record_counts",
        "sandbox/usage_events",
        "sandbox/usage_event_counts",
    },
    "metering": {
        "staging/int_contract_periods",
        "staging/int_usage_affected_days",
        "staging/int_usage_daily",
        "staging/int_usage_daily_distinct",
        "staging/int_usage_affected_periods",
        "staging/int_usage_contracts_applied",
        "sandbox/usage_aggregates",
        "sandbox/usage_unbilled",
    },
    "billing": {
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
    },
    "parallel_test": {
        "staging/int_parallel_test_invoices",
        "sandbox/reconciliation_invoices",
        "sandbox/reconciliation_lines",
        "sandbox/reconciliation_journal",
        "sandbox/parallel_test_summary",
        "sandbox/signoff",
    },
    "production_migration": {
        "audit/migration_runs",
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


def test_nightly_job_refreshes_usage_aggregates(tmp_path):
    """The nightly job re-ingests usage and refreshes usage_aggregates, nothing downstream."""
    from orchestration.runner import run_stages

    plan = Path(__file__).parent / "fixtures" / "worked_examples" / "plan.yaml"
    url = f"duckdb:///{tmp_path}/w.duckdb"
    assert run_stages(plan, url, through="billing").success
    local = build_definitions(plan_path=str(plan), warehouse_url=url)
    job = local.resolve_job_def("nightly_usage_refresh")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "raw/usage_events" in selected and "sandbox/usage_aggregates" in selected
    assert "sandbox/invoices" not in selected and "raw/customers" not in selected
    day = job.partitions_def.get_last_partition_key()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=day)
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw/usage_events", "sandbox/usage_aggregates", "sandbox/usage_event_counts"} <= done
