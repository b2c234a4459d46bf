"""Go-live: production holds what the roadmap migrates, promoted in one transaction only with a
passed sign-off and a named approval of this very sandbox; every attempt is audited; a crash
in the middle leaves production as it was; after go-live the nightly run keeps production's
usage current and touches nothing else (on DuckDB and PostgreSQL)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from connectors.warehouse import warehouse_from_url
from golive.migration import (
    PRODUCTION_TABLES,
    MigrationHeld,
    approve,
    checksum_sql,
    sandbox_checksums,
)
from orchestration.runner import run_stages, run_usage

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"

pytestmark = pytest.mark.slow


def _company(tmp_path: Path, import_history: bool = False, incremental: bool = False) -> Path:
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    plan = root / "plan.yaml"
    text = plan.read_text()
    if import_history:
        text += "migration:\n  import_history: true\n"
    if incremental:
        text = text.replace(
            'usage_events:   {connector: csv, path: "data/usage_*.csv"}',
            'usage_events:   {connector: csv, path: "data/usage_*.csv", incremental_column: seq}',
        )
        _add_sequence(root / "data" / "usage_2026_09.csv", start=1)
    plan.write_text(text)
    return plan


def _add_sequence(path: Path, start: int) -> None:
    rows = list(csv.DictReader(path.open()))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["seq", *rows[0]])
        w.writeheader()
        for n, row in enumerate(rows, start=start):
            w.writerow({"seq": n, **row})


def _production_checksums(url: str) -> dict[str, str]:
    wh = warehouse_from_url(url)
    out = {}
    for table in PRODUCTION_TABLES:
        if wh.table_exists("production", table):
            out[table] = wh.scalar(
                checksum_sql(f"production.{table}", wh.columns("production", table))
            )
    return out


def test_promotion_needs_a_passed_signoff_and_an_approval_of_this_sandbox(warehouse_url, tmp_path):
    plan = _company(tmp_path, import_history=True)
    wh = warehouse_from_url(warehouse_url)

    # the sign-off passes, but nobody approved: held, audited, nothing promoted
    run = run_stages(plan, warehouse_url)
    assert run.held == "approval" and not run.success
    assert "waits for a named approval" in run.stages[-1].error
    assert not wh.table_exists("production", "invoices")
    assert wh.query("select status from audit.migration_runs") == [("held",)]

    # approved in a name: promoted, with the configuration, the history and the deployment
    approval = approve(wh, "Ada Lovelace", note="parallel test of September reviewed")
    assert approval.checksums == sandbox_checksums(wh)
    run = run_stages(plan, warehouse_url)
    assert run.success, [s.error for s in run.stages]
    counts = {
        "customers": "select count(*) from staging.stg_customers where status = 'accepted'",
        "contracts": "select count(*) from staging.stg_contracts where status = 'accepted'",
        "contract_lines": "select count(*) from staging.stg_contract_lines "
        "where status = 'accepted'",
        "price_book": "select count(*) from staging.stg_price_book",
        "metrics": "select count(*) from raw.plan_metrics",
        "usage_aggregates": "select count(*) from sandbox.usage_aggregates",
        "invoices": "select count(*) from sandbox.invoices",
        "journal_entries": "select count(*) from sandbox.journal_entries",
        "legacy_invoices": "select count(*) from raw.legacy_invoices",
    }
    for table, query in counts.items():
        assert wh.scalar(f"select count(*) from production.{table}") == wh.scalar(query), table
    assert wh.scalar("select count(*) from production.invoices where status <> 'approved'") == 0
    assert wh.query("select distinct source from production.legacy_invoices") == [("legacy",)]
    deployment = wh.query(
        "select company, approved_by, history_imported, migration_run_id from production.deployment"
    )
    assert deployment[0][:3] == ("Worked Examples Ltd", "Ada Lovelace", True)
    status, row_counts, checksums, recorded = wh.query(
        "select status, row_counts, checksums, approval from audit.migration_runs "
        "where status = 'promoted'"
    )[0]
    assert json.loads(recorded)["approved_by"] == "Ada Lovelace"
    assert json.loads(row_counts)["invoices"] == 16
    # the audit row names exactly what production holds, table by table
    assert json.loads(checksums) == _production_checksums(warehouse_url)
    assert deployment[0][3] == wh.scalar(
        "select run_id from audit.migration_runs where status = 'promoted'"
    )

    # the sandbox changes (one more call for K_ORDER): the approval does not carry over
    before = _production_checksums(warehouse_url)
    with (plan.parent / "data" / "usage_2026_09.csv").open("a", newline="") as f:
        csv.writer(f).writerow(["e-extra", "C13", "call", "2026-09-20T10:00:00Z", ""])
    run = run_stages(plan, warehouse_url)
    assert run.held == "approval"
    assert "the sandbox changed since Ada Lovelace approved it" in run.stages[-1].error
    assert _production_checksums(warehouse_url) == before
    assert [r[0] for r in wh.query("select status from audit.migration_runs order by 1")] == [
        "held",
        "held",
        "promoted",
    ]


def test_a_failed_signoff_is_held_and_cannot_be_approved(tmp_path):
    plan = _company(tmp_path)
    path = plan.parent / "legacy" / "invoices.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0]["total"] = f"{float(rows[0]['total']) + 5:.2f}"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, approved_by="Ada Lovelace")
    assert run.held == "signoff"
    assert "sign-off held the migration back: max_abs_total_delta" in run.stages[-1].error
    wh = warehouse_from_url(url)
    assert wh.query("select status from audit.migration_runs") == [("held",)]
    with pytest.raises(MigrationHeld, match="sign-off held the migration back"):
        approve(wh, "Ada Lovelace")


def test_a_signoff_describes_one_sandbox_and_approves_no_other(tmp_path):
    """A sign-off is checked on one sandbox: after a nightly run's new usage, or billing run
    again on an edited price without the parallel test, approval and migration are refused
    until the parallel test has checked the sandbox as it is."""
    from golive.migration import migrate, signoff_basis
    from golive.plan import load_plan

    plan = _company(tmp_path, incremental=True)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    wh = warehouse_from_url(url)
    assert run_stages(plan, url, through="parallel_test").success
    assert signoff_basis(wh) == sandbox_checksums(wh)

    # a night's usage for October (outside the parallel test's window): the sandbox's
    # aggregates are new, the sign-off's numbers are not about them
    night = plan.parent / "data" / "usage_2026_10.csv"
    with night.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "event_id", "customer_id", "event_name", "timestamp", "n"])
        w.writerow([5000, "oct-1", "C13", "call", "2026-10-21T10:00:00Z", ""])
    assert run_usage(plan, url, first_day="2026-10-21").success
    with pytest.raises(MigrationHeld, match=r"changed since its sign-off was checked") as held:
        approve(wh, "Ada Lovelace")
    assert held.value.kind == "signoff" and "usage_aggregates" in str(held.value)
    with pytest.raises(MigrationHeld, match="run the parallel test again"):
        migrate(wh, load_plan(plan))
    assert not wh.table_exists("production", "invoices")
    assert wh.query("select status from audit.migration_runs") == [("held",)]

    # checked again: the sign-off describes the sandbox as it is, and it can be approved
    assert run_stages(plan, url, through="parallel_test").success
    assert approve(wh, "Ada Lovelace").checksums == signoff_basis(wh)

    # a price edited and billing run again, the parallel test not: refused, naming invoices
    plan.write_text(
        plan.read_text().replace("{model: flat_fee, amount: 500}", "{model: flat_fee, amount: 900}")
    )
    billed = run_stages(plan, url, through="billing")
    assert billed.success
    with pytest.raises(MigrationHeld, match=r"changed since its sign-off was checked \(.*invoices"):
        approve(wh, "Ada Lovelace")
    # and the run's report does not present the old sign-off as this sandbox's
    from golive.report import write_report

    report = write_report(billed, tmp_path / "report.md").read_text()
    verdict = next(p for p in report.split("\n\n") if p.startswith("**"))
    assert verdict.startswith("**The sign-off describes an earlier sandbox**")
    assert "invoices" in verdict and "passed" not in verdict


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from connectors import warehouse as w
    from golive.migration import migrate
    from golive.plan import load_plan

    for cls in (w.DuckDBWarehouse, w.PostgresWarehouse):
        def run_in(self, con, sql, params=None, _original=cls.run_in):
            if sql.startswith('create table production."invoice_lines"'):
                os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the promotion
            return _original(self, con, sql, params)
        cls.run_in = run_in
    migrate(w.warehouse_from_url(sys.argv[1]), load_plan(sys.argv[2]), approved_by="Ada")
    """
)


def test_a_crash_in_the_middle_of_the_promotion_leaves_production_as_it_was(
    warehouse_url, tmp_path
):
    plan = _company(tmp_path)
    assert run_stages(plan, warehouse_url, approved_by="Ada Lovelace").success
    before = _production_checksums(warehouse_url)
    # the sandbox changes, and its promotion is killed after production.invoices was rebuilt
    with (plan.parent / "data" / "usage_2026_09.csv").open("a", newline="") as f:
        csv.writer(f).writerow(["e-extra", "C13", "call", "2026-09-20T10:00:00Z", ""])
    assert run_stages(plan, warehouse_url, through="parallel_test").success
    killed = subprocess.run(
        [sys.executable, "-c", CRASH, warehouse_url, str(plan)],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert _production_checksums(warehouse_url) == before
    # the next run promotes the new sandbox as a whole
    assert run_stages(plan, warehouse_url, approved_by="Ada Lovelace").success
    wh = warehouse_from_url(warehouse_url)
    assert wh.scalar("select total from production.invoices where contract_id = 'K_ORDER'") == (
        wh.scalar("select total from sandbox.invoices where contract_id = 'K_ORDER'")
    )
    assert _production_checksums(warehouse_url) != before


def test_after_go_live_a_period_whose_events_left_the_source_leaves_production(tmp_path):
    """A source read whole each night (no incremental column) drops a customer's only event:
    the rebuilt sandbox has no such period, and production follows it, row for row."""
    plan = _company(tmp_path)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    assert run_stages(plan, url, approved_by="Ada Lovelace").success
    wh = warehouse_from_url(url)
    assert wh.scalar("select count(*) from production.usage_aggregates where customer_id = 'C03'")
    data = plan.parent / "data" / "usage_2026_09.csv"
    lines = data.read_text().splitlines()
    data.write_text("\n".join(line for line in lines if not line.startswith("e2,")) + "\n")
    outcome = run_usage(plan, url)
    assert outcome.success, outcome.error
    assert sorted(wh.query("select * from production.usage_aggregates")) == sorted(
        wh.query("select * from sandbox.usage_aggregates")
    )
    assert not wh.scalar(
        "select count(*) from production.usage_aggregates where customer_id = 'C03'"
    )


def test_a_sandbox_changed_during_the_promotion_is_not_promoted(
    warehouse_url, tmp_path, monkeypatch
):
    """Another writer changes an approved table after the approval was checked and before
    the copy: the copies' checksums are not the approved ones, so nothing is promoted."""
    import golive.migration as migration
    from golive.plan import load_plan

    plan = _company(tmp_path)
    assert run_stages(plan, warehouse_url, approved_by="Ada Lovelace").success
    before = _production_checksums(warehouse_url)
    wh = warehouse_from_url(warehouse_url)
    checked = migration._approval_for

    def then_another_writer(warehouse, current):
        approval = checked(warehouse, current)
        warehouse.execute(
            "update sandbox.invoices set total = total + 1 where contract_id = 'K_ORDER'"
        )
        return approval

    monkeypatch.setattr(migration, "_approval_for", then_another_writer)
    with pytest.raises(
        migration.PromotionChanged, match=r"changed while it was promoted \(invoices\)"
    ):
        migration.migrate(wh, load_plan(plan), approved_by="Ada Lovelace")
    assert _production_checksums(warehouse_url) == before
    status, reason, error = wh.query(
        "select status, reason, error from audit.migration_runs order by started_at desc limit 1"
    )[0]
    assert (status, reason) == ("failed", "the promotion failed and was rolled back")
    assert "production is as it was" in error


def test_after_go_live_the_nightly_run_updates_production_usage_and_nothing_else(
    warehouse_url, tmp_path
):
    plan = _company(tmp_path, incremental=True)
    assert run_stages(plan, warehouse_url, approved_by="Ada Lovelace").success
    before = _production_checksums(warehouse_url)
    # a new night's file: more calls for K_ORDER in September (a closed period)
    night = plan.parent / "data" / "usage_2026_10.csv"
    with night.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "event_id", "customer_id", "event_name", "timestamp", "n"])
        for i in range(3):
            w.writerow([5000 + i, f"late-{i}", "C13", "call", "2026-09-21T10:00:00Z", ""])
    outcome = run_usage(plan, warehouse_url)
    assert outcome.success, outcome.error
    assert outcome.metadata["production/usage_aggregates"]["rows_refreshed"] > 0
    wh = warehouse_from_url(warehouse_url)
    production = sorted(wh.query("select * from production.usage_aggregates"))
    assert production == sorted(wh.query("select * from sandbox.usage_aggregates"))
    after = _production_checksums(warehouse_url)
    assert after["usage_aggregates"] != before["usage_aggregates"]
    assert {t: c for t, c in after.items() if t != "usage_aggregates"} == {
        t: c for t, c in before.items() if t != "usage_aggregates"
    }
