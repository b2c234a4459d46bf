"""The plan's price book and settings as warehouse tables (``raw.plan_*``), read by dbt.

Keeping the price book as data, not as generated SQL, lets one set of dbt models price every
company: a tier table is rows, a metric is a row, and a new product needs no new model.
Decimals stay exact: Arrow ``decimal128(38, 10)`` end to end.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa

from golive.currencies import MINOR_UNITS
from golive.plan import (
    JOURNAL_ACCOUNTS,
    NUMERIC_AGGREGATIONS,
    Coupon,
    Metric,
    Plan,
    Pricing,
    Product,
    Tier,
)

DECIMAL = pa.decimal128(38, 10)

#: Pricing models the billing models price (all of docs/billing-rules.md §2).
SUPPORTED_MODELS = (
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


def _dec(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _tier_table_rows(table: list[Tier]) -> list[dict]:
    rows, lower = [], Decimal(0)
    for tier_no, tier in enumerate(table, start=1):
        rows.append(
            {
                "tier_no": tier_no,
                "lower_bound": lower,
                "up_to": _dec(tier.up_to),
                "unit_price": _dec(tier.unit_price) or Decimal(0),
                "flat_fee": _dec(tier.flat_fee) or Decimal(0),
                "package_size": _dec(tier.package_size),
            }
        )
        lower = tier.up_to if tier.up_to is not None else lower
    return rows


def tier_rows(pricing_id: str, pricing: Pricing) -> list[dict]:
    """The ``plan_price_tiers`` rows of one pricing: its tier table, a matrix's rate table per
    group value, or a two-dimensional table's tiers per band (with the band's bounds)."""
    rows = []
    base = {
        "pricing_id": pricing_id,
        "group_value": None,
        "band_no": None,
        "band_lower": None,
        "band_up_to": None,
    }
    if pricing.tiers:
        rows += [{**base, **r} for r in _tier_table_rows(pricing.tiers)]
    for group_value, table in pricing.rate_tables().items():
        rows += [{**base, "group_value": group_value, **r} for r in _tier_table_rows(table)]
    # a matrix's default rate table: the rows of no group value (a matrix has no tiers)
    if pricing.default_rates:
        rows += [{**base, **r} for r in _tier_table_rows(pricing.default_rates)]
    band_lower = Decimal(0)
    for band_no, band in enumerate(pricing.bands or [], start=1):
        band_keys = {"band_no": band_no, "band_lower": band_lower, "band_up_to": _dec(band.up_to)}
        rows += [{**base, **band_keys, **r} for r in _tier_table_rows(band.tiers)]
        band_lower = band.up_to if band.up_to is not None else band_lower
    return rows


def pricing_rows(
    pricing_id: str,
    product: Product,
    pricing: Pricing,
    contract_id: str | None = None,
    tax_codes: dict[str, Decimal] | None = None,
) -> dict:
    """The ``plan_products`` row of one pricing (a product's, or a contract line override's).

    ``tax_rate_percent`` is the product's own rate, or the rate of its tax code."""
    transform = pricing.quantity_transform
    tax_rate = product.tax_rate_percent
    if tax_rate is None and product.tax_code is not None:
        tax_rate = (tax_codes or {})[product.tax_code]
    return {
        "pricing_id": pricing_id,
        "product_id": product.id,
        "contract_id": contract_id,
        "product_name": product.name or product.id,
        "metric_id": product.metric,
        "unit_label": product.unit_label,
        "model": pricing.model,
        "amount": _dec(pricing.amount),
        "unit_price": _dec(pricing.unit_price),
        "unit_size": _dec(pricing.unit_size),
        "rate_percent": _dec(pricing.rate_percent),
        "package_size": _dec(pricing.package_size),
        "package_price": _dec(pricing.package_price),
        "skip_zero": pricing.skip_zero,
        "minimum_amount": _dec(pricing.minimum_amount),
        "maximum_amount": _dec(pricing.maximum_amount),
        "transform_divide_by": _dec(transform.divide_by) if transform else None,
        "transform_round": transform.round if transform else None,
        "prorate": pricing.prorate,
        "charge_first_tier_at_zero": pricing.charge_first_tier_at_zero,
        "tax_rate_percent": _dec(tax_rate),
    }


PRODUCT_COLUMNS = (
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
    "minimum_amount",
    "maximum_amount",
    "transform_divide_by",
    "transform_round",
    "prorate",
    "charge_first_tier_at_zero",
    "tax_rate_percent",
)
TIER_COLUMNS = (
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
    "package_size",
)
_BOOL_COLUMNS = {"skip_zero", "prorate", "charge_first_tier_at_zero"}
_DECIMAL_COLUMNS = {
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
    "minimum_amount",
    "maximum_amount",
    "transform_divide_by",
    "tax_rate_percent",
}


def _arrow(rows: list[dict], columns: tuple[str, ...]) -> pa.Table:
    arrays = {}
    for name in columns:
        values = [r[name] for r in rows]
        if name in _DECIMAL_COLUMNS:
            arrays[name] = pa.array(values, DECIMAL)
        elif name in ("tier_no", "band_no"):
            arrays[name] = pa.array(values, pa.int64())
        elif name in _BOOL_COLUMNS:
            arrays[name] = pa.array(values, pa.bool_())
        else:
            arrays[name] = pa.array(values, pa.string())
    return pa.table(arrays)


def price_book_tables(product_rows: list[dict], price_tier_rows: list[dict]) -> tuple:
    """``(plan_products, plan_price_tiers)`` as Arrow tables with exact decimals."""
    return _arrow(product_rows, PRODUCT_COLUMNS), _arrow(price_tier_rows, TIER_COLUMNS)


def _group_key(metric: Metric, i: int) -> str | None:
    keys = metric.group_keys()
    return keys[i] if i < len(keys) else None


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
            "min_line_match_rate": pa.array([signoff.min_line_match_rate], DECIMAL),
            "max_abs_journal_delta": pa.array([signoff.max_abs_journal_delta], DECIMAL),
            "max_abs_revenue_schedule_delta": pa.array(
                [signoff.max_abs_revenue_schedule_delta], DECIMAL
            ),
            "revenue_recognition": [plan.revenue_recognition.schedule],
        }
    )

    product_rows = [
        pricing_rows(p.id, p, p.pricing, tax_codes=plan.tax_codes) for p in plan.products
    ]
    price_tier_rows = [row for p in plan.products for row in tier_rows(p.id, p.pricing)]
    products, tiers = price_book_tables(product_rows, price_tier_rows)

    metrics = pa.table(
        {
            "metric_id": pa.array([m.id for m in plan.metrics], pa.string()),
            "event_name": pa.array([m.event_name for m in plan.metrics], pa.string()),
            "aggregation": pa.array([m.aggregation for m in plan.metrics], pa.string()),
            "property": pa.array([m.property for m in plan.metrics], pa.string()),
            # the first (or only) grouping property, and the second of a two-key matrix
            "group_by": pa.array([_group_key(m, 0) for m in plan.metrics], pa.string()),
            "group_by_2": pa.array([_group_key(m, 1) for m in plan.metrics], pa.string()),
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
    tax_codes = pa.table(
        {
            "tax_code": pa.array(list(plan.tax_codes), pa.string()),
            "tax_rate_percent": pa.array(list(plan.tax_codes.values()), DECIMAL),
        }
    )
    return {
        "plan_settings": settings,
        "plan_tax_codes": tax_codes,
        **coupon_tables(plan),
        "plan_products": products,
        "plan_price_tiers": tiers,
        "plan_metrics": metrics,
        "plan_metric_filters": metric_filters,
        "plan_accounts": account_table(plan),
        "currencies": currencies,
    }


def account_table(plan: Plan) -> pa.Table:
    """``plan_accounts``: golive's account -> the ERP's (the plan's ``accounts``; no rows when
    the plan maps none), in the order of docs/billing-rules.md §8."""
    accounts = [a for a in JOURNAL_ACCOUNTS if a in plan.accounts]
    return pa.table(
        {
            "account": pa.array(accounts, pa.string()),
            "erp_account": pa.array([plan.accounts[a] for a in accounts], pa.string()),
        }
    )


def coupon_scope(plan: Plan, coupon: Coupon) -> list[str] | None:
    """The products a coupon is limited to (its products, and those billing its metrics), or
    None for a coupon on the whole invoice."""
    if not coupon.products and not coupon.metrics:
        return None
    return [p.id for p in plan.products if p.id in coupon.products or p.metric in coupon.metrics]


def coupon_tables(plan: Plan) -> dict[str, pa.Table]:
    """``plan_coupons`` (one row a coupon) and ``plan_coupon_products`` (the products of a
    coupon limited to some)."""
    coupons = plan.coupons
    scopes = [(c.id, pid) for c in coupons for pid in coupon_scope(plan, c) or []]
    return {
        "plan_coupons": pa.table(
            {
                "coupon_id": pa.array([c.id for c in coupons], pa.string()),
                "amount_off": pa.array([c.amount_off for c in coupons], DECIMAL),
                "currency": pa.array(
                    [
                        (c.currency or plan.default_currency) if c.amount_off is not None else None
                        for c in coupons
                    ],
                    pa.string(),
                ),
                "percent_off": pa.array([c.percent_off for c in coupons], DECIMAL),
                "frequency": pa.array([c.frequency for c in coupons], pa.string()),
                "duration_periods": pa.array([c.duration_periods for c in coupons], pa.int64()),
                "is_limited": pa.array(
                    [coupon_scope(plan, c) is not None for c in coupons], pa.bool_()
                ),
            }
        ),
        "plan_coupon_products": pa.table(
            {
                "coupon_id": pa.array([s[0] for s in scopes], pa.string()),
                "product_id": pa.array([s[1] for s in scopes], pa.string()),
            }
        ),
    }
