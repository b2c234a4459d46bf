"""The plan contract: what loads, what is refused, and how the refusal reads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from golive.plan import PlanError, load_plan
from golive.plan_tables import plan_tables

DATA_FILES = ("customers.csv", "contracts.csv", "contract_lines.csv", "usage_events.csv")

BASE_PLAN = """\
company: Test Co
default_currency: USD
timezone: Europe/Paris
as_of: 2026-11-01
parallel_test:
  periods: {from: 2026-09-01, to: 2026-11-01}
sources:
  customers:      {connector: csv, path: data/customers.csv}
  contracts:      {connector: csv, path: data/contracts.csv}
  contract_lines: {connector: csv, path: data/contract_lines.csv}
  usage_events:   {connector: csv, path: "data/usage_*.csv"}
metrics:
  - id: api_calls
    event_name: api_call
    aggregation: count
  - id: storage_gb
    event_name: storage
    aggregation: sum
    property: gb
products:
  - id: platform
    name: Platform fee
    pricing: {model: flat_fee, amount: 500}
  - id: api
    name: API requests
    metric: api_calls
    pricing:
      model: tiered
      tiers:
        - {up_to: 500, unit_price: 2.00}
        - {up_to: 2000, unit_price: 1.50}
        - {up_to: null, unit_price: 1.00}
  - id: storage
    metric: storage_gb
    pricing: {model: per_unit, unit_price: 1.005}
  - id: tenth
    metric: storage_gb
    pricing: {model: per_unit, unit_price: 0.1}
"""


def write_plan(folder: Path, text: str = BASE_PLAN, *replacements: tuple[str, str]) -> Path:
    """Write the data files and ``plan.yaml`` (``text`` with each (old, new) applied)."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        (data / name).write_text("id\n", encoding="utf-8")
    for old, new in replacements:
        assert old in text, f"test setup: {old!r} not in the plan"
        text = text.replace(old, new)
    path = folder / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def plan_error(path: Path) -> PlanError:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value


def assert_problem(err: PlanError, key: str, *words: str) -> None:
    """``err`` names its file and reports ``key`` with a fix; ``words`` appear in it."""
    message = str(err)
    assert str(err.file) in message
    keys = [k for k, _, _ in err.problems]
    assert key in keys, f"{key} not among {keys}"
    _, what, fix = next(p for p in err.problems if p[0] == key)
    assert fix.strip()
    assert f"  - {key}: {what}. Fix: {fix}" in message
    for word in words:
        assert word in f"{what} {fix}", f"{word!r} not in {what!r} / {fix!r}"


# -- a valid plan -------------------------------------------------------------------------------


def test_valid_plan_loads_with_settings(tmp_path):
    plan = load_plan(write_plan(tmp_path))
    assert plan.company == "Test Co"
    assert plan.timezone == "Europe/Paris"
    assert plan.as_of_date == dt.date(2026, 11, 1)
    assert plan.parallel_test.periods.from_ == dt.date(2026, 9, 1)
    assert [p.id for p in plan.products] == ["platform", "api", "storage", "tenth"]
    assert [m.aggregation for m in plan.metrics] == ["count", "sum"]


def test_prices_are_exact_decimals(tmp_path):
    plan = load_plan(write_plan(tmp_path))
    prices = {p.id: p.pricing for p in plan.products}
    assert prices["storage"].unit_price == Decimal("1.005")
    assert str(prices["storage"].unit_price) == "1.005"
    assert str(prices["tenth"].unit_price) == "0.1"
    assert prices["platform"].amount == Decimal("500")
    tiers = prices["api"].tiers
    assert [t.up_to for t in tiers] == [Decimal("500"), Decimal("2000"), None]
    assert [str(t.unit_price) for t in tiers] == ["2.00", "1.50", "1.00"]


def test_prices_written_as_strings_are_exact(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("unit_price: 1.005", 'unit_price: "1.005"'))
    storage = next(p for p in load_plan(path).products if p.id == "storage")
    assert storage.pricing.unit_price == Decimal("1.005")


def test_relative_paths_resolve_against_plan_folder(tmp_path, monkeypatch):
    path = write_plan(tmp_path / "acme")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = load_plan(Path("..") / "acme" / "plan.yaml")
    folder = (tmp_path / "acme").resolve()
    assert plan.folder == folder
    assert plan.file == path.resolve()
    assert plan.source_path("customers") == str(folder / "data" / "customers.csv")
    assert plan.source_path("usage_events") == str(folder / "data" / "usage_*.csv")
    assert plan.source_path("legacy_invoices") is None


def test_absolute_source_path_is_kept(tmp_path):
    target = tmp_path / "shared" / "customers.csv"
    target.parent.mkdir()
    target.write_text("customer_id,name\n", encoding="utf-8")
    path = write_plan(tmp_path / "plan", BASE_PLAN, ("data/customers.csv", str(target)))
    assert load_plan(path).source_path("customers") == str(target)


# -- bad plans ----------------------------------------------------------------------------------


def test_unknown_pricing_model_lists_valid_models(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("model: flat_fee", "model: flat_rate"))
    err = plan_error(path)
    assert_problem(err, "products[0].pricing.model", "flat_fee", "per_unit", "tiered", "matrix")
    assert str(path) in str(err)


def test_tier_bounds_must_increase(tmp_path):
    path = write_plan(
        tmp_path, BASE_PLAN, ("{up_to: 2000, unit_price: 1.50}", "{up_to: 400, unit_price: 1.50}")
    )
    assert_problem(plan_error(path), "products[1].pricing.tiers", "strictly increasing")


def test_last_tier_must_have_no_bound(tmp_path):
    path = write_plan(
        tmp_path, BASE_PLAN, ("{up_to: null, unit_price: 1.00}", "{up_to: 5000, unit_price: 1.00}")
    )
    assert_problem(plan_error(path), "products[1].pricing.tiers", "up_to: null")


def test_missing_required_dataset_source(tmp_path):
    path = write_plan(
        tmp_path, BASE_PLAN, ('  usage_events:   {connector: csv, path: "data/usage_*.csv"}\n', "")
    )
    err = plan_error(path)
    assert_problem(err, "sources.usage_events", "required", "add a source for usage_events")
    assert len(err.problems) == 1


def test_path_matching_no_file(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("data/usage_*.csv", "data/usage/*.parquet"))
    err = plan_error(path)
    assert_problem(err, "sources.usage_events.path", "no file matches", "check the path")
    assert str(tmp_path.resolve() / "data" / "usage" / "*.parquet") in str(err)


def test_product_with_undefined_metric(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("metric: api_calls", "metric: api_call"))
    assert_problem(
        plan_error(path), "products[1].metric", "'api_call'", "not defined", "api_calls, storage_gb"
    )


def test_unknown_aggregation(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("aggregation: count", "aggregation: total"))
    assert_problem(plan_error(path), "metrics[0].aggregation", "count_distinct", "weighted_sum")


def test_sum_metric_needs_property(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("    property: gb\n", ""))
    err = plan_error(path)
    assert any(k.startswith("metrics[1]") for k, _, _ in err.problems)
    assert "metrics[1]" in str(err)
    assert "needs a property" in str(err)


def test_bad_date(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("as_of: 2026-11-01", "as_of: 1 November 2026"))
    assert_problem(plan_error(path), "as_of", "YYYY-MM-DD")


def test_impossible_calendar_date(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("as_of: 2026-11-01", "as_of: 2026-02-30"))
    err = plan_error(path)
    assert "as_of" in str(err)
    assert "YYYY-MM-DD" in str(err) or "day" in str(err)
    assert str(path) in str(err)


def test_unknown_currency_code(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("default_currency: USD", "default_currency: USX"))
    assert_problem(plan_error(path), "default_currency", "unknown currency 'USX'", "ISO 4217")


def test_unknown_time_zone(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("timezone: Europe/Paris", "timezone: Europe/Pariss"))
    assert_problem(plan_error(path), "timezone", "Europe/Pariss", "IANA")


def test_unknown_top_level_key(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("products:", "productz:"))
    err = plan_error(path)
    assert_problem(err, "productz", "check its spelling")
    assert_problem(err, "products", "add this key")


def test_duplicate_product_id(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("  - id: tenth", "  - id: storage"))
    assert_problem(plan_error(path), "products[3].id", "duplicate product id 'storage'", "rename")


def test_reserved_product_id(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("  - id: platform", "  - id: contract_discount"))
    assert_problem(plan_error(path), "products[0].id", "contract_discount", "another id")


def test_yaml_syntax_error_names_line(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("company: Test Co", "company: [Test Co"))
    err = plan_error(path)
    assert str(path) in str(err)
    assert "not valid YAML" in str(err)
    assert "line " in err.problems[0][0]
    assert "fix the syntax" in str(err)


def test_yaml_error_reports_the_right_line(tmp_path):
    path = write_plan(tmp_path, BASE_PLAN, ("timezone: Europe/Paris", "timezone: : bad"))
    err = plan_error(path)
    assert err.problems[0][0].startswith("line 3,")


def test_plan_file_missing(tmp_path):
    path = tmp_path / "nowhere" / "plan.yaml"
    err = plan_error(path)
    assert str(path) in str(err)
    assert "does not exist" in str(err)
    assert "check the path" in str(err)


def test_plan_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    assert "must be a mapping" in str(plan_error(path))


def test_matrix_model_needs_metric_with_group_by(tmp_path):
    matrix = (
        "pricing:\n"
        "      model: matrix\n"
        "      rates:\n"
        "        eu: [{up_to: null, unit_price: 0.08}]\n"
        "        us: [{up_to: null, unit_price: 0.05}]\n"
    )
    path = write_plan(
        tmp_path, BASE_PLAN, ("pricing: {model: per_unit, unit_price: 0.1}\n", matrix)
    )
    assert_problem(plan_error(path), "products[3].metric", "matrix", "group_by")


def test_matrix_model_with_group_by_loads(tmp_path):
    matrix = (
        "pricing:\n"
        "      model: matrix\n"
        "      rates:\n"
        "        eu: [{up_to: 10, unit_price: 0.08}, {up_to: null, unit_price: 0.06}]\n"
        "        us: [{up_to: null, unit_price: 0.05}]\n"
    )
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        ("pricing: {model: per_unit, unit_price: 0.1}\n", matrix),
        ("    property: gb\n", "    property: gb\n    group_by: region\n"),
    )
    rates = load_plan(path).products[3].pricing.rates
    assert rates["eu"][0].unit_price == Decimal("0.08")
    assert rates["eu"][0].up_to == Decimal("10")


def test_several_problems_reported_together(tmp_path):
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        ("default_currency: USD", "default_currency: USX"),
        ("timezone: Europe/Paris", "timezone: Mars/Olympus"),
        ("aggregation: count", "aggregation: total"),
    )
    err = plan_error(path)
    keys = [k for k, _, _ in err.problems]
    assert {"default_currency", "timezone", "metrics[0].aggregation"} <= set(keys)
    assert "has 3 problem(s)" in str(err)


def test_several_cross_reference_problems_reported_together(tmp_path):
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        ("data/customers.csv", "data/clients.csv"),
        ("metric: api_calls", "metric: api_call"),
        ("  - id: tenth", "  - id: storage"),
    )
    keys = [k for k, _, _ in plan_error(path).problems]
    assert keys == ["sources.customers.path", "products[1].metric", "products[3].id"]


# -- the plan as warehouse tables ---------------------------------------------------------------


def test_plan_tables_tier_bounds_and_exact_decimals(tmp_path):
    tables = plan_tables(load_plan(write_plan(tmp_path)))
    tiers = tables["plan_price_tiers"].to_pylist()
    api = [t for t in tiers if t["pricing_id"] == "api"]
    assert [t["tier_no"] for t in api] == [1, 2, 3]
    assert [t["lower_bound"] for t in api] == [Decimal(0), Decimal(500), Decimal(2000)]
    assert [t["up_to"] for t in api] == [Decimal(500), Decimal(2000), None]
    assert [t["unit_price"] for t in api] == [Decimal("2"), Decimal("1.5"), Decimal("1")]
    assert {t["pricing_id"] for t in tiers} == {"api"}

    products = {p["product_id"]: p for p in tables["plan_products"].to_pylist()}
    assert products["storage"]["unit_price"] == Decimal("1.005")
    assert products["tenth"]["unit_price"] == Decimal("0.1")
    assert products["platform"]["amount"] == Decimal(500)
    assert products["platform"]["product_name"] == "Platform fee"
    assert products["storage"]["product_name"] == "storage"
    assert products["api"]["unit_size"] == Decimal(1)


def test_plan_tables_metrics_and_settings(tmp_path):
    tables = plan_tables(load_plan(write_plan(tmp_path)))
    metrics = {m["metric_id"]: m for m in tables["plan_metrics"].to_pylist()}
    assert metrics["storage_gb"]["reads_number"] is True
    assert metrics["api_calls"]["reads_number"] is False
    assert metrics["storage_gb"]["property"] == "gb"
    settings = tables["plan_settings"].to_pylist()
    assert len(settings) == 1
    assert settings[0]["as_of"] == dt.date(2026, 11, 1)
    assert settings[0]["timezone"] == "Europe/Paris"
    assert settings[0]["min_invoice_match_rate"] == Decimal("0.995")
    currencies = dict(
        zip(
            tables["currencies"]["currency"].to_pylist(),
            tables["currencies"]["minor_unit"].to_pylist(),
            strict=True,
        )
    )
    assert (currencies["USD"], currencies["JPY"], currencies["KWD"]) == (2, 0, 3)


def test_plan_tables_metric_filters(tmp_path):
    path = write_plan(
        tmp_path, BASE_PLAN, ("    property: gb\n", "    property: gb\n    filters: {tier: 1}\n")
    )
    filters = plan_tables(load_plan(path))["plan_metric_filters"].to_pylist()
    assert filters == [{"metric_id": "storage_gb", "property": "tier", "value": "1"}]


def test_worked_example_plan_loads():
    folder = Path(__file__).parent / "fixtures" / "worked_examples"
    plan = load_plan(folder / "plan.yaml")
    requests = next(p for p in plan.products if p.id == "requests")
    assert requests.pricing.unit_price == Decimal("0.05")
    assert requests.pricing.unit_size == Decimal(1000)
    assert plan.signoff.amount_tolerance == Decimal("0.00")
