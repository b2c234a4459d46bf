"""Differential tests: the SQL pipeline against the reference biller, on generated companies.

Hypothesis draws small implementation plans (every pricing model of DOMAIN.md §2, tier bounds
that usage lands on exactly, zero and fractional quantities, month-end and leap-day anchors,
currencies with 0, 2 and 3 decimals), contracts with every contract and line feature (price
overrides, line dates, prorated commitments, skip_zero, discounts, minimums, prepaid credit,
taxes) and usage events for every aggregation (weighted_sum, filters and group-by included).
Each example is written as an onboarding bundle, billed from its files by
``golive.demo.reference_biller``, and run through the pipeline up to billing on DuckDB and on
PostgreSQL: the same invoices must exist on both sides, and every total and line must agree to
the cent.

A pipeline run costs about 20 s, so one example is one company with many contracts, examples
are few and derandomized, and shrinking is off: a failing example is reported whole (with the
folder of its bundle) and becomes an explicit regression test below.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from connectors.warehouse import warehouse_from_url
from golive.demo import reference_biller as rb
from golive.demo.bundle import bill_bundle, read_bundle
from golive.runner import run_stages

AS_OF = date(2024, 7, 1)
CURRENCIES = ["USD", "EUR", "JPY", "GBP", "KWD"]
REGIONS = ["ap-south", "eu-west", "us-east"]
# Values of the 2-D dimension (a unit price): on and around the band bounds below.
PRICE_POINTS = ["5", "10", "10.5", "25", "99.99", "100", "250"]
BAND_BOUNDS = ["10", "25", "99.99", "100"]
# Tier bounds, and the values usage is made of: sums and levels land on the bounds.
BOUNDS = ["1", "2.5", "5", "10", "20", "100", "250"]
VALUES = ["0", "0.001", "0.5", "1", "1.5", "2.5", "5", "7.25", "10", "20", "100", "250"]
MONEY = ["0", "0.01", "0.5", "2.5", "10", "12.34", "99.995", "100", "1234.5678"]
PRICES = ["0", "0.001", "0.05", "0.1", "0.333", "1", "1.5", "2", "12.5"]
FEES = ["0", "1", "5", "9.99", "50", "120"]
# Month ends, the leap day and the days around them.
SPECIAL_DATES = [
    date(2023, 11, 30),
    date(2023, 12, 31),
    date(2024, 1, 1),
    date(2024, 1, 30),
    date(2024, 1, 31),
    date(2024, 2, 1),
    date(2024, 2, 28),
    date(2024, 2, 29),
    date(2024, 3, 1),
    date(2024, 3, 31),
    date(2024, 4, 30),
]
ANNUAL_STARTS = [date(2023, 2, 28), date(2023, 3, 1), date(2023, 6, 30), date(2023, 7, 1)]

METRICS: list[dict[str, Any]] = [
    {"id": "calls", "event_name": "call", "aggregation": "count"},
    {"id": "qty_sum", "event_name": "usage", "aggregation": "sum", "property": "qty"},
    {"id": "qty_max", "event_name": "usage", "aggregation": "max", "property": "qty"},
    {"id": "qty_min", "event_name": "usage", "aggregation": "min", "property": "qty"},
    {"id": "qty_avg", "event_name": "usage", "aggregation": "avg", "property": "qty"},
    {
        "id": "paid_qty",
        "event_name": "usage",
        "aggregation": "sum",
        "property": "qty",
        "filters": {"kind": "paid"},
    },
    {"id": "users", "event_name": "login", "aggregation": "count_distinct", "property": "user"},
    {"id": "level", "event_name": "gauge", "aggregation": "latest", "property": "level"},
    {"id": "level_time", "event_name": "gauge", "aggregation": "weighted_sum", "property": "level"},
    {"id": "payments", "event_name": "payment", "aggregation": "sum", "property": "amount"},
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
]
EVENT_OF_METRIC = {m["id"]: m["event_name"] for m in METRICS}
SCALAR_METRICS = [m["id"] for m in METRICS]
SCALAR_MODELS = [
    "per_unit",
    "percent",
    "package",
    "tiered",
    "tiered_flat_fee",
    "volume",
    "volume_flat_fee",
    "step",
]

# ---------------------------------------------------------------------------- strategies


@dataclass
class Company:
    """One generated company: the plan's products, master data and events, as written."""

    products: list[dict[str, Any]]
    customers: list[dict[str, str]] = field(default_factory=list)
    contracts: list[dict[str, str]] = field(default_factory=list)
    lines: list[dict[str, str]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)


def _tiers(draw, kind: str, bounds: list[str] = BOUNDS) -> list[dict[str, Any]]:
    """A tier table with 1-4 rows; ``kind`` says which prices each row has."""
    chosen = draw(st.lists(st.sampled_from(bounds), max_size=3, unique=True))
    rows = []
    for bound in [*sorted(chosen, key=Decimal), None]:
        row: dict[str, Any] = {"up_to": bound}
        if kind in ("unit", "unit_fee"):
            row["unit_price"] = draw(st.sampled_from(PRICES))
        if kind in ("unit_fee", "fee"):
            row["flat_fee"] = draw(st.sampled_from(FEES))
        rows.append(row)
    return rows


def _pricing(draw, model: str) -> dict[str, Any]:
    """A valid ``pricing`` mapping of ``model`` (BUNDLE.md "Pricing fields")."""
    pricing: dict[str, Any] = {"model": model}
    if model == "flat_fee":
        pricing["amount"] = draw(st.sampled_from(MONEY))
    elif model == "per_unit":
        pricing["unit_price"] = draw(st.sampled_from(PRICES))
        unit_size = draw(st.sampled_from([None, "1", "2.5", "1000"]))
        if unit_size:
            pricing["unit_size"] = unit_size
    elif model == "percent":
        pricing["rate_percent"] = draw(st.sampled_from(["0", "2.9", "5", "12.5", "100"]))
    elif model == "package":
        pricing["package_size"] = draw(st.sampled_from(["1", "2.5", "10", "100"]))
        pricing["package_price"] = draw(st.sampled_from(FEES))
    elif model in ("tiered", "volume"):
        pricing["tiers"] = _tiers(draw, "unit")
    elif model in ("tiered_flat_fee", "volume_flat_fee"):
        pricing["tiers"] = _tiers(draw, "unit_fee")
    elif model == "step":
        pricing["tiers"] = _tiers(draw, "fee")
    elif model == "matrix":
        pricing["rates"] = {region: _tiers(draw, "unit") for region in REGIONS}
    else:
        pricing["bands"] = [
            {"up_to": bound, "tiers": _tiers(draw, "unit")}
            for bound in [
                *sorted(draw(st.sets(st.sampled_from(BAND_BOUNDS), max_size=2)), key=Decimal),
                None,
            ]
        ]
    if draw(st.integers(0, 5)) == 0:
        pricing["skip_zero"] = True
    return pricing


def _products(draw) -> list[dict[str, Any]]:
    """One or two products per model, each usage model on a metric it can price."""
    products = []
    for model in rb.MODELS:
        for n in range(draw(st.integers(1, 2))):
            product: dict[str, Any] = {"id": f"{model}_{n + 1}", "name": f"{model} {n + 1}"}
            if model == "matrix":
                product["metric"] = "egress"
            elif model == "two_dim_tiered":
                product["metric"] = "units_by_price"
            elif model == "percent":
                product["metric"] = draw(st.sampled_from(["payments", "payments", "qty_sum"]))
            elif model != "flat_fee":
                product["metric"] = draw(st.sampled_from(SCALAR_METRICS))
            product["pricing"] = _pricing(draw, model)
            products.append(product)
    return products


def _override(draw, product: dict[str, Any]) -> str:
    """A price override for the product's line: the same kind of usage, maybe another model."""
    model = product["pricing"]["model"]
    if model in SCALAR_MODELS:
        model = draw(st.sampled_from(SCALAR_MODELS))
    pricing = _pricing(draw, model)
    if draw(st.booleans()):
        # the JSON of a person: prices as numbers rather than strings
        pricing = json.loads(json.dumps(pricing), parse_float=str, parse_int=str)
        text = json.dumps(pricing)
        for value in {v for v in _leaves(pricing) if isinstance(v, str)}:
            if _is_number(value):
                text = text.replace(f'"{value}"', value)
        return text
    return json.dumps(pricing)


def _leaves(value: Any):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _is_number(text: str) -> bool:
    return rb.to_number(text) is not None


def _date_between(draw, lo: date, hi: date) -> date:
    return lo + timedelta(days=draw(st.integers(0, max((hi - lo).days, 0))))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@st.composite
def companies(draw, min_contracts: int = 30, max_contracts: int = 60) -> Company:
    """A company: a price book of every model, contracts with every feature, usage events."""
    company = Company(_products(draw))
    by_id = {p["id"]: p for p in company.products}
    n_contracts = draw(st.integers(min_contracts, max_contracts))
    customer_id = ""
    for i in range(n_contracts):
        contract_id = f"K{i + 1:03d}"
        currency = draw(st.sampled_from(CURRENCIES))
        new_customer = i == 0 or draw(st.integers(0, 9)) > 0
        if new_customer:
            customer_id = f"C{i + 1:03d}"
            company.customers.append(
                {
                    "customer_id": customer_id,
                    "name": f"Customer {i + 1}",
                    "currency": currency,
                    "tax_rate_percent": draw(st.sampled_from(["", "", "0", "10", "19", "7.25"])),
                }
            )
        cadence = draw(st.sampled_from(["P1M", "P1M", "P1M", "P3M", "P1Y"]))
        if cadence == "P1Y":
            start = draw(st.sampled_from(ANNUAL_STARTS))
        elif draw(st.booleans()):
            start = draw(st.sampled_from(SPECIAL_DATES))
        else:
            start = _date_between(draw, date(2023, 10, 1), date(2024, 5, 31))
        anchor = draw(
            st.sampled_from(
                [None, None, None, date(2024, 1, 31), date(2024, 2, 29), date(2023, 12, 31)]
                + [start.replace(day=1)]
            )
        )
        end = None
        if draw(st.integers(0, 3)) == 0:
            end = _date_between(draw, start, date(2024, 8, 15))
        contract = {
            "contract_id": contract_id,
            "customer_id": customer_id,
            "start_date": start,
            "end_date": end,
            "currency": currency,
            "billing_period": cadence,
            "billing_anchor_date": anchor,
            "discount_percent": draw(st.sampled_from([None, None, None, "5", "12.5", "33.333"])),
            "minimum_commitment": draw(st.sampled_from([None, None, None, "50", "1000"])),
            "prepaid_credit": draw(st.sampled_from([None, None, None, None, "100", "5000"])),
            "tax_rate_percent": draw(st.sampled_from([None, None, None, "0", "8.25"])),
        }
        company.contracts.append({k: _text(v) for k, v in contract.items()})

        chosen = draw(st.lists(st.sampled_from(list(by_id)), min_size=1, max_size=5, unique=True))
        for product_id in chosen:
            product = by_id[product_id]
            minimum = draw(st.sampled_from([None, None, None, "1", "25", "100"]))
            line_start = line_end = None
            if draw(st.integers(0, 5)) == 0:
                line_start = _date_between(draw, start, date(2024, 6, 30))
            if draw(st.integers(0, 5)) == 0:
                line_end = _date_between(draw, line_start or start, date(2024, 7, 31))
            line = {
                "contract_id": contract_id,
                "product_id": product_id,
                "quantity": draw(st.sampled_from([None, None, "1", "2", "0.5"]))
                if "metric" not in product
                else None,
                "billing_timing": draw(st.sampled_from([None, None, "advance", "arrears"])),
                "free_units": draw(st.sampled_from([None, None, None, "0.5", "1", "2.5", "10"])),
                "discount_percent": draw(st.sampled_from([None, None, None, "10", "12.5"])),
                "discount_amount": draw(st.sampled_from([None, None, None, "0.5", "5"])),
                "minimum_commitment": minimum,
                "skip_zero": "true" if draw(st.integers(0, 6)) == 0 else None,
                "price_override": _override(draw, product)
                if draw(st.integers(0, 6)) == 0
                else None,
                "start_date": line_start,
                "end_date": line_end,
                "prorate_commitment": "true" if minimum and draw(st.booleans()) else None,
            }
            company.lines.append({k: _text(v) for k, v in line.items()})
        seed = draw(st.integers(0, 2**32 - 1))
        metrics = [by_id[p].get("metric") for p in chosen]
        company.events += _events(
            random.Random(seed),
            customer_id,
            contract,
            [m for m in metrics if m],
            len(company.events),
        )
    return company


def _instants(contract: dict[str, Any]) -> list[datetime]:
    """Instants where rules meet: period bounds, the edges of the contract, the leap day."""
    start, end = contract["start_date"], contract["end_date"]
    found = rb.periods(
        start, end, contract["billing_anchor_date"], contract["billing_period"], date(2025, 1, 1)
    )
    midnights = [start, date(2024, 2, 29), date(2024, 3, 1)]
    for p in found:
        midnights += [p.start, p.end]
    if end:
        midnights.append(end + timedelta(days=1))
    out = []
    for d in midnights:
        at = datetime(d.year, d.month, d.day, tzinfo=UTC)
        out += [at, at - timedelta(milliseconds=1), at + timedelta(hours=12)]
    return out


_OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]


def _timestamp(at: datetime, rnd: random.Random) -> str:
    zone = rnd.choice([_OFFSETS[0], *_OFFSETS]) if rnd.random() < 0.3 else UTC
    local = at.astimezone(zone)
    text = local.isoformat(timespec="milliseconds" if at.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _events(
    rnd: random.Random,
    customer_id: str,
    contract: dict[str, Any],
    metrics: list[str],
    first_id: int,
) -> list[dict[str, str]]:
    """Usage of one contract: mostly for its metered products, some of any other kind."""
    instants = _instants(contract)
    lo = datetime.combine(contract["start_date"], datetime.min.time(), UTC) - timedelta(days=2)
    last = min(contract["end_date"] or AS_OF, AS_OF) + timedelta(days=2)
    hi = datetime.combine(last, datetime.min.time(), UTC)
    events = []
    for n in range(rnd.randint(0, 24)):
        metric = (
            rnd.choice(metrics) if metrics and rnd.random() < 0.85 else rnd.choice(METRICS)["id"]
        )
        name = EVENT_OF_METRIC[metric]
        if rnd.random() < 0.5:
            at = rnd.choice(instants)
        else:
            at = lo + timedelta(
                milliseconds=rnd.randrange(max(int((hi - lo).total_seconds() * 1000), 1))
            )
            if rnd.random() < 0.7:
                at = at.replace(microsecond=0)
        value = rnd.choice(VALUES)
        props: dict[str, Any]
        if name == "usage":
            props = {"qty": value, "kind": rnd.choice(["paid", "paid", "free"])}
        elif name == "login":
            props = {"user": rnd.choice(["u1", "u2", "u3", "u4"])}
        elif name == "gauge":
            props = {"level": value}
        elif name == "payment":
            props = {"amount": rnd.choice(MONEY)}
        elif name == "egress":
            props = {"gb": value, "region": rnd.choice(REGIONS)}
        elif name == "sale":
            props = {"units": value, "price": rnd.choice(PRICE_POINTS)}
        else:
            props = {"endpoint": "/v1/x"}
        # numbers written as JSON numbers, now and then as numeric strings
        body = json.dumps(props)
        for key, v in props.items():
            if _is_number(str(v)) and rnd.random() < 0.8:
                body = body.replace(f'"{key}": "{v}"', f'"{key}": {v}')
        events.append(
            {
                "event_id": f"evt_{first_id + n:06d}",
                "customer_id": customer_id,
                "event_name": name,
                "timestamp": _timestamp(at, rnd),
                "properties": body,
            }
        )
    if events and rnd.random() < 0.2:
        events.append(dict(rnd.choice(events)))  # an exact repeat: one event, one duplicate
    return events


# ---------------------------------------------------------------------------- the bundle


def _write_csv(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_bundle(company: Company, folder: Path) -> Path:
    """Write the company as an onboarding bundle (the generator's shape); return plan.yaml."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    plan = {
        "company": "Differential Test Co",
        "default_currency": "USD",
        "timezone": "UTC",
        "as_of": AS_OF,
        "parallel_test": {"periods": {"from": date(2024, 5, 1), "to": AS_OF}},
        "sources": {
            "customers": {"connector": "csv", "path": "data/customers.csv"},
            "contracts": {"connector": "csv", "path": "data/contracts.csv"},
            "contract_lines": {"connector": "csv", "path": "data/contract_lines.csv"},
            "usage_events": {"connector": "parquet", "path": "data/usage.parquet"},
        },
        "metrics": METRICS,
        "products": company.products,
        "signoff": {"min_invoice_match_rate": "0.5", "max_abs_total_delta": "1000000"},
    }
    plan_path = folder / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    _write_csv(
        folder / "data/customers.csv",
        company.customers,
        ["customer_id", "name", "currency", "tax_rate_percent"],
    )
    _write_csv(folder / "data/contracts.csv", company.contracts, list(company.contracts[0]))
    _write_csv(folder / "data/contract_lines.csv", company.lines, list(company.lines[0]))
    columns = ["event_id", "customer_id", "event_name", "timestamp", "properties"]
    table = pa.table({c: pa.array([e[c] for e in company.events], pa.string()) for c in columns})
    pq.write_table(table, folder / "data/usage.parquet")
    return plan_path


# ---------------------------------------------------------------------------- the comparison


def _invoice_id(invoice: rb.Invoice) -> str:
    return f"{invoice.contract_id}-{invoice.period_start:%Y%m%d}"


def compare_with_pipeline(plan_path: Path, warehouse_url: str) -> list[str]:
    """Run the pipeline through billing; return every disagreement with the reference biller."""
    bundle = read_bundle(plan_path)
    expected = {_invoice_id(i): i for i in bill_bundle(bundle)}
    run = run_stages(
        plan_path, warehouse_url, through="billing", log_path=plan_path.parent / "golive-run.log"
    )
    assert run.success, [(s.stage, s.error) for s in run.stages if not s.success]

    wh = warehouse_from_url(warehouse_url)
    got = {
        invoice_id: (contract_id, str(period_start), Decimal(str(total)))
        for invoice_id, contract_id, period_start, total in wh.query(
            "select invoice_id, contract_id, period_start, total from sandbox.invoices"
        )
    }
    got_lines: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for invoice_id, product_id, amount in wh.query(
        "select invoice_id, product_id, amount from sandbox.invoice_lines"
    ):
        got_lines[invoice_id][product_id] = Decimal(str(amount))

    problems = []
    for invoice_id in sorted(expected.keys() - got.keys()):
        inv = expected[invoice_id]
        problems.append(f"{invoice_id}: missing from the pipeline (reference total {inv.total})")
    for invoice_id in sorted(got.keys() - expected.keys()):
        problems.append(f"{invoice_id}: only in the pipeline (total {got[invoice_id][2]})")
    for invoice_id in sorted(expected.keys() & got.keys()):
        inv = expected[invoice_id]
        want_lines = {line.product_id: line.amount for line in inv.lines}
        if got[invoice_id][2] != inv.total or got_lines[invoice_id] != want_lines:
            problems.append(
                f"{invoice_id}: total {got[invoice_id][2]} (reference {inv.total}); lines "
                f"{_fmt(got_lines[invoice_id])} (reference {_fmt(want_lines)})"
            )
    return problems


def _fmt(lines: dict[str, Decimal]) -> str:
    return "{" + ", ".join(f"{k}: {v.normalize():f}" for k, v in sorted(lines.items())) + "}"


def _explain(problems: list[str], folder: Path) -> str:
    shown = "\n  ".join(problems[:15])
    more = f"\n  … and {len(problems) - 15} more" if len(problems) > 15 else ""
    return f"{len(problems)} disagreement(s); the bundle is in {folder}\n  {shown}{more}"


# ---------------------------------------------------------------------------- warehouses


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@pytest.fixture(params=["duckdb", "postgres"])
def new_warehouse(request, tmp_path_factory):
    """A factory of fresh, empty warehouses (one per Hypothesis example)."""
    server = request.getfixturevalue("postgres_server_url") if request.param == "postgres" else None
    created: list[str] = []

    def make() -> str:
        if server is None:
            return f"duckdb:///{tmp_path_factory.mktemp('warehouse')}/warehouse.duckdb"
        import psycopg

        name = f"golive_diff_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as con:
            con.execute(f'create database "{name}"')
        created.append(name)
        return _with_database(server, name)

    yield make
    if created:
        import psycopg

        with psycopg.connect(server, autocommit=True) as con:
            for name in created:
                con.execute(f'drop database if exists "{name}" with (force)')


# ---------------------------------------------------------------------------- the tests


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each attempt is a pipeline run
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(company=companies())
def test_pipeline_agrees_with_the_reference_biller(company, new_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("company")
    plan_path = write_bundle(company, folder)
    problems = compare_with_pipeline(plan_path, new_warehouse())
    assert not problems, _explain(problems, folder)
