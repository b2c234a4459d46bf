"""Hypothesis strategies: small companies that exercise every rule the two billers share.

A drawn :class:`Company` has a price book of every pricing model (tier bounds that usage lands
on exactly, zero and fractional quantities), contracts with every contract and line feature
(price overrides, line dates, prorated commitments, skip_zero, discounts, minimums, prepaid
credit, taxes; month-end and leap-day anchors; currencies with 0, 2 and 3 decimals), the
contract terms of docs/billing-rules.md §2.5-§3.2 (line and invoice caps, coupons of every
frequency and scope, tax rates and codes per product and line, quantity transforms, block
tiers, tier 1 at zero usage, matrix default rates and matrices keyed on two properties, prorated
usage and contract minimums, weekly, daily and half-yearly periods), a plan time zone (New
York with its DST months, UTC, Kolkata), usage for every aggregation (filters and group-by
included), and then the bad inputs of docs/billing-rules.md §7 and §11: repeated and
conflicting master-data ids, empty keys, unknown references, numbers that are not numbers or out of
range, dates that do not exist, timestamps just inside and outside the timestamp rule, properties
that are not a JSON object, payloads that only a joined string would confuse, and events that a
metric's filter keeps away from a numeric check.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from golive.reference import MODELS, parse_number, periods

AS_OF = date(2024, 7, 1)
TIMEZONES = ["America/New_York", "UTC", "Asia/Kolkata"]
CURRENCIES = ["USD", "EUR", "JPY", "GBP", "KWD"]
REGIONS = ["ap-south", "eu-west", "us-east"]
KINDS = ["cpu", "gpu"]
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
    # the only numeric metric on refunds, behind a filter: a pending refund's amount is not
    # read, so it is never checked for a number (docs/billing-rules.md §7.3)
    {
        "id": "refunds",
        "event_name": "refund",
        "aggregation": "sum",
        "property": "amount",
        "filters": {"status": "settled"},
    },
    {
        "id": "egress",
        "event_name": "egress",
        "aggregation": "sum",
        "property": "gb",
        "group_by": "region",
    },
    # a matrix keyed on two properties (docs/billing-rules.md §2.10)
    {
        "id": "compute",
        "event_name": "compute",
        "aggregation": "sum",
        "property": "hours",
        "group_by": ["region", "kind"],
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
SCALAR_METRICS = [m["id"] for m in METRICS if "group_by" not in m]
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

CUSTOMER_COLUMNS = ["customer_id", "name", "currency", "tax_rate_percent"]
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
    "maximum_commitment",
    "prorate_commitment",
    "coupon_id",
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
    "maximum_amount",
    "tax_rate_percent",
    "tax_code",
]
EVENT_COLUMNS = ["event_id", "customer_id", "event_name", "timestamp", "properties"]

TAX_CODES = {"std": "19", "reduced": "7", "zero": "0"}
# coupons of every kind: fixed once (a balance), fixed recurring, percentages, limited ones;
# currencies of 0, 2 and 3 decimals
COUPONS: list[dict[str, Any]] = [
    {"id": "cp_once_usd", "amount_off": "25", "currency": "USD"},
    {
        "id": "cp_recurring_eur",
        "amount_off": "10",
        "currency": "EUR",
        "frequency": "recurring",
        "duration_periods": 2,
    },
    {
        "id": "cp_pct_recurring",
        "percent_off": "12.5",
        "frequency": "recurring",
        "duration_periods": 3,
    },
    {"id": "cp_pct_once", "percent_off": "100"},
    {"id": "cp_once_jpy", "amount_off": "500", "currency": "JPY"},
    {
        "id": "cp_limited_pct",
        "percent_off": "50",
        "frequency": "forever",
        "products": ["per_unit_1", "flat_fee_1"],
        "metrics": ["calls"],
    },
    {
        "id": "cp_limited_kwd",
        "amount_off": "3.125",
        "currency": "KWD",
        "frequency": "forever",
        "metrics": ["qty_sum", "payments"],
    },
]
COUPON_CURRENCY = {c["id"]: c.get("currency") for c in COUPONS}


@dataclass(repr=False)
class Company:
    """One generated company: the plan's products and zone, the rows of every dataset as
    written (text cells; ``None`` is a missing Parquet value)."""

    products: list[dict[str, Any]]
    timezone: str = "UTC"
    #: the plan's coupons (a drawn company has every one of COUPONS)
    coupons: list[dict[str, Any]] = field(default_factory=list)
    tax_codes: dict[str, str] = field(default_factory=lambda: dict(TAX_CODES))
    customers: list[dict[str, str]] = field(default_factory=list)
    contracts: list[dict[str, str]] = field(default_factory=list)
    lines: list[dict[str, str]] = field(default_factory=list)
    events: list[dict[str, str | None]] = field(default_factory=list)
    #: the bad inputs added, for the failure message
    defects: list[str] = field(default_factory=list)
    #: the plan's revenue_recognition.schedule (docs/accounting.md)
    recognition: str = "month_end"

    def __repr__(self) -> str:
        return (
            f"Company({self.timezone}, {len(self.products)} products, "
            f"{len(self.customers)} customer rows, {len(self.contracts)} contract rows, "
            f"{len(self.lines)} lines, {len(self.events)} events, {self.recognition} "
            "recognition; defects: "
            f"{', '.join(self.defects) or 'none'})"
        )

    def _repr_pretty_(self, printer, cycle) -> None:  # how Hypothesis prints an example
        printer.text(repr(self))


# ---------------------------------------------------------------------------- price book


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


def _pricing(draw, model: str, two_keys: bool = False) -> dict[str, Any]:
    """A valid ``pricing`` mapping of ``model`` (docs/plan-and-datasets.md "Pricing fields");
    a matrix's rates keyed on two values when ``two_keys``."""
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
        if two_keys:
            pricing["rates"] = {
                region: {kind: _tiers(draw, "unit") for kind in KINDS} for region in REGIONS
            }
        else:
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
    _terms(draw, model, pricing)
    return pricing


def _terms(draw, model: str, pricing: dict[str, Any]) -> None:
    """The contract terms of docs/billing-rules.md §2.5-§2.14 and §3.1, now and then: a
    minimum and a cap, a quantity transform, usage proration, tier 1 at zero usage, block
    tiers and a matrix default rate."""
    if _rare(draw, 5):
        low = draw(st.sampled_from([None, "1", "5"]))
        if low:
            pricing["minimum_amount"] = low
        pricing["maximum_amount"] = draw(st.sampled_from(["5", "12.34", "100", "1000"]))
    if model in SCALAR_MODELS and _rare(draw, 4):
        pricing["quantity_transform"] = {
            "divide_by": draw(st.sampled_from(["0.5", "2", "2.5", "60", "1000"])),
            "round": draw(st.sampled_from(["up", "down", "half_up"])),
        }
    if model != "flat_fee" and _rare(draw, 5):
        pricing["prorate"] = True
    if model == "tiered_flat_fee" and _rare(draw, 3):
        pricing["charge_first_tier_at_zero"] = True
    if model == "tiered" and _rare(draw, 3):
        for row in pricing["tiers"]:
            if draw(st.booleans()):
                row["package_size"] = draw(st.sampled_from(["0.5", "1", "2.5", "10"]))
    if model == "matrix" and _rare(draw, 2):
        region = draw(st.sampled_from(REGIONS))
        rates = pricing["rates"]
        if isinstance(rates[region], dict) and len(rates[region]) > 1:
            rates[region].pop(draw(st.sampled_from(sorted(rates[region]))))
        else:
            rates.pop(region)
        pricing["default_rates"] = _tiers(draw, "unit")


def _products(draw) -> list[dict[str, Any]]:
    """One or two products per model, each usage model on a metric it can price."""
    products = []
    for model in MODELS:
        for n in range(draw(st.integers(1, 2))):
            product: dict[str, Any] = {"id": f"{model}_{n + 1}", "name": f"{model} {n + 1}"}
            if model == "matrix":
                product["metric"] = draw(st.sampled_from(["egress", "compute"]))
            elif model == "two_dim_tiered":
                product["metric"] = "units_by_price"
            elif model == "percent":
                product["metric"] = draw(st.sampled_from(["payments", "refunds", "qty_sum"]))
            elif model != "flat_fee":
                product["metric"] = draw(st.sampled_from(SCALAR_METRICS))
            product["pricing"] = _pricing(draw, model, product.get("metric") == "compute")
            if _rare(draw, 5):
                if draw(st.booleans()):
                    product["tax_code"] = draw(st.sampled_from(sorted(TAX_CODES)))
                else:
                    product["tax_rate_percent"] = draw(st.sampled_from(["0", "5.5", "21"]))
            products.append(product)
    return products


def _override(draw, product: dict[str, Any]) -> str:
    """A price override for the product's line: the same kind of usage, maybe another model."""
    model = product["pricing"]["model"]
    if model in SCALAR_MODELS:
        model = draw(st.sampled_from(SCALAR_MODELS))
    pricing = _pricing(draw, model, product.get("metric") == "compute")
    text = json.dumps(pricing)
    if draw(st.booleans()):
        # the JSON of a person: prices as numbers rather than strings
        for value in {v for v in _leaves(pricing) if isinstance(v, str) and is_number(v)}:
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


def is_number(text: str) -> bool:
    """True when the text is a number by the number rule."""
    return parse_number(text) is not None


# ---------------------------------------------------------------------------- helpers


def _date_between(draw, lo: date, hi: date) -> date:
    return lo + timedelta(days=draw(st.integers(0, max((hi - lo).days, 0))))


def text(value: Any) -> str:
    """A CSV cell: dates in ISO form, ``None`` as an empty cell."""
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


# ---------------------------------------------------------------------------- the company


@st.composite
def companies(draw, min_contracts: int = 30, max_contracts: int = 60) -> Company:
    """A company: a price book of every model, contracts with every feature, usage events,
    and then a handful of the bad inputs of docs/billing-rules.md §7 and §11 (see
    :func:`_add_defects`).

    Contract ``i`` starts its choices at the ``i``-th option, so that even the simplest example
    spreads its contracts over products, cadences, dates and currencies.
    """
    company = Company(
        _products(draw), timezone=draw(st.sampled_from(TIMEZONES)), coupons=list(COUPONS)
    )
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
        cadence = _pick(draw, ["P1M", "P3M", "P1M", "P1Y", "P1M", "P6M", "P1W", "P1M", "P1D"], i)
        if cadence == "P1Y":
            start = _pick(draw, ANNUAL_STARTS, i)
        elif cadence == "P1D":
            # a daily contract bills every day: a few weeks of them
            start = _date_between(draw, date(2024, 5, 20), date(2024, 6, 25))
        elif cadence == "P1W":
            start = _date_between(draw, date(2024, 1, 1), date(2024, 6, 20))
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
        minimum = contract["minimum_commitment"]
        if _rare(draw, 4):
            contract["maximum_commitment"] = draw(st.sampled_from(["50", "120.5", "2500"]))
            if minimum and Decimal(contract["maximum_commitment"]) < Decimal(minimum):
                contract["maximum_commitment"] = minimum
        if minimum and _rare(draw, 3):
            contract["prorate_commitment"] = "true"
        if _rare(draw, 3):
            fitting = [c for c, cur in COUPON_CURRENCY.items() if cur is None or cur == currency]
            # now and then a coupon in another currency: the contract is quarantined
            pool = sorted(COUPON_CURRENCY) if _rare(draw, 8) else fitting
            contract["coupon_id"] = draw(st.sampled_from(pool))
        company.contracts.append({k: text(v) for k, v in contract.items()})

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
                # a cap at or above the minimum mostly; now and then below it (quarantined)
                "maximum_amount": (
                    draw(st.sampled_from(["25", "40", "150"])) if _rare(draw, 6) else None
                ),
                "tax_rate_percent": None,
                "tax_code": None,
            }
            if _rare(draw, 6):
                if draw(st.booleans()):
                    line["tax_code"] = draw(st.sampled_from(sorted(TAX_CODES)))
                else:
                    line["tax_rate_percent"] = draw(st.sampled_from(["0", "10", "20"]))
            company.lines.append({key: text(v) for key, v in line.items()})
        seed = draw(st.integers(0, 2**32 - 1))
        metrics = [m for m in (by_id[p].get("metric") for p in chosen) if m]
        company.events += _events(
            random.Random(seed + i),
            customer_id,
            contract,
            metrics,
            len(company.events),
            company.timezone,
        )
    _add_defects(draw, company)
    # drawn last, so that the companies drawn before it stay the same
    company.recognition = draw(st.sampled_from(["month_end", "daily"]))
    return company


def _instants(contract: dict[str, Any], zone: str) -> list[datetime]:
    """Instants where rules meet: period bounds (local midnights of the plan's zone), the
    edges of the contract, the leap day."""
    start, end = contract["start_date"], contract["end_date"]
    found = periods(
        start, end, contract["billing_anchor_date"], contract["billing_period"], date(2025, 1, 1)
    )
    midnights = [start, date(2024, 2, 29), date(2024, 3, 1)]
    for p in found:
        midnights += [p.start, p.end]
    if end:
        midnights.append(end + timedelta(days=1))
    out = []
    for d in midnights:
        at = datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        out += [at, at - timedelta(milliseconds=1), at + timedelta(hours=12)]
    return out


_OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]


def _timestamp(at: datetime, rnd: random.Random) -> str:
    """The instant written as a system would: mostly ISO with Z, now and then in an offset or
    in another shape the timestamp rule allows (a space, no seconds, ±HHMM, ±HH, a space
    before the zone, no zone at all)."""
    zone = rnd.choice([_OFFSETS[0], *_OFFSETS]) if rnd.random() < 0.3 else UTC
    local = at.astimezone(zone)
    body = local.isoformat(timespec="milliseconds" if at.microsecond else "seconds")
    text_ = body.replace("+00:00", "Z")
    if rnd.random() < 0.25:
        shape = rnd.randrange(6)
        naive, offset = body[:-6], body[-6:]
        if shape == 0:
            text_ = naive.replace("T", " ") + offset
        elif shape == 1 and local.second == 0 and not at.microsecond:
            text_ = naive[:16] + offset  # no seconds
        elif shape == 2:
            text_ = naive + offset.replace(":", "")  # +HHMM
        elif shape == 3 and offset.endswith(":00"):
            text_ = naive + offset[:3]  # +HH
        elif shape == 4:
            text_ = naive + " " + offset  # one space before the zone
        elif shape == 5 and zone is UTC:
            text_ = naive  # no zone: UTC
    return text_


def _props(name: str, value: str, rnd: random.Random) -> dict[str, Any]:
    if name == "usage":
        return {"qty": value, "kind": rnd.choice(["paid", "paid", "free"])}
    if name == "login":
        return {"user": rnd.choice(["u1", "u2", "u3", "u4"])}
    if name == "gauge":
        return {"level": value}
    if name == "payment":
        return {"amount": rnd.choice(MONEY)}
    if name == "refund":
        return {"amount": rnd.choice(MONEY), "status": rnd.choice(["settled", "pending"])}
    if name == "egress":
        return {"gb": value, "region": rnd.choice(REGIONS)}
    if name == "sale":
        return {"units": value, "price": rnd.choice(PRICE_POINTS)}
    if name == "compute":
        props = {"hours": value, "region": rnd.choice(REGIONS)}
        kind = rnd.choice([*KINDS, *KINDS, 'g"pu', None])  # a quote; now and then none
        return props if kind is None else {**props, "kind": kind}
    return {"endpoint": "/v1/x"}


def _body(props: dict[str, Any], rnd: random.Random) -> str:
    """The properties as JSON: numbers as JSON numbers, now and then as numeric strings."""
    body = json.dumps(props)
    for key, v in props.items():
        if is_number(str(v)) and rnd.random() < 0.8:
            body = body.replace(f'"{key}": "{v}"', f'"{key}": {v}')
    return body


def _events(
    rnd: random.Random,
    customer_id: str,
    contract: dict[str, Any],
    metrics: list[str],
    first_id: int,
    zone: str,
) -> list[dict[str, str | None]]:
    """Usage of one contract: mostly for its metered products, some of any other kind."""
    instants = _instants(contract, zone)
    lo = datetime.combine(contract["start_date"], datetime.min.time(), UTC) - timedelta(days=2)
    last = min(contract["end_date"] or AS_OF, AS_OF) + timedelta(days=2)
    hi = datetime.combine(last, datetime.min.time(), UTC)
    events: list[dict[str, str | None]] = []
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
        events.append(
            {
                "event_id": f"evt_{first_id + n:06d}",
                "customer_id": customer_id,
                "event_name": name,
                "timestamp": _timestamp(at, rnd),
                "properties": _body(_props(name, rnd.choice(VALUES), rnd), rnd),
            }
        )
    if events and rnd.random() < 0.2:
        events.append(dict(rnd.choice(events)))  # an exact repeat: one event, one duplicate
    return events


# ---------------------------------------------------------------------------- bad inputs

# Timestamps just outside the timestamp rule (each is unparseable_timestamp).
BAD_TIMESTAMPS = [
    "2024-05-10T10:00:60Z",
    "2024-05-10T24:00:00Z",
    "2024-02-30T10:00:00Z",
    "2023-02-29",
    "2024-05-10T10:00:00+24:00",
    "2024-05-10T10:00:00+02:60",
    "2024-05-10T10:00:00.1234567890Z",
    "2024-05-10T10:00:00,5Z",
    "2024-05-10t10:00:00Z",
    "2024-05-10T10:00:00  Z",
    "2024-5-10T10:00:00Z",
    "20240510T100000Z",
    "2024-W19-5",
    "2024-05-10Z",
    "2024-05-10T10Z",
    "yesterday",
]
# Numbers a numeric metric reads that are not numbers, or out of range (|v| >= 10^15); and
# some numbers in unusual shapes, which are billed.
NOT_NUMBERS = ['"1,5"', '"NaN"', '"Infinity"', '""', '"1_000"', "true", '"five"', '"\\t5"', "[1]"]
OUT_OF_RANGE = ["1000000000000000", '"-1e15"', "1e16", '"1e400"', "-2000000000000000"]
# (not 999999999999999: a sum of such values is a line the pipeline refuses to price, a limit
# of its arithmetic that no decided rule covers)
IN_RANGE = ['" 12.5 "', '"1.00000000005"', '"+.5"', '"5."']
NOT_OBJECTS = ["[1, 2]", '"qty"', "12", "not json", '{"qty": NaN}', '{"qty": 1']

MASTER_DATA_DEFECTS = [
    "customer_repeated",
    "customer_conflict",
    "customer_bad_field",
    "contract_repeated",
    "contract_conflict",
    "contract_empty_key",
    "contract_bad_field",
    "line_empty_key",
    "line_bad_field",
]
EVENT_DEFECTS = [
    "event_bad_timestamp",
    "event_value",
    "event_not_object",
    "event_filtered",
    "event_joined_payload",
    "event_missing_fields",
]


def _spaced(row: dict[str, str]) -> dict[str, str]:
    """The same row with spaces around its cells: identical once trimmed."""
    return {k: f" {v}  " if v else v for k, v in row.items()}


def _add_defects(draw, company: Company) -> None:
    """Add the bad inputs of docs/billing-rules.md §7 and §11, each on a different contract from the
    end.

    Master-data defects mostly touch a contract's rows so that its lines and events cascade
    (a conflicting customer makes its contracts ``unknown_customer``, their lines
    ``unknown_contract``, its events ``unknown_customer``); event defects add events to
    accepted customers, some billed (numbers just inside the bound, tricky timestamps).
    """
    # master-data and event defects in turn, so that even a few cover both
    kinds = [k for pair in zip(MASTER_DATA_DEFECTS, EVENT_DEFECTS * 2, strict=False) for k in pair]
    n = draw(st.integers(len(kinds) // 2, len(kinds)))
    chosen = [_pick(draw, kinds, k) for k in range(n)]
    contracts = company.contracts
    targets = contracts[::-1]
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    for k, kind in enumerate(chosen):
        contract = targets[k % len(targets)]
        customer = next(
            (c for c in company.customers if c["customer_id"] == contract["customer_id"]), None
        )
        company.defects.append(f"{kind}({contract['contract_id']})")
        if kind == "customer_repeated" and customer:
            company.customers.append(_spaced(customer))
        elif kind == "customer_conflict" and customer:
            company.customers.append(dict(customer, name=customer["name"] + " Ltd"))
        elif kind == "customer_bad_field" and customer:
            field_, value = rnd.choice(
                [("name", ""), ("currency", "XYZ"), ("tax_rate_percent", "ten")]
                + [("tax_rate_percent", "100.5"), ("tax_rate_percent", "-1")]
            )
            customer[field_] = value
        elif kind == "contract_repeated":
            contracts.append(_spaced(contract))
        elif kind == "contract_conflict":
            contracts.append(dict(contract, discount_percent="7"))
        elif kind == "contract_empty_key":
            # a new contract id, so that the empty key is the row's only problem
            key = rnd.choice(["contract_id", "customer_id", "currency"])
            copy = dict(contract, contract_id=contract["contract_id"] + "_blank")
            contracts.append(dict(copy, **{key: "   "}))
        elif kind == "contract_bad_field":
            field_, value = rnd.choice(
                [
                    ("currency", "ABC"),
                    ("start_date", "2024-02-30"),
                    ("start_date", ""),
                    ("end_date", "2023-01-01"),
                    ("billing_anchor_date", "2024-13-01"),
                    ("billing_period", "P2W"),
                    ("discount_percent", "5%"),
                    ("discount_percent", "100.01"),
                    ("tax_rate_percent", "-0.5"),
                    ("minimum_commitment", "1e12"),
                    ("prepaid_credit", "NaN"),
                    ("maximum_commitment", "ten"),
                    ("coupon_id", "no_such_coupon"),
                ]
            )
            contract[field_] = value
        elif kind == "line_empty_key":
            key = rnd.choice(["contract_id", "product_id"])
            line = _line_of(company, contract["contract_id"])
            company.lines.append(dict(line, **{key: ""}))
        elif kind == "line_bad_field":
            field_, value = rnd.choice(
                [
                    ("product_id", "no_such_product"),
                    ("quantity", "1e15"),
                    ("quantity", "1,5"),
                    ("free_units", "-1"),
                    ("discount_percent", "101"),
                    ("discount_amount", "1000000000000"),
                    ("minimum_commitment", "abc"),
                    ("tax_code", "no_such_code"),
                    ("maximum_amount", "-1"),
                ]
            )
            company.lines.append(
                dict(_line_of(company, contract["contract_id"]), **{field_: value})
            )
        else:
            company.events += _bad_events(kind, contract, company, rnd)


def _line_of(company: Company, contract_id: str) -> dict[str, str]:
    return next(line for line in company.lines if line["contract_id"] == contract_id)


def _bad_events(
    kind: str, contract: dict[str, str], company: Company, rnd: random.Random
) -> list[dict[str, str | None]]:
    """A few events with one kind of bad input, for the contract's customer, inside the
    contract's first weeks (in the plan's zone, some on a period bound)."""
    start = date.fromisoformat(contract["start_date"]) if contract["start_date"] else AS_OF
    midnight = datetime(start.year, start.month, start.day, tzinfo=ZoneInfo(company.timezone))
    at = midnight.astimezone(UTC) + timedelta(days=rnd.randint(0, 20), hours=10)
    customer = contract["customer_id"]
    first = len(company.events)

    def event(n: int, name: str, props: str | None, ts: str | None = None, **other):
        row = {
            "event_id": f"bad_{first + n:06d}",
            "customer_id": customer,
            "event_name": name,
            "timestamp": ts or at.isoformat().replace("+00:00", "Z"),
            "properties": props,
        }
        row.update(other)
        return row

    if kind == "event_bad_timestamp":
        rows = [event(n, "call", "{}", ts) for n, ts in enumerate(rnd.sample(BAD_TIMESTAMPS, 4))]
        # inside the rule: fractions beyond microseconds are truncated, not rounded, so an
        # event a hair before a local midnight stays in the day before
        bound = midnight.astimezone(UTC) - timedelta(microseconds=1)
        rows.append(event(4, "call", "{}", bound.strftime("%Y-%m-%dT%H:%M:%S.%f") + "999Z"))
        rows.append(event(5, "call", "{}", at.strftime("%Y-%m-%d %H:%M:%S.123456789 +00:00")))
        return rows
    if kind == "event_value":
        values = rnd.sample(NOT_NUMBERS, 2) + rnd.sample(OUT_OF_RANGE, 2) + IN_RANGE[:2]
        return [event(n, "usage", f'{{"qty": {v}, "kind": "free"}}') for n, v in enumerate(values)]
    if kind == "event_not_object":
        return [event(n, "usage", body) for n, body in enumerate(rnd.sample(NOT_OBJECTS, 3))]
    if kind == "event_filtered":
        # refunds reads amount only when status is settled; usage's paid_qty reads qty only
        # when kind is paid, but qty_sum reads it always
        return [
            event(0, "refund", '{"status": "pending", "amount": "n/a"}'),
            event(1, "refund", '{"status": "settled", "amount": "n/a"}'),
            event(2, "refund", '{"status": "settled", "amount": "12.5"}'),
            event(3, "refund", '{"amount": "3"}'),
            event(4, "usage", '{"kind": "free", "qty": "n/a"}'),
        ]
    if kind == "event_joined_payload":
        # joined with "|", both rows would read "C|usage|usage|..."; as separate values they
        # differ: the same event id with two payloads, both quarantined
        twin = f"bad_{first:06d}"
        return [
            event(0, "usage", '{"qty": 1}', customer_id=f"{customer}|usage", event_id=twin),
            event(1, "usage|usage", '{"qty": 1}', event_id=twin),
            # an empty properties cell and a missing one are both missing: a duplicate
            event(2, "call", "", event_id=f"{twin}_e"),
            event(3, "call", None, event_id=f"{twin}_e"),
            # spaces around every field are trimmed before comparing: a duplicate
            event(4, "call", "{}", event_id=f"{twin}_s"),
            event(5, " call ", " {} ", event_id=f" {twin}_s "),
        ]
    # event_missing_fields
    rows = [
        event(0, "call", "{}", event_id="  "),
        event(1, "", "{}"),
        event(2, "call", "{}", customer_id=""),
        event(3, "call", "{}", customer_id="C_unknown"),
        event(4, "usage", '{"kind": "paid"}'),
        event(5, "usage", '{"qty": null}'),
    ]
    rows.append(dict(rows[3]))  # a repeat of a quarantined event: one duplicate
    return rows
