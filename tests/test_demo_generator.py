"""The demo company: the reference biller on DOMAIN.md's worked examples, and the bundle."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from golive.demo import generate_company
from golive.demo import reference_biller as rb

D = Decimal
TIERS = [
    {"up_to": 500, "unit_price": "2.00"},
    {"up_to": 2000, "unit_price": "1.50"},
    {"up_to": None, "unit_price": "1.00"},
]


# ---------------------------------------------------------------------------- one line


def test_round_half_up_to_the_currency_minor_unit():
    assert rb.round_half_up(D("2.345"), "USD") == D("2.35")
    assert rb.round_half_up(D("-2.345"), "USD") == D("-2.35")
    assert rb.round_half_up(D("2.344999"), "EUR") == D("2.34")
    assert rb.round_half_up(D("1234.5"), "JPY") == D("1235")
    assert str(rb.round_half_up(D("7"), "GBP")) == "7.00"


def test_flat_fee():
    assert rb.rate_line("flat_fee", {"amount": 500}, 1) == D("500.00")
    assert rb.rate_line("flat_fee", {"amount": "150"}, 2) == D("300.00")


def test_per_unit_with_unit_size():
    pricing = {"unit_price": "0.05", "unit_size": 1000}
    assert rb.rate_line("per_unit", pricing, 2_000_000) == D("100.00")
    assert rb.rate_line("per_unit", {"unit_price": "12"}, 3) == D("36.00")


@pytest.mark.parametrize(("q", "expected"), [(100, "8"), (101, "16"), (250, "24"), (0, "0")])
def test_package(q, expected):
    pricing = {"package_size": 100, "package_price": 8}
    assert rb.rate_line("package", pricing, q) == D(expected)


@pytest.mark.parametrize(
    ("q", "expected"), [(1500, "2500.00"), (2500, "3750.00"), (501, "1001.50"), (0, "0")]
)
def test_tiered_is_graduated(q, expected):
    assert rb.rate_line("tiered", {"tiers": TIERS}, q) == D(expected)


@pytest.mark.parametrize(
    ("q", "expected"), [(1500, "2250.00"), (500, "1000.00"), (501, "751.50"), ("500.5", "750.75")]
)
def test_volume_prices_all_units_at_the_bracket_that_holds_q(q, expected):
    assert rb.rate_line("volume", {"tiers": TIERS}, q) == D(expected)


@pytest.mark.parametrize(
    "tiers",
    [
        [
            {"up_to": 500, "unit_price": 1},
            {"up_to": 500, "unit_price": 1},
            {"up_to": None, "unit_price": 1},
        ],
        [{"up_to": 500, "unit_price": 1}, {"up_to": 2000, "unit_price": 1}],
    ],
)
def test_bad_tier_tables_name_the_product(tiers):
    with pytest.raises(ValueError, match="product api"):
        rb.rate_line("tiered", {"tiers": tiers}, 10, product_id="api")


def test_line_features_apply_in_order():
    # DOMAIN.md §3: 400 billable x 0.05 = 20.00, -10 % = 18.00, minimum 25 -> 25.00.
    amount = rb.rate_line(
        "per_unit",
        {"unit_price": "0.05"},
        1400,
        free_units=D(1000),
        discount_percent=D(10),
        minimum_commitment=D(25),
    )
    assert amount == D("25.00")
    # The fixed discount never takes a line below zero; skip_zero waives the minimum.
    assert rb.rate_line("per_unit", {"unit_price": 1}, 3, discount_amount=D(5)) == D("0.00")
    assert rb.rate_line(
        "per_unit", {"unit_price": 1}, 0, minimum_commitment=D(25), skip_zero=True
    ) == D("0.00")


# ---------------------------------------------------------------------------- periods


def test_month_end_anchor_is_clamped_from_the_anchor():
    found = rb.periods(date(2026, 1, 31), None, None, "P1M", as_of=date(2026, 5, 1))
    assert [(p.start, p.end) for p in found] == [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2026, 2, 28), date(2026, 3, 31)),
        (date(2026, 3, 31), date(2026, 4, 30)),
    ]


def test_first_period_is_the_one_holding_the_start_date():
    found = rb.periods(
        date(2025, 5, 14), date(2025, 7, 10), date(2026, 1, 31), "P1M", as_of=date(2026, 1, 1)
    )
    assert [(p.start, p.end, p.active_days) for p in found] == [
        (date(2025, 4, 30), date(2025, 5, 31), 17),
        (date(2025, 5, 31), date(2025, 6, 30), 30),
        (date(2025, 6, 30), date(2025, 7, 31), 11),
    ]


# ---------------------------------------------------------------------------- invoices

PLATFORM = rb.Product("platform", "flat_fee", {"amount": 3000})
CALLS = rb.Product("calls", "per_unit", {"unit_price": "0.05"}, metric="api_calls")


def _balanced(invoice: rb.Invoice) -> bool:
    return sum(e.debit for e in invoice.journal) == sum(e.credit for e in invoice.journal)


def test_worked_example_of_domain_section_3():
    contract = rb.Contract("K1", "C1", "USD", date(2026, 7, 1), tax_rate_percent=D(10))
    line = rb.ContractLine(
        "calls", free_units=D(1000), discount_percent=D(10), minimum_commitment=D(25)
    )
    usage = {(date(2026, 7, 1), "api_calls"): D(1400)}
    (invoice,) = rb.bill_contract(contract, [line], {"calls": CALLS}, usage, as_of=date(2026, 8, 1))
    assert invoice.lines[0].amount == D("25.00")
    assert invoice.lines[0].billable_quantity == D(400)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D("25.00"), D("2.50"), D("27.50"))
    assert _balanced(invoice)


def test_flat_fee_is_prorated_in_a_partial_first_period():
    contract = rb.Contract(
        "K1", "C1", "USD", date(2026, 7, 10), billing_anchor_date=date(2026, 7, 1)
    )
    invoices = rb.bill_contract(
        contract, [rb.ContractLine("platform")], {"platform": PLATFORM}, {}, as_of=date(2026, 9, 1)
    )
    assert [i.total for i in invoices] == [D("2129.03"), D("3000.00")]
    assert invoices[0].journal[1].account == rb.DEFERRED_REVENUE


def test_prepaid_credit_carries_over_between_periods():
    contract = rb.Contract(
        "K1", "C1", "USD", date(2026, 1, 1), prepaid_credit=D(1000), tax_rate_percent=D(10)
    )
    invoices = rb.bill_contract(
        contract,
        [rb.ContractLine("platform")],
        {"platform": rb.Product("platform", "flat_fee", {"amount": 400})},
        {},
        as_of=date(2026, 5, 1),
    )
    assert [i.credits_applied for i in invoices] == [D(400), D(400), D(200), D(0)]
    assert [i.total for i in invoices] == [D("0.00"), D("0.00"), D("220.00"), D("440.00")]
    assert [line.amount for line in invoices[2].lines] == [D("400.00"), D("-200.00")]
    assert all(_balanced(i) for i in invoices)
    # Asking only for the last periods still draws the balance down from the first one.
    later = rb.bill_contract(
        contract,
        [rb.ContractLine("platform")],
        {"platform": rb.Product("platform", "flat_fee", {"amount": 400})},
        {},
        as_of=date(2026, 5, 1),
        since=date(2026, 3, 1),
    )
    assert [i.total for i in later] == [D("220.00"), D("440.00")]


def test_contract_discount_and_minimum_true_up_are_their_own_lines():
    contract = rb.Contract(
        "K1", "C1", "USD", date(2026, 1, 1), discount_percent=D("12.5"), minimum_commitment=D(3000)
    )
    (invoice,) = rb.bill_contract(
        contract, [rb.ContractLine("platform")], {"platform": PLATFORM}, {}, as_of=date(2026, 2, 1)
    )
    assert [(line.product_id, line.amount) for line in invoice.lines] == [
        ("platform", D("3000.00")),
        (rb.CONTRACT_DISCOUNT, D("-375.00")),
        (rb.MINIMUM_TRUE_UP, D("375.00")),
    ]
    assert invoice.total == D("3000.00")
    assert _balanced(invoice)


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
    assert {m["aggregation"] for m in plan["metrics"]} == {
        "count",
        "max",
        "sum",
        "count_distinct",
        "latest",
        "avg",
        "min",
    }
    assert {p["pricing"]["model"] for p in plan["products"]} == {
        "flat_fee",
        "per_unit",
        "tiered",
        "volume",
        "package",
    }

    assert summary["customers"] == 50 == len(_read(out / "data/customers.csv"))
    assert summary["contracts"] == 50 == len(_read(out / "data/contracts.csv"))
    lines = _read(out / "data/contract_lines.csv")
    per_contract = defaultdict(list)
    for row in lines:
        per_contract[row["contract_id"]].append(row["product_id"])
    assert all(2 <= len(p) <= 6 and p[0] == "platform" for p in per_contract.values())

    files = sorted((out / "data/usage").glob("*.parquet"))
    assert sum(pq.read_metadata(f).num_rows for f in files) == summary["events"] == 20_000
    assert sum(summary["bad_rows"].values()) / summary["events"] < 0.001

    invoices = _read(out / "legacy/invoices.csv")
    missing = [x for x in summary["injected"] if x["kind"] == "missing_in_legacy"]
    assert len(invoices) == summary["invoices_in_window"] - len(missing)
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
        prepaid = sum(D(r["amount"]) for r in items if r["product_id"] == rb.PREPAID_APPLIED)
        assert billed - prepaid == D(inv["subtotal"])
        assert billed + D(inv["tax"]) == D(inv["total"])
        rows = entries[inv["invoice_id"]]
        assert sum(D(r["debit"]) for r in rows) == sum(D(r["credit"]) for r in rows)
        receivable = [D(r["debit"]) for r in rows if r["account"] == rb.ACCOUNTS_RECEIVABLE]
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


def _parse_events(out: Path):
    """Read the usage files with the README's billing decisions, independently of the generator."""
    numeric = {
        "api_call": "ms",
        "storage": "gb",
        "compute": "seconds",
        "message": "count",
        "device_report": "pct",
    }
    customers = {r["customer_id"] for r in _read(out / "data/customers.csv")}
    rows = []
    for f in sorted((out / "data/usage").glob("*.parquet")):
        rows += pq.read_table(f).to_pylist()
    payloads = defaultdict(set)
    for r in rows:
        payloads[r["event_id"]].add(
            (r["customer_id"], r["event_name"], r["timestamp"], r["properties"])
        )
    clean, quarantined = {}, 0
    for r in rows:
        props = json.loads(r["properties"], parse_float=D)
        try:
            ts = datetime.fromisoformat(r["timestamp"]).astimezone(UTC)
            prop = numeric.get(r["event_name"])
            if prop:
                D(str(props[prop]))
        except (ValueError, KeyError, InvalidOperation):
            quarantined += 1
            continue
        if r["customer_id"] not in customers or len(payloads[r["event_id"]]) > 1:
            quarantined += 1
            continue
        clean[r["event_id"]] = (r["customer_id"], r["event_name"], ts, props)
    return clean, quarantined, len(rows) - quarantined - len(clean)


def test_legacy_quantities_follow_from_the_events(bundle):
    out, summary = bundle
    clean, quarantined, duplicates = _parse_events(out)
    assert quarantined == summary["quarantine_expected"]
    assert duplicates == summary["duplicates_expected"]

    def day(value: str) -> date | None:
        return date.fromisoformat(value) if value else None

    def midnight(d: date) -> datetime:
        return datetime.combine(d, datetime.min.time(), UTC)

    contracts = {r["customer_id"]: r for r in _read(out / "data/contracts.csv")}
    periods = {
        c["customer_id"]: [
            (midnight(p.start), midnight(p.end), p.start.isoformat())
            for p in rb.periods(
                day(c["start_date"]),
                day(c["end_date"]),
                day(c["billing_anchor_date"]),
                c["billing_period"],
                date(2026, 11, 1),
            )
        ]
        for c in contracts.values()
    }
    values = defaultdict(list)  # (contract, period start, event name) -> [(ts, id, props)]
    for event_id, (customer, name, ts, props) in clean.items():
        c = contracts[customer]
        if ts.date() < day(c["start_date"]) or (c["end_date"] and ts.date() > day(c["end_date"])):
            continue
        for start, end, key in periods[customer]:
            if start <= ts < end:
                values[(c["contract_id"], key, name)].append((ts, event_id, props))

    def metric(key, product):
        ev = values.get(key, [])
        match product:
            case "api":
                return D(len(ev))
            case "storage":
                return max((D(str(e[2]["gb"])) for e in ev), default=D(0))
            case "compute":
                return sum((D(str(e[2]["seconds"])) for e in ev), D(0))
            case "seats":
                return D(len({e[2]["user_id"] for e in ev}))
            case "messaging":
                return sum((D(e[2]["count"]) for e in ev), D(0))
            case "devices":
                return D(max(ev, key=lambda e: (e[0], e[1]))[2]["devices"]) if ev else D(0)

    event_of = {
        "api": "api_call",
        "storage": "storage",
        "compute": "compute",
        "seats": "login",
        "messaging": "message",
        "devices": "device_report",
    }
    wrong = {
        (x["contract_id"], x["period_start"], x["product_id"])
        for x in summary["injected"]
        if x["kind"] == "quantity"
    }
    invoices = {r["invoice_id"]: r for r in _read(out / "legacy/invoices.csv")}
    checked = 0
    for line in _read(out / "legacy/invoice_lines.csv"):
        if line["product_id"] not in event_of:
            continue
        inv = invoices[line["invoice_id"]]
        key = (inv["contract_id"], inv["period_start"], line["product_id"])
        expected = metric((key[0], key[1], event_of[key[2]]), key[2])
        assert (D(line["quantity"]) != expected) == (key in wrong), key
        checked += 1
    assert checked > 50


def test_same_seed_same_bytes(tmp_path):
    def digest(out: Path) -> dict[str, str]:
        generate_company(out, events=3_000, seed=11)
        return {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
