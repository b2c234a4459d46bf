"""The master data the reference biller bills: catalogue products, contracts, contract lines.

Objects here hold accepted rows only; which rows are accepted is decided in
:mod:`golive.reference.quarantine`. Empty CSV cells are ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Product:
    """A catalogue product: its pricing model and, when metered, the metric it bills."""

    product_id: str
    model: str
    pricing: Mapping[str, Any]
    metric: str | None = None
    #: the product's own tax rate (its ``tax_rate_percent``, or its ``tax_code``'s rate)
    tax_rate_percent: Decimal | None = None

    @classmethod
    def from_plan(
        cls, entry: Mapping[str, Any], tax_codes: Mapping[str, Any] | None = None
    ) -> Product:
        """Build from one ``products`` entry of plan.yaml (``tax_codes``: the plan's)."""
        pricing = dict(entry["pricing"])
        rate = entry.get("tax_rate_percent")
        if rate is None and entry.get("tax_code") is not None:
            rate = (tax_codes or {})[entry["tax_code"]]
        return cls(
            entry["id"],
            pricing.pop("model"),
            pricing,
            entry.get("metric"),
            None if rate is None else Decimal(str(rate)),
        )


@dataclass(frozen=True)
class Coupon:
    """A coupon of the plan: ``amount_off`` in ``currency`` or ``percent_off``; ``frequency``
    once, recurring (``duration_periods``) or forever; ``products``: the products it is
    limited to, or ``None`` for the whole invoice."""

    coupon_id: str
    amount_off: Decimal | None
    currency: str | None
    percent_off: Decimal | None
    frequency: str = "once"
    duration_periods: int | None = None
    products: frozenset[str] | None = None

    @classmethod
    def from_plan(
        cls, entry: Mapping[str, Any], products: Mapping[str, Product], default_currency: str
    ) -> Coupon:
        """Build from one ``coupons`` entry of plan.yaml."""
        amount = entry.get("amount_off")
        percent = entry.get("percent_off")
        limited = entry.get("products") or entry.get("metrics")
        scope = None
        if limited:
            names = set(entry.get("products") or [])
            metrics = set(entry.get("metrics") or [])
            scope = frozenset(
                p.product_id
                for p in products.values()
                if p.product_id in names or p.metric in metrics
            )
        return cls(
            str(entry["id"]),
            None if amount is None else Decimal(str(amount)),
            str(entry.get("currency") or default_currency).upper() if amount is not None else None,
            None if percent is None else Decimal(str(percent)),
            entry.get("frequency", "once"),
            entry.get("duration_periods"),
            scope,
        )


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
    #: the line's cap, overriding its pricing's ``maximum_amount``
    maximum_amount: Decimal | None = None
    #: the line's tax rate (its ``tax_rate_percent``, or its ``tax_code``'s rate)
    tax_rate_percent: Decimal | None = None


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
    maximum_commitment: Decimal | None = None
    prorate_commitment: bool = False
    coupon_id: str | None = None
