"""The criteria table decides the sign-off: a threshold hit exactly passes, exactly in decimals
(also where floats could not tell the values apart); what ``sandbox.signoff`` shows comes from
the table; the line and journal criteria are required only when the plan sets them; and
``journal_must_balance: false`` lets an unbalanced journal through billing."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from connectors.warehouse import warehouse_from_url
from expectations.criteria import BY_NAME, CRITERIA, required
from expectations.evidence import GX_FOLDER
from expectations.signoff import validate_signoff
from golive.plan import PlanError, Signoff, load_plan
from golive.plan_tables import plan_tables

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"
D = Decimal


@pytest.fixture(autouse=True)
def _own_working_folder(monkeypatch):
    """Each test names its working folder: a GOLIVE_WORKDIR of the caller's must not win."""
    monkeypatch.delenv("GOLIVE_WORKDIR", raising=False)


TODAY = {
    "journal_must_balance",
    "max_abs_total_delta",
    "max_quarantined_event_ratio",
    "min_invoice_match_rate",
    "no_pricing_errors",
}


def _summary(**measures) -> dict:
    base = {
        "invoices_compared": 200,
        "invoices_matched": 199,
        "invoice_match_rate": D("0.9950000000"),
        "abs_total_delta": D("100.0000000000"),
        "quarantined_event_ratio": D("0.0010000000"),
        "unbalanced_invoices": 0,
        "pricing_errors": 0,
        "line_match_rate": D("0.9000000000"),
        "abs_journal_delta": D("2.5000000000"),
        "abs_revenue_schedule_delta": D("0.0100000000"),
    }
    return {**base, **measures}


def test_every_criterion_passes_when_its_threshold_is_hit_exactly(tmp_path):
    thresholds = Signoff(
        min_line_match_rate=D("0.9"),
        max_abs_journal_delta=D("2.50"),
        max_abs_revenue_schedule_delta=D("0.01"),
    )
    criteria = validate_signoff(_summary(), thresholds, folder=tmp_path)
    assert {c.criterion: c.passed for c in criteria} == {c.name: True for c in CRITERIA}
    shown = {c.criterion: (c.threshold, c.observed) for c in criteria}
    assert shown == {
        "journal_must_balance": ("0 unbalanced invoices", "0"),
        "max_abs_journal_delta": ("<= 2.50", "2.5"),
        "max_abs_revenue_schedule_delta": ("<= 0.01", "0.01"),
        "max_abs_total_delta": ("<= 100", "100"),
        "max_quarantined_event_ratio": ("<= 0.001", "0.001"),
        "min_invoice_match_rate": (">= 0.995", "0.995"),
        "min_line_match_rate": (">= 0.9", "0.9"),
        "no_pricing_errors": ("0 unpriced usage groups", "0"),
    }
    # GX kept the validation, with its Data Docs page
    docs = tmp_path / GX_FOLDER / "uncommitted" / "data_docs" / "local_site"
    assert (docs / "index.html").exists()
    assert list((docs / "validations" / "golive_signoff").rglob("*.html"))


def test_the_verdict_is_exact_where_floats_are_not(tmp_path):
    # 10^11 and 10^11 + 10^-10 are the same float: only a decimal comparison tells them apart
    thresholds = Signoff(max_abs_total_delta=D("100000000000"))
    above = _summary(abs_total_delta=D("100000000000.0000000001"))
    (delta,) = [
        c for c in validate_signoff(above, thresholds, folder=tmp_path) if "total" in c.criterion
    ]
    assert not delta.passed
    assert delta.observed == "100000000000.0000000001"  # rounding would hide the verdict
    at = _summary(abs_total_delta=D("100000000000.0000000000"))
    assert all(c.passed for c in validate_signoff(at, thresholds, folder=tmp_path))


def test_shown_values_come_from_the_table():
    rate = BY_NAME["min_invoice_match_rate"]
    assert rate.shown_threshold(D("0.995")) == ">= 0.995"
    assert rate.shown_observed(D("0.9980314960"), D("0.995")) == "0.998031"
    # 0.9949999999 would show as 0.995 beside ">= 0.995" and "NO": every place is shown
    assert rate.shown_observed(D("0.9949999999"), D("0.995")) == "0.9949999999"
    assert BY_NAME["max_abs_total_delta"].shown_threshold(D("100.00")) == "<= 100.00"
    assert BY_NAME["no_pricing_errors"].shown_threshold(D(0)) == "0 unpriced usage groups"
    assert BY_NAME["journal_must_balance"].shown_observed(D(3)) == "3"


def test_line_and_journal_criteria_are_required_only_when_set(tmp_path):
    assert {spec.name for spec, _ in required(Signoff())} == TODAY
    assert {spec.name for spec, _ in required(Signoff(journal_must_balance=False))} == TODAY - {
        "journal_must_balance"
    }
    both = Signoff(min_line_match_rate=D("0.95"), max_abs_journal_delta=D("0"))
    assert {spec.name for spec, _ in required(both)} == TODAY | {
        "min_line_match_rate",
        "max_abs_journal_delta",
    }
    failing = {
        c.criterion for c in validate_signoff(_summary(), both, folder=tmp_path) if not c.passed
    }
    assert failing == {"min_line_match_rate", "max_abs_journal_delta"}
    # every plan field the table names exists on the plan model and in raw.plan_settings
    settings = plan_tables(load_plan(FIXTURE / "plan.yaml"))["plan_settings"].column_names
    for spec in CRITERIA:
        if spec.plan_field:
            assert spec.plan_field in Signoff.model_fields
            assert spec.plan_field in settings


def _plan_with(tmp_path: Path, signoff: dict) -> Path:
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    plan = yaml.safe_load((root / "plan.yaml").read_text())
    plan["signoff"].update(signoff)
    (root / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return root / "plan.yaml"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("min_line_match_rate", "1.5", "signoff.min_line_match_rate"),
        ("max_abs_journal_delta", "-1", "signoff.max_abs_journal_delta"),
        ("max_abs_journal_delta", "many", "signoff.max_abs_journal_delta"),
    ],
)
def test_new_keys_are_bounded(tmp_path, key, value, problem):
    with pytest.raises(PlanError) as err:
        load_plan(_plan_with(tmp_path, {key: value}))
    assert problem in str(err.value)


def test_new_keys_reach_plan_settings(tmp_path):
    plan = load_plan(
        _plan_with(tmp_path, {"min_line_match_rate": "0.98", "max_abs_journal_delta": 5})
    )
    (settings,) = plan_tables(plan)["plan_settings"].to_pylist()
    assert settings["min_line_match_rate"] == D("0.98")
    assert settings["max_abs_journal_delta"] == D(5)
    (unset,) = plan_tables(load_plan(FIXTURE / "plan.yaml"))["plan_settings"].to_pylist()
    assert unset["min_line_match_rate"] is None and unset["max_abs_journal_delta"] is None


def test_the_journal_test_only_warns():
    """The dbt test journal_entries_balance warns: the sign-off criterion decides."""
    import json

    from orchestration.dbt import dbt_project

    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    (test,) = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and n["name"].startswith("journal_entries_balance")
    ]
    assert test["config"]["severity"].lower() == "warn"


@pytest.fixture
def unbalanced_journal(monkeypatch, tmp_path):
    """One extra credit of 1 on the first invoice's journal, added to the journal_entries model
    for this test's runs: no data can unbalance it (docs/billing-rules.md §8 builds it
    balanced), and the point is what billing and the sign-off do when it is."""
    from orchestration import dbt as golive_dbt

    url = f"duckdb:///{tmp_path}/w.duckdb"
    manifest = golive_dbt._parsed_project(warehouse_from_url(url).dbt_env())
    node = manifest.nodes["model.golive.journal_entries"]
    head, sep, _ = node.raw_code.rpartition("select * from final")
    assert sep, "journal_entries no longer ends in `select * from final`"
    extra = (
        "select * from final\nunion all\n"
        "select 'unbalanced-1', invoice_id, entry_date, 'revenue', "
        "cast(0 as {{ golive.decimal_type() }}), cast(1 as {{ golive.decimal_type() }}), "
        "currency, journal_id, posting from final "
        "where entry_id = (select min(entry_id) from final)\n"
    )
    monkeypatch.setattr(node, "raw_code", head + extra)
    return url


@pytest.mark.slow
def test_journal_must_balance_false_lets_an_unbalanced_journal_through(
    tmp_path, unbalanced_journal, monkeypatch
):
    from orchestration.runner import run_stages

    monkeypatch.setenv("GOLIVE_WORKDIR", str(tmp_path))
    required_plan = _plan_with(tmp_path / "a", {})
    run = run_stages(required_plan, unbalanced_journal, through="parallel_test")
    assert [s.success for s in run.stages] == [True] * 5, [s.error for s in run.stages]
    wh = warehouse_from_url(unbalanced_journal)
    assert wh.scalar("select unbalanced_invoices from sandbox.parallel_test_summary") == 1
    signoff = {c["criterion"]: c for c in run.signoff}
    assert signoff["journal_must_balance"]["passed"] is False
    assert signoff["journal_must_balance"]["observed"] == "1"

    not_required = _plan_with(tmp_path / "b", {"journal_must_balance": False})
    run = run_stages(not_required, unbalanced_journal, through="parallel_test")
    assert all(s.success for s in run.stages), [s.error for s in run.stages]
    assert "journal_must_balance" not in {c["criterion"] for c in run.signoff}
    assert wh.scalar("select unbalanced_invoices from sandbox.parallel_test_summary") == 1


def test_one_working_folder_serves_both_warehouses(tmp_path, postgres_url):
    """GX reads the margins through SQL on PostgreSQL and as a frame on DuckDB, in one gx/."""
    for url in (f"duckdb:///{tmp_path}/w.duckdb", postgres_url, f"duckdb:///{tmp_path}/w.duckdb"):
        wh = warehouse_from_url(url)
        criteria = validate_signoff(_summary(), Signoff(), wh, folder=tmp_path)
        assert all(c.passed for c in criteria), url
    postgres = warehouse_from_url(postgres_url)
    assert postgres.scalar("select min_invoice_match_rate from staging.signoff_margins") == 0
    assert (
        "${GOLIVE_GX_WAREHOUSE_URL}"
        in (tmp_path / GX_FOLDER / "great_expectations.yml").read_text()
    )
    assert (
        postgres_url.split("://", 1)[1]
        not in (tmp_path / GX_FOLDER / "great_expectations.yml").read_text()
    )
