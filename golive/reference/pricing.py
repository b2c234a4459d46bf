"""Pricing models (docs/billing-rules.md §1-3): tier tables, every model of §2, and one line's steps
1-5.

A line is priced on its billable quantity (after free units) with its model, then discounted,
held to its minimum and rounded to the currency's minor unit, half away from zero. ``matrix``
and ``two_dim_tiered`` price usage per group value of the metric's ``group_by``; usage that no
rate prices is a :class:`PricingError`, never a silent zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from golive.reference.numbers import (
    HUNDRED,
    PRECISION,
    QUANTITY_STEP,
    ZERO,
    round_half_up,
    to_decimal,
)
from golive.reference.parsing import parse_flag, parse_number

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

# Reasons of a pricing error (a part of the usage that no rate prices).
NO_RATE_FOR_GROUP = "no_rate_for_group_value"
GROUP_VALUE_NOT_A_NUMBER = "group_value_not_a_number"

#: A usage quantity: a number, or for a grouped metric a number per group value.
Quantity = Decimal | Mapping[str | None, Decimal]


@dataclass(frozen=True)
class Tier:
    """One row of a tier table: the bracket ``(previous up_to, up_to]``.

    ``unit_price`` prices each unit in it, ``flat_fee`` is the fee of the bracket (for
    ``tiered_flat_fee``, ``volume_flat_fee`` and ``step``).
    """

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO
    #: a block tier of ``tiered``: its units are priced as whole packages of this size
    package_size: Decimal | None = None


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
    """Bounds strictly increasing, not negative, only the last one ``None`` (docs/billing-rules.md
    §1)."""
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
    """Read and check a tier table (docs/billing-rules.md §1).

    Bounds must be strictly increasing and the last one must be ``None`` (no bound); anything
    else is a configuration error naming the product. Missing prices and fees are 0.
    """
    rows = [
        Tier(
            to_decimal(t.get("up_to")),
            to_decimal(t.get("unit_price")) or ZERO,
            to_decimal(t.get("flat_fee")) or ZERO,
            to_decimal(t.get("package_size")),
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


def pair_text(first: str, second: str) -> str:
    """Two group values as one (the billing rules §2.10): ``["first","second"]``, each with
    backslash and double quote escaped by a backslash."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    return '["' + esc(first) + '","' + esc(second) + '"]'


def parse_rates(rates: Mapping[Any, Any], product_id: str = "?") -> dict[str, list[Tier]]:
    """Read and check the rate tables of a ``matrix`` price, keyed by group value (as text);
    a table keyed on two values (``{first: {second: [tiers]}}``) by the pair's text."""
    if not rates:
        raise ValueError(f"product {product_id}: the matrix has no rates")
    tables: dict[str, list[Tier]] = {}
    for group, table in rates.items():
        if isinstance(table, Mapping):
            for second, inner in table.items():
                where = f"{product_id}, rates of '{group}' and '{second}'"
                tables[pair_text(str(group), str(second))] = parse_tiers(inner, where)
        else:
            tables[str(group)] = parse_tiers(table, f"{product_id}, rates of '{group}'")
    return tables


def _packages(units: Decimal, size: Decimal) -> Decimal:
    """Whole packages of ``size`` that ``units`` start: the quotient kept to 10 decimals (as
    the warehouse divides), then rounded up."""
    return (
        (units / size)
        .quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)
        .to_integral_value(rounding=ROUND_CEILING)
    )


def _graduated(tiers: Sequence[Tier], q: Decimal) -> Decimal:
    """Sum over tiers of the units inside each tier times its price (a block tier: of the
    whole packages its units start, times its price per package)."""
    total = ZERO
    lower = ZERO
    for tier in tiers:
        upper = q if tier.up_to is None else min(q, tier.up_to)
        if upper > lower:
            if tier.package_size is not None:
                total += _packages(upper - lower, tier.package_size) * tier.unit_price
            else:
                total += (upper - lower) * tier.unit_price
        if tier.up_to is None or q <= tier.up_to:
            break
        lower = tier.up_to
    return total


def _fees_reached(tiers: Sequence[Tier], q: Decimal, first_at_zero: bool = False) -> Decimal:
    """The flat fees of every tier that ``q`` reaches (``q`` above its lower bound); with
    ``first_at_zero``, tier 1's fee whatever q (charge_first_tier_at_zero)."""
    total = ZERO
    lower = ZERO
    for n, tier in enumerate(tiers):
        if q > lower or (first_at_zero and n == 0):
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

    The fields each model needs are those of docs/plan-and-datasets.md, "Pricing fields".
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
    low, high = to_decimal(pricing.get("minimum_amount")), to_decimal(pricing.get("maximum_amount"))
    if low is not None and high is not None and high < low:
        raise ValueError(f"product {product_id}: maximum_amount is below minimum_amount")
    transform = pricing.get("quantity_transform")
    if transform is not None:
        size = to_decimal(transform.get("divide_by")) if isinstance(transform, Mapping) else None
        if size is None or size <= 0 or transform.get("round", "up") not in _ROUNDING:
            raise ValueError(
                f"product {product_id}: quantity_transform needs divide_by above 0 and round "
                "up, down or half_up"
            )
    for tier in pricing.get("tiers") or []:
        size = to_decimal(tier.get("package_size"))
        if size is not None and size <= 0:
            raise ValueError(f"product {product_id}: a tier's package_size must be positive")
    if pricing.get("default_rates") is not None:
        parse_tiers(pricing["default_rates"], f"{product_id}, default_rates")
    if model in TIER_MODELS:
        parse_tiers(pricing["tiers"], product_id)
    elif model == "matrix":
        parse_rates(pricing["rates"], product_id)
    elif model == "two_dim_tiered":
        parse_bands(pricing["bands"], product_id)


def model_amount(
    model: str, pricing: Mapping[str, Any], q: Decimal, product_id: str = "?"
) -> Decimal:
    """The unrounded price of ``q`` billable units under one pricing model (docs/billing-rules.md
    §2).

    For ``flat_fee``, ``q`` is the line's quantity (a multiplier of ``amount``); proration is
    applied by :func:`rate_line`, not here. ``matrix`` and ``two_dim_tiered`` price usage per
    group value: see :func:`grouped_amount`.
    """
    with localcontext() as ctx:
        ctx.prec = PRECISION
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
                first = parse_flag(pricing.get("charge_first_tier_at_zero", False))
                return _graduated(tiers, q) + _fees_reached(tiers, q, first)
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
    """Free units taken from the quantities in order, each down to 0 at most: ``max(q - taken,
    0)`` (docs/billing-rules.md §3.1 step 1); a negative quantity is billed 0 and takes none."""
    left = max(free_units or ZERO, ZERO)
    result = []
    for q in quantities:
        taken = min(left, max(q, ZERO))
        left -= taken
        result.append(max(q - taken, ZERO))
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
        ctx.prec = PRECISION
        if model == "matrix":
            rates = parse_rates(pricing.get("rates") or {}, product_id)
            default = pricing.get("default_rates")
            default_table = (
                parse_tiers(default, f"{product_id}, default_rates") if default else None
            )
            order = sorted(groups, key=_group_order)
            billable = _take_free_units([groups[g] for g in order], free_units)
            total = ZERO
            for group, bq in zip(order, billable, strict=True):
                table = rates.get(group) if group is not None else None
                if table is None:
                    table = default_table
                if table is None:
                    errors.append(PricingError(product_id, group, groups[group], NO_RATE_FOR_GROUP))
                    continue
                total += bq * _bracket(table, bq).unit_price
            return total, errors
        if model == "two_dim_tiered":
            bands = parse_bands(pricing.get("bands") or [], product_id)
            per_band = [ZERO] * len(bands)
            for group in sorted(groups, key=_group_order):
                value = parse_number(group)
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


_ROUNDING = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "half_up": ROUND_HALF_UP}


def transform_quantity(q: Decimal, transform: Mapping[str, Any] | None) -> Decimal:
    """Step 0 of docs/billing-rules.md §3.1: ``q / divide_by`` (kept to 10 decimals, as the
    warehouse divides) rounded to a whole number up, down or half_up; no transform: q."""
    if not transform:
        return q
    with localcontext() as ctx:
        ctx.prec = PRECISION
        quotient = (q / to_decimal(transform["divide_by"])).quantize(
            QUANTITY_STEP, rounding=ROUND_HALF_UP
        )
        return quotient.to_integral_value(rounding=_ROUNDING[transform.get("round") or "up"])


def billable_quantity(
    model: str, q: Decimal, free_units: Decimal | None, transform: Mapping[str, Any] | None = None
) -> Decimal:
    """Steps 0-1 of docs/billing-rules.md §3.1: the quantity transform, then
    ``max(q - free_units, 0)``, without free units too (a negative q bills 0); flat fees
    ignore both."""
    if model == "flat_fee":
        return q
    q = transform_quantity(q, transform)
    return max(q - (free_units or ZERO), ZERO)


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
    maximum_amount: Decimal | None = None,
) -> LineRating:
    """Price one product line for one period (docs/billing-rules.md §3.1), with its pricing errors.

    ``q`` is the period's quantity: the metric value for a metered line (a mapping of group
    value to value for a grouped metric; the line's quantity is their sum), the contract line's
    quantity for a flat fee. ``matrix`` and ``two_dim_tiered`` need the mapping unless q is 0.
    When the line is active on ``active_days`` of the period's ``days_in_period`` only, a flat
    fee is prorated by that share, and so is the minimum when ``prorate_commitment`` is set
    (and a usage charge when the pricing says ``prorate``). The minimum is
    ``minimum_commitment``, else the pricing's ``minimum_amount``; the cap is
    ``maximum_amount``, else the pricing's, applied after the minimum, before rounding.
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
    transform = None if model in GROUPED_MODELS else pricing.get("quantity_transform")
    bq = billable_quantity(model, q_dec, free, transform)
    if skip and q_dec == 0:
        return LineRating(round_half_up(ZERO, currency), q_dec, bq)
    partial = active_days is not None and bool(days_in_period) and active_days < days_in_period
    errors: list[PricingError] = []
    with localcontext() as ctx:
        ctx.prec = PRECISION
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
        if model != "flat_fee" and partial and parse_flag(pricing.get("prorate", False)):
            amount = (amount * active_days / days_in_period).quantize(
                QUANTITY_STEP, rounding=ROUND_HALF_UP
            )
        p = to_decimal(discount_percent)
        if p:
            amount = (amount * (1 - p / HUNDRED)).quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)
        d = to_decimal(discount_amount)
        if d:
            amount = max(amount - d, ZERO)
        minimum = to_decimal(minimum_commitment)
        if minimum is None:
            minimum = to_decimal(pricing.get("minimum_amount"))
        if minimum is not None:
            if prorate_commitment and partial:
                minimum = (minimum * active_days / days_in_period).quantize(
                    QUANTITY_STEP, rounding=ROUND_HALF_UP
                )
            amount = max(amount, minimum)
        cap = to_decimal(maximum_amount)
        if cap is None:
            cap = to_decimal(pricing.get("maximum_amount"))
        if cap is not None:
            amount = min(amount, cap)
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
    """Price one product line for one period and round it (docs/billing-rules.md §3.1).

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
