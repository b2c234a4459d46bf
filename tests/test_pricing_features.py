"""The pricing models and contract features added on top of the first five, end to end on
DuckDB and PostgreSQL, against amounts worked out by hand from docs/billing-rules.md."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from connectors.warehouse import warehouse_from_url
from golive.plan import PlanError, load_plan
from golive.plan_tables import plan_tables
from golive.price_overrides import parse_override
from orchestration.runner import run_stages

PLAN = {
    "company": "Feature Test Co",
    "default_currency": "USD",
    "as_of": "2026-10-01",
    "parallel_test": {"periods": {"from": "2026-09-01", "to": "2026-10-01"}},
    "sources": {
        "customers": {"connector": "csv", "path": "customers.csv"},
        "contracts": {"connector": "csv", "path": "contracts.csv"},
        "contract_lines": {"connector": "csv", "path": "contract_lines.csv"},
        "usage_events": {"connector": "csv", "path": "events.csv"},
    },
    "metrics": [
        {
            "id": "egress",
            "event_name": "egress",
            "aggregation": "sum",
            "property": "gb",
            "group_by": "region",
        },
        {
            "id": "units_by_price",
            "event_name": "sale",
            "aggregation": "sum",
            "property": "units",
            "group_by": "price",
        },
        {
            "id": "seats_level",
            "event_name": "seats",
            "aggregation": "weighted_sum",
            "property": "seats",
        },
        {
            "id": "paid_calls",
            "event_name": "call",
            "aggregation": "count",
            "filters": {"tier": "paid"},
        },
        {"id": "revenue", "event_name": "payment", "aggregation": "sum", "property": "amount"},
    ],
    "products": [
        {
            "id": "egress",
            "metric": "egress",
            "pricing": {
                "model": "matrix",
                "rates": {
                    "EU-West": [
                        {"up_to": 500, "unit_price": "0.12"},
                        {"up_to": 2000, "unit_price": "0.10"},
                        {"up_to": None, "unit_price": "0.07"},
                    ],
                    "US-East": [{"up_to": None, "unit_price": "0.05"}],
                },
            },
        },
        {
            "id": "sales",
            "metric": "units_by_price",
            "pricing": {
                "model": "two_dim_tiered",
                "bands": [
                    {
                        "up_to": 100,
                        "tiers": [
                            {"up_to": 50000, "unit_price": "0.01"},
                            {"up_to": 100000, "unit_price": "0.005"},
                            {"up_to": None, "unit_price": "0.001"},
                        ],
                    },
                    {"up_to": None, "tiers": [{"up_to": None, "unit_price": "0.02"}]},
                ],
            },
        },
        {
            "id": "seats",
            "metric": "seats_level",
            "pricing": {"model": "per_unit", "unit_price": 10},
        },
        {
            "id": "calls",
            "metric": "paid_calls",
            "pricing": {"model": "per_unit", "unit_price": "0.01"},
        },
        {"id": "fee", "metric": "revenue", "pricing": {"model": "percent", "rate_percent": 5}},
        {"id": "base", "pricing": {"model": "flat_fee", "amount": 1000}},
    ],
}

CONTRACTS = [
    # contract, start, anchor, [(product, line fields)]
    ("K1", "2026-09-01", "", [("egress", {})]),
    ("K2", "2026-09-01", "", [("sales", {})]),
    ("K3", "2026-09-01", "", [("seats", {})]),
    ("K4", "2026-09-01", "", [("calls", {})]),
    ("K5", "2026-09-01", "", [("fee", {})]),
    (
        "K6",
        "2026-09-01",
        "",
        [("base", {"price_override": '{"model": "flat_fee", "amount": 750}'})],
    ),
    ("K7", "2026-09-01", "", [("base", {"price_override": '{"model": "flat_fee"}'})]),
    ("K8", "2026-09-01", "", [("base", {"start_date": "2026-09-11"})]),
    (
        "K9",
        "2026-09-11",
        "2026-09-01",
        [("calls", {"minimum_commitment": "300", "prorate_commitment": "true"})],
    ),
    ("K10", "2026-09-11", "2026-09-01", [("calls", {"minimum_commitment": "300"})]),
]

EVENTS = [
    # customer, event, timestamp, properties
    ("C1", "egress", "2026-09-05T00:00:00Z", {"region": "EU-West", "gb": "1500"}),
    ("C1", "egress", "2026-09-05T00:00:00Z", {"region": "US-East", "gb": "200"}),
    ("C1", "egress", "2026-09-06T00:00:00Z", {"region": "APAC", "gb": "10"}),  # no rate
    ("C2", "sale", "2026-09-05T00:00:00Z", {"price": "50", "units": "60000"}),
    ("C2", "sale", "2026-09-05T00:00:00Z", {"price": "150", "units": "1000"}),
    ("C3", "seats", "2026-09-01T00:00:00Z", {"seats": "10"}),
    ("C3", "seats", "2026-09-16T00:00:00Z", {"seats": "20"}),
    *[
        ("C4", "call", f"2026-09-0{i}T00:00:00Z", {"tier": t})
        for i, t in enumerate(["paid", "paid", "free", "paid", "free"], start=1)
    ],
    ("C5", "payment", "2026-09-09T00:00:00Z", {"amount": "1500"}),
]

EXPECTED_TOTALS = {
    "K1": "160.00",  # matrix: EU-West 1,500 GB @0.10 = 150 + US-East 200 @0.05 = 10
    "K2": "570.00",  # 2-D: band <=100 60,000 units = 500 + 50; band >100 1,000 @0.02 = 20
    "K3": "150.00",  # weighted_sum: 10 seats for 15 days, 20 for 15 -> 15 x $10
    "K4": "0.03",  # count with filters: 3 paid calls (2 free ones do not count) x $0.01
    "K5": "75.00",  # percent: $1,500 at 5 %
    "K6": "750.00",  # price_override replaces the $1,000 flat fee
    "K7": "0.00",  # its only line is quarantined (bad override): an invoice with no lines
    "K8": "666.67",  # line from 11 Sept: 1,000 x 20 / 30
    "K9": "200.00",  # minimum 300 prorated: 20 of 30 days
    "K10": "300.00",  # minimum 300, not prorated (charge_full_amount)
}


def _write(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _company(tmp_path: Path) -> Path:
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(PLAN, sort_keys=False))
    _write(
        tmp_path / "customers.csv",
        [{"customer_id": f"C{c[0][1:]}", "name": c[0], "currency": "USD"} for c in CONTRACTS],
    )
    _write(
        tmp_path / "contracts.csv",
        [
            {
                "contract_id": k,
                "customer_id": f"C{k[1:]}",
                "start_date": start,
                "currency": "USD",
                "billing_period": "P1M",
                "billing_anchor_date": anchor,
            }
            for k, start, anchor, _ in CONTRACTS
        ],
    )
    line_fields = ["price_override", "start_date", "minimum_commitment", "prorate_commitment"]
    _write(
        tmp_path / "contract_lines.csv",
        [
            {"contract_id": k, "product_id": p, **{f: extra.get(f, "") for f in line_fields}}
            for k, _, _, lines in CONTRACTS
            for p, extra in lines
        ],
    )
    _write(
        tmp_path / "events.csv",
        [
            {
                "event_id": f"e{i}",
                "customer_id": c,
                "event_name": name,
                "timestamp": ts,
                "properties": json.dumps(props),
            }
            for i, (c, name, ts, props) in enumerate(EVENTS)
        ],
    )
    return tmp_path / "plan.yaml"


def test_pricing_features_end_to_end(tmp_path, warehouse_url):
    run = run_stages(_company(tmp_path), warehouse_url, through="billing")
    assert run.success, [s.error for s in run.stages]
    wh = warehouse_from_url(warehouse_url)
    totals = {k: f"{t:.2f}" for k, t in wh.query("select contract_id, total from sandbox.invoices")}
    assert totals == EXPECTED_TOTALS
    # the APAC group has no rate: reported, not priced, never a silent zero
    errors = wh.query(
        "select contract_id, product_id, group_value, quantity, reason from sandbox.pricing_errors"
    )
    assert [(c, p, g, f"{q:.0f}", r) for c, p, g, q, r in errors] == [
        ("K1", "egress", "APAC", "10", "no_rate_for_group_value")
    ]
    # an override that is not a valid pricing quarantines its line, with the reason
    assert wh.query("select record_key, reason, detail from quarantine.records") == [
        (
            "K7/base",
            "invalid_price_override",
            "price_override pricing: model flat_fee needs amount (see the README's plan "
            "reference, 'Pricing fields')",
        )
    ]


def test_two_dim_bands_and_matrix_rates_become_exact_tier_rows(tmp_path):
    plan = load_plan(_company(tmp_path))
    tiers = plan_tables(plan)["plan_price_tiers"].to_pylist()
    sales = [
        (t["band_no"], t["band_lower"], t["band_up_to"], t["tier_no"], t["lower_bound"])
        for t in tiers
        if t["pricing_id"] == "sales"
    ]
    assert sales == [
        (1, Decimal(0), Decimal(100), 1, Decimal(0)),
        (1, Decimal(0), Decimal(100), 2, Decimal(50000)),
        (1, Decimal(0), Decimal(100), 3, Decimal(100000)),
        (2, Decimal(100), None, 1, Decimal(0)),
    ]
    egress = {
        (t["group_value"], t["tier_no"]): t["unit_price"]
        for t in tiers
        if t["pricing_id"] == "egress"
    }
    assert egress[("EU-West", 2)] == Decimal("0.10")
    assert egress[("US-East", 1)] == Decimal("0.05")


def test_bad_band_table_names_the_key(tmp_path):
    path = _company(tmp_path)
    plan = yaml.safe_load(path.read_text())
    plan["products"][1]["pricing"]["bands"][1]["up_to"] = 500  # last band must be open
    path.write_text(yaml.safe_dump(plan))
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert "products[1].pricing.bands" in str(info.value)
    assert "the last tier must have up_to: null" in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "price_override is not valid JSON"),
        ("[1, 2]", "price_override must be a JSON object"),
        (
            '{"model": "tiered", "tiers": [{"up_to": 5, "unit_price": 1}]}',
            "the last tier must have up_to: null",
        ),
        ('{"model": "bogus"}', "price_override model"),
    ],
)
def test_bad_price_overrides_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_override(text)


def test_price_override_is_exact():
    pricing = parse_override('{"model": "per_unit", "unit_price": 1.005}')
    assert pricing.unit_price == Decimal("1.005")


def test_periods_in_the_plans_time_zone(tmp_path, warehouse_url):
    """Period boundaries are midnight in the plan's zone; a running period is not invoiced;
    a currency without a known minor unit quarantines its contract."""
    plan = {
        **PLAN,
        "timezone": "America/New_York",
        "as_of": "2026-10-15",
        "metrics": [{"id": "calls", "event_name": "call", "aggregation": "count"}],
        "products": [
            {"id": "calls", "metric": "calls", "pricing": {"model": "per_unit", "unit_price": 1}}
        ],
    }
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    _write(tmp_path / "customers.csv", [{"customer_id": "C1", "name": "NY", "currency": "USD"}])
    _write(
        tmp_path / "contracts.csv",
        [
            {
                "contract_id": "K1",
                "customer_id": "C1",
                "start_date": "2026-09-01",
                "currency": "USD",
                "billing_period": "P1M",
            },
            {
                "contract_id": "KX",
                "customer_id": "C1",
                "start_date": "2026-09-01",
                "currency": "XYZ",
                "billing_period": "P1M",
            },
        ],
    )
    _write(tmp_path / "contract_lines.csv", [{"contract_id": "K1", "product_id": "calls"}])
    events = [
        ("before", "2026-09-01T03:00:00Z"),  # 31 Aug, 23:00 in New York: before the contract
        ("sept", "2026-09-15T12:00:00Z"),
        ("late", "2026-10-01T02:00:00Z"),  # 30 Sept, 22:00 in New York: September
        ("oct", "2026-10-10T12:00:00Z"),  # October: the period is still running on as_of
    ]
    _write(
        tmp_path / "events.csv",
        [
            {
                "event_id": e,
                "customer_id": "C1",
                "event_name": "call",
                "timestamp": ts,
                "properties": "{}",
            }
            for e, ts in events
        ],
    )
    run = run_stages(tmp_path / "plan.yaml", warehouse_url, through="billing")
    assert run.success, [s.error for s in run.stages]
    wh = warehouse_from_url(warehouse_url)
    aggregates = sorted(
        (str(p), f"{v:.0f}")
        for p, v in wh.query("select period_start, value from sandbox.usage_aggregates")
    )
    assert aggregates == [("2026-09-01", "2"), ("2026-10-01", "1")]
    invoices = [
        (str(p), f"{t:.2f}")
        for p, t in wh.query("select period_start, total from sandbox.invoices")
    ]
    assert invoices == [("2026-09-01", "2.00")]  # October ends after as_of: not invoiced
    assert wh.query("select event_id from sandbox.usage_unbilled") == [("before",)]
    assert wh.query("select record_key, reason from quarantine.records") == [
        ("KX", "unknown_currency")
    ]
