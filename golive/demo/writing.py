"""Writing the demo bundle: the plan, the master data CSVs, the Parquet events, the legacy files.

CSV cells are written as a person's export would have them (exact decimals without trailing
zeros, ISO dates, empty cells for missing values); money has exactly its currency's decimals.
The expected quarantine counts go to ``legacy/expected_quarantine.json`` for the tests.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from golive.demo.catalogue import plan_yaml
from golive.demo.masterdata import Company
from golive.reference.invoices import Invoice
from golive.reference.numbers import format_amount, format_quantity

ROWS_PER_FILE = 250_000


def write_events(usage_dir: Path, table: pa.Table) -> None:
    """The events as Parquet parts of ROWS_PER_FILE rows (zstd), replacing earlier parts."""
    usage_dir.mkdir(parents=True, exist_ok=True)
    for stale in usage_dir.glob("part-*.parquet"):
        stale.unlink()
    for part, first in enumerate(range(0, table.num_rows, ROWS_PER_FILE)):
        pq.write_table(
            table.slice(first, ROWS_PER_FILE),
            usage_dir / f"part-{part:03d}.parquet",
            compression="zstd",
        )


def write_plan(path: Path) -> None:
    """plan.yaml of the demo company."""
    path.write_text(plan_yaml(), encoding="utf-8")


def write_expected_quarantine(path: Path, expected: dict[str, Any]) -> None:
    """What the pipeline must accept, count as duplicates and quarantine, per dataset."""
    path.write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_csv(path: Path, header: list[str], rows: list[list[str]] | list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        if rows and isinstance(rows[0], dict):
            writer: Any = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
            writer.writeheader()
        else:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
        writer.writerows(rows)


def _text(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    if isinstance(value, Decimal):
        return format_quantity(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_master_data(data_dir: Path, company: Company) -> None:
    """customers.csv, contracts.csv and contract_lines.csv: the clean rows, then the planted
    problem rows (MasterDataProblems) at the end, as a second export appended would be."""
    problems = company.problems
    _write_csv(
        data_dir / "customers.csv",
        ["customer_id", "name", "email", "country", "currency", "tax_rate_percent", "created_at"],
        company.customers + problems.customers,
    )
    contract_cols = [
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
    ]
    _write_csv(
        data_dir / "contracts.csv",
        contract_cols,
        [
            [_text(getattr(c, col)) for col in contract_cols]
            for c in company.contracts + problems.contracts
        ],
    )
    line_cols = [
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
    ]
    _write_csv(
        data_dir / "contract_lines.csv",
        ["contract_id", *line_cols],
        [
            [c.contract_id, *(_text(getattr(line, col)) for col in line_cols)]
            for c, lines in zip(company.contracts, company.lines, strict=True)
            for line in lines
        ]
        + [
            [contract_id, *(_text(getattr(line, col)) for col in line_cols)]
            for contract_id, line in problems.lines
        ],
    )


def _legacy_quantity(value: Decimal | None) -> str:
    """A quantity as the legacy system stores it: at most 10 decimals (a time-weighted level
    has endless ones)."""
    if value is not None and value.as_tuple().exponent < -10:
        value = value.quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP)
    return format_quantity(value)


def write_legacy(
    legacy_dir: Path, legacy: list[tuple[str, Invoice]], injected: list[dict[str, str]]
) -> None:
    invoices, lines, entries = [], [], []
    for invoice_id, inv in legacy:
        cur = inv.currency
        invoices.append(
            [
                invoice_id,
                inv.customer_id,
                inv.contract_id,
                inv.period_start.isoformat(),
                inv.period_end.isoformat(),
                cur,
                format_amount(inv.subtotal, cur),
                format_amount(inv.tax, cur),
                format_amount(inv.total, cur),
            ]
        )
        for line in inv.lines:
            lines.append(
                [
                    invoice_id,
                    line.product_id,
                    _legacy_quantity(line.quantity),
                    format_amount(line.amount, cur),
                ]
            )
        for entry in inv.journal:
            entries.append(
                [
                    f"LJ-{len(entries) + 1:07d}",
                    invoice_id,
                    entry.account,
                    format_amount(entry.debit, cur),
                    format_amount(entry.credit, cur),
                    cur,
                ]
            )
    _write_csv(
        legacy_dir / "invoices.csv",
        [
            "invoice_id",
            "customer_id",
            "contract_id",
            "period_start",
            "period_end",
            "currency",
            "subtotal",
            "tax",
            "total",
        ],
        invoices,
    )
    _write_csv(
        legacy_dir / "invoice_lines.csv", ["invoice_id", "product_id", "quantity", "amount"], lines
    )
    _write_csv(
        legacy_dir / "journal_entries.csv",
        ["entry_id", "invoice_id", "account", "debit", "credit", "currency"],
        entries,
    )
    _write_csv(
        legacy_dir / "injected_discrepancies.csv",
        [
            "kind",
            "customer_id",
            "contract_id",
            "period_start",
            "period_end",
            "currency",
            "product_id",
            "legacy_value",
            "true_value",
        ],
        injected,
    )
