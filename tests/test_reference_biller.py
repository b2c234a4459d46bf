"""The reference biller on docs/billing-rules.md's worked examples: one line, periods, invoices,
metering."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Context, Decimal

import pytest

from golive import reference as rb
from golive.reference import invoices as invoicing
from golive.reference import metering
from golive.reference import pricing as pricing_models

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
    # docs/billing-rules.md §3.3: 400 billable x 0.05 = 20.00, -10 % = 18.00, minimum 25 -> 25.00.
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
    assert rated.errors == (
        pricing_models.PricingError("egress", "mars", D(3), pricing_models.NO_RATE_FOR_GROUP),
    )
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
        ("cheap", pricing_models.GROUP_VALUE_NOT_A_NUMBER)
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
    assert invoices[0].journal[1].account == invoicing.DEFERRED_REVENUE


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
        (invoicing.CONTRACT_DISCOUNT, D("-375.00")),
        (invoicing.MINIMUM_TRUE_UP, D("375.00")),
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
        invoicing.line_pricing(bad, CALLS)
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
    value = metering.metric_value(metric, events, start, end)[None]
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
