"""The plan's price book and settings as warehouse tables (``raw.plan_*``), read by dbt.

Keeping the price book as data, not as generated SQL, lets one set of dbt models price every
company: a tier table is rows, a metric is a row, and a new product needs no new model.
Decimals stay exact: Arrow ``decimal128(38, 10)`` end to end.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa

from golive.currencies import MINOR_UNITS
from golive.plan import NUMERIC_AGGREGATIONS, Plan

DECIMAL = pa.decimal128(38, 10)

#: Pricing models the billing models price in this version.
SUPPORTED_MODELS = ("flat_fee", "per_unit", "package", "tiered", "volume")


def _dec(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def plan_tables(plan: Plan) -> dict[str, pa.Table]:
    """Every ``raw.plan_*`` table (and ``raw.currencies``) for a validated plan."""
    signoff = plan.signoff
    settings = pa.table(
        {
            "company": [plan.company],
            "default_currency": [plan.default_currency],
            "timezone": [plan.timezone],
            "as_of": pa.array([plan.as_of_date], pa.date32()),
            "parallel_from": pa.array([plan.parallel_test.periods.from_], pa.date32()),
            "parallel_to": pa.array([plan.parallel_test.periods.to], pa.date32()),
            "min_invoice_match_rate": pa.array([signoff.min_invoice_match_rate], DECIMAL),
            "max_abs_total_delta": pa.array([signoff.max_abs_total_delta], DECIMAL),
            "amount_tolerance": pa.array([signoff.amount_tolerance], DECIMAL),
            "max_quarantined_event_ratio": pa.array([signoff.max_quarantined_event_ratio], DECIMAL),
            "journal_must_balance": [signoff.journal_must_balance],
        }
    )

    products: dict[str, list] = {
        k: []
        for k in (
            "pricing_id",
            "product_id",
            "contract_id",
            "product_name",
            "metric_id",
            "unit_label",
            "model",
            "amount",
            "unit_price",
            "unit_size",
            "rate_percent",
            "package_size",
            "package_price",
            "skip_zero",
        )
    }
    tiers: dict[str, list] = {
        k: []
        for k in (
            "pricing_id",
            "group_value",
            "band_no",
            "band_lower",
            "band_up_to",
            "tier_no",
            "lower_bound",
            "up_to",
            "unit_price",
            "flat_fee",
        )
    }
    for product in plan.products:
        p = product.pricing
        pricing_id = product.id
        for key, value in (
            ("pricing_id", pricing_id),
            ("product_id", product.id),
            ("contract_id", None),
            ("product_name", product.name or product.id),
            ("metric_id", product.metric),
            ("unit_label", product.unit_label),
            ("model", p.model),
            ("amount", _dec(p.amount)),
            ("unit_price", _dec(p.unit_price)),
            ("unit_size", _dec(p.unit_size)),
            ("rate_percent", _dec(p.rate_percent)),
            ("package_size", _dec(p.package_size)),
            ("package_price", _dec(p.package_price)),
            ("skip_zero", p.skip_zero),
        ):
            products[key].append(value)
        tables = [(None, p.tiers)] if p.tiers else list((p.rates or {}).items())
        for group_value, table in tables:
            lower = Decimal(0)
            for tier_no, tier in enumerate(table, start=1):
                for key, value in (
                    ("pricing_id", pricing_id),
                    ("group_value", group_value),
                    ("band_no", None),
                    ("band_lower", None),
                    ("band_up_to", None),
                    ("tier_no", tier_no),
                    ("lower_bound", lower),
                    ("up_to", _dec(tier.up_to)),
                    ("unit_price", _dec(tier.unit_price) or Decimal(0)),
                    ("flat_fee", _dec(tier.flat_fee) or Decimal(0)),
                ):
                    tiers[key].append(value)
                lower = tier.up_to if tier.up_to is not None else lower

    decimal_cols = {
        "amount",
        "unit_price",
        "unit_size",
        "rate_percent",
        "package_size",
        "package_price",
        "band_lower",
        "band_up_to",
        "lower_bound",
        "up_to",
        "flat_fee",
    }
    int_cols = {"tier_no", "band_no"}

    def _table(columns: dict[str, list]) -> pa.Table:
        arrays = {}
        for name, values in columns.items():
            if name in decimal_cols:
                arrays[name] = pa.array(values, DECIMAL)
            elif name in int_cols:
                arrays[name] = pa.array(values, pa.int64())
            elif name == "skip_zero":
                arrays[name] = pa.array(values, pa.bool_())
            else:
                arrays[name] = pa.array(values, pa.string())
        return pa.table(arrays)

    metrics = pa.table(
        {
            "metric_id": pa.array([m.id for m in plan.metrics], pa.string()),
            "event_name": pa.array([m.event_name for m in plan.metrics], pa.string()),
            "aggregation": pa.array([m.aggregation for m in plan.metrics], pa.string()),
            "property": pa.array([m.property for m in plan.metrics], pa.string()),
            "group_by": pa.array([m.group_by for m in plan.metrics], pa.string()),
            "reads_number": pa.array(
                [m.aggregation in NUMERIC_AGGREGATIONS for m in plan.metrics], pa.bool_()
            ),
        }
    )
    filters = [(m.id, k, v) for m in plan.metrics for k, v in m.filters.items()]
    metric_filters = pa.table(
        {
            "metric_id": pa.array([f[0] for f in filters], pa.string()),
            "property": pa.array([f[1] for f in filters], pa.string()),
            "value": pa.array([f[2] for f in filters], pa.string()),
        }
    )
    currencies = pa.table(
        {
            "currency": pa.array(sorted(MINOR_UNITS), pa.string()),
            "minor_unit": pa.array([MINOR_UNITS[c] for c in sorted(MINOR_UNITS)], pa.int32()),
        }
    )
    return {
        "plan_settings": settings,
        "plan_products": _table(products),
        "plan_price_tiers": _table(tiers),
        "plan_metrics": metrics,
        "plan_metric_filters": metric_filters,
        "currencies": currencies,
    }


def check_supported(plan: Plan) -> None:
    """Raise :class:`~golive.plan.PlanError` when a product uses a model not priced yet."""
    from golive.plan import PlanError

    problems = [
        (
            f"products[{i}].pricing.model",
            f"product '{p.id}' uses model {p.pricing.model}, which this version cannot price yet",
            f"use one of: {', '.join(SUPPORTED_MODELS)}",
        )
        for i, p in enumerate(plan.products)
        if p.pricing.model not in SUPPORTED_MODELS
    ]
    if problems:
        raise PlanError(plan.file, problems)
