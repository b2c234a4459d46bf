"""Differential tests: the SQL pipeline against the reference biller, on generated companies.

Hypothesis draws small implementation plans (every pricing model of DOMAIN.md §2, tier bounds
that usage lands on exactly, zero and fractional quantities, month-end and leap-day anchors,
currencies with 0, 2 and 3 decimals), contracts with every contract and line feature (price
overrides, line dates, prorated commitments, skip_zero, discounts, minimums, prepaid credit,
taxes) and usage events for every aggregation (weighted_sum, filters and group-by included).
Each example is written as an onboarding bundle, billed from its files by
``golive.reference.biller``, and run through the pipeline up to billing on DuckDB and on
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
from golive.reference import biller as rb
from golive.reference.bundle import bill_bundle, read_bundle
from orchestration.runner import run_stages

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


CONTRACT_COLUMNS = [
    "contract_id",
    "customer_id",
    "start_date",
    "end_date",
    "currency",
    "billing_period",
    "billing_anchor_date",
    "discount_percent",
    "minimum_commitment",
    "prepaid_credit",
    "tax_rate_percent",
]
LINE_COLUMNS = [
    "contract_id",
    "product_id",
    "quantity",
    "billing_timing",
    "free_units",
    "discount_percent",
    "discount_amount",
    "minimum_commitment",
    "skip_zero",
    "price_override",
    "start_date",
    "end_date",
    "prorate_commitment",
]


@dataclass(repr=False)
class Company:
    """One generated company: the plan's products, master data and events, as written."""

    products: list[dict[str, Any]]
    customers: list[dict[str, str]] = field(default_factory=list)
    contracts: list[dict[str, str]] = field(default_factory=list)
    lines: list[dict[str, str]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"Company({len(self.products)} products, {len(self.contracts)} contracts, "
            f"{len(self.lines)} lines, {len(self.events)} events)"
        )

    def _repr_pretty_(self, printer, cycle) -> None:  # how Hypothesis prints an example
        printer.text(repr(self))


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
    if _rare(draw, 6):
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
    text = json.dumps(pricing)
    if draw(st.booleans()):
        # the JSON of a person: prices as numbers rather than strings
        for value in {v for v in _leaves(pricing) if isinstance(v, str) and _is_number(v)}:
            text = text.replace(f'"{value}"', value)
    return text


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


def _rare(draw, one_in: int) -> bool:
    """True once in ``one_in`` draws; False in the simplest example."""
    return draw(st.integers(1, one_in)) == one_in


def _pick(draw, options: list[Any], i: int) -> Any:
    """One of ``options``; the simplest example takes the ``i``-th (so it still varies)."""
    k = i % len(options)
    return draw(st.sampled_from(options[k:] + options[:k]))


@st.composite
def companies(draw, min_contracts: int = 30, max_contracts: int = 60) -> Company:
    """A company: a price book of every model, contracts with every feature, usage events.

    Contract ``i`` starts its choices at the ``i``-th option, so that even the simplest example
    spreads its contracts over products, cadences, dates and currencies.
    """
    company = Company(_products(draw))
    by_id = {p["id"]: p for p in company.products}
    n_contracts = draw(st.integers(min_contracts, max_contracts))
    customer_id = ""
    for i in range(n_contracts):
        contract_id = f"K{i + 1:03d}"
        currency = _pick(draw, CURRENCIES, i)
        if i == 0 or not _rare(draw, 10):  # now and then a customer's second contract
            customer_id = f"C{i + 1:03d}"
            company.customers.append(
                {
                    "customer_id": customer_id,
                    "name": f"Customer {i + 1}",
                    "currency": currency,
                    "tax_rate_percent": _pick(draw, ["", "0", "10", "", "19", "7.25"], i),
                }
            )
        cadence = _pick(draw, ["P1M", "P3M", "P1M", "P1Y", "P1M"], i)
        if cadence == "P1Y":
            start = _pick(draw, ANNUAL_STARTS, i)
        elif not _rare(draw, 3):
            start = _pick(draw, SPECIAL_DATES, i)
        else:
            start = _date_between(draw, date(2023, 10, 1), date(2024, 5, 31))
        anchors = [None, date(2024, 1, 31), None, date(2024, 2, 29), None, start.replace(day=1)]
        anchor = _pick(draw, [*anchors, date(2023, 12, 31)], i)
        end = _date_between(draw, start, date(2024, 8, 15)) if _rare(draw, 4) else None
        contract = {
            "contract_id": contract_id,
            "customer_id": customer_id,
            "start_date": start,
            "end_date": end,
            "currency": currency,
            "billing_period": cadence,
            "billing_anchor_date": anchor,
            "discount_percent": _pick(draw, [None, None, "5", None, "12.5", "33.333"], i),
            "minimum_commitment": _pick(draw, [None, None, "50", None, "1000"], i),
            "prepaid_credit": _pick(draw, [None, None, None, "100", None, "5000"], i),
            "tax_rate_percent": _pick(draw, [None, None, "0", None, "8.25"], i),
        }
        company.contracts.append({k: _text(v) for k, v in contract.items()})

        ids = list(by_id)
        ids = ids[i % len(ids) :] + ids[: i % len(ids)]
        chosen = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=5, unique=True))
        for j, product_id in enumerate(chosen):
            product = by_id[product_id]
            n = i + j
            minimum = _pick(draw, [None, None, "1", None, "25", None, "100"], n)
            line_start = _date_between(draw, start, date(2024, 6, 30)) if _rare(draw, 6) else None
            line_end = (
                _date_between(draw, line_start or start, date(2024, 7, 31))
                if _rare(draw, 6)
                else None
            )
            metered = "metric" in product
            line = {
                "contract_id": contract_id,
                "product_id": product_id,
                "quantity": None if metered else _pick(draw, [None, "1", "2", "0.5"], n),
                "billing_timing": _pick(draw, [None, "advance", None, "arrears"], n),
                "free_units": _pick(draw, [None, None, "0.5", None, "1", "2.5", "10"], n),
                "discount_percent": _pick(draw, [None, None, "10", None, "12.5"], n),
                "discount_amount": _pick(draw, [None, None, None, "0.5", None, "5"], n),
                "minimum_commitment": minimum,
                "skip_zero": "true" if _rare(draw, 7) else None,
                "price_override": _override(draw, product) if _rare(draw, 7) else None,
                "start_date": line_start,
                "end_date": line_end,
                "prorate_commitment": "true" if minimum and not _rare(draw, 2) else None,
            }
            company.lines.append({key: _text(v) for key, v in line.items()})
        seed = draw(st.integers(0, 2**32 - 1))
        metrics = [m for m in (by_id[p].get("metric") for p in chosen) if m]
        company.events += _events(
            random.Random(seed + i), customer_id, contract, metrics, len(company.events)
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
    _write_csv(folder / "data/contracts.csv", company.contracts, CONTRACT_COLUMNS)
    _write_csv(folder / "data/contract_lines.csv", company.lines, LINE_COLUMNS)
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


# ---------------------------------------------------------------------------- explicit cases


def _company(
    products: list[dict[str, Any]],
    contracts: list[dict[str, str]],
    lines: list[dict[str, str]],
    events: list[tuple[str, str, str, dict[str, Any]]] = (),
) -> Company:
    """A hand-made company: contracts and lines give only their non-empty columns; events are
    ``(contract_id, event_name, timestamp, properties)`` (one customer per contract)."""
    company = Company(products)
    for c in contracts:
        row = {"customer_id": f"C-{c['contract_id']}", "billing_period": "P1M", **c}
        company.contracts.append({k: row.get(k, "") for k in CONTRACT_COLUMNS})
        company.customers.append(
            {"customer_id": row["customer_id"], "name": row["customer_id"], "currency": ""}
        )
    company.lines = [{k: line.get(k, "") for k in LINE_COLUMNS} for line in lines]
    for n, (contract_id, name, timestamp, props) in enumerate(events):
        company.events.append(
            {
                "event_id": f"evt_{n:06d}",
                "customer_id": f"C-{contract_id}",
                "event_name": name,
                "timestamp": timestamp,
                "properties": json.dumps(props),
            }
        )
    return company


def _run(company: Company, warehouse_url: str, folder: Path) -> list[str]:
    return compare_with_pipeline(write_bundle(company, folder), warehouse_url)


PLATFORM = {"id": "platform", "pricing": {"model": "flat_fee", "amount": "100"}}
CALLS = {"id": "calls", "metric": "calls", "pricing": {"model": "per_unit", "unit_price": "0.5"}}


def test_every_period_is_invoiced_even_without_an_active_line(warehouse_url, tmp_path):
    """Found by the differential test: DOMAIN.md §4 wants one invoice per (contract, period),
    and the README invoices every period that ends by as_of and starts by the end date, so a
    period in which no line is active yet still gets its invoice (with the minimum true-up)."""
    company = _company(
        [PLATFORM, CALLS],
        [
            {"contract_id": "K1", "start_date": "2024-01-31", "currency": "GBP"},
            {
                "contract_id": "K2",
                "start_date": "2024-01-30",
                "end_date": "2024-03-25",
                "currency": "JPY",
                "minimum_commitment": "50",
            },
        ],
        [
            {"contract_id": "K1", "product_id": "calls", "start_date": "2024-04-17"},
            {"contract_id": "K2", "product_id": "platform", "start_date": "2024-03-05"},
        ],
        [("K1", "call", "2024-05-02T10:00:00Z", {})],
    )
    reference = bill_bundle(read_bundle(write_bundle(company, tmp_path)))
    assert {_invoice_id(i): (i.total, len(i.lines)) for i in reference} == {
        "K1-20240131": (Decimal("0.00"), 0),  # no line active yet
        "K1-20240229": (Decimal("0.00"), 0),
        "K1-20240331": (Decimal("0.00"), 1),
        "K1-20240430": (Decimal("0.50"), 1),
        "K1-20240531": (Decimal("0.00"), 1),
        "K2-20240130": (Decimal("50"), 1),  # the minimum true-up alone
        "K2-20240229": (Decimal("70"), 1),  # 100 x 21 of 30 days
    }
    problems = _run(company, warehouse_url, tmp_path)
    assert not problems, _explain(problems, tmp_path)


def test_a_line_dated_after_the_contract_ended_is_not_billed(warehouse_url, tmp_path):
    """Found by the differential test: a line's dates cut the contract's active days, they
    never extend them; a line that starts after the contract ended is active on no day."""
    company = _company(
        [PLATFORM, CALLS],
        [
            {
                "contract_id": "K1",
                "start_date": "2023-07-01",
                "end_date": "2023-11-23",
                "currency": "KWD",
                "billing_period": "P1Y",
            }
        ],
        [
            {"contract_id": "K1", "product_id": "platform"},
            {"contract_id": "K1", "product_id": "calls", "start_date": "2024-06-19"},
        ],
        [("K1", "call", "2023-08-01T10:00:00Z", {}), ("K1", "call", "2023-09-01T10:00:00Z", {})],
    )
    problems = _run(company, warehouse_url, tmp_path)
    assert not problems, _explain(problems, tmp_path)


def _tier(up_to: str | None, unit_price: str | None = None, flat_fee: str | None = None):
    row = {"up_to": up_to, "unit_price": unit_price, "flat_fee": flat_fee}
    return {k: v for k, v in row.items() if v is not None or k == "up_to"}


WORKED_EXAMPLES = [
    {"id": "percent", "metric": "payments", "pricing": {"model": "percent", "rate_percent": "5"}},
    {
        "id": "tiered_flat_fee",
        "metric": "qty_sum",
        "pricing": {
            "model": "tiered_flat_fee",
            "tiers": [
                _tier("100", "0.01", "50"),
                _tier("500", "0.08", "100"),
                _tier("1000", "0.06", "250"),
                _tier(None, "0.05", "400"),
            ],
        },
    },
    {
        "id": "volume_flat_fee",
        "metric": "qty_sum",
        "pricing": {
            "model": "volume_flat_fee",
            "tiers": [
                _tier("500", "0.01", "50"),
                _tier("2000", "0.08", "100"),
                _tier(None, "0.06", "250"),
            ],
        },
    },
    {
        "id": "step",
        "metric": "qty_sum",
        "pricing": {
            "model": "step",
            "tiers": [
                _tier("500", None, "100"),
                _tier("2000", None, "300"),
                _tier(None, None, "600"),
            ],
        },
    },
    {
        "id": "matrix",
        "metric": "egress",
        "pricing": {
            "model": "matrix",
            "rates": {
                "eu-west": [_tier("500", "0.12"), _tier("2000", "0.10"), _tier(None, "0.07")],
                "us-east": [_tier(None, "0.09")],
            },
        },
    },
    {
        "id": "two_dim_tiered",
        "metric": "units_by_price",
        "pricing": {
            "model": "two_dim_tiered",
            "bands": [
                {
                    "up_to": "100",
                    "tiers": [
                        _tier("50000", "0.01"),
                        _tier("100000", "0.005"),
                        _tier(None, "0.002"),
                    ],
                },
                {"up_to": None, "tiers": [_tier(None, "0.02")]},
            ],
        },
    },
    {
        "id": "capacity",
        "metric": "level_time",
        "pricing": {"model": "per_unit", "unit_price": "3.1"},
    },
]


def test_worked_examples_and_unpriced_usage(warehouse_url, tmp_path):
    """DOMAIN.md §2's worked examples of the newer models through the pipeline, a time-weighted
    level, and usage that no rate prices: reported in sandbox.pricing_errors, never billed."""
    usd = {"currency": "USD", "start_date": "2024-05-01"}
    contracts = [
        {"contract_id": k, **usd}
        for k in ("KP", "KTF", "KVF", "KS", "KS0", "KM", "K2D", "KW", "KERR")
    ]
    lines = [
        {"contract_id": "KP", "product_id": "percent"},
        {"contract_id": "KTF", "product_id": "tiered_flat_fee"},
        {"contract_id": "KVF", "product_id": "volume_flat_fee"},
        {"contract_id": "KS", "product_id": "step"},
        {"contract_id": "KS0", "product_id": "step", "skip_zero": "true"},
        {"contract_id": "KM", "product_id": "matrix"},
        {"contract_id": "K2D", "product_id": "two_dim_tiered"},
        {"contract_id": "KW", "product_id": "capacity"},
        {"contract_id": "KERR", "product_id": "matrix"},
        {"contract_id": "KERR", "product_id": "two_dim_tiered"},
    ]
    may = "2024-05-10T12:00:00Z"
    events = [
        ("KP", "payment", may, {"amount": 1000}),
        ("KP", "payment", "2024-05-20T08:00:00Z", {"amount": "500"}),
        ("KTF", "usage", may, {"qty": 750}),
        ("KVF", "usage", may, {"qty": 1500}),
        ("KS", "usage", may, {"qty": 1500}),
        ("KM", "egress", may, {"gb": 1000, "region": "eu-west"}),
        ("KM", "egress", "2024-05-31T23:59:59.999Z", {"gb": 500, "region": "eu-west"}),
        ("K2D", "sale", may, {"units": 60000, "price": 49.99}),
        # 10 for 15 of May's 31 days, then 0: 10 x 15 / 31 x 3.1 = 15.00
        ("KW", "gauge", "2024-05-01T00:00:00Z", {"level": 10}),
        ("KW", "gauge", "2024-05-16T00:00:00Z", {"level": 0}),
        ("KERR", "egress", may, {"gb": 100, "region": "eu-west"}),
        ("KERR", "egress", may, {"gb": 7, "region": "mars-1"}),
        ("KERR", "sale", may, {"units": 5, "price": 20}),
        ("KERR", "sale", may, {"units": 10, "price": "n/a"}),
    ]
    company = _company(WORKED_EXAMPLES, contracts, lines, events)
    plan_path = write_bundle(company, tmp_path)
    reference = bill_bundle(read_bundle(plan_path))
    amounts = {
        (i.contract_id, i.period_start.month, line.product_id): line.amount
        for i in reference
        for line in i.lines
    }
    D = Decimal
    assert amounts == {
        ("KP", 5, "percent"): D("75.00"),
        ("KP", 6, "percent"): D("0.00"),
        ("KTF", 5, "tiered_flat_fee"): D("448.00"),
        ("KTF", 6, "tiered_flat_fee"): D("0.00"),
        ("KVF", 5, "volume_flat_fee"): D("220.00"),
        ("KVF", 6, "volume_flat_fee"): D("50.00"),  # q = 0 is in the first bracket
        ("KS", 5, "step"): D("300.00"),
        ("KS", 6, "step"): D("100.00"),
        ("KS0", 5, "step"): D("0.00"),
        ("KS0", 6, "step"): D("0.00"),
        ("KM", 5, "matrix"): D("150.00"),
        ("KM", 6, "matrix"): D("0.00"),
        ("K2D", 5, "two_dim_tiered"): D("550.00"),
        ("K2D", 6, "two_dim_tiered"): D("0.00"),
        ("KW", 5, "capacity"): D("15.00"),
        ("KW", 6, "capacity"): D("0.00"),
        ("KERR", 5, "matrix"): D("12.00"),
        ("KERR", 5, "two_dim_tiered"): D("0.05"),
        ("KERR", 6, "matrix"): D("0.00"),
        ("KERR", 6, "two_dim_tiered"): D("0.00"),
    }
    errors = {
        (i.contract_id, str(i.period_start), e.product_id, e.group_value)
        for i in reference
        for e in i.pricing_errors
    }
    assert errors == {
        ("KERR", "2024-05-01", "matrix", "mars-1"),
        ("KERR", "2024-05-01", "two_dim_tiered", "n/a"),
    }

    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, _explain(problems, tmp_path)
    reported = {
        (contract_id, str(period_start), product_id, group_value)
        for contract_id, period_start, product_id, group_value in warehouse_from_url(
            warehouse_url
        ).query(
            "select contract_id, period_start, product_id, group_value from sandbox.pricing_errors"
        )
    }
    assert reported == errors


def test_divided_metric_values_keep_ten_decimals(warehouse_url, tmp_path):
    """Found while probing weighted_sum (and as a one-cent difference in the 1M-event demo):
    a time-weighted level or an average can be a non-terminating decimal. Both sides divide
    once and keep 10 decimals, rounded half-up (README, "Billing decisions").

    K1: level 4 for all of May but its last millisecond, then 5: 4 + 1 ms / 31 days =
    4.00000000037… -> 4.0000000004, above the bound 4, so the second tier's fee (100) is due
    (dividing each holding time by the period first and truncating gave 3.9999999999: no fee).
    K2: level 1 for 10 of June's 30 days is 1/3 -> 0.3333333333, × 0.015 = 0.0049999999995,
    which the priced amount's 10 decimals make 0.0050000000: 0.01. K3: the average of 0, 0 and
    1, likewise.
    """
    tiers = [
        {"up_to": "4", "unit_price": "1", "flat_fee": "0"},
        {"up_to": None, "unit_price": "1", "flat_fee": "100"},
    ]
    products = [
        {
            "id": "capacity",
            "metric": "level_time",
            "pricing": {"model": "tiered_flat_fee", "tiers": tiers},
        },
        {
            "id": "hours",
            "metric": "level_time",
            "pricing": {"model": "per_unit", "unit_price": "0.015"},
        },
        {
            "id": "mean",
            "metric": "qty_avg",
            "pricing": {"model": "per_unit", "unit_price": "0.015"},
        },
    ]
    company = _company(
        products,
        [
            {"contract_id": "K1", "start_date": "2024-05-01", "currency": "USD"},
            {"contract_id": "K2", "start_date": "2024-06-01", "currency": "USD"},
            {"contract_id": "K3", "start_date": "2024-06-01", "currency": "USD"},
        ],
        [
            {"contract_id": "K1", "product_id": "capacity"},
            {"contract_id": "K2", "product_id": "hours"},
            {"contract_id": "K3", "product_id": "mean"},
        ],
        [
            ("K1", "gauge", "2024-05-01T00:00:00Z", {"level": 4}),
            ("K1", "gauge", "2024-05-31T23:59:59.999Z", {"level": 5}),
            ("K2", "gauge", "2024-06-01T00:00:00Z", {"level": 1}),
            ("K2", "gauge", "2024-06-11T00:00:00Z", {"level": 0}),
            ("K3", "usage", "2024-06-02T00:00:00Z", {"qty": 0}),
            ("K3", "usage", "2024-06-03T00:00:00Z", {"qty": 0}),
            ("K3", "usage", "2024-06-04T00:00:00Z", {"qty": 1}),
        ],
    )
    plan_path = write_bundle(company, tmp_path)
    reference = {_invoice_id(i): i.total for i in bill_bundle(read_bundle(plan_path))}
    assert reference == {
        "K1-20240501": Decimal("104.00"),
        "K1-20240601": Decimal("0.00"),
        "K2-20240601": Decimal("0.01"),
        "K3-20240601": Decimal("0.01"),
    }
    problems = compare_with_pipeline(plan_path, warehouse_url)
    assert not problems, _explain(problems, tmp_path)
