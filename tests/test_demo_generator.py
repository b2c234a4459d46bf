"""The demo company's bundle: its files, counts, legacy invoices and planted problems."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from golive import reference as rb
from golive.demo import catalogue, generate_company, legacy
from golive.reference import invoices as invoicing
from golive.reference import metering
from golive.reference.bundle import bill_bundle, read_bundle

D = Decimal

# ---------------------------------------------------------------------------- the bundle


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, generate_company(out, events=20_000)


def test_bundle_files_and_counts(bundle):
    out, summary = bundle
    plan = yaml.safe_load((out / "plan.yaml").read_text())
    assert plan["company"] and plan["as_of"] == date(2026, 11, 1)
    assert {m["aggregation"] for m in plan["metrics"]} == set(metering.AGGREGATIONS)
    assert {p["pricing"]["model"] for p in plan["products"]} == set(rb.MODELS)
    assert any(m.get("filters") for m in plan["metrics"])
    grouped = {m["id"]: m["group_by"] for m in plan["metrics"] if m.get("group_by")}
    assert set(grouped.values()) == {"region", "unit_price"}
    matrix = next(p for p in plan["products"] if p["pricing"]["model"] == "matrix")
    assert set(matrix["pricing"]["rates"]) == set(catalogue.REGIONS)

    # 20,000 events: 100 customers; the files also carry one repeated customer row and two
    # rows of one conflicting contract
    assert summary["customers"] == 100 == len(_read(out / "data/customers.csv")) - 1
    assert summary["contracts"] == 100 == len(_read(out / "data/contracts.csv")) - 2
    lines = _read(out / "data/contract_lines.csv")
    per_contract = defaultdict(list)
    for row in lines:
        if row["product_id"]:
            per_contract[row["contract_id"]].append(row["product_id"])
    billed = {c: p for c, p in per_contract.items() if c != "K00101"}
    assert len(billed) == 100
    assert all(2 <= len(p) <= 6 and p[0] == "platform" for p in billed.values())
    for column in ("price_override", "start_date", "end_date", "prorate_commitment", "skip_zero"):
        assert any(row[column] for row in lines), column
    for row in lines:
        if row["price_override"]:
            model, pricing = invoicing.line_pricing(
                rb.ContractLine(row["product_id"], price_override=row["price_override"]),
                rb.Product(row["product_id"], "flat_fee", {"amount": 0}),
            )
            assert model in rb.MODELS and pricing

    files = sorted((out / "data/usage").glob("*.parquet"))
    assert sum(pq.read_metadata(f).num_rows for f in files) == summary["events"] == 20_000
    assert sum(summary["bad_rows"].values()) / summary["events"] < 0.001

    legacy_invoices = _read(out / "legacy/invoices.csv")
    missing = [x for x in summary["injected"] if x["kind"] == "missing_in_legacy"]
    assert len(legacy_invoices) == summary["invoices_in_window"] - len(missing)
    assert all(abs(D(v)) < 100 for v in summary["total_delta"].values())


def test_legacy_invoices_add_up_and_journals_balance(bundle):
    out, _ = bundle
    lines = defaultdict(list)
    for row in _read(out / "legacy/invoice_lines.csv"):
        lines[row["invoice_id"]].append(row)
    entries = defaultdict(list)
    for row in _read(out / "legacy/journal_entries.csv"):
        entries[row["invoice_id"]].append(row)
    for inv in _read(out / "legacy/invoices.csv"):
        items = lines[inv["invoice_id"]]
        billed = sum(D(r["amount"]) for r in items)
        prepaid = sum(D(r["amount"]) for r in items if r["product_id"] == invoicing.PREPAID_APPLIED)
        assert billed - prepaid == D(inv["subtotal"])
        assert billed + D(inv["tax"]) == D(inv["total"])
        rows = entries[inv["invoice_id"]]
        assert sum(D(r["debit"]) for r in rows) == sum(D(r["credit"]) for r in rows)
        receivable = [D(r["debit"]) for r in rows if r["account"] == invoicing.ACCOUNTS_RECEIVABLE]
        assert receivable == ([D(inv["total"])] if D(inv["total"]) else [])


def test_injected_discrepancies_are_in_the_legacy_files(bundle):
    out, summary = bundle
    injected = summary["injected"]
    assert injected and _read(out / "legacy/injected_discrepancies.csv") == injected
    assert {x["kind"] for x in injected} == {"missing_in_legacy", "quantity", "price"}

    invoices = {
        (r["contract_id"], r["period_start"]): r for r in _read(out / "legacy/invoices.csv")
    }
    lines = {(r["invoice_id"], r["product_id"]): r for r in _read(out / "legacy/invoice_lines.csv")}
    for x in injected:
        legacy = invoices.get((x["contract_id"], x["period_start"]))
        if x["kind"] == "missing_in_legacy":
            assert legacy is None
            continue
        assert legacy["period_end"] == x["period_end"]
        line = lines[(legacy["invoice_id"], x["product_id"])]
        field = "quantity" if x["kind"] == "quantity" else "amount"
        assert D(line[field]) == D(x["legacy_value"]) != D(x["true_value"])


def test_events_reconcile_with_what_was_written(bundle):
    out, summary = bundle
    read = read_bundle(out / "plan.yaml")
    events = read.counts["usage_events"]
    assert events.total_quarantined == summary["quarantine_expected"] == 6
    assert events.duplicates == summary["duplicates_expected"] == 1
    assert len(read.events) + events.total_quarantined + events.duplicates == summary["events"]
    assert events.reconciles()
    names = {e.event_name for e in read.events}
    assert names == set(catalogue.EVENT_NAMES)


def test_expected_quarantine_is_what_the_rules_make_of_the_files(bundle):
    """legacy/expected_quarantine.json, which the end-to-end tests hold the pipeline to, is
    what the reference biller's reading of the files finds, dataset by dataset."""
    out, summary = bundle
    expected = json.loads((out / "legacy/expected_quarantine.json").read_text())
    assert expected == summary["expected_quarantine"]
    read = read_bundle(out / "plan.yaml")
    for dataset, counts in read.counts.items():
        want = expected[dataset]
        got = {
            "received": counts.received,
            "accepted": counts.accepted,
            "duplicates": counts.duplicates,
            "quarantined": dict(counts.quarantined),
        }
        assert got == {k: want[k] for k in got}, dataset
        if dataset != "usage_events":
            assert [list(r) for r in counts.records] == want["records"], dataset
    assert expected["customers"]["duplicates"] == 1
    assert expected["contracts"]["quarantined"] == {"conflicting_contract_id": 2}
    assert expected["contract_lines"]["quarantined"] == {
        "unknown_contract": 1,
        "missing_product_id": 1,
    }
    assert expected["usage_events"]["quarantined"] == {
        "conflicting_event_id": 2,
        "unknown_customer": 1,
        "unparseable_timestamp": 1,
        "non_numeric_value": 1,
        "value_out_of_range": 1,
    }
    assert expected["usage_events"]["accepted"] == 20_000 - 1 - 6


@pytest.mark.parametrize("events", [100_000, 200_000])
def test_the_demo_meets_its_own_signoff_at_any_size(events, tmp_path):
    """Discrepancies are planted in proportion to the invoices compared (at least one of each
    kind), so the parallel test's match rate and total delta meet the plan's thresholds;
    quarantined events stay under max_quarantined_event_ratio."""
    summary = generate_company(tmp_path, events=events)
    plan = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    signoff = {k: D(str(v)) for k, v in plan["signoff"].items() if k != "journal_must_balance"}
    injected = summary["injected"]
    assert {x["kind"] for x in injected} == {"missing_in_legacy", "quantity", "price"}
    compared = summary["invoices_in_window"]
    unmatched = {(x["contract_id"], x["period_start"]) for x in injected}
    assert len(unmatched) == len(injected)  # one discrepancy per invoice
    assert D(compared - len(unmatched)) / compared >= signoff["min_invoice_match_rate"]
    assert max(abs(D(v)) for v in summary["total_delta"].values()) <= signoff["max_abs_total_delta"]
    ratio = D(summary["quarantine_expected"]) / summary["events"]
    assert ratio <= signoff["max_quarantined_event_ratio"]


@pytest.mark.parametrize(("compared", "per_kind"), [(40, 1), (999, 1), (1000, 1), (4061, 4)])
def test_discrepancies_per_kind_grow_with_the_invoices_compared(compared, per_kind):
    assert legacy.discrepancies_per_kind(compared) == per_kind


def test_legacy_invoices_follow_from_the_bundle(bundle):
    """Re-bill the bundle from its files alone (plan, CSVs, Parquet events) with the reference
    biller's own metering: every legacy invoice agrees to the cent except the planted ones."""
    out, summary = bundle
    window_from, window_to = catalogue.WINDOW_FROM, catalogue.WINDOW_TO
    invoices = [
        i
        for i in bill_bundle(read_bundle(out / "plan.yaml"), since=window_from)
        if window_from < i.period_end <= window_to
    ]
    assert len(invoices) == summary["invoices_in_window"]
    assert not [e for i in invoices for e in i.pricing_errors]

    legacy = {(r["contract_id"], r["period_start"]): r for r in _read(out / "legacy/invoices.csv")}
    legacy_lines = defaultdict(dict)
    for row in _read(out / "legacy/invoice_lines.csv"):
        legacy_lines[row["invoice_id"]][row["product_id"]] = row
    planted = {(x["contract_id"], x["period_start"]): x for x in summary["injected"]}
    models = set()
    for invoice in invoices:
        key = (invoice.contract_id, invoice.period_start.isoformat())
        x = planted.get(key)
        if x and x["kind"] == "missing_in_legacy":
            assert key not in legacy
            continue
        row = legacy[key]
        assert (D(row["total"]) == invoice.total) == (x is None), key
        lines = legacy_lines[row["invoice_id"]]
        assert set(lines) == {line.product_id for line in invoice.lines}
        for line in invoice.lines:
            legacy_line = lines[line.product_id]
            same = D(legacy_line["amount"]) == line.amount
            assert same == (x is None or x["product_id"] != line.product_id), (key, line)
            if line.quantity is not None:
                models.add(line.product_id)
                # the legacy system keeps at most 10 decimals (a time-weighted level has more)
                expected = line.quantity.quantize(D("1e-10"), rounding=ROUND_HALF_UP)
                wrong = (
                    x is not None and x["kind"] == "quantity" and x["product_id"] == line.product_id
                )
                assert (D(legacy_line["quantity"]) == expected) != wrong, (key, line)
    # every product shows up on some invoice of the window
    assert models == {p["id"] for p in catalogue.PRODUCTS}


def test_same_seed_same_bytes(tmp_path):
    def digest(out: Path) -> dict[str, str]:
        generate_company(out, events=3_000, seed=11)
        return {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
