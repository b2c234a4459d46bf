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
