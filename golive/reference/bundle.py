"""Read an onboarding bundle (BUNDLE.md) into the reference biller's objects and bill it.

This is the reference biller's own reading of the files the pipeline loads: plan.yaml, the CSV
master data and the usage events (CSV or Parquet, with a JSON ``properties`` column). It applies
the event rules of DOMAIN.md §7 in plain Python (duplicates, conflicting ids, unknown
customers, unparseable timestamps, non-numeric values), so that a bundle's invoices can be
computed independently of the warehouse. It is meant for demo and test sizes, not millions of
events.
"""

from __future__ import annotations

import csv
import glob
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from golive.reference import biller as rb


@dataclass
class Bundle:
    """A bundle as the reference biller sees it."""

    plan: dict[str, Any]
    as_of: date
    products: dict[str, rb.Product]
    metrics: list[rb.Metric]
    contracts: list[rb.Contract]
    lines: dict[str, list[rb.ContractLine]]
    customer_tax: dict[str, Decimal | None]
    events: list[rb.Event] = field(default_factory=list)
    #: events not billed, per reason (DOMAIN.md §7), and exact repeats counted once
    quarantined: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value.strip()) if value and value.strip() else None


def _cell(row: dict[str, str], key: str) -> str | None:
    value = row.get(key)
    return value if value is not None and value.strip() != "" else None


def parse_timestamp(text: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime (no offset: UTC), else ``None``."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _source_path(plan_dir: Path, plan: dict[str, Any], dataset: str) -> str | None:
    source = (plan.get("sources") or {}).get(dataset)
    return str(plan_dir / source["path"]) if source else None


def _read_events(pattern: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(glob.glob(pattern)):
        if path.endswith(".parquet"):
            table = pq.read_table(path)
        else:
            names = pacsv.read_csv(path).column_names
            options = pacsv.ConvertOptions(column_types=dict.fromkeys(names, "string"))
            table = pacsv.read_csv(path, convert_options=options)
        rows += table.to_pylist()
    return rows


def read_bundle(plan_path: str | Path) -> Bundle:
    """Read plan.yaml and the datasets it names (csv or parquet connectors only)."""
    plan_path = Path(plan_path)
    plan = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
    folder = plan_path.parent
    products = {p["id"]: rb.Product.from_plan(p) for p in plan.get("products") or []}
    metrics = [rb.Metric.from_plan(m) for m in plan.get("metrics") or []]
    as_of = plan.get("as_of") or date.today()
    if not isinstance(as_of, date):
        as_of = date.fromisoformat(str(as_of))

    customers = _read_csv(_source_path(folder, plan, "customers"))
    customer_tax = {c["customer_id"]: rb.to_decimal(c.get("tax_rate_percent")) for c in customers}
    contracts = [
        rb.Contract(
            contract_id=c["contract_id"],
            customer_id=c["customer_id"],
            currency=c["currency"],
            start_date=_date(c["start_date"]),
            billing_period=c["billing_period"],
            end_date=_date(c.get("end_date")),
            billing_anchor_date=_date(c.get("billing_anchor_date")),
            discount_percent=rb.to_decimal(c.get("discount_percent")),
            minimum_commitment=rb.to_decimal(c.get("minimum_commitment")),
            prepaid_credit=rb.to_decimal(c.get("prepaid_credit")),
            tax_rate_percent=rb.to_decimal(c.get("tax_rate_percent")),
        )
        for c in _read_csv(_source_path(folder, plan, "contracts"))
    ]
    lines: dict[str, list[rb.ContractLine]] = defaultdict(list)
    for row in _read_csv(_source_path(folder, plan, "contract_lines")):
        lines[row["contract_id"]].append(
            rb.ContractLine(
                product_id=row["product_id"],
                quantity=rb.to_decimal(row.get("quantity")),
                billing_timing=_cell(row, "billing_timing"),
                free_units=rb.to_decimal(row.get("free_units")),
                discount_percent=rb.to_decimal(row.get("discount_percent")),
                discount_amount=rb.to_decimal(row.get("discount_amount")),
                minimum_commitment=rb.to_decimal(row.get("minimum_commitment")),
                skip_zero=rb.parse_flag(row.get("skip_zero") or ""),
                price_override=_cell(row, "price_override"),
                start_date=_date(row.get("start_date")),
                end_date=_date(row.get("end_date")),
                prorate_commitment=rb.parse_flag(row.get("prorate_commitment") or ""),
            )
        )
    bundle = Bundle(plan, as_of, products, metrics, contracts, dict(lines), customer_tax)
    _accept_events(bundle, _read_events(_source_path(folder, plan, "usage_events")))
    return bundle


def _accept_events(bundle: Bundle, rows: list[dict[str, Any]]) -> None:
    """Apply DOMAIN.md §7 to the raw rows: keep the billable events, count the others."""
    numeric: dict[str, set[str]] = defaultdict(set)
    for metric in bundle.metrics:
        if metric.aggregation in rb.NUMERIC_AGGREGATIONS and metric.property:
            numeric[metric.event_name].add(metric.property)
    known = set(bundle.customer_tax)

    def payload(row: dict[str, Any]) -> tuple:
        return tuple(row.get(k) for k in ("customer_id", "event_name", "timestamp", "properties"))

    payloads: dict[Any, set[tuple]] = defaultdict(set)
    for row in rows:
        payloads[row.get("event_id")].add(payload(row))
    seen: set[str] = set()
    for row in rows:
        event_id = row.get("event_id")
        if not event_id:
            bundle.quarantined["missing_event_id"] += 1
            continue
        if len(payloads[event_id]) > 1:
            bundle.quarantined["conflicting_event_id"] += 1
            continue
        if event_id in seen:
            bundle.duplicates += 1
            continue
        seen.add(event_id)
        reason = None
        ts = parse_timestamp(row.get("timestamp"))
        try:
            properties = json.loads(row.get("properties") or "{}", parse_float=Decimal)
        except ValueError:
            properties = None
        if not row.get("event_name"):
            reason = "missing_event_name"
        elif row.get("customer_id") not in known:
            reason = "unknown_customer"
        elif ts is None:
            reason = "unparseable_timestamp"
        elif not isinstance(properties, dict):
            reason = "invalid_properties"
        else:
            for prop in sorted(numeric.get(row["event_name"], ())):
                if prop not in properties or properties[prop] is None:
                    reason = "missing_numeric_property"
                elif rb.to_number(properties[prop]) is None:
                    reason = "non_numeric_value"
                if reason:
                    break
        if reason:
            bundle.quarantined[reason] += 1
            continue
        bundle.events.append(
            rb.Event(event_id, row["customer_id"], row["event_name"], ts, properties)
        )


def bill_bundle(bundle: Bundle, since: date | None = None) -> list[rb.Invoice]:
    """Every invoice of the bundle up to its ``as_of`` (those ending after ``since``)."""
    usage = rb.meter(bundle.contracts, bundle.metrics, bundle.events, as_of=bundle.as_of)
    invoices: list[rb.Invoice] = []
    for contract in bundle.contracts:
        invoices += rb.bill_contract(
            contract,
            bundle.lines.get(contract.contract_id, []),
            bundle.products,
            usage[contract.contract_id],
            as_of=bundle.as_of,
            customer_tax_rate_percent=bundle.customer_tax.get(contract.customer_id),
            since=since,
        )
    return invoices
