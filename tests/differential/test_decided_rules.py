"""The master-data, event and parsing rules (docs/billing-rules.md §7, §10, §11), case by case
through the pipeline: the reference biller's reading of each bundle is asserted first (counts,
reasons, totals a user would check), then the pipeline must agree with it on DuckDB and
PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from connectors.warehouse import warehouse_from_url
from golive.reference import bill_bundle, read_bundle

from .harness import company_of, compare_with_pipeline, explain, invoice_id, write_bundle

D = Decimal
PLATFORM = {"id": "platform", "pricing": {"model": "flat_fee", "amount": "100"}}
CALLS = {"id": "calls", "metric": "calls", "pricing": {"model": "per_unit", "unit_price": "1"}}
# the smallest value read: the events just inside the bound are accepted, and the line stays
# far from the pipeline's limits on a line's arithmetic
QTY = {"id": "qty", "metric": "qty_min", "pricing": {"model": "per_unit", "unit_price": "1"}}
REFUNDS = {
    "id": "refunds",
    "metric": "refunds",
    "pricing": {"model": "percent", "rate_percent": "10"},
}
USD_MAY = {"currency": "USD", "start_date": "2024-05-01"}


def _reasons(bundle, dataset: str) -> dict[str, int]:
    return dict(bundle.counts[dataset].quarantined)


@pytest.mark.slow
def test_master_data_repeats_conflicts_empty_keys_and_ranges(warehouse_url, tmp_path):
    company = company_of(
        [PLATFORM, CALLS],
        [{"contract_id": k, **USD_MAY} for k in ("K1", "K2", "K3", "K4")]
        + [
            {"contract_id": "K3", **USD_MAY},  # an identical repeat: counted once
            {"contract_id": "K4", **USD_MAY, "discount_percent": "10"},  # differs: both out
            {"contract_id": "", "customer_id": "C-K1", **USD_MAY},
            {"contract_id": "K5", "customer_id": "C-K1", "start_date": "2024-05-01"},
            {"contract_id": "K6", "customer_id": " ", **USD_MAY},
            {"contract_id": "K7", "customer_id": "C-K1", **USD_MAY, "discount_percent": "150"},
            {"contract_id": "K8", "customer_id": "C-K1", **USD_MAY, "prepaid_credit": "1e12"},
            {"contract_id": "K9", "customer_id": "C-K1", **USD_MAY, "discount_percent": "5%"},
            {"contract_id": "K10", "customer_id": "C-K1", **USD_MAY, "end_date": "2024-04-30"},
            {
                "contract_id": "K11",
                "customer_id": "C-K1",
                "currency": "XYZ",
                "start_date": "2024-05-01",
            },
        ],
        [
            {"contract_id": "K1", "product_id": "platform"},
            {"contract_id": "K1", "product_id": "calls"},
            {"contract_id": "K1", "product_id": ""},
            {"contract_id": "", "product_id": "calls"},
            {"contract_id": "K1", "product_id": "support"},
            {"contract_id": "K1", "product_id": "platform", "quantity": "1e15"},
            {"contract_id": "K1", "product_id": "platform", "quantity": "1,5"},
            {"contract_id": "K1", "product_id": "calls", "free_units": "-1"},
            {"contract_id": "K2", "product_id": "platform"},
            {"contract_id": "K3", "product_id": "platform", "discount_amount": "1000000000000"},
            {"contract_id": "K3", "product_id": "calls", "quantity": "999999999999999"},
            {"contract_id": "K4", "product_id": "platform"},
            # the numbers come before the billing timing in the decided order
            {
                "contract_id": "K1",
                "product_id": "calls",
                "billing_timing": "monthly",
                "quantity": "x",
            },
        ],
        [
            ("K1", "call", "2024-05-10T10:00:00Z", {}),
            ("K2", "call", "2024-05-10T10:00:00Z", {}),  # its customer is not accepted
            ("K3", "call", "2024-05-10T10:00:00Z", {}),
            ("K4", "call", "2024-05-10T10:00:00Z", {}),  # accepted, but no contract bills it
        ],
    )
    # C-K1 exported twice (identical once trimmed); C-K2 twice with different names
    company.customers.append({"customer_id": " C-K1 ", "name": "C-K1  ", "currency": ""})
    company.customers.append({"customer_id": "C-K2", "name": "C-K2 Ltd", "currency": ""})
    # rows are compared after trimming only: "usd" differs from "USD"
    company.customers.append({"customer_id": "C-K12", "name": "Twelve", "currency": "USD"})
    company.customers.append({"customer_id": "C-K12", "name": "Twelve", "currency": "usd"})
    plan_path = write_bundle(company, tmp_path)
    bundle = read_bundle(plan_path)

    customers, contracts, lines = (
        bundle.counts[d] for d in ("customers", "contracts", "contract_lines")
    )
    assert (customers.received, customers.accepted, customers.duplicates) == (8, 3, 1)
    assert (
        customers.records
        == [("C-K2", "conflicting_customer_id")] * 2 + [("C-K12", "conflicting_customer_id")] * 2
    )
    assert (contracts.received, contracts.accepted, contracts.duplicates) == (14, 2, 1)
    assert contracts.records == [
        ("K2", "unknown_customer"),
        ("K4", "conflicting_contract_id"),
        ("K4", "conflicting_contract_id"),
        (None, "missing_contract_id"),
        ("K5", "missing_currency"),
        ("K6", "missing_customer_id"),
        ("K7", "value_out_of_range"),
        ("K8", "value_out_of_range"),
        ("K9", "non_numeric_value"),
        ("K10", "end_date_before_start_date"),
        ("K11", "unknown_currency"),
    ]
    assert (lines.received, lines.accepted) == (13, 3)
    assert _reasons(bundle, "contract_lines") == {
        "missing_product_id": 1,
        "missing_contract_id": 1,
        "unknown_product": 1,
        "value_out_of_range": 3,
        "non_numeric_value": 2,
        "unknown_contract": 2,
    }
    assert _reasons(bundle, "usage_events") == {"unknown_customer": 1}
    # K1: the platform fee and one call; K3 (its repeat counted once): one call, the
    # quantity on its metered line being in range but not what a metered line bills
    totals = {invoice_id(i): i.total for i in bill_bundle(bundle)}
    assert totals == {
        "K1-20240501": D("101.00"),
        "K1-20240601": D("100.00"),
        "K3-20240501": D("1.00"),
        "K3-20240601": D("0.00"),
    }
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, explain(problems, tmp_path)


@pytest.mark.slow
def test_event_reasons_numbers_filters_and_timestamps(warehouse_url, tmp_path):
    company = company_of(
        [CALLS, QTY, REFUNDS],
        [{"contract_id": "K1", **USD_MAY}],
        [
            {"contract_id": "K1", "product_id": "calls"},
            {"contract_id": "K1", "product_id": "qty"},
            {"contract_id": "K1", "product_id": "refunds"},
        ],
        [
            # billed in May: the timestamp rule's other shapes
            ("K1", "call", "2024-05-10", {}),
            ("K1", "call", "2024-05-10 10:00", {}),
            ("K1", "call", "2024-05-10T10:00:00.123456789 +02", {}),
            ("K1", "call", "2024-05-10T10:00:00+0530", {}),
            ("K1", "call", "  2024-05-10T10:00:00z  ", {}),
            # a fraction beyond microseconds is truncated: still May
            ("K1", "call", "2024-05-31T23:59:59.9999999Z", {}),
            # 20:00 at -04:00 is 1 June 00:00 UTC: June
            ("K1", "call", "2024-05-31 20:00:00 -04:00", {}),
            # outside the rule
            ("K1", "call", "2024-05-10T10:00:60Z", {}),
            ("K1", "call", "2024-05-10T24:00:00Z", {}),
            ("K1", "call", "2024-05-10t10:00:00Z", {}),
            ("K1", "call", "2024-05-10T10:00:00.1234567890Z", {}),
            ("K1", "call", "2024-05-10Z", {}),
            ("K1", "call", "2024-W19-5", {}),
            # numbers: inside the bound (billed), outside, not numbers, missing
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": "999999999999999"}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": " 1.00000000005 "}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": 1000000000000000}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": "-1e15"}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": "1e400"}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": "1,5"}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": "NaN"}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": true}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": null}'),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"kind": "paid"}'),
            # properties that are not a JSON object
            ("K1", "usage", "2024-05-11T00:00:00Z", "[1]"),
            ("K1", "usage", "2024-05-11T00:00:00Z", '{"qty": NaN}'),
            # refunds are read only when settled: a pending one is not checked for a number
            ("K1", "refund", "2024-05-12T00:00:00Z", '{"status": "pending", "amount": "n/a"}'),
            ("K1", "refund", "2024-05-12T00:00:00Z", '{"status": "settled", "amount": "n/a"}'),
            ("K1", "refund", "2024-05-12T00:00:00Z", '{"status": "settled", "amount": "250"}'),
        ],
    )
    # payloads compared as separate values: these two would join to the same text
    twin = {"event_id": "twin", "timestamp": "2024-05-10T10:00:00Z", "properties": "{}"}
    company.events.append({**twin, "customer_id": "C-K1|call", "event_name": "call"})
    company.events.append({**twin, "customer_id": "C-K1", "event_name": "call|call"})
    # an empty properties cell and a missing one are the same payload: one duplicate
    once = {"event_id": "once", "customer_id": "C-K1", "event_name": "call"}
    company.events.append({**once, "timestamp": "2024-05-20T10:00:00Z", "properties": ""})
    company.events.append({**once, "timestamp": "2024-05-20T10:00:00Z", "properties": None})
    # spaces around the timestamp and the properties are trimmed first: one duplicate
    spaced = {"event_id": "spaced", "customer_id": "C-K1", "event_name": "call"}
    company.events.append({**spaced, "timestamp": "2024-05-20T11:00:00Z", "properties": "{}"})
    company.events.append({**spaced, "timestamp": " 2024-05-20T11:00:00Z", "properties": " {} "})
    plan_path = write_bundle(company, tmp_path)
    bundle = read_bundle(plan_path)

    events = bundle.counts["usage_events"]
    assert (events.received, events.accepted, events.duplicates) == (34, 13, 2)
    assert dict(events.quarantined) == {
        "unparseable_timestamp": 6,
        "value_out_of_range": 3,
        "non_numeric_value": 4,
        "missing_numeric_property": 2,
        "properties_not_a_json_object": 2,
        "conflicting_event_id": 2,
    }
    lines = {
        (i.period_start.month, line.product_id): (line.quantity, line.amount)
        for i in bill_bundle(bundle)
        for line in i.lines
    }
    assert lines == {
        (5, "calls"): (D(8), D("8.00")),  # six of the rule's shapes, "once" and "spaced"
        (5, "qty"): (D("1.0000000001"), D("1.00")),
        (5, "refunds"): (D(250), D("25.00")),
        (6, "calls"): (D(1), D("1.00")),
        (6, "qty"): (D(0), D("0.00")),
        (6, "refunds"): (D(0), D("0.00")),
    }
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, explain(problems, tmp_path)


@pytest.mark.slow
def test_weighted_sum_in_a_dst_month_counts_real_seconds(warehouse_url, tmp_path):
    """Plan zone America/New_York: March 2024 runs from 05:00Z on 1 March to 04:00Z on 1 April,
    743 hours (clocks went forward on 10 March). A level of 10 from local midnight on 1 March
    to local midnight on 15 March is held 335 real hours: 10 × 335 / 743 = 4.5087483176; at
    $743 per unit that is $3,350.00 (wall-clock hours would give 10 × 336 / 744: $3,355.48).
    An event at 23:30 local on 31 March (03:30Z on 1 April) is still March."""
    capacity = {
        "id": "capacity",
        "metric": "level_time",
        "pricing": {"model": "per_unit", "unit_price": "743"},
    }
    company = company_of(
        [capacity, CALLS],
        [{"contract_id": "K1", "currency": "USD", "start_date": "2024-03-01"}],
        [
            {"contract_id": "K1", "product_id": "capacity"},
            {"contract_id": "K1", "product_id": "calls"},
        ],
        [
            ("K1", "gauge", "2024-03-01T00:00:00-05:00", {"level": 10}),
            ("K1", "gauge", "2024-03-15T00:00:00-04:00", {"level": 0}),
            ("K1", "call", "2024-04-01T03:30:00Z", {}),
            ("K1", "call", "2024-04-01T04:00:00Z", {}),  # local midnight: April
        ],
        timezone="America/New_York",
    )
    plan_path = write_bundle(company, tmp_path)
    invoices = {
        (i.period_start.month, line.product_id): (line.quantity, line.amount)
        for i in bill_bundle(read_bundle(plan_path))
        for line in i.lines
        if i.period_start.month in (3, 4)
    }
    assert invoices == {
        (3, "capacity"): (D("4.5087483176"), D("3350.00")),
        (3, "calls"): (D(1), D("1.00")),
        (4, "capacity"): (D(0), D("0.00")),
        (4, "calls"): (D(1), D("1.00")),
    }
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, explain(problems, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["month_end", "daily"])
def test_revenue_recognition_over_service_periods(warehouse_url, tmp_path, schedule):
    """docs/accounting.md: a fee billed in advance is released over the days its line is active
    in the period (a contract starting mid-period, line dates, an annual fee, a currency with
    no minor unit); a fee in arrears and a line discounted to 0 have no schedule."""
    annual = {"id": "annual", "pricing": {"model": "flat_fee", "amount": "1000"}}
    company = company_of(
        [PLATFORM, annual, CALLS],
        [
            {"contract_id": "K1", "currency": "USD", "start_date": "2024-05-10"},
            {
                "contract_id": "K2",
                "currency": "USD",
                "start_date": "2023-06-01",
                "billing_period": "P1Y",
            },
            {"contract_id": "K3", "currency": "JPY", "start_date": "2024-05-01"},
            {"contract_id": "K4", "currency": "USD", "start_date": "2024-05-01"},
        ],
        [
            {"contract_id": "K1", "product_id": "platform"},
            {"contract_id": "K2", "product_id": "annual"},
            {
                "contract_id": "K3",
                "product_id": "platform",
                "quantity": "7",
                "start_date": "2024-05-20",
                "end_date": "2024-06-10",
            },
            {"contract_id": "K4", "product_id": "platform", "billing_timing": "arrears"},
            {"contract_id": "K4", "product_id": "platform", "discount_percent": "100"},
            {"contract_id": "K4", "product_id": "calls"},
        ],
        [("K4", "call", "2024-05-02T10:00:00Z", {})],
    )
    company.recognition = schedule
    plan_path = write_bundle(company, tmp_path)
    from golive.reference.recognition import recognise

    months: dict[tuple[str, int], D] = {}
    for invoice in bill_bundle(read_bundle(plan_path)):
        for r in recognise(invoice, schedule):
            key = (invoice_id(invoice), r.recognition_date.month)
            months[key] = months.get(key, D(0)) + r.amount
    assert months == {
        # $100 from 10 May, a 31-day period: 22 days in May
        ("K1-20240510", 5): D("70.97"),
        ("K1-20240510", 6): D("29.03"),
        # the annual fee from 1 June 2023, 366 days (29 February 2024): what is recognised to
        # each month end, rounded, less what the month ends before it recognised
        **{
            ("K2-20230601", month): D(amount)
            for month, amount in {
                6: "81.97",
                7: "84.70",
                8: "84.70",
                9: "81.96",
                10: "84.70",
                11: "81.97",
                12: "84.70",
                1: "84.70",
                2: "79.23",
                3: "84.70",
                4: "81.97",
                5: "84.70",
            }.items()
        },
        # 7 × ¥100 on a line active 20 May - 10 June: 12/31 of May, 10/30 of June, each
        # recognised over the line's days of its period
        ("K3-20240501", 5): D("271"),
        ("K3-20240601", 6): D("233"),
    }
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, explain(problems, tmp_path)


def _with_metrics(plan_path, drop=(), add=()):
    """The plan with some of the differential metrics left out and others added."""
    plan = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
    plan["metrics"] = [m for m in plan["metrics"] if m["id"] not in drop] + list(add)
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return plan_path


@pytest.mark.slow
def test_latest_never_quarantines_and_a_value_not_read_is_zero(warehouse_url, tmp_path):
    """docs/billing-rules.md §6.2, §7.3: latest never quarantines an event (the gauge's
    weighted_sum, which would, is left out). Its value is the latest event's number, 0 when
    that event has none: missing, not a number, past the bounds; never an earlier event's."""
    level = {"id": "level", "metric": "level", "pricing": {"model": "per_unit", "unit_price": "1"}}
    company = company_of(
        [level],
        [{"contract_id": "K1", **USD_MAY}, {"contract_id": "K2", **USD_MAY}],
        [{"contract_id": k, "product_id": "level"} for k in ("K1", "K2")],
        [
            ("K1", "gauge", "2024-05-10T10:00:00Z", {"level": 4}),
            ("K1", "gauge", "2024-05-11T10:00:00Z", {"level": "high"}),  # May: 0, not 4
            ("K1", "gauge", "2024-06-05T10:00:00Z", {"level": "high"}),
            ("K1", "gauge", "2024-06-06T10:00:00Z", {"level": 2.5}),  # June: 2.5
            ("K2", "gauge", "2024-05-10T10:00:00Z", {"level": 7.5}),
            ("K2", "gauge", "2024-05-12T10:00:00Z", {}),  # May: 0
            ("K2", "gauge", "2024-06-01T10:00:00Z", {"level": 3}),
            ("K2", "gauge", "2024-06-02T10:00:00Z", '{"level": 1e16}'),  # June: 0
        ],
    )
    plan_path = _with_metrics(write_bundle(company, tmp_path), drop={"level_time"})
    bundle = read_bundle(plan_path)
    events = bundle.counts["usage_events"]
    assert (events.received, events.accepted, dict(events.quarantined)) == (8, 8, {})
    totals = {invoice_id(i): i.total for i in bill_bundle(bundle)}
    assert totals == {
        "K1-20240501": D("0.00"),
        "K1-20240601": D("2.50"),
        "K2-20240501": D("0.00"),
        "K2-20240601": D("0.00"),
    }
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, explain(problems, tmp_path)
    values = warehouse_from_url(warehouse_url).query(
        "select contract_id, period_start, value from sandbox.usage_aggregates"
    )
    assert sorted((str(k), str(p), D(str(v))) for k, p, v in values) == [
        ("K1", "2024-05-01", 0),
        ("K1", "2024-06-01", D("2.5")),
        ("K2", "2024-05-01", 0),
        ("K2", "2024-06-01", 0),
    ]


@pytest.mark.slow
def test_an_empty_filter_selects_the_events_without_the_property(warehouse_url, tmp_path):
    """docs/billing-rules.md §6.1: a missing property (or JSON null) reads as "", so
    ``filters: {coupon: ""}`` selects the usage without a coupon: 3 + 5 + 6 = 14."""
    no_coupon = {
        "id": "no_coupon",
        "metric": "no_coupon",
        "pricing": {"model": "per_unit", "unit_price": "1"},
    }
    company = company_of(
        [no_coupon],
        [{"contract_id": "K1", **USD_MAY}],
        [{"contract_id": "K1", "product_id": "no_coupon"}],
        [
            ("K1", "usage", "2024-05-11T10:00:00Z", {"qty": 3}),
            ("K1", "usage", "2024-05-12T10:00:00Z", {"qty": 4, "coupon": "X"}),
            ("K1", "usage", "2024-05-13T10:00:00Z", {"qty": 5, "coupon": ""}),
            ("K1", "usage", "2024-05-14T10:00:00Z", {"qty": 6, "coupon": None}),
            ("K1", "usage", "2024-05-15T10:00:00Z", {"qty": 7, "coupon": [""]}),
        ],
    )
    metric = {
        "id": "no_coupon",
        "event_name": "usage",
        "aggregation": "sum",
        "property": "qty",
        "filters": {"coupon": ""},
    }
    plan_path = _with_metrics(write_bundle(company, tmp_path), add=[metric])
    totals = {invoice_id(i): i.total for i in bill_bundle(read_bundle(plan_path))}
    assert totals == {"K1-20240501": D("14.00"), "K1-20240601": D("0.00")}
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, explain(problems, tmp_path)
    values = warehouse_from_url(warehouse_url).query(
        "select value from sandbox.usage_aggregates where metric_id = 'no_coupon'"
    )
    assert [D(str(v)) for (v,) in values] == [14]


@pytest.mark.slow
def test_a_number_is_read_as_written_when_a_nested_object_repeats_its_key(warehouse_url, tmp_path):
    """docs/billing-rules.md §10.6: a top-level number is read as written (1.50 stays 1.50),
    also when its key names another number inside a nested object, an array or a string. Four
    distinct users (1.50, 1.5, 2.50, -2.50), not three; the filter tier = "2.50" selects the
    2.50 at the top level (4), not the 2.5 (5)."""
    per_unit = {"model": "per_unit", "unit_price": "1"}
    company = company_of(
        [
            {"id": "users", "metric": "users", "pricing": per_unit},
            {"id": "tier_two", "metric": "tier_two", "pricing": per_unit},
        ],
        [{"contract_id": "K1", **USD_MAY}],
        [{"contract_id": "K1", "product_id": p} for p in ("users", "tier_two")],
        [
            ("K1", "login", "2024-05-10T10:00:00Z", '{"user": 1.50, "meta": {"user": 0}}'),
            ("K1", "login", "2024-05-11T10:00:00Z", '{"user": 1.5}'),
            (
                "K1",
                "login",
                "2024-05-12T10:00:00Z",
                '{"meta": {"user": 1.5}, "user": 2.50, "note": "{\\"user\\": 9.0"}',
            ),
            (
                "K1",
                "login",
                "2024-05-13T10:00:00Z",
                '{"tags": ["]", {"user": 2.5}], "user" : -2.50 }',
            ),
            ("K1", "usage", "2024-05-14T10:00:00Z", '{"qty": 4, "tier": 2.50, "x": {"tier": 1.0}}'),
            ("K1", "usage", "2024-05-15T10:00:00Z", '{"qty": 5, "tier": 2.5, "x": {"tier": 2.50}}'),
        ],
    )
    metric = {
        "id": "tier_two",
        "event_name": "usage",
        "aggregation": "sum",
        "property": "qty",
        "filters": {"tier": "2.50"},
    }
    plan_path = _with_metrics(write_bundle(company, tmp_path), add=[metric])
    totals = {invoice_id(i): i.total for i in bill_bundle(read_bundle(plan_path))}
    assert totals == {"K1-20240501": D("8.00"), "K1-20240601": D("0.00")}
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, explain(problems, tmp_path)
    values = warehouse_from_url(warehouse_url).query(
        "select metric_id, value from sandbox.usage_aggregates"
        " where metric_id in ('users', 'tier_two')"
    )
    assert sorted((m, D(str(v))) for m, v in values) == [("tier_two", 4), ("users", 4)]
