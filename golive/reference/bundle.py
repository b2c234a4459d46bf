"""Read an onboarding bundle (docs/plan-and-datasets.md) into the reference biller's objects, and
bill it.

This is the reference biller's own reading of the files the pipeline loads: plan.yaml (with
``yaml.safe_load``, not the pipeline's plan model), the CSV master data and the usage events
(CSV or Parquet, with a JSON ``properties`` column). Every row goes through the quarantine
rules of :mod:`golive.reference.quarantine`, so a bundle's invoices and its quarantine counts
are computed independently of the warehouse. It is meant for demo and test sizes, not
millions of events.
"""

from __future__ import annotations

import csv
import glob
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from golive.reference.contracts import Contract, ContractLine, Coupon, Product
from golive.reference.invoices import Invoice, bill_contract
from golive.reference.metering import Event, Metric, meter
from golive.reference.quarantine import (
    CONTRACT_LINES,
    CONTRACTS,
    CUSTOMERS,
    USAGE_EVENTS,
    DatasetCounts,
    accept_contract_lines,
    accept_contracts,
    accept_customers,
    accept_events,
)


@dataclass
class Bundle:
    """A bundle as the reference biller sees it: the plan, the accepted rows, the counts."""

    plan: dict[str, Any]
    as_of: date
    timezone: str
    products: dict[str, Product]
    metrics: list[Metric]
    contracts: list[Contract]
    #: accepted contract lines per contract id, in line_no order
    lines: dict[str, list[ContractLine]]
    #: accepted customers: id -> tax_rate_percent (None when not given)
    customer_tax: dict[str, Decimal | None]
    events: list[Event]
    #: per dataset (customers, contracts, contract_lines, usage_events): what happened to it
    counts: dict[str, DatasetCounts]
    #: the plan's coupons by id
    coupons: dict[str, Coupon] = field(default_factory=dict)


def _read_csv(path: str | None) -> list[dict[str, str]]:
    if path is None:
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _source_path(plan_dir: Path, plan: dict[str, Any], dataset: str) -> str | None:
    source = (plan.get("sources") or {}).get(dataset)
    return str(plan_dir / source["path"]) if source else None


def _read_events(pattern: str | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(glob.glob(pattern)) if pattern else []:
        if path.endswith(".parquet"):
            table = pq.read_table(path)
        else:
            names = pacsv.read_csv(path).column_names
            options = pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, "string"), strings_can_be_null=False
            )
            table = pacsv.read_csv(path, convert_options=options)
        rows += table.to_pylist()
    return rows


def plan_as_of(plan: dict[str, Any], zone: str) -> date:
    """The plan's ``as_of``; by default today in the plan's time zone."""
    as_of = plan.get("as_of")
    if as_of is None:
        return datetime.now(ZoneInfo(zone)).date()
    return as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))


def read_bundle(plan_path: str | Path) -> Bundle:
    """Read plan.yaml and the datasets it names (csv or parquet connectors only), applying
    the quarantine rules to every row."""
    plan_path = Path(plan_path)
    plan = yaml.safe_load(plan_path.read_text(encoding="utf-8"))
    folder = plan_path.parent
    zone = str(plan.get("timezone") or "UTC")
    tax_codes = {str(k): Decimal(str(v)) for k, v in (plan.get("tax_codes") or {}).items()}
    products = {p["id"]: Product.from_plan(p, tax_codes) for p in plan.get("products") or []}
    default_currency = str(plan.get("default_currency") or "USD")
    coupons = {
        str(c["id"]): Coupon.from_plan(c, products, default_currency)
        for c in plan.get("coupons") or []
    }
    metrics = [Metric.from_plan(m) for m in plan.get("metrics") or []]

    customer_tax, customer_counts = accept_customers(
        _read_csv(_source_path(folder, plan, CUSTOMERS))
    )
    contracts, contract_counts = accept_contracts(
        _read_csv(_source_path(folder, plan, CONTRACTS)), customer_tax, coupons
    )
    lines, line_counts = accept_contract_lines(
        _read_csv(_source_path(folder, plan, CONTRACT_LINES)),
        {c.contract_id for c in contracts},
        products,
        tax_codes,
    )
    events, event_counts = accept_events(
        _read_events(_source_path(folder, plan, USAGE_EVENTS)), customer_tax, metrics
    )
    return Bundle(
        plan=plan,
        as_of=plan_as_of(plan, zone),
        timezone=zone,
        products=products,
        metrics=metrics,
        contracts=contracts,
        lines=lines,
        customer_tax=customer_tax,
        events=events,
        counts={
            CUSTOMERS: customer_counts,
            CONTRACTS: contract_counts,
            CONTRACT_LINES: line_counts,
            USAGE_EVENTS: event_counts,
        },
        coupons=coupons,
    )


def bill_bundle(bundle: Bundle, since: date | None = None) -> list[Invoice]:
    """Every invoice of the bundle up to its ``as_of`` (those ending after ``since``)."""
    usage = meter(
        bundle.contracts,
        bundle.metrics,
        bundle.events,
        as_of=bundle.as_of,
        timezone=bundle.timezone,
    )
    invoices: list[Invoice] = []
    for contract in bundle.contracts:
        invoices += bill_contract(
            contract,
            bundle.lines.get(contract.contract_id, []),
            bundle.products,
            usage[contract.contract_id],
            as_of=bundle.as_of,
            customer_tax_rate_percent=bundle.customer_tax.get(contract.customer_id),
            since=since,
            coupons=bundle.coupons,
        )
    return invoices
