"""docs/billing-rules.md's worked examples, priced end to end by the real pipeline (Dagster + dbt)
on DuckDB and PostgreSQL, to the cent; then migration and a second, idempotent run, and the dbt
unit tests on the warehouse it built."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from test_dbt_unit_tests import assert_dbt_unit_tests_pass

from connectors.warehouse import warehouse_from_url
from orchestration.runner import run_stages

PLAN = Path(__file__).parent / "fixtures" / "worked_examples" / "plan.yaml"

# contract -> (period start, docs/billing-rules.md's amount)
EXPECTED_TOTALS = {
    ("K_FLAT", "2026-09-01"): "500.00",  # flat_fee $500
    ("K_PU", "2026-09-01"): "100.00",  # per_unit: 2,000,000 requests at $0.05 per 1,000
    ("K_PK100", "2026-09-01"): "8.00",  # package of 100 at $8: q = 100
    ("K_PK101", "2026-09-01"): "16.00",  # q = 101
    ("K_PK250", "2026-09-01"): "24.00",  # q = 250
    ("K_PK0", "2026-09-01"): "0.00",  # q = 0
    ("K_T1500", "2026-09-01"): "2500.00",  # tiered (graduated) q = 1,500
    ("K_T2500", "2026-09-01"): "3750.00",  # q = 2,500
    ("K_T501", "2026-09-01"): "1001.50",  # q = 501
    ("K_V1500", "2026-09-01"): "2250.00",  # volume q = 1,500
    ("K_V500", "2026-09-01"): "1000.00",  # q = 500
    ("K_V501", "2026-09-01"): "751.50",  # q = 501
    # §3: 1,400 calls, 1,000 free, $0.05 -> 20.00, -10% -> 18.00, minimum 25 -> 25.00, tax 10%
    ("K_ORDER", "2026-09-01"): "27.50",
    # §5: $3,000/month from 10 July -> 22/31 -> 2,129.03; then full months
    ("K_PRORATE", "2026-07-01"): "2129.03",
    ("K_PRORATE", "2026-08-01"): "3000.00",
    ("K_PRORATE", "2026-09-01"): "3000.00",
}


def _invoices(url: str, schema: str = "sandbox") -> dict:
    wh = warehouse_from_url(url)
    rows = wh.query(
        f"select contract_id, cast(period_start as varchar), invoice_id, total, status "
        f"from {schema}.invoices"
    )
    return {(c, p): (i, Decimal(t), s) for c, p, i, t, s in rows}


@pytest.mark.slow  # the whole roadmap twice, then the dbt unit tests
def test_worked_examples_priced_to_the_cent_then_promoted_idempotently(warehouse_url):
    run = run_stages(PLAN, warehouse_url, approved_by="Grace Hopper")
    assert [s.stage for s in run.stages if s.success] == [
        "discovery",
        "sandbox_load",
        "metering",
        "billing",
        "parallel_test",
        "production_migration",
    ], [s.error for s in run.stages]

    invoices = _invoices(warehouse_url)
    assert {k: f"{v[1]:.2f}" for k, v in invoices.items()} == EXPECTED_TOTALS

    wh = warehouse_from_url(warehouse_url)
    # the §3 worked example, line by line
    order = dict(
        wh.query(
            "select product_id, amount from sandbox.invoice_lines "
            "where invoice_id = 'K_ORDER-20260901'"
        )
    )
    assert {k: f"{v:.2f}" for k, v in order.items()} == {"calls": "25.00"}
    tax = wh.scalar("select tax from sandbox.invoices where contract_id = 'K_ORDER'")
    assert f"{tax:.2f}" == "2.50"

    # the legacy invoices hold docs/billing-rules.md's amounts: every pair matches
    statuses = dict(
        wh.query("select status, count(*) from sandbox.reconciliation_invoices group by status")
    )
    assert statuses == {"matched": 16}
    assert all(c["passed"] for c in run.signoff)

    # journal entries balance per invoice, and AR = total
    unbalanced = wh.scalar(
        "select count(*) from (select invoice_id from sandbox.journal_entries "
        "group by invoice_id having sum(debit) <> sum(credit)) as u"
    )
    assert unbalanced == 0

    if wh.dialect == "postgres":
        # every table golive built has planner statistics, whatever the server's autovacuum
        assert (
            wh.query(
                "select relname from pg_stat_user_tables where schemaname in "
                "('raw', 'staging', 'sandbox') "
                "and last_analyze is null and last_autoanalyze is null "
                "and relname not in ('usage_batches', 'source_watermarks', 'source_files', "
                "'usage_build_state', 'signoff_checksums')"  # golive's bookkeeping
            )
            == []
        )

    # promoted, approved, audited
    promoted = _invoices(warehouse_url, "production")
    assert {k: v[1] for k, v in promoted.items()} == {k: v[1] for k, v in invoices.items()}
    assert {v[2] for v in promoted.values()} == {"approved"}
    audit = wh.query("select status, row_counts, approval from audit.migration_runs")
    assert len(audit) == 1 and audit[0][0] == "promoted"
    assert '"invoices": 16' in audit[0][1]
    assert '"approved_by": "Grace Hopper"' in audit[0][2]

    # a second run: same ids, same totals, no duplicates anywhere
    again = run_stages(PLAN, warehouse_url)
    assert again.success
    assert _invoices(warehouse_url) == invoices
    assert _invoices(warehouse_url, "production") == promoted
    assert wh.scalar("select count(*) from production.invoice_lines") == wh.scalar(
        "select count(*) from sandbox.invoice_lines"
    )
    runs = wh.query("select status, checksums from audit.migration_runs order by started_at")
    assert [r[0] for r in runs] == ["promoted", "promoted"]
    first, second = (json.loads(r[1]) for r in runs)
    first.pop("signoff"), second.pop("signoff")  # it records when it was checked
    assert first == second  # the same tables, to the checksum

    # the dbt unit tests (each pricing model's example, periods, aggregations, settlement, tax,
    # mismatch causes) on this warehouse, against its models' real column types
    assert_dbt_unit_tests_pass(warehouse_url)


@pytest.mark.parametrize(
    "through, last_table",
    [("metering", "sandbox.usage_aggregates"), ("billing", "sandbox.invoices")],
)
def test_through_stops_after_the_stage(tmp_path, through, last_table):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(PLAN, url, through=through)
    assert run.success and run.stages[-1].stage == through
    wh = warehouse_from_url(url)
    schema, table = last_table.split(".")
    assert wh.table_exists(schema, table)
    assert not wh.table_exists("sandbox", "reconciliation_invoices")
    assert not wh.table_exists("production", "invoices")
