"""After a nightly run, billing, the parallel test and the sign-off say they describe older
usage (a warning check, built_on_current_usage, with what arrived and what to run), until the
next run of the roadmap rebuilds them."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from orchestration.runner import run_stages, run_usage

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"
CHECKED = ("sandbox/invoices", "sandbox/parallel_test_summary", "sandbox/signoff")

pytestmark = pytest.mark.slow


def test_nightly_usage_flags_billing_parallel_test_and_signoff_stale(tmp_path):
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    run = run_stages(root / "plan.yaml", url, through="parallel_test")
    assert run.success, [s.error for s in run.stages]
    # built with their stage: current
    checks = {k: v for s in run.stages for k, v in s.checks.items()}
    assert {k: checks[f"{k}/built_on_current_usage"] for k in CHECKED} == dict.fromkeys(
        CHECKED, True
    )

    # a night brings two events: the nightly run refreshes usage, and warns about the rest
    with (root / "data" / "usage_night.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "customer_id", "event_name", "timestamp", "n"])
        w.writerow(["late-1", "C02", "use", "2026-09-20T10:00:00Z", "5"])
        w.writerow(["late-2", "C02", "use", "2026-09-21T10:00:00Z", "5"])
    nightly = run_usage(root / "plan.yaml", url)
    assert nightly.success, nightly.error
    assert {k: nightly.checks[f"{k}/built_on_current_usage"] for k in CHECKED} == dict.fromkeys(
        CHECKED, False
    )
    warning = nightly.warnings["sandbox/invoices/built_on_current_usage"]
    assert warning == (
        "The invoices were built on usage up to batch 1; 2 events arrived since (through "
        "batch 2): run billing, the parallel test and the sign-off again (golive run PLAN) "
        "before signing off."
    )

    # the next run of the roadmap rebuilds them on the new usage: current again
    again = run_stages(root / "plan.yaml", url, through="parallel_test")
    assert again.success, [s.error for s in again.stages]
    checks = {k: v for s in again.stages for k, v in s.checks.items()}
    assert all(checks[f"{k}/built_on_current_usage"] for k in CHECKED)
