"""Contract-line price overrides (``contract_lines.price_override``) as price book rows.

An override is JSON with the shape of a product's ``pricing``. Each distinct override text is
validated with the plan's own :class:`~golive.plan.Pricing` model and written to
``raw.price_overrides`` / ``raw.price_override_tiers`` under the id ``override:<md5 of the
text>``, with the text itself, which is what the staging SQL joins the contract lines on; one
that is not valid gets a row in ``raw.price_override_rejections`` (reason
``invalid_price_override``, the detail saying what is wrong) and its contract lines are
quarantined with that reason.
Contract lines are master data (thousands of rows), so reading their overrides here is cheap.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pyarrow as pa
from pydantic import ValidationError

from connectors.warehouse import Warehouse
from golive.plan import Pricing, Product
from golive.plan_tables import price_book_tables, pricing_rows, tier_rows

OVERRIDE_TABLES = ("price_overrides", "price_override_tiers", "price_override_rejections")


def override_id(text: str) -> str:
    """The pricing id of an override text: ``override:`` + md5 of the text (spaces trimmed,
    as SQL's trim does)."""
    return "override:" + hashlib.md5(text.strip(" ").encode("utf-8")).hexdigest()  # noqa: S324


def parse_override(text: str) -> Pricing:
    """Validate one override; raise ValueError with a message a user can act on."""
    try:
        raw = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"price_override is not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ValueError("price_override must be a JSON object like a product's pricing")
    try:
        return Pricing.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "pricing"
        raise ValueError(
            f"price_override {where}: {first['msg'].removeprefix('Value error, ')}"
        ) from None


def write_price_overrides(warehouse: Warehouse) -> dict[str, int]:
    """Read the distinct overrides of ``raw.contract_lines`` and write the override tables."""
    texts = [
        r[0]
        for r in warehouse.query(
            "select distinct price_override from raw.contract_lines "
            "where nullif(trim(price_override), '') is not null"
        )
    ]
    product_rows, price_tier_rows, rejected = [], [], []
    for text in texts:
        pricing_id = override_id(text)
        try:
            pricing = parse_override(text)
        except ValueError as exc:
            rejected.append((text, pricing_id, str(exc)))
            continue
        placeholder = Product(id="override", pricing=pricing)
        row = pricing_rows(pricing_id, placeholder, pricing)
        row.update(product_id=None, product_name=None)
        product_rows.append(row)
        price_tier_rows += tier_rows(pricing_id, pricing)
    products, tiers = price_book_tables(product_rows, price_tier_rows)
    # the text itself is the join key in SQL: the id's hash is computed here only
    accepted = [t for t in texts if t not in {r[0] for r in rejected}]
    products = products.append_column("override_text", pa.array(accepted, pa.string()))
    rejections = pa.table(
        {
            "override_text": pa.array([r[0] for r in rejected], pa.string()),
            "pricing_id": pa.array([r[1] for r in rejected], pa.string()),
            "reason": pa.array(["invalid_price_override"] * len(rejected), pa.string()),
            "detail": pa.array([r[2] for r in rejected], pa.string()),
        }
    )
    return {
        "price_overrides": warehouse.load_arrow("raw", "price_overrides", products),
        "price_override_tiers": warehouse.load_arrow("raw", "price_override_tiers", tiers),
        "price_override_rejections": warehouse.load_arrow(
            "raw", "price_override_rejections", rejections
        ),
    }
