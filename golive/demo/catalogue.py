"""The demo company's catalogue: what Northwind Cloud sells and how, and its plan.yaml.

Metrics cover every aggregation of docs/billing-rules.md §6.2 (filters and group-by included),
products every pricing model of §2, and the overrides a sales team negotiated; the dates fix the
usage window, ``as_of`` and the parallel-test window. :func:`plan_yaml` writes the plan as a person
maintains one. Nothing here depends on the seed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

COMPANY = "Northwind Cloud"
AS_OF = date(2026, 11, 1)
WINDOW_FROM = date(2026, 9, 1)
WINDOW_TO = date(2026, 11, 1)
USAGE_START = date(2026, 6, 1)
USAGE_END = AS_OF  # exclusive

EPOCH = date(1970, 1, 1)
DAY_MS = 86_400_000


def day_number(d: date) -> int:
    """Days since 1970-01-01 (the unit the usage arrays count days in)."""
    return (d - EPOCH).days


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

# Event types, in the order of the ``etype`` codes the usage arrays and the legacy metering use.
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
PRODUCT_EVENT = {
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
ENDPOINTS = ["/v1/orders", "/v1/customers", "/v1/search", "/v1/reports", "/v2/events"]
CHANNELS = ["email", "sms", "push"]
PAYMENT_STATUSES = ["succeeded", "failed", "refunded"]


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


def plan_yaml() -> str:
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
