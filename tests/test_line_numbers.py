"""Contract line numbers (docs/billing-rules.md §11.4): a contract's accepted lines are numbered
by product, then by every other column's text in the dataset's column order, byte-wise, a
missing value after any text; the same on DuckDB and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connectors.warehouse import warehouse_from_url
from orchestration.runner import run_stages

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"

pytestmark = pytest.mark.slow

# K_FLAT's lines, in the order they arrive: (product, quantity, billing_timing)
LINES = [
    ("platform", "9", ""),
    ("platform", "", ""),  # no quantity: after every given one
    ("platform", "10", ""),  # "10" before "9": text, byte by byte
    ("platform", "10", "arrears"),  # the same quantity: the next column decides
    ("platform", "10", "advance"),
]


def test_lines_are_numbered_by_their_text_column_by_column(warehouse_url, tmp_path):
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    path = root / "data" / "contract_lines.csv"
    rows = path.read_text().splitlines()
    width = rows[0].count(",")
    kept = [r for r in rows[1:] if not r.startswith("K_FLAT,")]
    added = [
        ",".join([f"K_FLAT,{product},{quantity},{timing}"] + [""] * (width - 3))
        for product, quantity, timing in LINES
    ]
    path.write_text("\n".join([rows[0], *added, *kept]) + "\n")
    run = run_stages(root / "plan.yaml", warehouse_url, through="sandbox_load")
    assert run.success, [s.error for s in run.stages]
    numbered = warehouse_from_url(warehouse_url).query(
        "select line_no, quantity, billing_timing_given from staging.stg_contract_lines "
        "where contract_id = 'K_FLAT' order by line_no"
    )
    text = [(n, None if q is None else f"{q:f}".rstrip("0").rstrip("."), t) for n, q, t in numbered]
    assert text == [
        (1, "10", "advance"),
        (2, "10", "arrears"),
        (3, "10", None),
        (4, "9", None),
        (5, None, None),
    ]
