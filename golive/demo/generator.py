"""Generate a realistic onboarding bundle: a demo company with its legacy billing output.

``generate_company`` writes everything a real onboarding would hand over (BUNDLE.md): the plan,
customers, contracts, contract lines, a few hundred thousand to millions of usage events in
Parquet, and the legacy process's invoices, invoice lines and journal entries for the
parallel-test window. The legacy output is computed by :mod:`golive.reference.biller` from
the clean events, then a handful of known discrepancies is injected and listed in
``legacy/injected_discrepancies.csv`` so that the parallel test has something real to find.

Events are generated column-wise with numpy and formatted with pyarrow compute functions: there
is no Python loop per event. Everything depends on the seed only (never on today's date), so the
same arguments write the same bytes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from golive.reference import biller as rb

COMPANY = "Northwind Cloud"
AS_OF = date(2026, 11, 1)
WINDOW_FROM = date(2026, 9, 1)
WINDOW_TO = date(2026, 11, 1)
USAGE_START = date(2026, 6, 1)
USAGE_END = AS_OF  # exclusive

ROWS_PER_FILE = 250_000
MAX_CUSTOMERS = 2_500
BAD_ROW_SHARE = 0.00004  # per kind of bad row; five kinds, about 0.02 % of the rows in all

_EPOCH = date(1970, 1, 1)
_DAY_MS = 86_400_000

# ---------------------------------------------------------------------------- the catalogue

METRICS: list[dict[str, Any]] = [
    {"id": "api_calls", "event_name": "api_call", "aggregation": "count"},
    {"id": "storage_gb", "event_name": "storage", "aggregation": "max", "property": "gb"},
    {"id": "compute_seconds", "event_name": "compute", "aggregation": "sum", "property": "seconds"},
    {
        "id": "active_users",
        "event_name": "login",
        "aggregation": "count_distinct",
        "property": "user_id",
    },
    {"id": "messages", "event_name": "message", "aggregation": "sum", "property": "count"},
    {
        "id": "push_messages",
        "event_name": "message",
        "aggregation": "sum",
        "property": "count",
        "filters": {"channel": "push"},
    },
    {
        "id": "devices",
        "event_name": "device_report",
        "aggregation": "latest",
        "property": "devices",
    },
    {
        "id": "payment_volume",
        "event_name": "payment",
        "aggregation": "sum",
        "property": "amount",
        "filters": {"status": "succeeded"},
    },
    {
        "id": "egress_gb",
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
        "group_by": "unit_price",
    },
    {
        "id": "reserved_vcpus",
        "event_name": "capacity",
        "aggregation": "weighted_sum",
        "property": "vcpus",
    },
    # Tracked for the customer success team, never priced.
    {"id": "latency_ms", "event_name": "api_call", "aggregation": "avg", "property": "ms"},
    {"id": "min_battery", "event_name": "device_report", "aggregation": "min", "property": "pct"},
]

REGIONS = ["us-east-1", "eu-west-1", "ap-northeast-1"]
# The price points of marketplace sales (written as JSON numbers); 100 is on the band bound.
PRICE_POINTS = ["4.99", "19.99", "49.5", "100", "100.01", "149", "299.99"]


def _tiers(*rows: tuple[Any, ...], keys: tuple[str, ...] = ("up_to", "unit_price")) -> list:
    return [dict(zip(keys, row, strict=True)) for row in rows]


PRODUCTS: list[dict[str, Any]] = [
    {
        "id": "platform",
        "name": "Platform fee",
        "pricing": {"model": "flat_fee", "amount": "500.00"},
    },
    {
        "id": "api",
        "name": "API requests",
        "metric": "api_calls",
        "pricing": {
            "model": "tiered",
            "tiers": _tiers((50, "0.40"), (250, "0.30"), (None, "0.20")),
        },
    },
    {
        "id": "storage",
        "name": "Storage (peak GB)",
        "metric": "storage_gb",
        "pricing": {
            "model": "volume",
            "tiers": _tiers((100, "0.300"), (500, "0.250"), (None, "0.200")),
        },
    },
    {
        "id": "compute",
        "name": "Compute (per 1,000 s)",
        "metric": "compute_seconds",
        "pricing": {"model": "per_unit", "unit_size": 1000, "unit_price": "4.50"},
    },
    {
        "id": "seats",
        "name": "Active users",
        "metric": "active_users",
        "pricing": {"model": "per_unit", "unit_price": "12.00"},
    },
    {
        "id": "team_plan",
        "name": "Team plan (by active users)",
        "metric": "active_users",
        "pricing": {
            "model": "step",
            "tiers": _tiers(
                (10, "49.00"), (25, "99.00"), (None, "199.00"), keys=("up_to", "flat_fee")
            ),
        },
    },
    {
        "id": "messaging",
        "name": "Messages (packs of 100)",
        "metric": "messages",
        "pricing": {"model": "package", "package_size": 100, "package_price": "1.50"},
    },
    {
        "id": "push",
        "name": "Push notifications",
        "metric": "push_messages",
        "pricing": {
            "model": "volume_flat_fee",
            "tiers": _tiers(
                (250, "0.020", "5.00"),
                (1000, "0.015", "12.00"),
                (None, "0.010", "25.00"),
                keys=("up_to", "unit_price", "flat_fee"),
            ),
            "skip_zero": True,
        },
    },
    {
        "id": "devices",
        "name": "Managed devices",
        "metric": "devices",
        "pricing": {"model": "per_unit", "unit_price": "3.00"},
    },
    {
        "id": "payments",
        "name": "Payment processing",
        "metric": "payment_volume",
        "pricing": {"model": "percent", "rate_percent": "2.9"},
    },
    {
        "id": "egress",
        "name": "Data egress (GB by region)",
        "metric": "egress_gb",
        "pricing": {
            "model": "matrix",
            "rates": {
                "us-east-1": _tiers((500, "0.09"), (2000, "0.07"), (None, "0.05")),
                "eu-west-1": _tiers((500, "0.12"), (2000, "0.10"), (None, "0.07")),
                "ap-northeast-1": _tiers((500, "0.14"), (2000, "0.12"), (None, "0.09")),
            },
        },
    },
    {
        "id": "marketplace",
        "name": "Marketplace units (by price band)",
        "metric": "units_by_price",
        "pricing": {
            "model": "two_dim_tiered",
            "bands": [
                {"up_to": 100, "tiers": _tiers((200, "0.25"), (1000, "0.20"), (None, "0.15"))},
                {"up_to": None, "tiers": _tiers((100, "0.60"), (None, "0.45"))},
            ],
        },
    },
    {
        "id": "capacity",
        "name": "Reserved capacity (vCPU, time-weighted)",
        "metric": "reserved_vcpus",
        "pricing": {
            "model": "tiered_flat_fee",
            "tiers": _tiers(
                (4, "15.00", "20.00"),
                (16, "12.00", "40.00"),
                (None, "10.00", "80.00"),
                keys=("up_to", "unit_price", "flat_fee"),
            ),
        },
    },
    {
        "id": "support",
        "name": "Premium support",
        "pricing": {"model": "flat_fee", "amount": "150.00"},
    },
]

# Negotiated prices (contract_lines.price_override), as a sales team writes them: the shape of
# the product's pricing, sometimes another model, prices as JSON numbers or strings.
OVERRIDES: dict[str, list[dict[str, Any]]] = {
    "api": [
        {"model": "tiered", "tiers": _tiers((100, 0.35), (None, 0.18))},
        {"model": "volume", "tiers": _tiers((250, 0.3), (None, "0.22"))},
    ],
    "storage": [{"model": "volume", "tiers": _tiers((500, 0.22), (None, 0.18))}],
    "compute": [{"model": "per_unit", "unit_size": 1000, "unit_price": 3.95}],
    "team_plan": [
        {"model": "step", "tiers": _tiers((25, 79), (None, 149), keys=("up_to", "flat_fee"))}
    ],
    "payments": [
        {"model": "percent", "rate_percent": 2.4},
        {"model": "percent", "rate_percent": "1.95"},
    ],
    "egress": [
        {
            "model": "matrix",
            "rates": {
                "us-east-1": _tiers((1000, 0.08), (None, 0.04)),
                "eu-west-1": _tiers((1000, 0.1), (None, 0.06)),
                "ap-northeast-1": _tiers((None, 0.11)),
            },
        }
    ],
    "marketplace": [
        {
            "model": "two_dim_tiered",
            "bands": [
                {"up_to": 50, "tiers": _tiers((None, 0.1))},
                {"up_to": None, "tiers": _tiers((500, 0.3), (None, 0.25))},
            ],
        }
    ],
    "capacity": [
        {
            "model": "tiered_flat_fee",
            "tiers": _tiers(
                (8, 13, 0), (None, "9.50", 50), keys=("up_to", "unit_price", "flat_fee")
            ),
        }
    ],
    "support": [{"model": "flat_fee", "amount": 99}],
}

SIGNOFF = {
    "min_invoice_match_rate": "0.995",
    "max_abs_total_delta": "100.00",
    "amount_tolerance": "0.01",
    "max_quarantined_event_ratio": "0.001",
    "journal_must_balance": "true",
}

# Event types, in the order of the ``etype`` codes used below.
EVENT_NAMES = [
    "api_call",
    "storage",
    "compute",
    "login",
    "message",
    "device_report",
    "payment",
    "egress",
    "sale",
    "capacity",
]
API, STORAGE, COMPUTE, LOGIN, MESSAGE, DEVICE, PAYMENT, EGRESS, SALE, CAPACITY = range(10)
# Which product makes a customer emit which event type (more of it when subscribed).
_PRODUCT_EVENT = {
    "api": API,
    "storage": STORAGE,
    "compute": COMPUTE,
    "seats": LOGIN,
    "team_plan": LOGIN,
    "messaging": MESSAGE,
    "push": MESSAGE,
    "devices": DEVICE,
    "payments": PAYMENT,
    "egress": EGRESS,
    "marketplace": SALE,
    "capacity": CAPACITY,
}
_BASE_EVENT_WEIGHT = np.array([1.0, 0.1, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.03])
_SUBSCRIBED_EVENT_WEIGHT = np.array([4.0, 0.5, 2.0, 2.5, 1.5, 1.0, 2.0, 1.0, 1.5, 0.3])

ENDPOINTS = ["/v1/orders", "/v1/customers", "/v1/search", "/v1/reports", "/v2/events"]
CHANNELS = ["email", "sms", "push"]
PAYMENT_STATUSES = ["succeeded", "failed", "refunded"]
_PAYMENT_STATUS_P = [0.9, 0.07, 0.03]
# Written offsets: most events in UTC ("Z"), some from systems that log local time.
_OFFSETS = [("Z", 0), ("+02:00", 120), ("-05:00", -300), ("+05:30", 330), ("+09:00", 540)]
_OFFSET_P = [0.88, 0.04, 0.04, 0.02, 0.02]

BAD_TIMESTAMPS = ["2026-13-45T99:00:00Z", "yesterday", "2026-02-30T10:00:00Z", "not-a-timestamp"]
# (event name, properties) with a non-numeric value where a sum/min/max/avg/weighted_sum metric
# reads.
NON_NUMERIC = [
    ("compute", '{"seconds": "lots", "region": "eu-west-1"}'),
    ("storage", '{"gb": "n/a"}'),
    ("api_call", '{"endpoint": "/v1/orders", "ms": "fast"}'),
    ("message", '{"count": "many", "channel": "sms"}'),
    ("device_report", '{"devices": 12, "pct": "unknown"}'),
    ("payment", '{"amount": "12,50", "status": "succeeded"}'),
    ("egress", '{"gb": "1.2 GB", "region": "us-east-1"}'),
    ("sale", '{"units": "three", "unit_price": 19.99}'),
    ("capacity", '{"vcpus": "eight"}'),
]

# Countries and their usual sales-tax rates per currency ("" = not known to the legacy system).
_COUNTRIES = {
    "USD": [("US", ["", "0", "7.5"])],
    "EUR": [("DE", ["19"]), ("FR", ["20"]), ("NL", ["21"]), ("IE", ["23", ""])],
    "GBP": [("GB", ["20", ""])],
    "JPY": [("JP", ["10"])],
}
_NAME_A = [
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "River",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Zenith",
]
_NAME_B = [
    "Analytics",
    "Logistics",
    "Health",
    "Retail",
    "Labs",
    "Systems",
    "Foods",
    "Energy",
    "Media",
    "Robotics",
    "Finance",
    "Travel",
    "Studios",
    "Networks",
    "Works",
]
_NAME_C = ["Inc.", "LLC", "GmbH", "Ltd", "SAS", "BV", "KK", "Co."]


@dataclass
class _Company:
    """The generated master data, kept together while the bundle is assembled."""

    customers: list[dict[str, str]]
    contracts: list[rb.Contract]
    lines: list[list[rb.ContractLine]]
    customer_tax: list[Decimal | None]


# ---------------------------------------------------------------------------- public API


def generate_company(
    out_dir: Path,
    events: int = 1_000_000,
    customers: int | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """Write a complete onboarding bundle for a demo company into ``out_dir``.

    ``events`` is the number of usage rows written, bad rows included; ``customers`` defaults
    to ``max(40, events // 400)`` capped at 2,500. The same ``seed`` writes the same files.

    Returns a summary: ``plan`` (path of plan.yaml), ``customers``, ``contracts``, ``events``
    (rows written), ``bad_rows`` (rows written per kind of defect), ``quarantine_expected``
    (events the pipeline must quarantine: every row of a conflicting event id counts),
    ``duplicates_expected``, ``invoices_in_window`` (correct invoices in the parallel test),
    ``legacy_invoices``, ``total_delta`` (per currency, correct minus legacy totals over the
    window) and ``injected`` (the discrepancies planted in the legacy output, as written to
    legacy/injected_discrepancies.csv).
    """
    if events < 100:
        raise ValueError("events must be at least 100")
    n_customers = customers or min(MAX_CUSTOMERS, max(40, events // 400))
    if not 1 <= n_customers < 90_000:
        raise ValueError("customers must be between 1 and 89,999")
    out = Path(out_dir)
    for sub in ("data/usage", "legacy"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for stale in (out / "data/usage").glob("part-*.parquet"):
        stale.unlink()

    rng = np.random.default_rng(seed)
    products = {p["id"]: rb.Product.from_plan(p) for p in PRODUCTS}
    company = _make_company(rng, n_customers)
    usage, bad_rows, n_rows = _make_usage(rng, company, events, out / "data/usage")
    invoices = _bill(company, products, usage)
    legacy, injected = _inject(rng, company, products, invoices)

    plan_path = out / "plan.yaml"
    plan_path.write_text(_plan_yaml(), encoding="utf-8")
    _write_master_data(out / "data", company)
    _write_legacy(out / "legacy", legacy, injected)

    return {
        "plan": str(plan_path),
        "customers": len(company.customers),
        "contracts": len(company.contracts),
        "events": n_rows,
        "bad_rows": bad_rows,
        "quarantine_expected": bad_rows["conflicting_event_id"] * 2
        + sum(n for k, n in bad_rows.items() if k not in ("duplicate", "conflicting_event_id")),
        "duplicates_expected": bad_rows["duplicate"],
        "invoices_in_window": len(invoices),
        "legacy_invoices": len(legacy),
        "total_delta": _total_delta(invoices, legacy),
        "injected": injected,
    }


def _total_delta(
    invoices: list[rb.Invoice], legacy: list[tuple[str, rb.Invoice]]
) -> dict[str, str]:
    """Per currency, sum of correct totals minus sum of legacy totals over the window."""
    delta: dict[str, Decimal] = {}
    for inv in invoices:
        delta[inv.currency] = delta.get(inv.currency, Decimal(0)) + inv.total
    for _, inv in legacy:
        delta[inv.currency] -= inv.total
    return {cur: rb.format_amount(value, cur) for cur, value in sorted(delta.items())}


# ---------------------------------------------------------------------------- master data


def _day(d: date) -> int:
    return (d - _EPOCH).days


def _random_date(rng: np.random.Generator, lo: date, hi: date) -> date:
    """A uniform date in ``[lo, hi]`` (both inclusive)."""
    return lo + timedelta(days=int(rng.integers(0, (hi - lo).days + 1)))


def _pick(rng: np.random.Generator, options: Sequence[Any], p: Sequence[float] | None = None):
    return options[int(rng.choice(len(options), p=p))]


def _last_day_of_month(d: date) -> date:
    first_next = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _make_company(rng: np.random.Generator, n: int) -> _Company:
    """Customers, one contract each, and the contract lines (a Python loop per customer)."""
    customers: list[dict[str, str]] = []
    contracts: list[rb.Contract] = []
    all_lines: list[list[rb.ContractLine]] = []
    customer_tax: list[Decimal | None] = []
    optional = [
        "api",
        "storage",
        "compute",
        "seats",
        "team_plan",
        "messaging",
        "push",
        "devices",
        "payments",
        "egress",
        "marketplace",
        "capacity",
        "support",
    ]
    optional_p = np.array([0.8, 0.4, 0.5, 0.35, 0.2, 0.35, 0.2, 0.25, 0.3, 0.3, 0.2, 0.2, 0.3])
    optional_p = optional_p / optional_p.sum()
    # A couple of contracts that churn on the first days of a window period: small, partial
    # invoices, the realistic kind that a legacy process forgets.
    churners = {n // 3: date(2026, 9, 1), (2 * n) // 3: date(2026, 10, 1)} if n >= 6 else {}

    for i in range(n):
        customer_id = f"C{i + 1:05d}"
        currency = _pick(rng, ["USD", "EUR", "GBP", "JPY"], [0.7, 0.15, 0.1, 0.05])
        country, rates = _pick(rng, _COUNTRIES[currency])
        tax = _pick(rng, rates)

        cadence = _pick(rng, ["P1M", "P3M", "P1Y"], [0.8, 0.14, 0.06])
        if cadence == "P1Y" and rng.random() < 0.8:
            # Annual contracts signed in September/October: a period ends inside the window.
            year = int(rng.choice([2024, 2025]))
            start = _random_date(rng, date(year, 9, 2), date(year, 11, 1))
        elif rng.random() < 0.85:
            start = _random_date(rng, date(2024, 1, 1), date(2026, 5, 31))
        else:
            start = _random_date(rng, date(2026, 6, 1), date(2026, 10, 20))
        if rng.random() < 0.4:
            start = start.replace(day=1)

        anchor = None
        r = rng.random()
        if r < 0.03:
            anchor = date(2026, 1, 31)  # month-end clamping: Feb 28, Mar 31, Apr 30, ...
        elif r < 0.05:
            anchor = _last_day_of_month(start)
        elif r < 0.08:
            anchor = start.replace(day=1)  # first period partial when start is mid-month

        # Some contracts end: before the window, inside it (a partial last period), or later.
        end = None
        r = rng.random()
        if r < 0.10:
            lo, hi = (
                (date(2025, 6, 1), date(2026, 8, 31))
                if r < 0.04
                else (date(2026, 9, 1), date(2026, 10, 31))
                if r < 0.07
                else (date(2027, 1, 1), date(2027, 12, 31))
            )
            if start <= hi:
                end = _random_date(rng, max(start, lo), hi)

        discount = _pick(rng, ["5", "10", "12.5", "15"]) if rng.random() < 0.12 else None
        minimum = _pick(rng, ["750", "1000", "1500"]) if rng.random() < 0.10 else None
        prepaid = _pick(rng, ["1500", "3000", "6000", "12000"]) if rng.random() < 0.08 else None
        contract_tax = _pick(rng, ["0", "8.25", "10"]) if rng.random() < 0.05 else None

        if i in churners:
            cadence, anchor, discount, minimum, prepaid = "P1M", None, None, None, None
            start = date(2025, 3, 1)
            end = churners[i]
            currency, country, tax = "USD", "US", "7.5"

        created = start - timedelta(days=int(rng.integers(0, 90)))
        seconds = int(rng.integers(0, 86_400))
        name = f"{_pick(rng, _NAME_A)} {_pick(rng, _NAME_B)} {_pick(rng, _NAME_C)}"
        slug = name.split()[0].lower() + name.split()[1].lower()
        customers.append(
            {
                "customer_id": customer_id,
                "name": name,
                "email": f"billing@{slug}{i + 1}.example.com",
                "country": country,
                "currency": currency,
                "tax_rate_percent": tax,
                "created_at": f"{created.isoformat()}T{seconds // 3600:02d}:"
                f"{seconds // 60 % 60:02d}:{seconds % 60:02d}Z",
            }
        )
        customer_tax.append(rb.to_decimal(tax))
        contracts.append(
            rb.Contract(
                contract_id=f"K{i + 1:05d}",
                customer_id=customer_id,
                currency=currency,
                start_date=start,
                billing_period=cadence,
                end_date=end,
                billing_anchor_date=anchor,
                discount_percent=rb.to_decimal(discount),
                minimum_commitment=rb.to_decimal(minimum),
                prepaid_credit=rb.to_decimal(prepaid),
                tax_rate_percent=rb.to_decimal(contract_tax),
            )
        )

        k = int(rng.integers(1, 6))  # 1-5 products besides the platform fee
        chosen = {
            optional[j] for j in rng.choice(len(optional), size=k, replace=False, p=optional_p)
        }
        if "seats" in chosen:
            chosen.discard("team_plan")  # two ways of pricing the same users: one is enough
        contract = contracts[-1]
        lines = [_flat_line(rng, "platform", contract)]
        for product_id in optional:
            if product_id in chosen:
                if product_id == "support":
                    lines.append(_flat_line(rng, "support", contract))
                else:
                    lines.append(_usage_line(rng, product_id, contract))
        all_lines.append(lines)
    return _Company(customers, contracts, all_lines, customer_tax)


_FREE_UNITS = {
    "api": ["25", "100"],
    "storage": ["10", "50"],
    "compute": ["1000", "2500.5"],
    "seats": ["2", "5"],
    "team_plan": ["3"],
    "messaging": ["100", "250"],
    "push": ["100"],
    "devices": ["5", "10"],
    "payments": ["100", "500"],
    "egress": ["50", "100"],
    "marketplace": ["100", "250"],
    "capacity": ["2", "0.5"],
}


def _override(rng: np.random.Generator, product_id: str) -> str | None:
    """Now and then a negotiated price for the line, as JSON text."""
    if product_id not in OVERRIDES or rng.random() >= 0.07:
        return None
    return json.dumps(_pick(rng, OVERRIDES[product_id]))


def _line_dates(rng: np.random.Generator, contract: rb.Contract) -> tuple[date | None, date | None]:
    """Now and then an add-on signed after the contract started, or one that was cancelled."""
    r = rng.random()
    if r < 0.03:
        lo = max(contract.start_date, date(2026, 3, 1))
        hi = min(contract.end_date or date(2026, 10, 25), date(2026, 10, 25))
        if lo < hi:
            return _random_date(rng, lo, hi), None
    elif r < 0.06:
        lo = max(contract.start_date, date(2026, 5, 1))
        if lo < date(2026, 12, 31):
            return None, _random_date(rng, lo, date(2026, 12, 31))
    return None, None


def _flat_line(rng: np.random.Generator, product_id: str, contract: rb.Contract) -> rb.ContractLine:
    if product_id == "support":
        quantity = _pick(rng, ["1", "2"], [0.8, 0.2])
        start, end = _line_dates(rng, contract)
    else:
        quantity = _pick(rng, ["1", ""], [0.8, 0.2])  # empty: the default of 1
        start, end = None, None  # the platform fee runs with the contract
    return rb.ContractLine(
        product_id=product_id,
        quantity=rb.to_decimal(quantity),
        billing_timing=_pick(rng, [None, "advance", "arrears"], [0.7, 0.15, 0.15]),
        discount_percent=rb.to_decimal(_pick(rng, ["10", "20"])) if rng.random() < 0.08 else None,
        price_override=_override(rng, product_id),
        start_date=start,
        end_date=end,
    )


def _usage_line(
    rng: np.random.Generator, product_id: str, contract: rb.Contract
) -> rb.ContractLine:
    minimum = _pick(rng, ["10", "25", "50"]) if rng.random() < 0.08 else None
    start, end = _line_dates(rng, contract)
    return rb.ContractLine(
        product_id=product_id,
        billing_timing="arrears" if rng.random() < 0.05 else None,
        free_units=rb.to_decimal(_pick(rng, _FREE_UNITS[product_id]))
        if rng.random() < 0.25
        else None,
        discount_percent=rb.to_decimal(_pick(rng, ["5", "10", "15", "12.5"]))
        if rng.random() < 0.10
        else None,
        discount_amount=rb.to_decimal(_pick(rng, ["2.50", "5", "10"]))
        if rng.random() < 0.05
        else None,
        minimum_commitment=rb.to_decimal(minimum),
        skip_zero=rng.random() < 0.1,
        price_override=_override(rng, product_id),
        start_date=start,
        end_date=end,
        prorate_commitment=minimum is not None and rng.random() < 0.5,
    )


# ---------------------------------------------------------------------------- usage events


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: Any) -> pa.Array:
    """Concatenate string arrays and constants element-wise."""
    return pc.binary_join_element_wise(*parts, "")


def _decimal_text(values: np.ndarray, scale: int) -> pa.Array:
    """Exact decimal text of ``values / 10**scale`` with no trailing zeros ("12.5", "7")."""
    unit = 10**scale
    whole = _str(values // unit)
    frac = values % unit
    digits = pc.utf8_rtrim(pc.utf8_lpad(_str(frac), scale, "0"), characters="0")
    dot = pa.array(np.where(frac != 0, ".", ""))
    return _join(whole, dot, digits)


def _scatter(n: int, pieces: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """Assemble one array of length ``n`` from (row indices, values) pieces."""
    order = np.concatenate([idx for idx, _ in pieces])
    values = pa.concat_arrays([arr for _, arr in pieces])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n, dtype=np.int64)
    return values.take(pa.array(inverse))


class _Timestamps:
    """Formats epoch milliseconds as ISO 8601 through lookup tables (fast for millions)."""

    def __init__(self) -> None:
        self.day0 = _day(USAGE_START) - 2
        days = range(self.day0, _day(USAGE_END) + 2)
        self.dates = pa.array([(_EPOCH + timedelta(days=d)).isoformat() + "T" for d in days])
        self.times = pa.array(
            [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
        )
        self.millis = pa.array([f".{m:03d}" for m in range(1000)] + [""])
        self.suffixes = pa.array([suffix for suffix, _ in _OFFSETS])
        self.offsets_ms = np.array([minutes * 60_000 for _, minutes in _OFFSETS])

    def format(self, ts_ms: np.ndarray, with_ms: np.ndarray, offset: np.ndarray) -> pa.Array:
        local = ts_ms + self.offsets_ms[offset]
        ms = np.where(with_ms, local % 1000, 1000)
        return _join(
            self.dates.take(pa.array(local // _DAY_MS - self.day0)),
            self.times.take(pa.array(local % _DAY_MS // 1000)),
            self.millis.take(pa.array(ms)),
            self.suffixes.take(pa.array(offset)),
        )


def _properties(etype: np.ndarray, v: np.ndarray, v2: np.ndarray, quoted: np.ndarray) -> pa.Array:
    """The JSON ``properties`` of each event, built per event type with string kernels."""
    pieces = []
    endpoints, regions, channels = pa.array(ENDPOINTS), pa.array(REGIONS), pa.array(CHANNELS)
    statuses, prices = pa.array(PAYMENT_STATUSES), pa.array(PRICE_POINTS)
    for t in range(len(EVENT_NAMES)):
        idx = np.flatnonzero(etype == t)
        if idx.size == 0:
            continue
        a, b = v[idx], v2[idx]
        q = pa.array(np.where(quoted[idx], '"', ""))
        if t == API:
            s = _join(
                '{"endpoint": "', endpoints.take(pa.array(b)), '", "ms": ', _decimal_text(a, 1), "}"
            )
        elif t == STORAGE:
            s = _join('{"gb": ', q, _decimal_text(a, 3), q, "}")
        elif t == COMPUTE:
            s = _join(
                '{"seconds": ',
                q,
                _decimal_text(a, 3),
                q,
                ', "region": "',
                regions.take(pa.array(b)),
                '"}',
            )
        elif t == LOGIN:
            s = _join('{"user_id": "usr_', pc.utf8_lpad(_str(a), 4, "0"), '"}')
        elif t == MESSAGE:
            s = _join('{"count": ', _str(a), ', "channel": "', channels.take(pa.array(b)), '"}')
        elif t == DEVICE:
            s = _join('{"devices": ', _str(a), ', "pct": ', _str(b), "}")
        elif t == PAYMENT:
            s = _join(
                '{"amount": ',
                q,
                _decimal_text(a, 2),
                q,
                ', "currency_hint": "card", "status": "',
                statuses.take(pa.array(b)),
                '"}',
            )
        elif t == EGRESS:
            s = _join(
                '{"region": "', regions.take(pa.array(b)), '", "gb": ', _decimal_text(a, 3), "}"
            )
        elif t == SALE:
            s = _join('{"units": ', _str(a), ', "unit_price": ', prices.take(pa.array(b)), "}")
        else:
            s = _join('{"vcpus": ', _str(a), "}")
        pieces.append((idx, s))
    return _scatter(len(etype), pieces)


@dataclass
class _Usage:
    """Clean events as numbers (the billed truth), aligned by row."""

    cust: np.ndarray
    etype: np.ndarray
    ts: np.ndarray
    v: np.ndarray
    v2: np.ndarray
    ids: np.ndarray
    billed: np.ndarray  # False for events quarantined by a conflicting duplicate id


def _make_usage(
    rng: np.random.Generator, company: _Company, events: int, usage_dir: Path
) -> tuple[_Usage, dict[str, int], int]:
    """Generate the events, write them as Parquet parts, return the clean events as numbers."""
    n_cust = len(company.contracts)
    per_kind = max(1, round(events * BAD_ROW_SHARE))
    n_clean = events - 5 * per_kind

    # Each customer emits events from a few days before its contract starts until a few days
    # after it ends, so that some usage falls outside the contract and is reported, not billed.
    start_ms = np.array([_day(c.start_date) for c in company.contracts]) * _DAY_MS
    end_ms = (
        np.array(
            [
                _day(c.end_date) + 1 if c.end_date else _day(date(2100, 1, 1))
                for c in company.contracts
            ]
        )
        * _DAY_MS
    )
    lo = np.maximum(start_ms - 5 * _DAY_MS, _day(USAGE_START) * _DAY_MS)
    hi = np.minimum(end_ms + 10 * _DAY_MS, _day(USAGE_END) * _DAY_MS)
    span = np.maximum(hi - lo, 0)
    weight = rng.lognormal(0.0, 0.9, n_cust) * span
    if weight.sum() == 0:
        weight = np.ones(n_cust)
        lo, span = np.full(n_cust, _day(USAGE_START) * _DAY_MS), np.full(n_cust, 30 * _DAY_MS)
    mix = np.tile(_BASE_EVENT_WEIGHT, (n_cust, 1))
    for i, lines in enumerate(company.lines):
        for line in lines:
            if line.product_id in _PRODUCT_EVENT:
                t = _PRODUCT_EVENT[line.product_id]
                mix[i, t] = _SUBSCRIBED_EVENT_WEIGHT[t]
    cum_mix = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    storage_base = rng.lognormal(np.log(150.0), 1.0, n_cust)
    storage_growth = rng.uniform(-0.1, 0.6, n_cust)
    compute_scale = rng.lognormal(np.log(200.0), 0.6, n_cust)
    user_pool = np.maximum(1, np.round(rng.lognormal(np.log(12.0), 0.9, n_cust))).astype(int)
    device_base = np.maximum(1, np.round(rng.lognormal(np.log(30.0), 1.0, n_cust))).astype(int)
    vcpu_base = np.maximum(1, np.round(rng.lognormal(np.log(6.0), 0.8, n_cust)))
    home_region = rng.integers(0, len(REGIONS), n_cust)

    cust = rng.choice(n_cust, size=n_clean, p=weight / weight.sum())
    etype = (rng.random(n_clean)[:, None] > cum_mix[cust][:, :-1]).sum(axis=1).astype(np.int8)
    ts = lo[cust] + (rng.random(n_clean) * span[cust]).astype(np.int64)
    with_ms = rng.random(n_clean) < 0.2
    ts = np.where(with_ms, ts, ts // 1000 * 1000)
    # A third of the storage snapshots run at midnight UTC: events exactly on a period
    # boundary, some of them written in a local offset ("2026-09-30T19:00:00-05:00").
    midnight = (etype == STORAGE) & (rng.random(n_clean) < 0.3)
    ts = np.where(midnight, ts // _DAY_MS * _DAY_MS, ts)
    with_ms &= ~midnight
    order = np.argsort(ts, kind="stable")
    cust, etype, ts, with_ms = cust[order], etype[order], ts[order], with_ms[order]
    offset = rng.choice(len(_OFFSETS), size=n_clean, p=_OFFSET_P)

    # Main value (v) and secondary value (v2) of every type, then the one of each event's type.
    window_frac = (ts - _day(USAGE_START) * _DAY_MS) / (
        (_day(USAGE_END) - _day(USAGE_START)) * _DAY_MS
    )
    ms_tenths = np.round(rng.lognormal(np.log(120.0), 0.7, n_clean) * 10).astype(np.int64)
    ms_tenths = np.where(rng.random(n_clean) < 0.7, ms_tenths // 10 * 10, ms_tenths)
    gb_milli = (
        storage_base[cust]
        * (1 + storage_growth[cust] * window_frac)
        * rng.uniform(0.97, 1.03, n_clean)
        * 1000
    ).astype(np.int64)
    gb_milli = np.where(rng.random(n_clean) < 0.5, gb_milli // 100 * 100, gb_milli)
    sec_milli = (rng.lognormal(np.log(compute_scale[cust]), 0.8) * 1000).astype(np.int64) + 1
    sec_milli = np.where(rng.random(n_clean) < 0.3, sec_milli // 1000 * 1000 + 1000, sec_milli)
    user = (rng.random(n_clean) * user_pool[cust]).astype(np.int64)
    count = np.minimum(1 + rng.geometric(1 / 30, n_clean), 500).astype(np.int64)
    devices = np.maximum(0, device_base[cust] + rng.integers(-2, 3, n_clean)).astype(np.int64)
    cents = np.maximum(50, rng.lognormal(np.log(8000.0), 1.0, n_clean)).astype(np.int64)
    egress_milli = (rng.lognormal(np.log(40.0), 1.0, n_clean) * 1000).astype(np.int64) + 1
    egress_milli = np.where(
        rng.random(n_clean) < 0.5, egress_milli // 1000 * 1000 + 1000, egress_milli
    )
    units = np.minimum(rng.geometric(1 / 8, n_clean), 200).astype(np.int64)
    vcpus = np.maximum(1, np.round(vcpu_base[cust] * rng.choice([0.5, 1, 1, 1.5, 2], n_clean)))
    v = np.select(
        [
            etype == API,
            etype == STORAGE,
            etype == COMPUTE,
            etype == LOGIN,
            etype == MESSAGE,
            etype == DEVICE,
            etype == PAYMENT,
            etype == EGRESS,
            etype == SALE,
        ],
        [ms_tenths, gb_milli, sec_milli, user, count, devices, cents, egress_milli, units],
        vcpus.astype(np.int64),
    ).astype(np.int64)
    pick = rng.integers(0, 100, n_clean)
    status = np.searchsorted(np.cumsum(_PAYMENT_STATUS_P), rng.random(n_clean), "right")
    v2 = np.select(
        [
            etype == API,
            etype == COMPUTE,
            etype == MESSAGE,
            etype == DEVICE,
            etype == PAYMENT,
            etype == EGRESS,
            etype == SALE,
        ],
        [
            pick % len(ENDPOINTS),
            pick % len(REGIONS),
            pick % len(CHANNELS),
            pick + 1,
            np.minimum(status, len(PAYMENT_STATUSES) - 1),
            (home_region[cust] + (pick < 25) * pick) % len(REGIONS),
            pick % len(PRICE_POINTS),
        ],
        0,
    ).astype(np.int64)
    quoted = rng.random(n_clean) < 0.5

    n_fresh = 3 * per_kind
    ids = rng.permutation(n_clean + n_fresh).astype(np.int64)
    stamps = _Timestamps()
    customer_ids = pa.array([c["customer_id"] for c in company.customers])
    event_names = pa.array(EVENT_NAMES)

    def event_ids(numbers: np.ndarray) -> pa.Array:
        return _join("evt_", pc.utf8_lpad(_str(numbers), 10, "0"))

    clean = pa.table(
        {
            "event_id": event_ids(ids[:n_clean]),
            "customer_id": customer_ids.take(pa.array(cust)),
            "event_name": event_names.take(pa.array(etype)),
            "timestamp": stamps.format(ts, with_ms, offset),
            "properties": _properties(etype, v, v2, quoted),
        }
    )

    # Bad rows, each with exactly one defect, built from randomly chosen clean rows.
    chosen = rng.choice(n_clean, size=5 * per_kind, replace=False)
    dup, conflict, unknown, bad_ts, non_numeric = np.split(chosen, 5)
    fresh = event_ids(ids[n_clean:])
    conflicting = clean.take(pa.array(conflict)).set_column(
        4,
        "properties",
        _properties(
            etype[conflict],
            v[conflict] + np.where(etype[conflict] == API, 10, 1),
            v2[conflict],
            quoted[conflict],
        ),
    )
    unknown_rows = (
        clean.take(pa.array(unknown))
        .set_column(0, "event_id", fresh[:per_kind])
        .set_column(
            1,
            "customer_id",
            pa.array([f"C9{int(x):04d}" for x in rng.integers(0, 10_000, per_kind)]),
        )
    )
    bad_ts_rows = (
        clean.take(pa.array(bad_ts))
        .set_column(0, "event_id", fresh[per_kind : 2 * per_kind])
        .set_column(
            3,
            "timestamp",
            pa.array([BAD_TIMESTAMPS[i % len(BAD_TIMESTAMPS)] for i in range(per_kind)]),
        )
    )
    nn = [NON_NUMERIC[i % len(NON_NUMERIC)] for i in range(per_kind)]
    non_numeric_rows = (
        clean.take(pa.array(non_numeric))
        .set_column(0, "event_id", fresh[2 * per_kind :])
        .set_column(2, "event_name", pa.array([name for name, _ in nn]))
        .set_column(4, "properties", pa.array([props for _, props in nn]))
    )
    bad = pa.concat_tables(
        [clean.take(pa.array(dup)), conflicting, unknown_rows, bad_ts_rows, non_numeric_rows]
    )
    bad_rows = {
        "duplicate": per_kind,
        "conflicting_event_id": per_kind,
        "unknown_customer": per_kind,
        "unparseable_timestamp": per_kind,
        "non_numeric_property": per_kind,
    }

    # Bad rows land at random places among the time-ordered clean rows.
    position = np.concatenate(
        [np.arange(n_clean) * 2, rng.integers(0, n_clean + 1, bad.num_rows) * 2 - 1]
    )
    table = pa.concat_tables([clean, bad]).take(pa.array(np.argsort(position, kind="stable")))
    for part, first in enumerate(range(0, table.num_rows, ROWS_PER_FILE)):
        pq.write_table(
            table.slice(first, ROWS_PER_FILE),
            usage_dir / f"part-{part:03d}.parquet",
            compression="zstd",
        )

    billed = np.ones(n_clean, dtype=bool)
    billed[conflict] = False
    return _Usage(cust, etype, ts, v, v2, ids[:n_clean], billed), bad_rows, table.num_rows


# ---------------------------------------------------------------------------- billing


def _aggregate(company: _Company, usage: _Usage) -> list[dict[tuple[date, str], rb.Quantity]]:
    """Per contract, each priced metric's value per invoiced period (README: billing decisions);
    a grouped metric's value is a mapping of group value to value."""
    starts: list[int] = []
    ends: list[int] = []
    owner: list[int] = []
    period_start: list[date] = []
    for i, c in enumerate(company.contracts):
        for p in rb.periods(
            c.start_date, c.end_date, c.billing_anchor_date, c.billing_period, AS_OF
        ):
            if p.end > USAGE_START:
                starts.append(_day(p.start) * _DAY_MS)
                ends.append(_day(p.end) * _DAY_MS)
                owner.append(i)
                period_start.append(p.start)
    result: list[dict[tuple[date, str], rb.Quantity]] = [{} for _ in company.contracts]
    if not owner:
        return result
    shift = np.int64(1) << np.int64(42)  # > any epoch millisecond of this century
    p_owner = np.array(owner, dtype=np.int64)
    p_key = p_owner * shift + np.array(starts, dtype=np.int64)
    p_end = np.array(ends, dtype=np.int64)

    # An event counts when its UTC date lies within the contract's dates and its instant
    # within an invoiced period of that contract (one contract per customer here).
    c_start = np.array([_day(c.start_date) for c in company.contracts])
    c_end = np.array([_day(c.end_date) if c.end_date else 10**6 for c in company.contracts])
    day = usage.ts // _DAY_MS
    covered = (day >= c_start[usage.cust]) & (day <= c_end[usage.cust]) & usage.billed
    pos = np.searchsorted(p_key, usage.cust.astype(np.int64) * shift + usage.ts, "right") - 1
    ok = np.flatnonzero(covered & (pos >= 0))
    ok = ok[(p_owner[pos[ok]] == usage.cust[ok]) & (usage.ts[ok] < p_end[pos[ok]])]

    df = pd.DataFrame(
        {
            "pid": pos[ok],
            "etype": usage.etype[ok],
            "v": usage.v[ok],
            "v2": usage.v2[ok],
            "ts": usage.ts[ok],
            "id": usage.ids[ok],
        }
    )
    by_type = {t: df[df["etype"] == t] for t in range(len(EVENT_NAMES))}
    messages, payments = by_type[MESSAGE], by_type[PAYMENT]
    values: dict[str, pd.Series] = {
        "api_calls": by_type[API].groupby("pid").size(),
        "storage_gb": by_type[STORAGE].groupby("pid")["v"].max(),
        "compute_seconds": by_type[COMPUTE].groupby("pid")["v"].sum(),
        "active_users": by_type[LOGIN].drop_duplicates(["pid", "v"]).groupby("pid").size(),
        "messages": messages.groupby("pid")["v"].sum(),
        "push_messages": messages[messages["v2"] == CHANNELS.index("push")]
        .groupby("pid")["v"]
        .sum(),
        # latest: greatest timestamp, ties broken by the greatest event_id; the ids are
        # zero-padded numbers, so their numeric order is their text order.
        "devices": by_type[DEVICE].sort_values(["pid", "ts", "id"]).groupby("pid")["v"].last(),
        "payment_volume": payments[payments["v2"] == PAYMENT_STATUSES.index("succeeded")]
        .groupby("pid")["v"]
        .sum(),
    }
    scale = {"storage_gb": -3, "compute_seconds": -3, "payment_volume": -2}
    for metric, series in values.items():
        for pid, value in zip(series.index.tolist(), series.tolist(), strict=True):
            amount = Decimal(int(value)).scaleb(scale.get(metric, 0))
            result[owner[pid]][(period_start[pid], metric)] = amount

    # Grouped metrics: a value per group value (the text of the property, as in the events).
    grouped = (("egress_gb", EGRESS, REGIONS, -3), ("units_by_price", SALE, PRICE_POINTS, 0))
    for metric, etype, labels, exponent in grouped:
        sums = by_type[etype].groupby(["pid", "v2"])["v"].sum()
        for (pid, group), value in zip(sums.index.tolist(), sums.tolist(), strict=True):
            per_group = result[owner[pid]].setdefault((period_start[pid], metric), {})
            per_group[labels[group]] = Decimal(int(value)).scaleb(exponent)

    # weighted_sum: each event holds its level until the next one of the period (ties in
    # event id order) or the period end; level x milliseconds, over the period's milliseconds.
    levels = by_type[CAPACITY].sort_values(["pid", "ts", "id"])
    pid = levels["pid"].to_numpy()
    ts = levels["ts"].to_numpy()
    following = np.append(ts[1:], 0)
    last = np.append(pid[1:] != pid[:-1], True)
    until = np.where(last, p_end[pid], following)
    held = pd.Series(levels["v"].to_numpy() * (until - ts)).groupby(pid).sum()
    with localcontext() as ctx:
        ctx.prec = 60
        for p, value in zip(held.index.tolist(), held.tolist(), strict=True):
            span = int(p_end[p]) - starts[p]
            result[owner[p]][(period_start[p], "reserved_vcpus")] = Decimal(int(value)) / span
    return result


def _bill(company: _Company, products: dict[str, rb.Product], usage: _Usage) -> list[rb.Invoice]:
    """The correct invoices of the parallel-test window, ordered for numbering."""
    quantities = _aggregate(company, usage)
    invoices: list[rb.Invoice] = []
    for i, contract in enumerate(company.contracts):
        for invoice in rb.bill_contract(
            contract,
            company.lines[i],
            products,
            quantities[i],
            as_of=AS_OF,
            customer_tax_rate_percent=company.customer_tax[i],
            since=WINDOW_FROM,
        ):
            if WINDOW_FROM < invoice.period_end <= WINDOW_TO:
                invoices.append(invoice)
    invoices.sort(key=lambda inv: (inv.period_end, inv.period_start, inv.customer_id))
    return invoices


# ---------------------------------------------------------------------------- discrepancies

# Metrics whose lines may carry a planted discrepancy: one number per period with a short
# exact decimal, so that the legacy line differs from the correct one in that number only.
_PLAIN_METRICS = {
    m["id"]
    for m in METRICS
    if not m.get("group_by") and m["aggregation"] not in ("avg", "weighted_sum")
}


def _inject(
    rng: np.random.Generator,
    company: _Company,
    products: dict[str, rb.Product],
    invoices: list[rb.Invoice],
) -> tuple[list[tuple[str, rb.Invoice]], list[dict[str, str]]]:
    """Number the legacy invoices and plant the known discrepancies.

    Returns ``(invoice_id, invoice)`` pairs as the legacy process would have written them and
    the list of planted discrepancies. Line discrepancies go only on USD invoices of contracts
    without discount, minimum or prepaid credit, on a usage line with a non-zero quantity of
    an ungrouped metric with short exact values, so only that line and the invoice totals
    change; missing invoices are small ones. The net effect on the USD totals stays far below
    the sign-off's 100.00.
    """
    numbered = [(f"L-{inv.period_end.year}-{n:06d}", inv) for n, inv in enumerate(invoices, 1)]
    index_of = {c.contract_id: i for i, c in enumerate(company.contracts)}
    injected: list[dict[str, str]] = []
    order = rng.permutation(len(numbered)).tolist()

    def record(kind: str, inv: rb.Invoice, product_id: str, legacy: str, true: str) -> None:
        injected.append(
            {
                "kind": kind,
                "customer_id": inv.customer_id,
                "contract_id": inv.contract_id,
                "period_start": inv.period_start.isoformat(),
                "period_end": inv.period_end.isoformat(),
                "currency": inv.currency,
                "product_id": product_id,
                "legacy_value": legacy,
                "true_value": true,
            }
        )

    # missing_in_legacy: small invoices first (a partial last period), else prepaid-covered.
    usd = [i for i in order if numbered[i][1].currency == "USD"]
    small = sorted(
        (i for i in usd if 0 < numbered[i][1].total <= 30), key=lambda i: numbered[i][1].total
    )
    zero = [i for i in usd if numbered[i][1].total == 0]
    forgotten = (small + zero)[:2]
    for i in forgotten:
        inv = numbered[i][1]
        record("missing_in_legacy", inv, "", "", rb.format_amount(inv.total, inv.currency))

    def eligible_lines():
        """The first usage line with a non-zero quantity of each eligible invoice."""
        for i in usd:
            inv = numbered[i][1]
            c = company.contracts[index_of[inv.contract_id]]
            if i in forgotten or c.discount_percent or c.minimum_commitment or c.prepaid_credit:
                continue
            for line in inv.lines:
                metric = products[line.product_id].metric if line.is_product else None
                if metric in _PLAIN_METRICS and line.quantity:
                    yield i, line
                    break

    # Each candidate invoice is used at most once: both loops draw from the same iterator.
    candidates = eligible_lines()
    for delta in (Decimal("7.13"), Decimal("3.49"), Decimal("-2.18")):
        for i, line in candidates:
            if line.amount + delta >= 0:
                numbered[i] = (
                    numbered[i][0],
                    _replace_line(company, numbered[i][1], line, amount=line.amount + delta),
                )
                record(
                    "price",
                    numbered[i][1],
                    line.product_id,
                    rb.format_amount(line.amount + delta, "USD"),
                    rb.format_amount(line.amount, "USD"),
                )
                break

    quantity_errors = 0
    for i, line in candidates:
        if quantity_errors == 3:
            break
        inv = numbered[i][1]
        contract_index = index_of[inv.contract_id]
        c_line = next(x for x in company.lines[contract_index] if x.product_id == line.product_id)
        q = line.quantity
        # The legacy metering over-counts a little: a few percent, at least one unit.
        bump = (q * Decimal("0.04")).quantize(Decimal("0.001") if q % 1 else Decimal(1))
        wrong = q + max(bump, Decimal(1))
        rated = rb.rate_contract_line(
            company.contracts[contract_index],
            c_line,
            products[line.product_id],
            inv.period,
            {},
            line.line_no,
            quantity=wrong,
        )
        # Only a change the parallel test must see, and small enough to keep the totals close.
        if not Decimal("0.50") <= abs(rated.amount - line.amount) <= 12:
            continue
        numbered[i] = (numbered[i][0], _replace_line(company, inv, line, line=rated))
        quantity_errors += 1
        record("quantity", inv, line.product_id, rb.format_quantity(wrong), rb.format_quantity(q))

    missing = {
        (x["contract_id"], x["period_start"]) for x in injected if x["kind"] == "missing_in_legacy"
    }
    legacy = [
        (n, inv)
        for n, inv in numbered
        if (inv.contract_id, inv.period_start.isoformat()) not in missing
    ]
    return legacy, injected


def _replace_line(
    company: _Company,
    invoice: rb.Invoice,
    old: rb.InvoiceLine,
    *,
    amount: Decimal | None = None,
    line: rb.InvoiceLine | None = None,
) -> rb.Invoice:
    """The invoice with one product line changed and its totals and journal recomputed."""
    new = line or rb.InvoiceLine(
        old.line_no, old.product_id, old.quantity, old.billable_quantity, amount, old.account
    )
    lines = [new if x.line_no == old.line_no else x for x in invoice.lines if x.is_product]
    contract = next(c for c in company.contracts if c.contract_id == invoice.contract_id)
    return rb.build_invoice(
        contract, invoice.period, lines, tax_rate_percent=invoice.tax_rate_percent
    )


# ---------------------------------------------------------------------------- writing


def _write_csv(path: Path, header: list[str], rows: list[list[str]] | list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        if rows and isinstance(rows[0], dict):
            writer: Any = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
            writer.writeheader()
        else:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
        writer.writerows(rows)


def _text(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    if isinstance(value, Decimal):
        return rb.format_quantity(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _write_master_data(data_dir: Path, company: _Company) -> None:
    _write_csv(
        data_dir / "customers.csv",
        ["customer_id", "name", "email", "country", "currency", "tax_rate_percent", "created_at"],
        company.customers,
    )
    contract_cols = [
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
    _write_csv(
        data_dir / "contracts.csv",
        contract_cols,
        [[_text(getattr(c, col)) for col in contract_cols] for c in company.contracts],
    )
    line_cols = [
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
    _write_csv(
        data_dir / "contract_lines.csv",
        ["contract_id", *line_cols],
        [
            [c.contract_id, *(_text(getattr(line, col)) for col in line_cols)]
            for c, lines in zip(company.contracts, company.lines, strict=True)
            for line in lines
        ],
    )


def _legacy_quantity(value: Decimal | None) -> str:
    """A quantity as the legacy system stores it: at most 10 decimals (a time-weighted level
    has endless ones)."""
    if value is not None and value.as_tuple().exponent < -10:
        value = value.quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP)
    return rb.format_quantity(value)


def _write_legacy(
    legacy_dir: Path, legacy: list[tuple[str, rb.Invoice]], injected: list[dict[str, str]]
) -> None:
    invoices, lines, entries = [], [], []
    for invoice_id, inv in legacy:
        cur = inv.currency
        invoices.append(
            [
                invoice_id,
                inv.customer_id,
                inv.contract_id,
                inv.period_start.isoformat(),
                inv.period_end.isoformat(),
                cur,
                rb.format_amount(inv.subtotal, cur),
                rb.format_amount(inv.tax, cur),
                rb.format_amount(inv.total, cur),
            ]
        )
        for line in inv.lines:
            lines.append(
                [
                    invoice_id,
                    line.product_id,
                    _legacy_quantity(line.quantity),
                    rb.format_amount(line.amount, cur),
                ]
            )
        for entry in inv.journal:
            entries.append(
                [
                    f"LJ-{len(entries) + 1:07d}",
                    invoice_id,
                    entry.account,
                    rb.format_amount(entry.debit, cur),
                    rb.format_amount(entry.credit, cur),
                    cur,
                ]
            )
    _write_csv(
        legacy_dir / "invoices.csv",
        [
            "invoice_id",
            "customer_id",
            "contract_id",
            "period_start",
            "period_end",
            "currency",
            "subtotal",
            "tax",
            "total",
        ],
        invoices,
    )
    _write_csv(
        legacy_dir / "invoice_lines.csv", ["invoice_id", "product_id", "quantity", "amount"], lines
    )
    _write_csv(
        legacy_dir / "journal_entries.csv",
        ["entry_id", "invoice_id", "account", "debit", "credit", "currency"],
        entries,
    )
    _write_csv(
        legacy_dir / "injected_discrepancies.csv",
        [
            "kind",
            "customer_id",
            "contract_id",
            "period_start",
            "period_end",
            "currency",
            "product_id",
            "legacy_value",
            "true_value",
        ],
        injected,
    )


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and not value.replace(".", "").isdigit():
        return value
    if isinstance(value, str):
        return f'"{value}"'  # prices are written as strings so they are read exactly
    return str(value)


def _tier_yaml(tier: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in tier.items()) + "}"


def _pricing_yaml(pricing: dict[str, Any], indent: str) -> list[str]:
    """The lines of one ``pricing`` mapping: scalars, then tier tables, rates and bands."""
    out = []
    for key, value in pricing.items():
        if key == "tiers":
            out.append(f"{indent}tiers:")
            out += [f"{indent}  - {_tier_yaml(tier)}" for tier in value]
        elif key == "rates":
            out.append(f"{indent}rates:")
            for group, tiers in value.items():
                out.append(f'{indent}  "{group}":')
                out += [f"{indent}    - {_tier_yaml(tier)}" for tier in tiers]
        elif key == "bands":
            out.append(f"{indent}bands:")
            for band in value:
                out.append(f"{indent}  - up_to: {_yaml_value(band['up_to'])}")
                out.append(f"{indent}    tiers:")
                out += [f"{indent}      - {_tier_yaml(tier)}" for tier in band["tiers"]]
        else:
            out.append(f"{indent}{key}: {_yaml_value(value)}")
    return out


def _plan_yaml() -> str:
    """plan.yaml, written by hand so that it reads like one a person maintains."""
    out = [
        f"# Implementation plan of the demo company {COMPANY} (generated by golive demo).",
        f"company: {COMPANY}",
        "default_currency: USD",
        "timezone: UTC",
        f"as_of: {AS_OF.isoformat()}",
        "parallel_test:",
        f"  periods: {{from: {WINDOW_FROM.isoformat()}, to: {WINDOW_TO.isoformat()}}}",
        "sources:",
        "  customers:      {connector: csv, path: data/customers.csv}",
        "  contracts:      {connector: csv, path: data/contracts.csv}",
        "  contract_lines: {connector: csv, path: data/contract_lines.csv}",
        '  usage_events:   {connector: parquet, path: "data/usage/*.parquet"}',
        "  legacy_invoices:        {connector: csv, path: legacy/invoices.csv}",
        "  legacy_invoice_lines:   {connector: csv, path: legacy/invoice_lines.csv}",
        "  legacy_journal_entries: {connector: csv, path: legacy/journal_entries.csv}",
        "metrics:",
    ]
    for metric in METRICS:
        out.append(f"  - id: {metric['id']}")
        for key in ("event_name", "aggregation", "property", "group_by"):
            if key in metric:
                out.append(f"    {key}: {metric[key]}")
        if "filters" in metric:
            pairs = ", ".join(f"{k}: {v}" for k, v in metric["filters"].items())
            out.append(f"    filters: {{{pairs}}}")
    out.append("products:")
    for product in PRODUCTS:
        out.append(f"  - id: {product['id']}")
        out.append(f'    name: "{product["name"]}"')
        if "metric" in product:
            out.append(f"    metric: {product['metric']}")
        out.append("    pricing:")
        out += _pricing_yaml(product["pricing"], "      ")
    out.append("signoff:")
    for key, value in SIGNOFF.items():
        out.append(f"  {key}: {value}")
    return "\n".join(out) + "\n"
