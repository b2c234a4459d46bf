"""The demo company end to end on DuckDB and PostgreSQL: every stage materializes, the parallel
test finds exactly the discrepancies planted in the legacy invoices, and a re-run is
idempotent."""

from __future__ import annotations

import pytest
import yaml

from connectors.warehouse import warehouse_from_url
from golive.demo import generate_company
from orchestration.runner import run_stages
from orchestration.stages import STAGES


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """A small generated company; sign-off thresholds relaxed for its few invoices (the
    planted discrepancies are a large share of a small window)."""
    out = tmp_path_factory.mktemp("company")
    summary = generate_company(out, events=20_000, seed=11)
    plan_path = out / "plan.yaml"
    plan = yaml.safe_load(plan_path.read_text())
    plan["signoff"].update({"min_invoice_match_rate": "0.5", "max_abs_total_delta": "10000"})
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return summary


def _found(url: str) -> tuple[set, set]:
    wh = warehouse_from_url(url)
    invoices = {
        (status, customer, str(start))
        for status, customer, start in wh.query(
            "select status, customer_id, period_start from sandbox.reconciliation_invoices "
            "where status <> 'matched'"
        )
    }
    lines = {
        (cause, customer, str(start), product)
        for cause, customer, start, product in wh.query(
            "select cause, customer_id, period_start, product_id "
            "from sandbox.reconciliation_lines where status = 'amount_mismatch'"
        )
    }
    return invoices, lines


def test_demo_company_end_to_end(company, warehouse_url):
    run = run_stages(company["plan"], warehouse_url, approved_by="Demo Lead")
    assert [s.stage for s in run.stages] == list(STAGES), [s.error for s in run.stages]
    assert run.success

    wh = warehouse_from_url(warehouse_url)
    # counts reconcile with what the generator wrote
    counts = dict(
        wh.query("select status, count(*) from staging.int_usage_events_classified group by 1")
    )
    assert sum(counts.values()) == company["events"]
    assert counts["quarantined"] == company["quarantine_expected"]
    assert counts["duplicate"] == company["duplicates_expected"]
    reasons = dict(wh.query("select reason, count(*) from quarantine.usage_events group by 1"))
    for reason, kind in (
        ("unknown_customer", "unknown_customer"),
        ("unparseable_timestamp", "unparseable_timestamp"),
        ("non_numeric_value", "non_numeric_property"),
    ):
        assert reasons.get(reason) == company["bad_rows"][kind], reason
    assert reasons["conflicting_event_id"] == 2 * company["bad_rows"]["conflicting_event_id"]

    # the parallel test finds every planted discrepancy, and nothing else
    injected = company["injected"]
    assert {i["kind"] for i in injected} == {"missing_in_legacy", "quantity", "price"}
    expected_invoices = {
        (
            "missing_in_legacy" if i["kind"] == "missing_in_legacy" else "amount_mismatch",
            i["customer_id"],
            str(i["period_start"]),
        )
        for i in injected
    }
    expected_lines = {
        (i["kind"], i["customer_id"], str(i["period_start"]), i["product_id"])
        for i in injected
        if i["kind"] != "missing_in_legacy"
    }
    invoices, lines = _found(warehouse_url)
    assert invoices == expected_invoices
    assert lines == expected_lines

    # promoted: every sandbox invoice, approved, with its audit row
    assert wh.scalar("select count(*) from production.invoices") == wh.scalar(
        "select count(*) from sandbox.invoices"
    )
    assert wh.scalar("select count(*) from production.invoices where status <> 'approved'") == 0
    assert wh.scalar("select count(*) from audit.migration_runs where status = 'promoted'") == 1

    # a second run is idempotent: same ids, same totals, no duplicates
    before = sorted(wh.query("select invoice_id, total from production.invoices"))
    # the same sandbox again: the recorded approval still covers it
    assert run_stages(company["plan"], warehouse_url).success
    after = sorted(wh.query("select invoice_id, total from production.invoices"))
    assert after == before
    assert len({i for i, _ in after}) == len(after)
    assert _found(warehouse_url) == (invoices, lines)
