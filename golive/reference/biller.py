"""A small, independent biller used as the demo company's "legacy process".

It is written straight from DOMAIN.md and the README's "Billing decisions", in plain Python with
``decimal.Decimal`` only, and shares no code with the SQL models. The demo generator uses it to
write the legacy invoices that the pipeline's own invoices are reconciled against, and the
differential tests hold the pipeline to it, so a rule implemented differently on either side
shows up as a mismatch.

Scope: every pricing model of DOMAIN.md §2 (``flat_fee``, ``per_unit``, ``percent``,
``package``, ``tiered``, ``tiered_flat_fee``, ``volume``, ``volume_flat_fee``, ``step``,
``matrix``, ``two_dim_tiered``) with ``skip_zero``; free units, line discounts and minimums
(optionally prorated); a contract line's ``price_override`` and ``start_date``/``end_date``;
contract discount, minimum commitment and prepaid credit; tax; journal entries. Metering
(DOMAIN.md §6, every aggregation including ``weighted_sum``, equality filters and group-by) is
in :func:`meter`, for callers with a modest number of events; :func:`bill_contract` takes the
quantities per (period start, metric), as plain numbers or, for a grouped metric, per group
value.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from dateutil.relativedelta import relativedelta

# Enough significant digits that no intermediate value (a prorated fee, a per-unit price over a
# unit size, a time-weighted level) is rounded before the single rounding of step 5.
_PRECISION = 60

ZERO = Decimal(0)
HUNDRED = Decimal(100)

# ISO 4217 exponents of the currencies the demo uses, plus the usual exceptions to "2".
_MINOR_UNITS = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}

CADENCE_MONTHS = {"P1M": 1, "P3M": 3, "P1Y": 12}

MODELS = (
    "flat_fee",
    "per_unit",
    "percent",
    "package",
    "tiered",
    "tiered_flat_fee",
    "volume",
    "volume_flat_fee",
    "step",
    "matrix",
    "two_dim_tiered",
)
#: Models priced per group value of the metric's ``group_by``.
GROUPED_MODELS = ("matrix", "two_dim_tiered")
#: Models whose ``tiers`` table prices them.
TIER_MODELS = ("tiered", "tiered_flat_fee", "volume", "volume_flat_fee", "step")

#: Metric values computed by a division (avg, weighted_sum) keep 10 decimal places, rounded
#: half-up, as the warehouse's decimal(38, 10) does (README, "Billing decisions").
QUANTITY_STEP = Decimal("1e-10")

AGGREGATIONS = ("count", "sum", "min", "max", "avg", "count_distinct", "latest", "weighted_sum")
NUMERIC_AGGREGATIONS = ("sum", "min", "max", "avg", "weighted_sum")

# Ids of the invoice lines that come from no contract line (README, "Billing decisions").
CONTRACT_DISCOUNT = "contract_discount"
MINIMUM_TRUE_UP = "minimum_commitment_true_up"
PREPAID_APPLIED = "prepaid_credit_applied"

# Journal accounts (README, "Billing decisions").
ACCOUNTS_RECEIVABLE = "accounts_receivable"
REVENUE = "revenue"
DEFERRED_REVENUE = "deferred_revenue"
SALES_TAX_PAYABLE = "sales_tax_payable"
CUSTOMER_PREPAID_BALANCE = "customer_prepaid_balance"

# Reasons of a pricing error (a part of the usage that no rate prices).
NO_RATE_FOR_GROUP = "no_rate_for_group_value"
GROUP_VALUE_NOT_A_NUMBER = "group_value_not_a_number"

# A plain decimal number as text, the only shape a numeric property may have.
_NUMBER = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?")

#: A usage quantity: a number, or for a grouped metric a number per group value.
Quantity = Decimal | Mapping[str | None, Decimal]


# --------------------------------------------------------------------------- money and numbers


def to_decimal(value: Any) -> Decimal | None:
    """Read a configuration or CSV value as an exact decimal; ``None`` and ``""`` give ``None``.

    Floats go through their shortest repr, so a YAML ``1.005`` is 1.005, not the nearest binary
    float. Booleans are rejected: ``True`` is not a price.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        raise TypeError(f"expected a decimal, got {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value).strip())


def to_number(text: Any) -> Decimal | None:
    """A property value as a finite decimal, or ``None`` when it is not a plain number.

    Accepts numbers and numeric text ("12.5", " 7 ", "1e3"); rejects booleans, ``NaN``,
    ``Infinity`` and anything else, as the pipeline's quarantine does.
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, Decimal | int | float):
        value = to_decimal(text)
        return value if value is not None and value.is_finite() else None
    if not isinstance(text, str) or not _NUMBER.fullmatch(text.strip()):
        return None
    return Decimal(text.strip())


def parse_flag(value: Any) -> bool:
    """A boolean flag from YAML, JSON or a CSV cell ("true", "1", "yes", "t")."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "t")
    return bool(value)


def minor_unit(currency: str) -> int:
    """Return the ISO 4217 exponent of ``currency`` (USD 2, JPY 0); unknown codes raise."""
    try:
        return _MINOR_UNITS[currency.upper()]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}: no minor unit is known for it") from None


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the minor unit of ``currency``, halves away from zero.

    ``round_half_up(Decimal("2.345"), "USD") == Decimal("2.35")``,
    ``round_half_up(Decimal("-2.345"), "USD") == Decimal("-2.35")``,
    ``round_half_up(Decimal("1234.5"), "JPY") == Decimal("1235")``.
    """
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """Write a money amount with exactly the currency's number of decimals ("500.00", "500")."""
    return f"{round_half_up(amount, currency):f}"


def format_quantity(value: Decimal | None) -> str:
    """Write a quantity as the shortest exact decimal ("12", "12.5"); ``None`` gives ``""``."""
    if value is None:
        return ""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """One billing period of a contract: ``[start, end)`` with the contract's active days.

    ``active_start``/``active_end`` are the inclusive dates on which the contract is in force
    inside the period; they differ from the period bounds only in a first or last period.
    """

    index: int
    start: date
    end: date
    active_start: date
    active_end: date

    @property
    def days_in_period(self) -> int:
        """Calendar days of the full period, ``(end - start).days``."""
        return (self.end - self.start).days

    @property
    def active_days(self) -> int:
        """Days the contract is in force inside the period, both bounds counted."""
        return (self.active_end - self.active_start).days + 1

    @property
    def is_partial(self) -> bool:
        """True when the contract covers only part of the period (flat fees are prorated)."""
        return self.active_days < self.days_in_period


def cadence_months(cadence: str) -> int:
    """Months per billing period for ``P1M``/``P3M``/``P1Y``."""
    try:
        return CADENCE_MONTHS[cadence]
    except KeyError:
        raise ValueError(
            f"unknown billing_period {cadence!r}: use one of {', '.join(CADENCE_MONTHS)}"
        ) from None


def period_bounds(anchor: date, cadence: str, k: int) -> tuple[date, date]:
    """Return ``[start, end)`` of period ``k`` counted from ``anchor`` (``k`` may be negative).

    Both bounds are computed from the anchor itself, never from the previous period, so a
    month-end anchor stays on month ends: Jan 31 monthly gives Feb 28, Mar 31, Apr 30.
    """
    n = cadence_months(cadence)
    return anchor + relativedelta(months=k * n), anchor + relativedelta(months=(k + 1) * n)


def periods(
    start_date: date,
    end_date: date | None,
    anchor: date | None,
    cadence: str,
    as_of: date,
) -> list[Period]:
    """List the invoiced periods of a contract, oldest first.

    The first period is the one that contains ``start_date``; periods follow until one ends
    after ``as_of`` (still running, not invoiced) or starts after ``end_date`` (inclusive).
    ``anchor`` defaults to ``start_date``.
    """
    anchor = anchor or start_date
    if end_date is not None and end_date < start_date:
        raise ValueError(f"end_date {end_date} is before start_date {start_date}")
    n = cadence_months(cadence)
    # A first guess from the month difference, then walk to the period holding start_date.
    months = (start_date.year - anchor.year) * 12 + (start_date.month - anchor.month)
    k = months // n
    while period_bounds(anchor, cadence, k)[0] > start_date:
        k -= 1
    while period_bounds(anchor, cadence, k)[1] <= start_date:
        k += 1

    result: list[Period] = []
    while True:
        start, end = period_bounds(anchor, cadence, k)
        if end > as_of or (end_date is not None and start > end_date):
            return result
        last_day = end - timedelta(days=1)
        result.append(
            Period(
                index=k,
                start=start,
                end=end,
                active_start=max(start, start_date),
                active_end=min(last_day, end_date) if end_date is not None else last_day,
            )
        )
        k += 1


# --------------------------------------------------------------------------- pricing models


@dataclass(frozen=True)
class Tier:
    """One row of a tier table: the bracket ``(previous up_to, up_to]``.

    ``unit_price`` prices each unit in it, ``flat_fee`` is the fee of the bracket (for
    ``tiered_flat_fee``, ``volume_flat_fee`` and ``step``).
    """

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True)
class Band:
    """One band of a ``two_dim_tiered`` price: values up to ``up_to``, priced by ``tiers``."""

    up_to: Decimal | None
    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class PricingError:
    """Usage of a line that no rate prices: it is reported, never billed as a silent zero.

    ``reason`` is ``no_rate_for_group_value`` (a matrix group value without a rate table) or
    ``group_value_not_a_number`` (a ``two_dim_tiered`` value that is not a number).
    """

    product_id: str
    group_value: str | None
    quantity: Decimal
    reason: str


def _check_bounds(bounds: Sequence[Decimal | None], what: str) -> None:
    """Bounds strictly increasing, not negative, only the last one ``None`` (DOMAIN.md §1)."""
    if bounds[-1] is not None:
        raise ValueError(f"{what}: the last row must have up_to: null")
    previous: Decimal | None = None
    for i, bound in enumerate(bounds[:-1], start=1):
        if bound is None:
            raise ValueError(f"{what}: only the last row may have up_to: null")
        if bound < 0 or (previous is not None and bound <= previous):
            raise ValueError(
                f"{what}: tier bounds must be strictly increasing and not negative "
                f"(row {i} has up_to {bound} after {previous})"
            )
        previous = bound


def parse_tiers(tiers: Iterable[Mapping[str, Any]], product_id: str = "?") -> list[Tier]:
    """Read and check a tier table (DOMAIN.md §1).

    Bounds must be strictly increasing and the last one must be ``None`` (no bound); anything
    else is a configuration error naming the product. Missing prices and fees are 0.
    """
    rows = [
        Tier(
            to_decimal(t.get("up_to")),
            to_decimal(t.get("unit_price")) or ZERO,
            to_decimal(t.get("flat_fee")) or ZERO,
        )
        for t in tiers
    ]
    if not rows:
        raise ValueError(f"product {product_id}: the tier table is empty")
    _check_bounds([r.up_to for r in rows], f"product {product_id}")
    return rows


def parse_bands(bands: Iterable[Mapping[str, Any]], product_id: str = "?") -> list[Band]:
    """Read and check the bands of a ``two_dim_tiered`` price, each with its tier table."""
    rows = [
        Band(to_decimal(b.get("up_to")), tuple(parse_tiers(b.get("tiers") or [], product_id)))
        for b in bands
    ]
    if not rows:
        raise ValueError(f"product {product_id}: the band table is empty")
    _check_bounds([b.up_to for b in rows], f"product {product_id}, bands")
    return rows


def parse_rates(
    rates: Mapping[Any, Iterable[Mapping[str, Any]]], product_id: str = "?"
) -> dict[str, list[Tier]]:
    """Read and check the rate tables of a ``matrix`` price, keyed by group value (as text)."""
    if not rates:
        raise ValueError(f"product {product_id}: the matrix has no rates")
    return {
        str(group): parse_tiers(table, f"{product_id}, rates of '{group}'")
        for group, table in rates.items()
    }


def _graduated(tiers: Sequence[Tier], q: Decimal) -> Decimal:
    """Sum over tiers of the units inside each tier times its price."""
    total = ZERO
    lower = ZERO
    for tier in tiers:
        upper = q if tier.up_to is None else min(q, tier.up_to)
        if upper > lower:
            total += (upper - lower) * tier.unit_price
        if tier.up_to is None or q <= tier.up_to:
            break
        lower = tier.up_to
    return total


def _fees_reached(tiers: Sequence[Tier], q: Decimal) -> Decimal:
    """The flat fees of every tier that ``q`` reaches (``q`` above its lower bound)."""
    total = ZERO
    lower = ZERO
    for tier in tiers:
        if q > lower:
            total += tier.flat_fee
        if tier.up_to is None:
            break
        lower = tier.up_to
    return total


def _bracket(tiers: Sequence[Tier], q: Decimal) -> Tier:
    """The first tier with ``q <= up_to`` (q = 0 is in the first tier)."""
    for tier in tiers:
        if tier.up_to is None or q <= tier.up_to:
            return tier
    raise AssertionError("unreachable: the last tier has no bound")


def check_pricing(model: str, pricing: Mapping[str, Any], product_id: str = "?") -> None:
    """Raise ``ValueError`` naming the product when ``pricing`` is not a valid ``model`` price.

    The fields each model needs are those of BUNDLE.md, "Pricing fields".
    """
    needs = {
        "flat_fee": ("amount",),
        "per_unit": ("unit_price",),
        "percent": ("rate_percent",),
        "package": ("package_size", "package_price"),
        "matrix": ("rates",),
        "two_dim_tiered": ("bands",),
    }
    if model not in MODELS:
        raise ValueError(
            f"product {product_id}: unknown pricing model {model!r} "
            f"(use one of {', '.join(MODELS)})"
        )
    missing = [f for f in needs.get(model, ("tiers",)) if pricing.get(f) is None]
    if missing:
        raise ValueError(f"product {product_id}: model {model} needs {', '.join(missing)}")
    for key in (
        "amount",
        "unit_price",
        "unit_size",
        "rate_percent",
        "package_size",
        "package_price",
    ):
        to_decimal(pricing.get(key))  # raises on text that is not a number
    unit_size = to_decimal(pricing.get("unit_size"))
    if unit_size is not None and unit_size <= 0:
        raise ValueError(f"product {product_id}: unit_size must be positive")
    if model == "package" and to_decimal(pricing.get("package_size")) <= 0:
        raise ValueError(f"product {product_id}: package_size must be positive")
    if model in TIER_MODELS:
        parse_tiers(pricing["tiers"], product_id)
    elif model == "matrix":
        parse_rates(pricing["rates"], product_id)
    elif model == "two_dim_tiered":
        parse_bands(pricing["bands"], product_id)


def model_amount(
    model: str, pricing: Mapping[str, Any], q: Decimal, product_id: str = "?"
) -> Decimal:
    """The unrounded price of ``q`` billable units under one pricing model (DOMAIN.md §2).

    For ``flat_fee``, ``q`` is the line's quantity (a multiplier of ``amount``); proration is
    applied by :func:`rate_line`, not here. ``matrix`` and ``two_dim_tiered`` price usage per
    group value: see :func:`grouped_amount`.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if model == "flat_fee":
            return (to_decimal(pricing.get("amount")) or ZERO) * q
        if model == "per_unit":
            unit_size = to_decimal(pricing.get("unit_size")) or Decimal(1)
            unit_price = to_decimal(pricing.get("unit_price")) or ZERO
            # Multiply first: q * price / size is exact whenever q / size * price is.
            return q * unit_price / unit_size
        if model == "percent":
            return q * (to_decimal(pricing.get("rate_percent")) or ZERO) / HUNDRED
        if model == "package":
            size = to_decimal(pricing.get("package_size"))
            if not size or size <= 0:
                raise ValueError(f"product {product_id}: package_size must be positive")
            price = to_decimal(pricing.get("package_price")) or ZERO
            packages = (q / size).to_integral_value(rounding=ROUND_CEILING)
            return packages * price
        if model in TIER_MODELS:
            tiers = parse_tiers(pricing.get("tiers") or [], product_id)
            if model == "tiered":
                return _graduated(tiers, q)
            if model == "tiered_flat_fee":
                return _graduated(tiers, q) + _fees_reached(tiers, q)
            bracket = _bracket(tiers, q)
            if model == "volume":
                return q * bracket.unit_price
            if model == "volume_flat_fee":
                return bracket.flat_fee + q * bracket.unit_price
            return bracket.flat_fee  # step
        if model in GROUPED_MODELS:
            raise ValueError(
                f"product {product_id}: model {model} prices usage per group value; "
                "give the quantities per group (grouped_amount)"
            )
    raise ValueError(
        f"product {product_id}: unknown pricing model {model!r} (known: {', '.join(MODELS)})"
    )


def _take_free_units(quantities: Sequence[Decimal], free_units: Decimal | None) -> list[Decimal]:
    """Free units taken from the quantities in order, each down to 0 at most."""
    left = max(free_units or ZERO, ZERO)
    result = []
    for q in quantities:
        taken = min(left, max(q, ZERO))
        left -= taken
        result.append(q - taken)
    return result


def _group_order(group: str | None) -> tuple[str, int]:
    """Ascending text order (code points); a missing group value reads as "" and comes first."""
    return (group or "", group is not None)


def grouped_amount(
    model: str,
    pricing: Mapping[str, Any],
    groups: Mapping[str | None, Decimal],
    free_units: Decimal | None = None,
    product_id: str = "?",
) -> tuple[Decimal, list[PricingError]]:
    """Price usage given per group value under ``matrix`` or ``two_dim_tiered`` (unrounded).

    ``matrix``: per group value, ``q_g × unit_price`` of the bracket holding ``q_g`` in that
    value's rate table; free units come off the groups in ascending group-value order (text
    order) before that. ``two_dim_tiered``: each group value is a number that falls in the
    first band with ``value <= up_to``; each band's summed quantity, less the free units taken
    over the bands in order, is priced graduated over the band's tiers.

    Usage that no rate prices (a group value without a rate table, a 2-D value that is not a
    number) adds nothing to the amount and comes back as a :class:`PricingError`.
    """
    errors: list[PricingError] = []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if model == "matrix":
            rates = parse_rates(pricing.get("rates") or {}, product_id)
            order = sorted(groups, key=_group_order)
            billable = _take_free_units([groups[g] for g in order], free_units)
            total = ZERO
            for group, bq in zip(order, billable, strict=True):
                table = rates.get(group) if group is not None else None
                if table is None:
                    errors.append(PricingError(product_id, group, groups[group], NO_RATE_FOR_GROUP))
                    continue
                total += bq * _bracket(table, bq).unit_price
            return total, errors
        if model == "two_dim_tiered":
            bands = parse_bands(pricing.get("bands") or [], product_id)
            per_band = [ZERO] * len(bands)
            for group in sorted(groups, key=_group_order):
                value = to_number(group)
                if value is None:
                    errors.append(
                        PricingError(product_id, group, groups[group], GROUP_VALUE_NOT_A_NUMBER)
                    )
                    continue
                index = next(i for i, b in enumerate(bands) if b.up_to is None or value <= b.up_to)
                per_band[index] += groups[group]
            billable = _take_free_units(per_band, free_units)
            total = sum(
                (_graduated(band.tiers, bq) for band, bq in zip(bands, billable, strict=True)),
                ZERO,
            )
            return total, errors
    raise ValueError(f"product {product_id}: model {model} is not priced per group value")


def billable_quantity(model: str, q: Decimal, free_units: Decimal | None) -> Decimal:
    """Step 1 of DOMAIN.md §3: ``max(q - free_units, 0)``; flat fees ignore free units."""
    if model == "flat_fee" or not free_units:
        return q
    return max(q - free_units, ZERO)


@dataclass(frozen=True)
class LineRating:
    """One line priced for one period: the rounded amount, the quantities, any pricing error."""

    amount: Decimal
    quantity: Decimal
    billable_quantity: Decimal
    errors: tuple[PricingError, ...] = ()


def price_line(
    model: str,
    pricing: Mapping[str, Any],
    q: Quantity | int | str | None,
    *,
    currency: str = "USD",
    free_units: Decimal | None = None,
    discount_percent: Decimal | None = None,
    discount_amount: Decimal | None = None,
    minimum_commitment: Decimal | None = None,
    skip_zero: bool = False,
    prorate_commitment: bool = False,
    active_days: int | None = None,
    days_in_period: int | None = None,
    product_id: str = "?",
) -> LineRating:
    """Price one product line for one period (DOMAIN.md §3 steps 1-5), with its pricing errors.

    ``q`` is the period's quantity: the metric value for a metered line (a mapping of group
    value to value for a grouped metric; the line's quantity is their sum), the contract line's
    quantity for a flat fee. ``matrix`` and ``two_dim_tiered`` need the mapping unless q is 0.
    When the line is active on ``active_days`` of the period's ``days_in_period`` only, a flat
    fee is prorated by that share, and so is the minimum when ``prorate_commitment`` is set.
    ``skip_zero`` (here or in ``pricing``) makes q = 0 cost nothing, minimum included.
    """
    groups: Mapping[str | None, Decimal] | None = None
    if isinstance(q, Mapping):
        groups = {g: to_decimal(v) or ZERO for g, v in q.items()}
        q_dec = sum(groups.values(), ZERO)
    else:
        q_dec = to_decimal(q) or ZERO
    skip = skip_zero or parse_flag(pricing.get("skip_zero", False))
    free = to_decimal(free_units)
    bq = billable_quantity(model, q_dec, free)
    if skip and q_dec == 0:
        return LineRating(round_half_up(ZERO, currency), q_dec, bq)
    partial = active_days is not None and bool(days_in_period) and active_days < days_in_period
    errors: list[PricingError] = []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if model in GROUPED_MODELS:
            if groups is None and q_dec != 0:
                raise ValueError(
                    f"product {product_id}: model {model} needs the usage per group value"
                )
            amount, errors = grouped_amount(model, pricing, groups or {}, free, product_id)
        else:
            amount = model_amount(model, pricing, bq, product_id)
        if model == "flat_fee" and partial:
            amount = amount * active_days / days_in_period
        # the priced amount and the discounted one keep 10 decimals, rounded half-up, as the
        # warehouse's decimal(38, 10) does (README, "Billing decisions")
        amount = amount.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)
        p = to_decimal(discount_percent)
        if p:
            amount = (amount * (1 - p / HUNDRED)).quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)
        d = to_decimal(discount_amount)
        if d:
            amount = max(amount - d, ZERO)
        minimum = to_decimal(minimum_commitment)
        if minimum is not None:
            if prorate_commitment and partial:
                minimum = (minimum * active_days / days_in_period).quantize(
                    QUANTITY_STEP, rounding=ROUND_HALF_UP
                )
            amount = max(amount, minimum)
        return LineRating(round_half_up(amount, currency), q_dec, bq, tuple(errors))


def rate_line(
    model: str,
    pricing: Mapping[str, Any],
    q: Quantity | int | str | None,
    *,
    currency: str = "USD",
    free_units: Decimal | None = None,
    discount_percent: Decimal | None = None,
    discount_amount: Decimal | None = None,
    minimum_commitment: Decimal | None = None,
    skip_zero: bool = False,
    prorate_commitment: bool = False,
    active_days: int | None = None,
    days_in_period: int | None = None,
    product_id: str = "?",
) -> Decimal:
    """Price one product line for one period and round it (DOMAIN.md §3 steps 1-5).

    The arguments are those of :func:`price_line`. Returns the amount rounded half-up to the
    currency's minor unit; usage that no rate prices raises ``ValueError`` (an amount without
    it would be a silent zero).
    """
    rated = price_line(
        model,
        pricing,
        q,
        currency=currency,
        free_units=free_units,
        discount_percent=discount_percent,
        discount_amount=discount_amount,
        minimum_commitment=minimum_commitment,
        skip_zero=skip_zero,
        prorate_commitment=prorate_commitment,
        active_days=active_days,
        days_in_period=days_in_period,
        product_id=product_id,
    )
    if rated.errors:
        raise ValueError(
            f"product {product_id}: usage without a rate: "
            + ", ".join(f"{e.group_value!r} ({e.reason})" for e in rated.errors)
        )
    return rated.amount


# --------------------------------------------------------------------------- contracts


@dataclass(frozen=True)
class Product:
    """A catalogue product: its pricing model and, when metered, the metric it bills."""

    product_id: str
    model: str
    pricing: Mapping[str, Any]
    metric: str | None = None

    @classmethod
    def from_plan(cls, entry: Mapping[str, Any]) -> Product:
        """Build from one ``products`` entry of plan.yaml."""
        pricing = dict(entry["pricing"])
        return cls(entry["id"], pricing.pop("model"), pricing, entry.get("metric"))


@dataclass(frozen=True)
class ContractLine:
    """One row of contract_lines.csv (empty CSV cells as ``None``).

    ``price_override`` is a JSON text (or a mapping) with the shape of a product's ``pricing``,
    ``model`` included, that replaces the product's pricing for this line. ``start_date`` and
    ``end_date`` (inclusive) limit the days the line is active; ``prorate_commitment`` prorates
    its minimum by those days like a flat fee.
    """

    product_id: str
    quantity: Decimal | None = None
    billing_timing: str | None = None
    free_units: Decimal | None = None
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    minimum_commitment: Decimal | None = None
    skip_zero: bool = False
    price_override: str | Mapping[str, Any] | None = None
    start_date: date | None = None
    end_date: date | None = None
    prorate_commitment: bool = False


@dataclass(frozen=True)
class Contract:
    """One row of contracts.csv (empty CSV cells as ``None``)."""

    contract_id: str
    customer_id: str
    currency: str
    start_date: date
    billing_period: str = "P1M"
    end_date: date | None = None
    billing_anchor_date: date | None = None
    discount_percent: Decimal | None = None
    minimum_commitment: Decimal | None = None
    prepaid_credit: Decimal | None = None
    tax_rate_percent: Decimal | None = None


@dataclass(frozen=True)
class InvoiceLine:
    """A line of an invoice: a product line, or one of the contract-level pseudo lines.

    ``quantity`` is the period's quantity before free units (``None`` on pseudo lines);
    ``account`` is where a product line's revenue is credited; ``errors`` lists the usage of
    the line that no rate priced.
    """

    line_no: int
    product_id: str
    quantity: Decimal | None
    billable_quantity: Decimal | None
    amount: Decimal
    account: str | None = None
    errors: tuple[PricingError, ...] = ()

    @property
    def is_product(self) -> bool:
        """True for a line that comes from a contract line."""
        return self.product_id not in (CONTRACT_DISCOUNT, MINIMUM_TRUE_UP, PREPAID_APPLIED)


@dataclass(frozen=True)
class JournalEntry:
    """One side of a double entry; exactly one of ``debit``/``credit`` is non-zero."""

    account: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class Settlement:
    """The invoice-level amounts of DOMAIN.md §3 steps 6-10."""

    discount: Decimal
    true_up: Decimal
    subtotal: Decimal
    credits_applied: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class Invoice:
    """One invoice: one contract, one billing period."""

    contract_id: str
    customer_id: str
    currency: str
    period: Period
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    credits_applied: Decimal
    tax: Decimal
    total: Decimal
    tax_rate_percent: Decimal
    journal: tuple[JournalEntry, ...] = field(default=())

    @property
    def period_start(self) -> date:
        """First day of the billing period."""
        return self.period.start

    @property
    def period_end(self) -> date:
        """Day after the last day of the billing period (exclusive bound)."""
        return self.period.end

    @property
    def pricing_errors(self) -> tuple[PricingError, ...]:
        """Usage on this invoice that no rate priced (to report; it is not billed)."""
        return tuple(e for line in self.lines for e in line.errors)


def settle_invoice(
    line_amounts: Sequence[Decimal],
    currency: str,
    *,
    discount_percent: Decimal | None = None,
    minimum_commitment: Decimal | None = None,
    prepaid_available: Decimal = ZERO,
    tax_rate_percent: Decimal | None = None,
) -> Settlement:
    """Apply the invoice-level steps to rounded line amounts (DOMAIN.md §3 steps 6-10).

    ``prepaid_available`` is the prepaid balance left before this invoice; the credit applied
    is ``min(subtotal, prepaid_available)``, which equals the README's
    ``min(cum_k, P) - min(cum_(k-1), P)`` for the non-negative subtotals billing produces.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        zero = round_half_up(ZERO, currency)
        line_sum = sum(line_amounts, zero)
        p = to_decimal(discount_percent)
        discount = -round_half_up(line_sum * p / HUNDRED, currency) if p and p > 0 else zero
        minimum = to_decimal(minimum_commitment)
        shortfall = (minimum - (line_sum + discount)) if minimum is not None else zero
        true_up = round_half_up(shortfall, currency) if shortfall > 0 else zero
        subtotal = line_sum + discount + true_up
        credits = round_half_up(max(min(subtotal, prepaid_available), ZERO), currency)
        rate = to_decimal(tax_rate_percent) or ZERO
        tax = round_half_up((subtotal - credits) * rate / HUNDRED, currency)
        return Settlement(discount, true_up, subtotal, credits, tax, subtotal - credits + tax)


def journal_entries(invoice: Invoice) -> list[JournalEntry]:
    """The double entry of one invoice (DOMAIN.md §8; README, "Billing decisions").

    Dr accounts receivable the total; Cr revenue or deferred revenue per product line; Dr
    revenue the contract discount; Cr revenue the minimum true-up; Cr sales tax payable; Dr
    customer prepaid balance the credit applied. Rows with a zero amount are left out.
    """
    zero = round_half_up(ZERO, invoice.currency)
    rows = [JournalEntry(ACCOUNTS_RECEIVABLE, invoice.total, zero)]
    for line in invoice.lines:
        if line.is_product:
            rows.append(JournalEntry(line.account or REVENUE, zero, line.amount))
        elif line.product_id == CONTRACT_DISCOUNT:
            rows.append(JournalEntry(REVENUE, -line.amount, zero))
        elif line.product_id == MINIMUM_TRUE_UP:
            rows.append(JournalEntry(REVENUE, zero, line.amount))
    rows.append(JournalEntry(SALES_TAX_PAYABLE, zero, invoice.tax))
    rows.append(JournalEntry(CUSTOMER_PREPAID_BALANCE, invoice.credits_applied, zero))
    return [r for r in rows if r.debit != 0 or r.credit != 0]


def line_account(model: str, billing_timing: str | None) -> str:
    """Revenue account of a product line: deferred when billed in advance.

    ``billing_timing`` defaults to ``advance`` for flat fees and ``arrears`` otherwise.
    """
    timing = billing_timing or ("advance" if model == "flat_fee" else "arrears")
    return DEFERRED_REVENUE if timing == "advance" else REVENUE


def build_invoice(
    contract: Contract,
    period: Period,
    product_lines: Sequence[InvoiceLine],
    *,
    prepaid_available: Decimal = ZERO,
    tax_rate_percent: Decimal | None = None,
) -> Invoice:
    """Settle rated product lines into an invoice with its pseudo lines and journal."""
    s = settle_invoice(
        [line.amount for line in product_lines],
        contract.currency,
        discount_percent=contract.discount_percent,
        minimum_commitment=contract.minimum_commitment,
        prepaid_available=prepaid_available,
        tax_rate_percent=tax_rate_percent,
    )
    lines = list(product_lines)
    for product_id, amount in (
        (CONTRACT_DISCOUNT, s.discount),
        (MINIMUM_TRUE_UP, s.true_up),
        (PREPAID_APPLIED, -s.credits_applied),
    ):
        if amount != 0:
            lines.append(InvoiceLine(len(lines) + 1, product_id, None, None, amount))
    invoice = Invoice(
        contract_id=contract.contract_id,
        customer_id=contract.customer_id,
        currency=contract.currency,
        period=period,
        lines=tuple(lines),
        subtotal=s.subtotal,
        credits_applied=s.credits_applied,
        tax=s.tax,
        total=s.total,
        tax_rate_percent=to_decimal(tax_rate_percent) or ZERO,
    )
    return _with_journal(invoice)


def _with_journal(invoice: Invoice) -> Invoice:
    return replace(invoice, journal=tuple(journal_entries(invoice)))


def line_pricing(line: ContractLine, product: Product) -> tuple[str, Mapping[str, Any]]:
    """The model and pricing a contract line is billed with: its override, else the product's.

    An override that is not a JSON object or not a valid pricing raises ``ValueError`` (the
    pipeline quarantines such a line).
    """
    override = line.price_override
    if override is None or (isinstance(override, str) and not override.strip()):
        return product.model, product.pricing
    if isinstance(override, str):
        try:
            override = json.loads(override, parse_float=Decimal)
        except ValueError as exc:
            raise ValueError(
                f"product {product.product_id}: price_override is not valid JSON ({exc})"
            ) from None
    if not isinstance(override, Mapping) or "model" not in override:
        raise ValueError(
            f"product {product.product_id}: price_override must be a JSON object with a model"
        )
    pricing = {k: v for k, v in override.items() if k != "model"}
    check_pricing(override["model"], pricing, product.product_id)
    return override["model"], pricing


def line_active(line: ContractLine, period: Period) -> tuple[date, date] | None:
    """The first and last day (inclusive) the line is active in the period, or ``None``.

    That is the contract's active days in the period cut to the line's own dates.
    """
    first = max(period.active_start, line.start_date or period.active_start)
    last = min(period.active_end, line.end_date or period.active_end)
    return (first, last) if first <= last else None


def bill_contract(
    contract: Contract,
    lines: Sequence[ContractLine],
    products: Mapping[str, Product],
    usage: Mapping[tuple[date, str], Quantity],
    *,
    as_of: date,
    customer_tax_rate_percent: Decimal | None = None,
    since: date | None = None,
) -> list[Invoice]:
    """Bill one contract: one invoice per invoiced period, with lines and journal entries.

    ``usage`` maps ``(period_start, metric_id)`` to the metric's value in that period, or for
    a grouped metric to its value per group value; a missing key is 0. A line appears on the
    invoice of every period in which it is active (its own dates cut the contract's), in the
    order of ``lines`` (line_no 1..n); a line whose price override is not valid is left out.
    The tax rate is the contract's, else ``customer_tax_rate_percent``, else 0. The prepaid
    credit is drawn down over the periods in order and carries over from one invoice to the
    next.

    ``since`` returns only the invoices whose period ends after it; earlier periods are still
    billed internally when the contract has a prepaid balance, because they consume it.
    """
    prepaid = to_decimal(contract.prepaid_credit) or ZERO
    tax_rate = contract.tax_rate_percent
    if tax_rate is None:
        tax_rate = customer_tax_rate_percent
    billable_lines = []
    for line in lines:
        try:
            line_pricing(line, products[line.product_id])
        except ValueError:
            continue
        billable_lines.append(line)
    cumulative = ZERO
    invoices: list[Invoice] = []
    for period in periods(
        contract.start_date,
        contract.end_date,
        contract.billing_anchor_date,
        contract.billing_period,
        as_of,
    ):
        wanted = since is None or period.end > since
        if not wanted and prepaid == 0:
            continue
        active = [line for line in billable_lines if line_active(line, period)]
        rated = [
            rate_contract_line(contract, line, products[line.product_id], period, usage, i)
            for i, line in enumerate(active, start=1)
        ]
        available = max(prepaid - cumulative, ZERO)
        invoice = build_invoice(
            contract, period, rated, prepaid_available=available, tax_rate_percent=tax_rate
        )
        cumulative += invoice.subtotal
        if wanted:
            invoices.append(invoice)
    return invoices


def line_quantity(
    line: ContractLine,
    product: Product,
    period: Period,
    usage: Mapping[tuple[date, str], Quantity],
) -> Quantity:
    """q of a line: the metric's value in the period (per group value for a grouped metric),
    or the line's fixed quantity (default 1)."""
    if product.metric:
        value = usage.get((period.start, product.metric))
        if isinstance(value, Mapping):
            return dict(value)
        return to_decimal(value) or ZERO
    return to_decimal(line.quantity) or Decimal(1)


def rate_contract_line(
    contract: Contract,
    line: ContractLine,
    product: Product,
    period: Period,
    usage: Mapping[tuple[date, str], Quantity],
    line_no: int,
    *,
    quantity: Quantity | None = None,
) -> InvoiceLine:
    """Rate one contract line for one period; ``quantity`` overrides the looked-up q.

    The line is priced with its override when it has one; a flat fee (and, with
    ``prorate_commitment``, the minimum) is prorated by the days the line is active.
    """
    q = quantity if quantity is not None else line_quantity(line, product, period, usage)
    model, pricing = line_pricing(line, product)
    active = line_active(line, period)
    if active is None:
        raise ValueError(
            f"contract {contract.contract_id}, product {product.product_id}: the line is not "
            f"active in the period starting {period.start}"
        )
    rated = price_line(
        model,
        pricing,
        q,
        currency=contract.currency,
        free_units=line.free_units,
        discount_percent=line.discount_percent,
        discount_amount=line.discount_amount,
        minimum_commitment=line.minimum_commitment,
        skip_zero=line.skip_zero,
        prorate_commitment=line.prorate_commitment,
        active_days=(active[1] - active[0]).days + 1,
        days_in_period=period.days_in_period,
        product_id=product.product_id,
    )
    return InvoiceLine(
        line_no=line_no,
        product_id=product.product_id,
        quantity=rated.quantity,
        billable_quantity=rated.billable_quantity,
        amount=rated.amount,
        account=line_account(model, line.billing_timing),
        errors=rated.errors,
    )


# --------------------------------------------------------------------------- metering


def property_text(value: Any) -> str | None:
    """A JSON property value as text, as ``->>`` gives it: strings as they are, numbers as
    written, ``true``/``false``, objects and arrays as JSON; a missing value is ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Metric:
    """A billable metric (DOMAIN.md §6): which events, how aggregated, of which property.

    ``filters`` are equality conditions on properties (compared as text; a missing property
    reads as ""); ``group_by`` names the property whose value splits the metric per group.
    """

    metric_id: str
    event_name: str
    aggregation: str
    property: str | None = None
    group_by: str | None = None
    filters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_plan(cls, entry: Mapping[str, Any]) -> Metric:
        """Build from one ``metrics`` entry of plan.yaml."""
        if entry["aggregation"] not in AGGREGATIONS:
            raise ValueError(f"metric {entry['id']}: unknown aggregation {entry['aggregation']!r}")
        filters = tuple(sorted((str(k), str(v)) for k, v in (entry.get("filters") or {}).items()))
        return cls(
            entry["id"],
            entry["event_name"],
            entry["aggregation"],
            entry.get("property"),
            entry.get("group_by"),
            filters,
        )

    def selects(self, event: Event) -> bool:
        """True when the event has the metric's name and passes its filters."""
        return event.event_name == self.event_name and all(
            (property_text(event.properties.get(key)) or "") == value for key, value in self.filters
        )


@dataclass(frozen=True)
class Event:
    """An accepted usage event: ``timestamp`` is timezone-aware, ``properties`` parsed JSON."""

    event_id: str
    customer_id: str
    event_name: str
    timestamp: datetime
    properties: Mapping[str, Any]


def _numeric(metric: Metric, event: Event) -> Decimal:
    value = to_number(event.properties.get(metric.property or ""))
    if value is None:
        raise ValueError(
            f"metric {metric.metric_id}: event {event.event_id} has no numeric "
            f"{metric.property!r} (the pipeline quarantines it)"
        )
    return value


def _weighted_sum(
    metric: Metric, events: Sequence[Event], start: datetime, end: datetime
) -> Decimal:
    """Σ level × seconds held / seconds in ``[start, end)``; the level is 0 before the first
    event, each event sets it until the next one (ties in event id order) or the end."""
    ordered = sorted(events, key=lambda e: (e.timestamp, e.event_id))
    held = ZERO
    for event, following in zip(ordered, [*ordered[1:], None], strict=True):
        until = following.timestamp if following is not None else end
        micros = (until - event.timestamp) // timedelta(microseconds=1)
        held += _numeric(metric, event) * micros
    # divided once, rounded half-up to the warehouse's 10 decimal places (README)
    return (held / ((end - start) // timedelta(microseconds=1))).quantize(
        QUANTITY_STEP, rounding=ROUND_HALF_UP
    )


def metric_value(
    metric: Metric, events: Iterable[Event], start: datetime, end: datetime
) -> dict[str | None, Decimal]:
    """The metric's value per group value (``None`` without ``group_by``) over the events.

    ``events`` are those of one customer's contract with their timestamps in ``[start, end)``
    (the billing period); events the metric does not select are skipped. A group without
    selected events is absent. ``latest`` takes the event with the greatest timestamp, then
    the greatest event id; its value is 0 when that event's property is not a number.
    """
    groups: dict[str | None, list[Event]] = defaultdict(list)
    for event in events:
        if metric.selects(event):
            key = property_text(event.properties.get(metric.group_by)) if metric.group_by else None
            groups[key].append(event)
    result: dict[str | None, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for key, selected in groups.items():
            agg = metric.aggregation
            if agg == "count":
                value = Decimal(len(selected))
            elif agg == "count_distinct":
                texts = {property_text(e.properties.get(metric.property or "")) for e in selected}
                value = Decimal(len(texts - {None}))
            elif agg == "latest":
                last = max(selected, key=lambda e: (e.timestamp, e.event_id))
                value = to_number(last.properties.get(metric.property or "")) or ZERO
            elif agg == "weighted_sum":
                value = _weighted_sum(metric, selected, start, end)
            else:
                numbers = [_numeric(metric, e) for e in selected]
                if agg == "sum":
                    value = sum(numbers, ZERO)
                elif agg == "min":
                    value = min(numbers)
                elif agg == "max":
                    value = max(numbers)
                elif agg == "avg":
                    value = (sum(numbers, ZERO) / len(numbers)).quantize(
                        QUANTITY_STEP, rounding=ROUND_HALF_UP
                    )
                else:
                    raise ValueError(f"metric {metric.metric_id}: unknown aggregation {agg!r}")
            result[key] = value
    return result


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def meter(
    contracts: Sequence[Contract],
    metrics: Sequence[Metric],
    events: Iterable[Event],
    *,
    as_of: date,
) -> dict[str, dict[tuple[date, str], Quantity]]:
    """Usage per contract id, in the shape :func:`bill_contract` takes (UTC periods).

    Each event belongs to its customer's contract that covers the event's UTC date (the
    latest-starting one if several do, then the greatest contract id) and to that contract's
    invoiced period holding its instant; other events are not billed. A grouped metric gives a
    mapping of group value to value, any other metric a number.
    """
    by_customer: dict[str, list[Contract]] = defaultdict(list)
    for contract in contracts:
        by_customer[contract.customer_id].append(contract)
    for candidates in by_customer.values():
        candidates.sort(key=lambda c: (c.start_date, c.contract_id), reverse=True)
    bounds = {
        c.contract_id: [
            (_midnight(p.start), _midnight(p.end), p.start)
            for p in periods(
                c.start_date, c.end_date, c.billing_anchor_date, c.billing_period, as_of
            )
        ]
        for c in contracts
    }
    assigned: dict[tuple[str, date], list[Event]] = defaultdict(list)
    period_of: dict[tuple[str, date], tuple[datetime, datetime]] = {}
    for event in events:
        instant = event.timestamp.astimezone(UTC)
        day = instant.date()
        contract = next(
            (
                c
                for c in by_customer.get(event.customer_id, [])
                if c.start_date <= day and (c.end_date is None or day <= c.end_date)
            ),
            None,
        )
        if contract is None:
            continue
        for start, end, key in bounds[contract.contract_id]:
            if start <= instant < end:
                assigned[(contract.contract_id, key)].append(event)
                period_of[(contract.contract_id, key)] = (start, end)
                break
    usage: dict[str, dict[tuple[date, str], Quantity]] = {c.contract_id: {} for c in contracts}
    for (contract_id, period_start), selected in assigned.items():
        start, end = period_of[(contract_id, period_start)]
        for metric in metrics:
            values = metric_value(metric, selected, start, end)
            if not values:
                continue
            if metric.group_by:
                usage[contract_id][(period_start, metric.metric_id)] = values
            else:
                usage[contract_id][(period_start, metric.metric_id)] = values[None]
    return usage
