"""Input data contracts: GX suites on SQL profiles of the raw datasets, as Dagster asset checks.
A broken rule names the rows it found and warns; a blocking rule (no contract that could be
accepted) stops the sandbox load before anything is typed."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from connectors.sources import DATASET_COLUMNS
from connectors.warehouse import warehouse_from_url
from expectations.contracts import check_daily_volume, check_datasets
from expectations.evidence import GX_FOLDER
from golive.loading import write_plan_tables
from golive.plan import load_plan

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"


@pytest.fixture(autouse=True)
def _own_working_folder(monkeypatch):
    """Each test names its working folder: a GOLIVE_WORKDIR of the caller's must not win."""
    monkeypatch.delenv("GOLIVE_WORKDIR", raising=False)


def _raw(wh, dataset: str, rows: list[dict]) -> None:
    required, optional = DATASET_COLUMNS[dataset]
    columns = [*required, *optional]
    wh.load_arrow(
        "raw",
        dataset,
        pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns}),
    )


def _inputs(wh) -> None:
    write_plan_tables(load_plan(FIXTURE / "plan.yaml"), wh)  # currencies, the price book
    _raw(
        wh,
        "customers",
        [
            {"customer_id": "C01", "name": "Acme", "currency": "USD"},
            {"customer_id": "C01", "name": "Acme", "currency": "USD"},  # identical copy
            {"customer_id": "C02", "name": "Beta", "currency": "usd"},
            {"customer_id": "C02", "name": "Beta Inc", "currency": "usd"},  # conflicting
            {"customer_id": " ", "name": "No id"},
            {"customer_id": "C03", "name": "Gamma", "currency": "XYZ"},
        ],
    )
    ok = {"start_date": "2026-09-01", "currency": "USD", "billing_period": "P1M"}
    _raw(
        wh,
        "contracts",
        [
            {"contract_id": "K1", "customer_id": "C01", **ok},
            {"contract_id": "K2", "customer_id": "C01", **ok, "billing_period": "P2W"},
            {"contract_id": "K3", "customer_id": "C404", **ok},
            {"contract_id": "K4", "customer_id": "C01", **ok, "currency": ""},
        ],
    )
    _raw(
        wh,
        "contract_lines",
        [
            {"contract_id": "K1", "product_id": "platform"},
            {"contract_id": "K1", "product_id": "platform", "billing_timing": "Advance"},
            {"contract_id": "K1", "product_id": "no_such_product", "billing_timing": "later"},
            {"contract_id": "K9", "product_id": "platform"},
        ],
    )
    invoice = {"customer_id": "C01", "currency": "USD", "total": "10"}
    _raw(
        wh,
        "legacy_invoices",
        [{"invoice_id": "I1", "period_start": "2026-09-01", "period_end": "2026-09-30", **invoice}],
    )
    _raw(wh, "legacy_invoice_lines", [])
    _raw(wh, "legacy_journal_entries", [])
    month = {"account": "revenue", "recognition_date": "2026-09-30", "amount": "10"}
    _raw(
        wh,
        "legacy_revenue_schedule",
        [
            {"invoice_id": "I1", **month, "currency": "USD"},
            {"invoice_id": "I1", **month, "recognition_date": ""},
            {"invoice_id": "I1", **month, "recognition_date": "30/09/2026"},
            {"invoice_id": "I1", **month, "amount": "ten"},
            {"invoice_id": "I1", **month, "account": "Deferred_Revenue"},
            {"invoice_id": "I404", **month, "currency": "XYZ"},
        ],
    )
    _raw(wh, "usage_events", [])


def test_each_rule_names_the_rows_that_break_it(warehouse_url, tmp_path):
    wh = warehouse_from_url(warehouse_url)
    _inputs(wh)
    results = {r.dataset: r for r in check_datasets(wh, list(DATASET_COLUMNS), tmp_path)}
    lines = {
        d: {x.rule.name: x.line() for x in r.results if not x.passed} for d, r in results.items()
    }
    assert lines["customers"] == {
        "missing_customer_id": "missing_customer_id: 1 (name No id: 1 row)",
        "duplicate_customer_ids": "duplicate_customer_ids: 2 (C01: 2 rows, identical copies; "
        "C02: 2 rows, 2 different versions)",
        "unknown_currencies": "unknown_currencies: 1 (XYZ: 1 row, e.g. C03)",
    }
    assert lines["contracts"] == {
        "missing_required_fields": "missing_required_fields: 1 (no currency: 1 row, e.g. K4)",
        "unknown_billing_periods": "unknown_billing_periods: 1 (P2W: 1 row, e.g. K2)",
        "unknown_customers": "unknown_customers: 1 (C404: 1 row, e.g. K3)",
    }
    assert {x.rule.name: x.observed for x in results["contracts"].results}["usable_contracts"] == 1
    assert lines["contract_lines"] == {
        "unknown_contracts": "unknown_contracts: 1 (K9: 1 row, e.g. platform)",
        "unknown_products": "unknown_products: 1 (no_such_product: 1 row, e.g. K1)",
        "unknown_billing_timings": "unknown_billing_timings: 1 (later: 1 row, e.g. K1)",
    }
    assert lines["legacy_invoices"] == {}
    assert lines["legacy_revenue_schedule"] == {
        "missing_required_fields": "missing_required_fields: 1 (no recognition_date: 1 row, "
        "e.g. I1)",
        "unreadable_recognition_dates": "unreadable_recognition_dates: 1 (30/09/2026: 1 row, "
        "e.g. I1)",
        "unreadable_amounts": "unreadable_amounts: 1 (ten: 1 row, e.g. I1)",
        "unrecognised_accounts": "unrecognised_accounts: 1 (deferred_revenue: 1 row, e.g. I1)",
        "unknown_currencies": "unknown_currencies: 1 (XYZ: 1 row, e.g. I404)",
        "unknown_invoices": "unknown_invoices: 1 (I404: 1 row, e.g. revenue)",
    }
    # no usage at all blocks
    assert lines["usage_events"] == {"events_received": "events_received: 0"}
    assert [r.rule.name for r in results["usage_events"].failing(blocking=True)] == [
        "events_received"
    ]
    # the profiles are small tables in the warehouse, and GX kept every validation
    assert wh.scalar("select duplicate_customer_ids from staging.input_profile_customers") == 2
    validations = tmp_path / GX_FOLDER / "uncommitted" / "data_docs" / "local_site" / "validations"
    assert {p.name for p in validations.iterdir()} == {
        f"input_profile_{d}" for d in DATASET_COLUMNS
    }


def test_daily_volume_flags_empty_and_spiking_days(tmp_path):
    wh = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    start = dt.date(2026, 9, 1)
    per_day = [10, 12, 0, 11, 9, 200, 10]  # a day without events, a day of 20x the median
    days = [start + dt.timedelta(days=i) for i, n in enumerate(per_day) for _ in range(n)]
    # the classified events (what sandbox.usage_events shows of them: the loaded ones)
    quarantined = [start + dt.timedelta(days=2)] * 50  # not counted: day 3 stays empty
    wh.load_arrow(
        "staging",
        "int_usage_events_classified",
        pa.table(
            {
                "event_day": pa.array(days + quarantined, pa.date32()),
                "status": ["loaded"] * len(days) + ["quarantined"] * len(quarantined),
            }
        ),
    )
    volume = check_daily_volume(wh, tmp_path)
    assert not volume.passed
    assert volume.zero_days == [dt.date(2026, 9, 3)]
    assert volume.spike_days == [(dt.date(2026, 9, 6), 200)]
    assert volume.lines() == [
        "days_without_events: 1 (2026-09-03)",
        "days_above_10x_median: 1 (median 10; 2026-09-06: 200 events)",
    ]


def _company(tmp_path: Path, contracts: list[list[str]] | None = None) -> Path:
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    with open(root / "data" / "customers.csv", "a", newline="") as f:
        w = csv.writer(f)
        w.writerow(["C01", "Kilo Flat", "", "", "USD", ""])  # C01 twice, differently
        w.writerow(["C77", "", "", "", "USD", ""])
    if contracts is not None:
        path = root / "data" / "contracts.csv"
        header = next(csv.reader(path.open()))
        with path.open("w", newline="") as f:
            rows = [row + [""] * (len(header) - len(row)) for row in contracts]
            csv.writer(f).writerows([header, *rows])
    return root / "plan.yaml"


def _checks(plan: Path, tmp_path: Path, monkeypatch) -> tuple[dict, dg.ExecuteInProcessResult]:
    """Discovery, then the raw customers and contracts with their checks, in Dagster."""
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("GOLIVE_WORKDIR", str(tmp_path))
    url = f"duckdb:///{tmp_path}/w.duckdb"
    write_plan_tables(load_plan(plan), warehouse_from_url(url))
    defs = build_definitions(plan_path=str(plan), warehouse_url=url)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets(["raw", "customers"], ["raw", "contracts"]),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    return evaluations, result


def test_duplicate_customer_ids_warn_naming_them(tmp_path, monkeypatch):
    evaluations, result = _checks(_company(tmp_path), tmp_path, monkeypatch)
    assert result.success  # a warning: golive quarantines the rows itself
    check = evaluations[("raw/customers", "input_contract")]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert "duplicate_customer_ids: 1 (C01: 2 rows, 2 different versions)" in check.description
    assert "missing_names: 1 (C77: 1 row)" in check.description
    assert check.metadata["duplicate_customer_ids"].value == 1
    assert "C01 (2 rows, 2 different versions)" in check.metadata["failing_rows"].value
    usable = evaluations[("raw/contracts", "usable_rows")]
    assert usable.passed and usable.metadata["usable_contracts"].value > 0
    docs = tmp_path / GX_FOLDER / "uncommitted" / "data_docs" / "local_site"
    assert list((docs / "validations" / "input_profile_customers").rglob("*.html"))


@pytest.mark.slow
def test_no_usable_contract_blocks_the_sandbox_load(tmp_path, monkeypatch):
    from orchestration.runner import run_stages

    monkeypatch.setenv("GOLIVE_WORKDIR", str(tmp_path))
    plan = _company(
        tmp_path, contracts=[["K1", "C03", "2026-09-01", "", "USD", "P2W"], ["K2", "C404"]]
    )
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, through="metering")
    assert [(s.stage, s.success) for s in run.stages] == [
        ("discovery", True),
        ("sandbox_load", False),
    ]
    assert "usable_rows" in run.stages[-1].error
    # nothing downstream of the raw contracts was built
    assert not warehouse_from_url(url).table_exists("staging", "stg_contracts")
