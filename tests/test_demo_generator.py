"""The demo company: the reference biller on DOMAIN.md's worked examples, and the bundle."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from golive.demo import generate_company, generator
from golive.reference import biller as rb
from golive.reference.bundle import bill_bundle, read_bundle

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


FLAT_FEE_TIERS = [
    {"up_to": 100, "unit_price": "0.01", "flat_fee": 50},
    {"up_to": 500, "unit_price": "0.08", "flat_fee": 100},
    {"up_to": 1000, "unit_price": "0.06", "flat_fee": 250},
    {"up_to": None, "unit_price": "0.05", "flat_fee": 400},
]
STEPS = [
    {"up_to": 500, "flat_fee": 100},
    {"up_to": 2000, "flat_fee": 300},
    {"up_to": None, "flat_fee": 600},
]
EU_WEST = [
    {"up_to": 500, "unit_price": "0.12"},
    {"up_to": 2000, "unit_price": "0.10"},
    {"up_to": None, "unit_price": "0.07"},
]
BANDS = [
    {
        "up_to": 100,
        "tiers": [
            {"up_to": 50000, "unit_price": "0.01"},
            {"up_to": 100000, "unit_price": "0.005"},
            {"up_to": None, "unit_price": "0.002"},
        ],
    },
    {
        "up_to": None,
        "tiers": [{"up_to": 1000, "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.04"}],
    },
]


def test_percent_of_a_money_value():
    assert rb.rate_line("percent", {"rate_percent": 5}, 1500) == D("75.00")
    assert rb.rate_line("percent", {"rate_percent": "2.9"}, "1234.56") == D("35.80")
    assert rb.rate_line("percent", {"rate_percent": 5}, 1500, free_units=D(500)) == D("50.00")


@pytest.mark.parametrize(
    ("q", "expected"),
    [(750, "448.00"), (0, "0.00"), (100, "51.00"), ("100.5", "151.04"), (1001, "863.05")],
)
def test_tiered_flat_fee_adds_the_fee_of_every_tier_reached(q, expected):
    # 750: 100 x 0.01 + 50, 400 x 0.08 + 100, 250 x 0.06 + 250 = 51 + 132 + 265.
    assert rb.rate_line("tiered_flat_fee", {"tiers": FLAT_FEE_TIERS}, q) == D(expected)


@pytest.mark.parametrize(
    ("q", "expected"), [(1500, "220.00"), (0, "50.00"), (500, "55.00"), (501, "140.08")]
)
def test_volume_flat_fee_takes_only_the_bracket_that_holds_q(q, expected):
    tiers = [
        {"up_to": 500, "unit_price": "0.01", "flat_fee": 50},
        {"up_to": 2000, "unit_price": "0.08", "flat_fee": 100},
        {"up_to": None, "unit_price": "0.06", "flat_fee": 250},
    ]
    assert rb.rate_line("volume_flat_fee", {"tiers": tiers}, q) == D(expected)
    assert rb.rate_line("volume_flat_fee", {"tiers": tiers, "skip_zero": True}, 0) == D("0.00")


@pytest.mark.parametrize(
    ("q", "expected"), [(1500, "300.00"), (0, "100.00"), (500, "100.00"), ("500.01", "300.00")]
)
def test_step_charges_the_fee_of_the_bracket_that_holds_q(q, expected):
    assert rb.rate_line("step", {"tiers": STEPS}, q) == D(expected)


def test_skip_zero_on_the_line_or_the_pricing_waives_a_step_fee():
    assert rb.rate_line("step", {"tiers": STEPS}, 0, skip_zero=True) == D("0.00")
    assert rb.rate_line("step", {"tiers": STEPS, "skip_zero": True}, 0) == D("0.00")
    assert rb.rate_line("step", {"tiers": STEPS, "skip_zero": True}, 1) == D("100.00")


def test_matrix_prices_each_group_volume_style():
    pricing = {"rates": {"eu-west": EU_WEST, "us-east": [{"up_to": None, "unit_price": "0.09"}]}}
    assert rb.rate_line("matrix", pricing, {"eu-west": D(1500)}) == D("150.00")
    assert rb.rate_line("matrix", pricing, {"eu-west": D(1500), "us-east": D(100)}) == D("159.00")
    assert rb.rate_line("matrix", pricing, {}) == D("0.00")
    # Free units come off the groups in ascending group-value order: eu-west first.
    assert rb.rate_line(
        "matrix", pricing, {"eu-west": D(600), "us-east": D(100)}, free_units=D(200)
    ) == D("57.00")
    assert rb.rate_line(
        "matrix", pricing, {"eu-west": D(600), "us-east": D(100)}, free_units=D(650)
    ) == D("4.50")


def test_a_matrix_group_without_a_rate_is_a_pricing_error_not_a_zero():
    pricing = {"rates": {"eu-west": EU_WEST}}
    rated = rb.price_line(
        "matrix", pricing, {"eu-west": D(1500), "mars": D(3)}, product_id="egress"
    )
    assert rated.amount == D("150.00") and rated.quantity == D(1503)
    assert rated.errors == (rb.PricingError("egress", "mars", D(3), rb.NO_RATE_FOR_GROUP),)
    with pytest.raises(ValueError, match="mars"):
        rb.rate_line("matrix", pricing, {"mars": D(0)})


def test_two_dim_tiered_is_graduated_per_band():
    pricing = {"bands": BANDS}
    # 60,000 units priced at most 100: 50,000 x 0.01 + 10,000 x 0.005 = 550.00.
    assert rb.rate_line("two_dim_tiered", pricing, {"49.99": D(20000), "100": D(40000)}) == D(
        "550.00"
    )
    # Above 100: its own column; the value is a number, "100.0" is in the first band.
    assert rb.rate_line("two_dim_tiered", pricing, {"100.0": D(10), "100.01": D(1500)}) == D(
        "70.10"
    )
    # Free units over the bands in order: the first band's 10 units, then 90 of the second.
    assert rb.rate_line(
        "two_dim_tiered", pricing, {"5": D(10), "250": D(1100)}, free_units=D(100)
    ) == D("50.40")
    rated = rb.price_line("two_dim_tiered", pricing, {"cheap": D(4), "5": D(100)})
    assert rated.amount == D("1.00")
    assert [(e.group_value, e.reason) for e in rated.errors] == [
        ("cheap", rb.GROUP_VALUE_NOT_A_NUMBER)
    ]


def test_prorated_commitment():
    kwargs = {"minimum_commitment": D(310), "active_days": 10, "days_in_period": 31}
    assert rb.rate_line("per_unit", {"unit_price": 1}, 5, **kwargs) == D("310.00")
    assert rb.rate_line("per_unit", {"unit_price": 1}, 5, prorate_commitment=True, **kwargs) == D(
        "100.00"
    )
    assert rb.rate_line("per_unit", {"unit_price": 1}, 150, prorate_commitment=True, **kwargs) == D(
        "150.00"
    )


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


def test_price_override_replaces_the_pricing_of_one_line():
    products = {"calls": CALLS}
    contract = rb.Contract("K1", "C1", "USD", date(2026, 7, 1))
    usage = {(date(2026, 7, 1), "api_calls"): D(1500)}
    override = '{"model": "tiered", "tiers": [{"up_to": 500, "unit_price": 2.00}, ' + (
        '{"up_to": null, "unit_price": "1.5"}]}'
    )
    lines = [rb.ContractLine("calls"), rb.ContractLine("calls", price_override=override)]
    (invoice,) = rb.bill_contract(contract, lines, products, usage, as_of=date(2026, 8, 1))
    assert [line.amount for line in invoice.lines] == [D("75.00"), D("2500.00")]
    # An override that is not a valid pricing leaves the line out (the pipeline quarantines it).
    bad = rb.ContractLine("calls", price_override='{"model": "tiered"}')
    with pytest.raises(ValueError, match="needs tiers"):
        rb.line_pricing(bad, CALLS)
    (invoice,) = rb.bill_contract(
        contract, [lines[0], bad], products, usage, as_of=date(2026, 8, 1)
    )
    assert [line.amount for line in invoice.lines] == [D("75.00")]


def test_line_dates_limit_the_periods_and_prorate_a_flat_fee():
    contract = rb.Contract("K1", "C1", "USD", date(2026, 7, 1))
    products = {"platform": PLATFORM, "calls": CALLS}
    lines = [
        rb.ContractLine("platform", start_date=date(2026, 7, 10), end_date=date(2026, 8, 15)),
        rb.ContractLine(
            "calls",
            start_date=date(2026, 8, 21),
            minimum_commitment=D(31),
            prorate_commitment=True,
        ),
    ]
    usage = {(date(2026, 8, 1), "api_calls"): D(20), (date(2026, 9, 1), "api_calls"): D(20)}
    invoices = rb.bill_contract(contract, lines, products, usage, as_of=date(2026, 10, 1))
    assert [[(x.product_id, x.amount) for x in i.lines] for i in invoices] == [
        [("platform", D("2129.03"))],  # 22 of 31 days
        [("platform", D("1451.61")), ("calls", D("11.00"))],  # 15/31; minimum 31 x 11/31
        [("calls", D("31.00"))],  # a full period: the whole minimum
    ]


def test_weighted_sum_holds_each_level_for_its_seconds():
    metric = rb.Metric("vcpus", "capacity", "weighted_sum", "vcpus")
    start = datetime(2024, 2, 1, tzinfo=UTC)
    end = datetime(2024, 3, 1, tzinfo=UTC)  # 29 days: 2,505,600 s

    def event(event_id, ts, vcpus):
        return rb.Event(event_id, "C1", "capacity", ts, {"vcpus": D(vcpus)})

    events = [
        event("e1", datetime(2024, 2, 8, tzinfo=UTC), 4),  # held 7 days = 604,800 s
        event("e3", datetime(2024, 2, 15, tzinfo=UTC), 10),  # same instant as e2, after it
        event("e2", datetime(2024, 2, 15, tzinfo=UTC), 99),  # held 0 s
        event("e4", datetime(2024, 2, 15, 12, 0, 0, 500000, tzinfo=UTC), 2),  # 43,200.5 s
    ]
    # 0 for the first 7 days, 4 for 7 days, 10 for 43,200.5 s, 2 for the rest of the month.
    held = 4 * 604_800 + 10 * D("43200.5") + 2 * (2_505_600 - 2 * 604_800 - D("43200.5"))
    assert held == 5_356_804
    value = rb.metric_value(metric, events, start, end)[None]
    # 2.13793263090676883780… divided once, kept to 10 places half-up
    assert Context(prec=60).divide(held, D(2_505_600)).quantize(D("1e-10")) == value
    assert value == D("2.1379326309")


def test_meter_applies_filters_groups_and_the_contract_dates():
    metrics = [
        rb.Metric("paid", "payment", "sum", "amount", filters=(("status", "succeeded"),)),
        rb.Metric("egress", "egress", "sum", "gb", group_by="region"),
        rb.Metric("users", "login", "count_distinct", "user"),
    ]
    contract = rb.Contract("K1", "C1", "USD", date(2024, 1, 31), end_date=date(2024, 3, 30))
    at = [datetime(2024, 2, 28, 23, 59, 59, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)]
    events = [
        rb.Event("1", "C1", "payment", at[0], {"amount": D("10.50"), "status": "succeeded"}),
        rb.Event("2", "C1", "payment", at[0], {"amount": D("99"), "status": "failed"}),
        rb.Event("3", "C1", "egress", at[0], {"gb": 5, "region": "eu-west"}),
        rb.Event("4", "C1", "egress", at[1], {"gb": 2, "region": "eu-west"}),
        rb.Event("5", "C1", "egress", at[1], {"gb": 3, "region": "us-east"}),
        rb.Event("6", "C1", "login", at[1], {"user": "a"}),
        rb.Event("7", "C1", "login", at[1], {"user": "a"}),
        rb.Event("8", "C2", "login", at[1], {"user": "b"}),  # another customer
        rb.Event("9", "C1", "login", datetime(2024, 3, 31, tzinfo=UTC), {"user": "c"}),  # after
    ]
    usage = rb.meter([contract], metrics, events, as_of=date(2024, 5, 1))["K1"]
    # Jan 31 monthly: periods start Jan 31, Feb 29 (leap year), Mar 31 (after the end date).
    assert usage == {
        (date(2024, 1, 31), "paid"): D("10.50"),
        (date(2024, 1, 31), "egress"): {"eu-west": D(5)},
        (date(2024, 2, 29), "egress"): {"eu-west": D(2), "us-east": D(3)},
        (date(2024, 2, 29), "users"): D(1),
    }


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
    assert {m["aggregation"] for m in plan["metrics"]} == set(rb.AGGREGATIONS)
    assert {p["pricing"]["model"] for p in plan["products"]} == set(rb.MODELS)
    assert any(m.get("filters") for m in plan["metrics"])
    grouped = {m["id"]: m["group_by"] for m in plan["metrics"] if m.get("group_by")}
    assert set(grouped.values()) == {"region", "unit_price"}
    matrix = next(p for p in plan["products"] if p["pricing"]["model"] == "matrix")
    assert set(matrix["pricing"]["rates"]) == set(generator.REGIONS)

    assert summary["customers"] == 50 == len(_read(out / "data/customers.csv"))
    assert summary["contracts"] == 50 == len(_read(out / "data/contracts.csv"))
    lines = _read(out / "data/contract_lines.csv")
    per_contract = defaultdict(list)
    for row in lines:
        per_contract[row["contract_id"]].append(row["product_id"])
    assert all(2 <= len(p) <= 6 and p[0] == "platform" for p in per_contract.values())
    for column in ("price_override", "start_date", "end_date", "prorate_commitment", "skip_zero"):
        assert any(row[column] for row in lines), column
    for row in lines:
        if row["price_override"]:
            model, pricing = rb.line_pricing(
                rb.ContractLine(row["product_id"], price_override=row["price_override"]),
                rb.Product(row["product_id"], "flat_fee", {"amount": 0}),
            )
            assert model in rb.MODELS and pricing

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


def test_events_reconcile_with_what_was_written(bundle):
    out, summary = bundle
    read = read_bundle(out / "plan.yaml")
    assert sum(read.quarantined.values()) == summary["quarantine_expected"]
    assert read.duplicates == summary["duplicates_expected"]
    assert len(read.events) + sum(read.quarantined.values()) + read.duplicates == summary["events"]
    names = {e.event_name for e in read.events}
    assert names == set(generator.EVENT_NAMES)


def test_legacy_invoices_follow_from_the_bundle(bundle):
    """Re-bill the bundle from its files alone (plan, CSVs, Parquet events) with the reference
    biller's own metering: every legacy invoice agrees to the cent except the planted ones."""
    out, summary = bundle
    window_from, window_to = generator.WINDOW_FROM, generator.WINDOW_TO
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
    assert models == {p["id"] for p in generator.PRODUCTS}


def test_same_seed_same_bytes(tmp_path):
    def digest(out: Path) -> dict[str, str]:
        generate_company(out, events=3_000, seed=11)
        return {
            str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
