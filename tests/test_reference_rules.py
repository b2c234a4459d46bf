"""The reference biller's reading rules (docs/billing-rules.md §7, §10, §11), without the pipeline:
the timestamp rule, the number rule, master-data keys, event reasons, and periods in the plan's
time zone (real seconds in a DST month)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from golive.reference import Contract, Event, Metric, Product, meter
from golive.reference.metering import metric_value
from golive.reference.parsing import parse_date, parse_number, parse_properties, parse_timestamp
from golive.reference.periods import local_midnight
from golive.reference.quarantine import (
    accept_contract_lines,
    accept_contracts,
    accept_customers,
    accept_events,
)

D = Decimal


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# ---------------------------------------------------------------------------- timestamps

TIMESTAMPS = [
    # date only: midnight UTC
    ("2026-09-10", utc(2026, 9, 10)),
    ("2024-02-29", utc(2024, 2, 29)),
    # T or one space; seconds and fraction optional; no zone is UTC
    ("2026-09-10T10:00", utc(2026, 9, 10, 10, 0)),
    ("2026-09-10 10:00:05", utc(2026, 9, 10, 10, 0, 5)),
    ("2026-09-10T10:00:05Z", utc(2026, 9, 10, 10, 0, 5)),
    ("2026-09-10T10:00:05z", utc(2026, 9, 10, 10, 0, 5)),
    ("  2026-09-10T10:00:05Z  ", utc(2026, 9, 10, 10, 0, 5)),
    # fractions: 1 to 9 digits, truncated to microseconds (never rounded into the next second)
    ("2026-09-10T10:00:05.5Z", utc(2026, 9, 10, 10, 0, 5, 500000)),
    ("2026-09-10T10:00:05.123456789Z", utc(2026, 9, 10, 10, 0, 5, 123456)),
    ("2024-05-31T23:59:59.9999999Z", utc(2024, 5, 31, 23, 59, 59, 999999)),
    # zones: ±HH, ±HHMM, ±HH:MM, optionally after one space
    ("2026-09-10T10:00:05+02", utc(2026, 9, 10, 8, 0, 5)),
    ("2026-09-10T10:00:05+0230", utc(2026, 9, 10, 7, 30, 5)),
    ("2026-09-10T10:00:05-05:00", utc(2026, 9, 10, 15, 0, 5)),
    ("2026-09-10T10:00:05 +02:00", utc(2026, 9, 10, 8, 0, 5)),
    ("2026-09-10 10:00 Z", utc(2026, 9, 10, 10, 0)),
    ("2026-01-31T20:00:00-05:00", utc(2026, 2, 1, 1, 0)),  # docs/billing-rules.md §4.3
    ("2026-09-10T23:59:59+23:59", utc(2026, 9, 10, 0, 0, 59)),
    ("0001-01-01T00:00:00Z", utc(1, 1, 1)),
    ("9999-12-31T23:59:59Z", utc(9999, 12, 31, 23, 59, 59)),
    # out of range
    ("2026-09-10T10:00:60Z", None),  # no leap second
    ("2026-09-10T24:00:00Z", None),
    ("2026-09-10T10:60:00Z", None),
    ("2023-02-29T00:00:00Z", None),
    ("2026-04-31", None),
    ("2026-13-01", None),
    ("2026-00-10", None),
    ("0000-01-01", None),
    ("2026-09-10T10:00:00+24:00", None),
    ("2026-09-10T10:00:00+02:60", None),
    # shapes the rule does not have (some of which datetime.fromisoformat accepts)
    ("2026-09-10T10:00:00.1234567890Z", None),  # ten fraction digits
    ("2026-09-10T10:00:00.Z", None),
    ("2026-09-10T10:00:00,5Z", None),
    ("2026-09-10T10:00.5Z", None),  # a fraction needs seconds
    ("2026-09-10T10Z", None),
    ("2026-09-10T10:00:00  Z", None),  # two spaces
    ("2026-09-10t10:00:00Z", None),
    ("2026-09-10\t10:00:00Z", None),
    ("2026-09-10Z", None),  # a date alone has no zone
    ("2026-09-10T10:00:00UTC", None),
    ("2026-09-10T10:00:00+2", None),
    ("20260910T100000Z", None),
    ("2026-W37-4", None),
    ("2026-253", None),
    ("2026-9-10", None),
    ("２０２６-09-10", None),  # digits must be ASCII
    ("yesterday", None),
    ("", None),
    ("   ", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "instant"), TIMESTAMPS)
def test_the_timestamp_rule(text, instant):
    assert parse_timestamp(text) == instant
    if instant is not None:
        assert parse_timestamp(text).utcoffset() == timedelta(0)


def test_an_offset_that_leaves_years_one_to_9999_is_refused():
    # the instant would lie outside years 1 to 9999: not a timestamp (on every warehouse too)
    assert parse_timestamp("0001-01-01T00:00:00+05:00") is None
    assert parse_timestamp("9999-12-31T23:00:00-05:00") is None
    assert parse_timestamp("0001-01-01T05:00:00+05:00") == datetime.min.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-09-10", date(2026, 9, 10)),
        (" 2024-02-29 ", date(2024, 2, 29)),
        ("2023-02-29", None),
        ("2026-09-31", None),
        ("2026-9-1", None),
        ("20260910", None),
        ("2026-09-10T00:00:00Z", None),
        ("10/09/2026", None),
        ("", None),
    ],
)
def test_master_data_dates(text, day):
    assert parse_date(text) == day


# ---------------------------------------------------------------------------- numbers

NUMBERS = [
    ("12.5", D("12.5")),
    (" 7 ", D(7)),
    ("+3", D(3)),
    ("-0.5", D("-0.5")),
    (".5", D("0.5")),
    ("5.", D(5)),
    ("1e3", D(1000)),
    ("1E-2", D("0.01")),
    ("1.5e+2", D(150)),
    # at most 10 decimal places, rounded half away from zero
    ("1.00000000005", D("1.0000000001")),
    ("-1.00000000005", D("-1.0000000001")),
    ("0.00000000004", D(0)),
    ("1e400", D("1e400")),  # a number (out of range for usage, which the caller checks)
    (12, D(12)),
    (D("2.50"), D("2.5")),
    ("NaN", None),
    ("Infinity", None),
    ("-inf", None),
    ("1,000", None),
    ("12,50", None),
    ("1_000", None),
    ("0x10", None),
    ("1e", None),
    ("e3", None),
    (".", None),
    ("+", None),
    ("", None),
    ("   ", None),
    ("\t5", None),  # only spaces are trimmed
    ("5 kg", None),
    ("١٢", None),  # digits must be ASCII
    (True, None),
    (False, None),
    (None, None),
    ([1], None),
    ({"a": 1}, None),
    (D("NaN"), None),
]


@pytest.mark.parametrize(("value", "number"), NUMBERS)
def test_the_number_rule(value, number):
    assert parse_number(value) == number


@pytest.mark.parametrize(
    ("text", "properties"),
    [
        (None, {}),
        ("", {}),
        ("  ", {}),
        ("{}", {}),
        ('{"qty": 1.50, "kind": "paid"}', {"qty": D("1.50"), "kind": "paid"}),
        ("[1, 2]", None),
        ('"text"', None),
        ("12", None),
        ("not json", None),
        ('{"qty": NaN}', None),
        ('{"qty": Infinity}', None),
        ('{"qty": 1', None),
    ],
)
def test_properties_must_be_a_json_object(text, properties):
    assert parse_properties(text) == properties


# ---------------------------------------------------------------------------- master data


def _customers(*rows: tuple[str, str, str, str]) -> list[dict[str, str]]:
    keys = ("customer_id", "name", "currency", "tax_rate_percent")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def test_customers_repeats_conflicts_and_empty_keys():
    accepted, counts = accept_customers(
        _customers(
            ("C1", "Acme", "USD", "10"),
            (" C1 ", "Acme  ", " USD", "10"),  # identical after trimming: a duplicate
            ("C2", "Beta", "EUR", ""),
            ("C2", "Beta", "EUR", "19"),  # differs: every row of C2 is quarantined
            ("C2", "Beta", "EUR", ""),
            ("", "No id", "USD", ""),
            ("   ", "Blank id", "USD", ""),
            ("C3", "", "USD", ""),
            ("C4", "Gamma", "XYZ", ""),
            ("C5", "Delta", "", ""),  # an empty currency is allowed for a customer
            ("C6", "Eps", "eur", "100"),
            ("C7", "Zeta", "USD", "ten"),
            ("C8", "Eta", "USD", "100.5"),
            ("C9", "Theta", "USD", "-1"),
        )
    )
    assert accepted == {"C1": D(10), "C5": None, "C6": D(100)}
    assert (counts.received, counts.accepted, counts.duplicates) == (14, 3, 1)
    assert counts.records == [
        ("C2", "conflicting_customer_id"),
        ("C2", "conflicting_customer_id"),
        ("C2", "conflicting_customer_id"),
        (None, "missing_customer_id"),
        (None, "missing_customer_id"),
        ("C3", "missing_name"),
        ("C4", "unknown_currency"),
        ("C7", "non_numeric_value"),
        ("C8", "value_out_of_range"),
        ("C9", "value_out_of_range"),
    ]
    assert counts.reconciles()


def test_every_row_of_a_conflicting_id_is_conflicting_and_a_bad_row_repeated_is_one():
    # the nameless copy is conflicting too: every row of the id, whatever else is wrong
    _, counts = accept_customers(_customers(("C1", "", "USD", ""), ("C1", "Acme", "USD", "")))
    assert counts.records == [("C1", "conflicting_customer_id")] * 2
    # an identical repeat of a row that is quarantined is a duplicate of it
    _, counts = accept_customers(_customers(("C2", "", "XYZ", ""), ("C2", " ", " XYZ", "")))
    assert (counts.duplicates, counts.records) == (1, [("C2", "missing_name")])
    contracts = [
        _contract(contract_id="K1", currency=""),
        _contract(contract_id="K1"),
        _contract(contract_id="K2", currency="ABC"),
        _contract(contract_id="K2", currency="ABC "),
    ]
    _, counts = accept_contracts(contracts, {"C1"})
    assert counts.duplicates == 1
    assert counts.records == [
        ("K1", "conflicting_contract_id"),
        ("K1", "conflicting_contract_id"),
        ("K2", "unknown_currency"),
    ]


CONTRACT = {
    "contract_id": "K1",
    "customer_id": "C1",
    "start_date": "2026-01-01",
    "currency": "USD",
    "billing_period": "P1M",
}


def _contract(**changes: str) -> dict[str, str]:
    return {**CONTRACT, **changes}


def test_contracts_reasons_in_order():
    rows = [
        _contract(),
        _contract(customer_id=" C1 "),  # identical after trimming: a duplicate
        _contract(contract_id="K2"),
        _contract(contract_id="K2", start_date="2026-02-01"),
        _contract(contract_id=""),
        _contract(contract_id="K3", customer_id=""),
        _contract(contract_id="K4", currency=""),
        _contract(contract_id="K5", currency="ABC"),
        _contract(contract_id="K6", customer_id="C404"),
        _contract(contract_id="K7", start_date="2026-02-30"),
        _contract(contract_id="K8", start_date=""),
        _contract(contract_id="K9", end_date="soon"),
        _contract(contract_id="K10", billing_anchor_date="2026-01-32"),
        _contract(contract_id="K11", end_date="2025-12-31"),
        _contract(contract_id="K12", billing_period="P2W"),
        _contract(contract_id="K13", discount_percent="5%"),
        _contract(contract_id="K14", discount_percent="100.01"),
        _contract(contract_id="K15", prepaid_credit="1e12"),
        _contract(contract_id="K16", minimum_commitment="-1"),
        _contract(contract_id="K17", prepaid_credit="999999999999.99", discount_percent="100"),
        _contract(contract_id="K18", currency="jpy", billing_period="p3m"),
    ]
    accepted, counts = accept_contracts(rows, {"C1"})
    assert [c.contract_id for c in accepted] == ["K1", "K17", "K18"]
    assert (accepted[2].currency, accepted[2].billing_period) == ("JPY", "P3M")
    assert accepted[1].prepaid_credit == D("999999999999.99")
    assert (counts.received, counts.accepted, counts.duplicates) == (21, 3, 1)
    assert counts.records == [
        ("K2", "conflicting_contract_id"),
        ("K2", "conflicting_contract_id"),
        (None, "missing_contract_id"),
        ("K3", "missing_customer_id"),
        ("K4", "missing_currency"),
        ("K5", "unknown_currency"),
        ("K6", "unknown_customer"),
        ("K7", "unparseable_start_date"),
        ("K8", "unparseable_start_date"),
        ("K9", "unparseable_end_date"),
        ("K10", "unparseable_billing_anchor_date"),
        ("K11", "end_date_before_start_date"),
        ("K12", "unknown_billing_period"),
        ("K13", "non_numeric_value"),
        ("K14", "value_out_of_range"),
        ("K15", "value_out_of_range"),
        ("K16", "value_out_of_range"),
    ]
    assert counts.reconciles()


def test_contracts_of_a_conflicting_customer_are_unknown_customer_and_so_are_their_lines():
    customers, _ = accept_customers(
        _customers(("C1", "Acme", "USD", ""), ("C1", "Acme Inc", "USD", ""))
    )
    contracts, counts = accept_contracts([_contract()], customers)
    assert contracts == [] and counts.records == [("K1", "unknown_customer")]
    lines, line_counts = accept_contract_lines(
        [{"contract_id": "K1", "product_id": "p"}], set(), {"p": PLATFORM}
    )
    assert lines == {} and line_counts.records == [("K1/p", "unknown_contract")]


PLATFORM = Product("platform", "flat_fee", {"amount": 100})
CALLS = Product("calls", "per_unit", {"unit_price": "0.5"}, metric="calls")


def test_contract_lines_reasons_and_order():
    products = {"platform": PLATFORM, "calls": CALLS}
    rows = [
        {"contract_id": "K1", "product_id": "platform", "quantity": "2"},
        {"contract_id": "K1", "product_id": "calls", "free_units": "10"},
        {"contract_id": "K1", "product_id": "calls", "free_units": "10"},  # twice: both kept
        {"contract_id": "K1", "product_id": "calls", "free_units": ""},
        {"contract_id": "", "product_id": "calls"},
        {"contract_id": "K1", "product_id": " "},
        {"contract_id": "K9", "product_id": "calls"},
        {"contract_id": "K1", "product_id": "storage"},
        {"contract_id": "K1", "product_id": "calls", "quantity": "1,5"},
        {"contract_id": "K1", "product_id": "calls", "quantity": "1e15"},
        {"contract_id": "K1", "product_id": "calls", "free_units": "-1"},
        {"contract_id": "K1", "product_id": "calls", "discount_amount": "1000000000000"},
        {"contract_id": "K1", "product_id": "calls", "discount_percent": "101"},
        {"contract_id": "K1", "product_id": "platform", "quantity": "999999999999999"},
        {"contract_id": "K1", "product_id": "calls", "billing_timing": "monthly"},
        {"contract_id": "K1", "product_id": "calls", "start_date": "2026-02-30"},
        {"contract_id": "K1", "product_id": "calls", "price_override": '{"model": "tiered"}'},
    ]
    lines, counts = accept_contract_lines(rows, {"K1"}, products)
    # numbered by product_id, then the other columns' text (missing after any text), then
    # the order received
    assert [(x.product_id, x.quantity, x.free_units) for x in lines["K1"]] == [
        ("calls", None, D(10)),
        ("calls", None, D(10)),
        ("calls", None, None),
        ("platform", D(2), None),
        ("platform", D("999999999999999"), None),
    ]
    assert (counts.received, counts.accepted, counts.duplicates) == (17, 5, 0)
    assert counts.records == [
        ("/calls", "missing_contract_id"),
        ("K1/", "missing_product_id"),
        ("K9/calls", "unknown_contract"),
        ("K1/storage", "unknown_product"),
        ("K1/calls", "non_numeric_value"),
        ("K1/calls", "value_out_of_range"),
        ("K1/calls", "value_out_of_range"),
        ("K1/calls", "value_out_of_range"),
        ("K1/calls", "value_out_of_range"),
        ("K1/calls", "unknown_billing_timing"),
        ("K1/calls", "unparseable_start_date"),
        ("K1/calls", "invalid_price_override"),
    ]


# ---------------------------------------------------------------------------- events

METRICS = [
    Metric("calls", "call", "count"),
    Metric("qty", "usage", "sum", "qty"),
    Metric("paid", "usage", "sum", "paid_qty", filters=(("kind", "paid"),)),
    Metric("refunds", "refund", "sum", "amount", filters=(("status", "settled"),)),
    Metric("peak", "usage", "max", "gb"),
    Metric("level", "gauge", "latest", "level"),  # latest reads no number: never quarantined
]


def _event(event_id, name="usage", props='{"qty": 1, "gb": 1}', customer="C1", ts=None):
    return {
        "event_id": event_id,
        "customer_id": customer,
        "event_name": name,
        "timestamp": "2026-09-10T10:00:00Z" if ts is None else ts,
        "properties": props,
    }


def test_event_reasons_in_order():
    rows = [
        _event("ok"),
        _event("ok"),  # an exact repeat: a duplicate
        _event("", props="{}"),
        _event("dup-bad", customer="C404"),
        _event("dup-bad", customer="C404"),  # a repeat of a quarantined event: a duplicate
        _event("x1"),
        _event("x1", props='{"qty": 2, "gb": 1}'),
        _event("n1", name=""),
        _event("c1", customer=""),
        _event("c2", customer="C404"),
        _event("t1", ts="2026-09-10T10:00:60Z"),
        _event("j1", props="[1]"),
        _event("j2", props='{"qty": NaN, "gb": 1}'),
        _event("r1", props='{"qty": 1e15, "gb": 1}'),
        _event("r2", props='{"qty": "-1000000000000000", "gb": 1}'),
        _event("r3", props='{"qty": "lots", "gb": 1e16}'),  # out of range wins
        _event("v1", props='{"qty": "12,5", "gb": 1}'),
        _event("v2", props='{"qty": true, "gb": 1}'),
        _event("m1", props='{"gb": 1}'),
        _event("m2", props='{"qty": null, "gb": 1}'),
        _event("ok2", props='{"qty": 999999999999999.9999999999, "gb": " 2 "}'),
        _event("f1", props='{"qty": 1, "gb": 1, "kind": "paid"}'),  # paid_qty missing
        _event("f2", props='{"qty": 1, "gb": 1, "kind": "free", "paid_qty": "n/a"}'),
        _event("f3", name="refund", props='{"status": "pending", "amount": "n/a"}'),
        _event("f4", name="refund", props='{"status": "settled", "amount": "n/a"}'),
        _event("g1", name="gauge", props='{"level": "high"}'),
        _event("k1", name="call", props=""),
    ]
    events, counts = accept_events(rows, {"C1"}, METRICS)
    assert [e.event_id for e in events] == ["ok", "ok2", "f2", "f3", "g1", "k1"]
    assert (counts.received, counts.accepted, counts.duplicates) == (27, 6, 2)
    assert counts.records == [
        (None, "missing_event_id"),
        ("dup-bad", "unknown_customer"),
        ("x1", "conflicting_event_id"),
        ("x1", "conflicting_event_id"),
        ("n1", "missing_event_name"),
        ("c1", "unknown_customer"),
        ("c2", "unknown_customer"),
        ("t1", "unparseable_timestamp"),
        ("j1", "properties_not_a_json_object"),
        ("j2", "properties_not_a_json_object"),
        ("r1", "value_out_of_range"),
        ("r2", "value_out_of_range"),
        ("r3", "value_out_of_range"),
        ("v1", "non_numeric_value"),
        ("v2", "non_numeric_value"),
        ("m1", "missing_numeric_property"),
        ("m2", "missing_numeric_property"),
        ("f1", "missing_numeric_property"),
        ("f4", "non_numeric_value"),
    ]
    assert counts.reconciles()


def test_event_payloads_are_compared_as_separate_values():
    rows = [
        # "C1|x" + "y" and "C1" + "x|y" join to the same text, yet differ
        _event("e1", customer="C1|x", name="y"),
        _event("e1", customer="C1", name="x|y"),
        # an empty properties cell and a missing one are the same (both missing)
        _event("e2", name="call", props=""),
        _event("e2", name="call", props=None),
        # spaces around a value are trimmed before comparing
        _event("e3", name="call", props="{}"),
        _event(" e3 ", name=" call ", props=" {} "),
    ]
    events, counts = accept_events(rows, {"C1", "C1|x"}, METRICS)
    assert [e.event_id for e in events] == ["e2", "e3"]
    assert counts.duplicates == 2
    assert counts.records == [("e1", "conflicting_event_id"), ("e1", "conflicting_event_id")]


# ---------------------------------------------------------------------------- plan time zone

NEW_YORK = "America/New_York"


def test_period_bounds_are_local_midnights_as_utc_instants():
    start, end = (
        local_midnight(date(2024, 3, 1), NEW_YORK),
        local_midnight(date(2024, 4, 1), NEW_YORK),
    )
    assert (start, end) == (utc(2024, 3, 1, 5), utc(2024, 4, 1, 4))
    assert end - start == timedelta(hours=743)


def test_weighted_sum_in_a_dst_month_counts_real_seconds():
    """Level 10 from 1 March 00:00 to 15 March 00:00 in New York (335 real hours: the clocks
    went forward on 10 March), then 0, over March's 743 hours: 10 × 335 / 743."""
    metric = Metric("vcpus", "capacity", "weighted_sum", "vcpus")
    events = [
        Event("e1", "C1", "capacity", parse_timestamp("2024-03-01T00:00:00-05:00"), {"vcpus": 10}),
        Event("e2", "C1", "capacity", parse_timestamp("2024-03-15T00:00:00-04:00"), {"vcpus": 0}),
    ]
    contract = Contract("K1", "C1", "USD", date(2024, 3, 1))
    usage = meter([contract], [metric], events, as_of=date(2024, 4, 1), timezone=NEW_YORK)
    assert usage["K1"] == {(date(2024, 3, 1), "vcpus"): D("4.5087483176")}
    # wall-clock hours would give 10 × 336 / 744 = 4.5161290323
    start, end = (
        local_midnight(date(2024, 3, 1), NEW_YORK),
        local_midnight(date(2024, 4, 1), NEW_YORK),
    )
    assert metric_value(metric, events, start, end) == {None: D("4.5087483176")}


def test_events_belong_to_the_period_and_contract_of_their_local_date():
    metric = Metric("n", "call", "sum", "n")
    contract = Contract("K1", "C1", "USD", date(2024, 3, 1), end_date=date(2024, 3, 31))
    events = [
        # 31 March 23:30 in New York is 1 April 03:30 UTC: still March, still in the contract
        Event("e1", "C1", "call", parse_timestamp("2024-04-01T03:30:00Z"), {"n": 1}),
        # 1 April 00:30 in New York: after the contract's end date
        Event("e2", "C1", "call", parse_timestamp("2024-04-01T04:30:00Z"), {"n": 10}),
        # 1 March 00:00 UTC is 29 February in New York: before the contract
        Event("e3", "C1", "call", parse_timestamp("2024-03-01T00:00:00Z"), {"n": 100}),
    ]
    usage = meter([contract], [metric], events, as_of=date(2024, 5, 1), timezone=NEW_YORK)
    assert usage["K1"] == {(date(2024, 3, 1), "n"): D(1)}
    # the same events with periods in UTC: only e3 is in March
    assert meter([contract], [metric], events, as_of=date(2024, 5, 1))["K1"] == {
        (date(2024, 3, 1), "n"): D(100)
    }


def test_a_usage_value_keeps_ten_decimals():
    metric = Metric("qty", "usage", "sum", "qty")
    contract = Contract("K1", "C1", "USD", date(2026, 9, 1))
    at = parse_timestamp("2026-09-10T10:00:00Z")
    events = [
        Event("e1", "C1", "usage", at, {"qty": "0.00000000005"}),
        Event("e2", "C1", "usage", at, {"qty": D("0.00000000005")}),
    ]
    usage = meter([contract], [metric], events, as_of=date(2026, 10, 1))["K1"]
    assert usage == {(date(2026, 9, 1), "qty"): D("0.0000000002")}
