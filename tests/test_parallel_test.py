"""The parallel test pairs invoices one to one: a legacy process that billed a customer twice
for one period shows as double billing in the statuses, the match rate and the total delta;
a legacy invoice id on two rows is reported, never paired twice; lines and journal entries are
compared within each pair (DuckDB and PostgreSQL)."""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.warehouse import warehouse_from_url
from orchestration.runner import run_stages

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"

pytestmark = pytest.mark.slow


def _append(path: Path, rows: list[list[str]]) -> None:
    with path.open("a", newline="") as f:
        csv.writer(f).writerows(rows)


def test_double_billing_and_repeated_ids_count_against_the_signoff(tmp_path, warehouse_url):
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    legacy = root / "legacy"
    # K_FLAT billed twice for September: a second invoice with its own id and line
    _append(
        legacy / "invoices.csv",
        [["L-K_FLAT-again", "C01", "", "2026-09-01", "2026-10-01", "USD", "500.00", "0", "500.00"]],
    )
    _append(legacy / "invoice_lines.csv", [["L-K_FLAT-again", "platform", "1", "500.00"]])
    # K_PU's legacy invoice exported twice under one id (the rows even differ)
    _append(
        legacy / "invoices.csv",
        [["L-K_PU", "C02", "K_PU", "2026-09-01", "2026-10-01", "USD", "100.00", "0", "101.00"]],
    )
    run = run_stages(root / "plan.yaml", warehouse_url, through="parallel_test")
    assert run.stages[-2].success, [s.error for s in run.stages]
    wh = warehouse_from_url(warehouse_url)

    rows = wh.query(
        "select legacy_invoice_id, invoice_id, status, delta "
        "from sandbox.reconciliation_invoices where customer_id in ('C01', 'C02')"
    )
    by_status = sorted(
        (status, legacy or "", ours or "", f"{delta:.2f}") for legacy, ours, status, delta in rows
    )
    assert by_status == [
        ("duplicate_in_legacy", "L-K_FLAT-again", "", "-500.00"),
        ("duplicate_legacy_invoice_id", "L-K_PU", "", "-100.00"),
        ("duplicate_legacy_invoice_id", "L-K_PU", "", "-101.00"),
        ("matched", "L-K_FLAT", "K_FLAT-20260901", "0.00"),
        ("missing_in_legacy", "", "K_PU-20260901", "100.00"),
    ]
    # every legacy invoice counts once, in the match rate and in the delta
    summary = dict(
        zip(
            ("compared", "matched", "duplicates", "delta", "rate"),
            wh.query(
                "select invoices_compared, invoices_matched, invoices_duplicate_in_legacy, "
                "abs_total_delta, invoice_match_rate from sandbox.parallel_test_summary"
            )[0],
            strict=True,
        )
    )
    assert summary["compared"] == 16 + 3
    assert summary["matched"] == 16 - 1
    assert summary["duplicates"] == 3
    assert Decimal(summary["delta"]) == Decimal("601.00")  # -500 - 100 - 101 + 100
    assert round(Decimal(summary["rate"]), 6) == round(Decimal(15) / Decimal(19), 6)
    signoff = {c["criterion"]: c["passed"] for c in run.signoff}
    assert signoff["min_invoice_match_rate"] is False

    # the second bill's lines are compared on their own, not added to the first invoice's
    lines = wh.query(
        "select legacy_invoice_id, invoice_id, status, cause from sandbox.reconciliation_lines "
        "where customer_id = 'C01'"
    )
    assert sorted(lines, key=str) == sorted(
        [
            ("L-K_FLAT", "K_FLAT-20260901", "matched", None),
            ("L-K_FLAT-again", None, "missing_in_generated", "missing"),
        ],
        key=str,
    )
