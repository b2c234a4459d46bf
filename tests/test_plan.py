"""The plan contract: what loads, what is refused, and how the refusal reads."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
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


def test_absolute_source_path_outside_the_folder_is_kept_when_allowed(tmp_path):
    target = tmp_path / "shared" / "customers.csv"
    target.parent.mkdir()
    target.write_text("customer_id,name\n", encoding="utf-8")
    path = write_plan(
        tmp_path / "plan",
        BASE_PLAN,
        ("path: data/customers.csv}", f"path: {target}, allow_outside_folder: true}}"),
    )
    assert load_plan(path).source_path("customers") == str(target)


def test_absolute_source_path_inside_the_folder_needs_no_permission(tmp_path):
    target = (tmp_path / "data" / "customers.csv").resolve()
    path = write_plan(tmp_path, BASE_PLAN, ("data/customers.csv", str(target)))
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


def test_yaml_integer_forms_other_than_plain_digits_stay_text_as_written(tmp_path):
    """YAML 1.1 reads 0123 as octal (83), 1_000 as 1000 and 1:30 as base 60 (90): a filter
    value or an account code keeps its text exactly; an amount reads its digits (03000 is
    3000, never octal 1536)."""
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        (
            "    property: gb\n",
            "    property: gb\n    filters: {region: 0123, plan: 1_000, slot: 1:30}\n",
        ),
        ("pricing: {model: flat_fee, amount: 500}", "pricing: {model: flat_fee, amount: 03000}"),
    )
    plan = load_plan(path)
    filters = plan_tables(plan)["plan_metric_filters"].to_pylist()
    assert {f["property"]: f["value"] for f in filters} == {
        "region": "0123",
        "plan": "1_000",
        "slot": "1:30",
    }
    platform = next(p for p in plan.products if p.id == "platform")
    assert platform.pricing.amount == Decimal("3000")


def test_worked_example_plan_loads():
    folder = Path(__file__).parent / "fixtures" / "worked_examples"
    plan = load_plan(folder / "plan.yaml")
    requests = next(p for p in plan.products if p.id == "requests")
    assert requests.pricing.unit_price == Decimal("0.05")
    assert requests.pricing.unit_size == Decimal(1000)
    assert plan.signoff.amount_tolerance == Decimal("0.00")


# -- numbers: exact, finite, bounded ------------------------------------------------------------

SIGNOFF = """\
signoff:
  min_invoice_match_rate: 0.995
  max_abs_total_delta: 100.00
  amount_tolerance: 0.01
  max_quarantined_event_ratio: 0.001
"""
WITH_SIGNOFF = BASE_PLAN + SIGNOFF
WRITE_A_NUMBER = "write an exact number, e.g. 0.05"


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("unit_price: 1.005", "unit_price: free", "products[2].pricing.unit_price"),
        (
            "min_invoice_match_rate: 0.995",
            "min_invoice_match_rate: high",
            "signoff.min_invoice_match_rate",
        ),
        ("amount: 500", "amount: .nan", "products[0].pricing.amount"),
        ("amount: 500", "amount: .inf", "products[0].pricing.amount"),
        ("amount: 500", "amount: -.inf", "products[0].pricing.amount"),
        ("amount: 500", "amount: .NaN", "products[0].pricing.amount"),
        ("amount: 500", 'amount: "NaN"', "products[0].pricing.amount"),
        ("amount: 500", 'amount: "Infinity"', "products[0].pricing.amount"),
        ("amount: 500", "amount: true", "products[0].pricing.amount"),
        ("amount: 500", "amount: [500]", "products[0].pricing.amount"),
        ("amount: 500", "amount: {value: 500}", "products[0].pricing.amount"),
        ("amount: 500", "amount: 1 000", "products[0].pricing.amount"),
        (
            "{up_to: 2000, unit_price: 1.50}",
            "{up_to: 2000, unit_price: .inf}",
            "products[1].pricing.tiers[1].unit_price",
        ),
        (
            "{up_to: 500, unit_price: 2.00}",
            "{up_to: lots, unit_price: 2.00}",
            "products[1].pricing.tiers[0].up_to",
        ),
    ],
)
def test_a_decimal_that_is_not_a_finite_number_is_a_plan_error(tmp_path, old, new, key):
    err = plan_error(write_plan(tmp_path, WITH_SIGNOFF, (old, new)))
    assert_problem(err, key, "not a", WRITE_A_NUMBER)
    assert len(err.problems) == 1


def test_a_bad_number_names_its_exact_key(tmp_path):
    path = write_plan(
        tmp_path, WITH_SIGNOFF, ("min_invoice_match_rate: 0.995", "min_invoice_match_rate: high")
    )
    err = plan_error(path)
    assert_problem(err, "signoff.min_invoice_match_rate", "'high' is not a number", WRITE_A_NUMBER)
    assert len(err.problems) == 1


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        ("amount: 500", "amount: 1e30", "products[0].pricing.amount", ("below 10^12",)),
        ("amount: 500", "amount: 1.0e+12", "products[0].pricing.amount", ("below 10^12",)),
        ("amount: 500", "amount: -0.01", "products[0].pricing.amount", ("at least 0",)),
        (
            "amount: 500",
            "amount: 500.00000000001",
            "products[0].pricing.amount",
            ("more than 10 decimal places", "round it"),
        ),
        (
            "unit_price: 1.005",
            'unit_price: "0.00000000001"',
            "products[2].pricing.unit_price",
            ("more than 10 decimal places",),
        ),
        (
            "{up_to: 2000, unit_price: 1.50}",
            "{up_to: 1e15, unit_price: 1.50}",
            "products[1].pricing.tiers[1].up_to",
            ("below 10^15",),
        ),
        (
            "{up_to: 500, unit_price: 2.00}",
            "{up_to: 0, unit_price: 2.00}",
            "products[1].pricing.tiers[0].up_to",
            ("above 0",),
        ),
        (
            "unit_price: 0.1}",
            "unit_price: 0.1, unit_size: 0}",
            "products[3].pricing.unit_size",
            ("above 0",),
        ),
        (
            "min_invoice_match_rate: 0.995",
            "min_invoice_match_rate: 99.5",
            "signoff.min_invoice_match_rate",
            ("from 0 to 1",),
        ),
        (
            "max_quarantined_event_ratio: 0.001",
            "max_quarantined_event_ratio: -0.001",
            "signoff.max_quarantined_event_ratio",
            ("from 0 to 1",),
        ),
        (
            "amount_tolerance: 0.01",
            "amount_tolerance: -0.01",
            "signoff.amount_tolerance",
            ("at least 0",),
        ),
        (
            "max_abs_total_delta: 100.00",
            "max_abs_total_delta: -1",
            "signoff.max_abs_total_delta",
            ("at least 0",),
        ),
    ],
)
def test_numbers_out_of_bounds_or_too_precise(tmp_path, old, new, key, words):
    err = plan_error(write_plan(tmp_path, WITH_SIGNOFF, (old, new)))
    assert_problem(err, key, *words)
    assert len(err.problems) == 1


def test_percentages_are_0_to_100(tmp_path):
    percent = "pricing: {model: percent, rate_percent: 100.5}"
    path = write_plan(tmp_path, BASE_PLAN, ("pricing: {model: per_unit, unit_price: 0.1}", percent))
    assert_problem(plan_error(path), "products[3].pricing.rate_percent", "from 0 to 100")


def test_numbers_on_the_bounds_and_trailing_zeros_load(tmp_path):
    path = write_plan(
        tmp_path,
        WITH_SIGNOFF,
        ("amount: 500", "amount: 999999999999.9999999999"),
        ("unit_price: 1.005", "unit_price: 1.00500000000000000"),
        (
            "pricing: {model: per_unit, unit_price: 0.1}",
            "pricing: {model: percent, rate_percent: 100}",
        ),
        ("min_invoice_match_rate: 0.995", "min_invoice_match_rate: 1"),
        ("max_quarantined_event_ratio: 0.001", "max_quarantined_event_ratio: 0"),
        ("amount_tolerance: 0.01", "amount_tolerance: 0"),
        ("{up_to: 2000, unit_price: 1.50}", '{up_to: "999999999999999.9999999999", unit_price: 0}'),
    )
    plan = load_plan(path)
    prices = {p.id: p.pricing for p in plan.products}
    assert prices["platform"].amount == Decimal("999999999999.9999999999")
    assert prices["storage"].unit_price == Decimal("1.005")
    assert prices["tenth"].rate_percent == Decimal(100)
    assert prices["api"].tiers[1].up_to == Decimal("999999999999999.9999999999")
    assert plan.signoff.min_invoice_match_rate == Decimal(1)


def test_a_model_field_cannot_be_an_unbounded_decimal():
    from golive.plan import Money, _Strict

    with pytest.raises(TypeError, match="bare Decimal"):

        class Careless(_Strict):
            discount: Decimal | None = None

    class Careful(_Strict):
        discount: Money | None = None

    assert Careful(discount="1.5").discount == Decimal("1.5")


def test_every_junk_value_anywhere_is_a_plan_error_never_a_crash(tmp_path):
    """Whatever a key holds, loading ends in a plan or a PlanError, nothing else."""
    import yaml

    doc = yaml.safe_load(WITH_SIGNOFF)
    doc["metrics"][1].update(group_by="region", filters={"tier": "paid"})

    def keys(value, at=()):
        if at:
            yield at
        if isinstance(value, dict | list):
            children = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in children:
                yield from keys(v, (*at, k))

    junk = [".nan", "-.inf", "high", "[a, b]", "{x: {y: 1}}", "true", "null", "1e30", "-5"]
    junk += ["1.00000000001", '"a\\"b"', "!!float abc", "''"]
    path = write_plan(tmp_path)
    for at in list(keys(doc)):
        for value in junk:
            changed = copy.deepcopy(doc)
            target = changed
            for k in at[:-1]:
                target = target[k]
            target[at[-1]] = "JUNK_HERE"
            # JSON is YAML (flow style), and much quicker to write than block YAML
            text = json.dumps(changed, default=str).replace('"JUNK_HERE"', value)
            path.write_text(text, encoding="utf-8")
            with contextlib.suppress(PlanError):
                load_plan(path)


# -- metrics: filters and property names --------------------------------------------------------


@pytest.mark.parametrize(
    "filters, key, words",
    [
        ("[a, b]", "metrics[1].filters", ("mapping of property to value",)),
        ("tier", "metrics[1].filters", ("mapping of property to value",)),
        ("{tier: {level: 1}}", "metrics[1].filters.tier", ("one text or number",)),
        ("{tier: [1, 2]}", "metrics[1].filters.tier", ("one text or number",)),
        ("{paid: true}", "metrics[1].filters.paid", ("not true", "'true'")),
        ("{paid: null}", "metrics[1].filters.paid", ("not null",)),
    ],
)
def test_filters_are_a_mapping_of_property_to_one_value(tmp_path, filters, key, words):
    path = write_plan(
        tmp_path, BASE_PLAN, ("    property: gb\n", f"    property: gb\n    filters: {filters}\n")
    )
    assert_problem(plan_error(path), key, *words)


@pytest.mark.parametrize(
    "field, name, key",
    [
        ("property", '"g\\"b"', "metrics[1].property"),
        ("property", "'$.gb'", "metrics[1].property"),
        ("property", '"g\\\\b"', "metrics[1].property"),
        ("group_by", "'a region'", "metrics[1].group_by"),
        ("group_by", "'.hidden'", "metrics[1].group_by"),
        ("filters", '{"ti\'er": paid}', "metrics[1].filters.ti'er"),
        ("filters", '{"ti\\"er": paid}', 'metrics[1].filters.ti"er'),
    ],
)
def test_property_names_that_would_break_a_json_path_are_refused(tmp_path, field, name, key):
    line = f"    {field}: {name}\n"
    text = BASE_PLAN.replace("    property: gb\n", "    property: gb\n" + line)
    if field == "property":
        text = BASE_PLAN.replace("    property: gb\n", line)
    err = plan_error(write_plan(tmp_path, text))
    assert_problem(err, key, "metric 'storage_gb'", "not a property name", "letters, digits")


def test_safe_property_names_load(tmp_path):
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        (
            "    property: gb\n",
            "    property: size.gb\n    group_by: cloud-region_2\n"
            "    filters: {tier: 1, plan.kind: paid}\n",
        ),
    )
    metric = load_plan(path).metrics[1]
    assert (metric.property, metric.group_by) == ("size.gb", "cloud-region_2")
    assert metric.filters == {"tier": "1", "plan.kind": "paid"}


# -- pricing: each model's fields, each tier's prices -------------------------------------------

TIERED = """\
    pricing:
      model: tiered
      tiers:
        - {up_to: 500, unit_price: 2.00}
        - {up_to: 2000, unit_price: 1.50}
        - {up_to: null, unit_price: 1.00}
"""


def with_pricing(tmp_path: Path, pricing: str, group_by: bool = False) -> Path:
    """The base plan with product ``api`` priced by ``pricing`` (YAML under ``pricing:``)."""
    text = BASE_PLAN.replace(TIERED, "    pricing:\n" + pricing)
    if group_by:
        text = text.replace("    property: gb\n", "    property: gb\n    group_by: region\n")
        text = text.replace("metric: api_calls", "metric: storage_gb")
    return write_plan(tmp_path, text)


@pytest.mark.parametrize(
    "pricing, key, words",
    [
        (
            "      model: tiered\n      tiers: [{up_to: 10, unit_price: 1}, {up_to: null}]\n",
            "products[1].pricing.tiers[1].unit_price",
            ("model tiered needs unit_price", "add unit_price"),
        ),
        (
            "      model: tiered\n"
            "      tiers:\n"
            "        - {up_to: 10, unit_price: 1, flat_fee: 5}\n"
            "        - {up_to: null, unit_price: 1}\n",
            "products[1].pricing.tiers[0].flat_fee",
            ("does not use", "did you mean model tiered_flat_fee?"),
        ),
        (
            "      model: volume\n      tiers: [{up_to: null, unit_price: 1, flat_fee: 5}]\n",
            "products[1].pricing.tiers[0].flat_fee",
            ("did you mean model volume_flat_fee?",),
        ),
        (
            "      model: tiered_flat_fee\n      tiers: [{up_to: null, unit_price: 1}]\n",
            "products[1].pricing.tiers[0].flat_fee",
            ("model tiered_flat_fee needs flat_fee",),
        ),
        (
            "      model: volume_flat_fee\n      tiers: [{up_to: null, flat_fee: 1}]\n",
            "products[1].pricing.tiers[0].unit_price",
            ("model volume_flat_fee needs unit_price",),
        ),
        (
            "      model: step\n      tiers: [{up_to: null, unit_price: 1}]\n",
            "products[1].pricing.tiers[0].flat_fee",
            ("model step needs flat_fee",),
        ),
        (
            "      model: step\n      tiers: [{up_to: null, unit_price: 1, flat_fee: 9}]\n",
            "products[1].pricing.tiers[0].unit_price",
            ("model step does not use", "tiered_flat_fee"),
        ),
        (
            "      model: tiered\n"
            "      tiers: [{up_to: null, unit_amount: 1, flat_amount: 3, unit_price: 1}]\n",
            "products[1].pricing.tiers[0].flat_amount",
            ("no field 'flat_amount'", "up_to, unit_price"),
        ),
        (
            "      model: tiered\n      unit_price: 1\n"
            "      tiers: [{up_to: null, unit_price: 1}]\n",
            "products[1].pricing.unit_price",
            ("model tiered does not use unit_price", "per_unit"),
        ),
        (
            "      model: per_unit\n      unit_price: 1\n"
            "      tiers: [{up_to: null, unit_price: 1}]\n",
            "products[1].pricing.tiers",
            ("model per_unit does not use tiers", "tiered"),
        ),
        (
            "      model: flat_fee\n      amount: 1\n      unit_size: 10\n",
            "products[1].pricing.unit_size",
            ("model flat_fee does not use unit_size",),
        ),
        (
            "      model: flat_fee\n      price: 1\n",
            "products[1].pricing.price",
            ("no field 'price'", "amount"),
        ),
        (
            "      model: tiered\n",
            "products[1].pricing",
            ("model tiered needs tiers", "add tiers"),
        ),
    ],
)
def test_a_pricing_carries_exactly_its_model_fields(tmp_path, pricing, key, words):
    assert_problem(plan_error(with_pricing(tmp_path, pricing)), key, *words)


def test_matrix_and_band_tiers_carry_unit_prices_only(tmp_path):
    matrix = (
        "      model: matrix\n"
        "      rates:\n"
        "        eu: [{up_to: null, unit_price: 0.08, flat_fee: 2}]\n"
        "        us: [{up_to: null}]\n"
    )
    err = plan_error(with_pricing(tmp_path, matrix, group_by=True))
    assert_problem(err, "products[1].pricing.rates.eu[0].flat_fee", "model matrix does not use")
    assert_problem(
        err, "products[1].pricing.rates.us[0].unit_price", "model matrix needs unit_price"
    )

    bands = (
        "      model: two_dim_tiered\n"
        "      bands:\n"
        "        - {up_to: 10, tiers: [{up_to: null, unit_price: 1}]}\n"
        "        - {up_to: null, tiers: [{up_to: null, flat_fee: 1}]}\n"
    )
    err = plan_error(with_pricing(tmp_path, bands, group_by=True))
    assert_problem(err, "products[1].pricing.bands[1].tiers[0].unit_price", "needs unit_price")
    assert_problem(err, "products[1].pricing.bands[1].tiers[0].flat_fee", "does not use")


def test_every_model_with_its_own_fields_loads(tmp_path):
    pricings = {
        "step": "      model: step\n"
        "      tiers: [{up_to: 10, flat_fee: 5}, {up_to: null, flat_fee: 9}]\n",
        "tiered_flat_fee": "      model: tiered_flat_fee\n"
        "      tiers: [{up_to: null, unit_price: 1, flat_fee: 0}]\n",
        "package": "      model: package\n      package_size: 100\n      package_price: 8\n",
        "tiered": "      model: tiered\n      skip_zero: true\n"
        "      tiers: [{up_to: null, unit_price: 1, flat_fee: null}]\n",
    }
    for model, pricing in pricings.items():
        folder = tmp_path / model
        api = load_plan(with_pricing(folder, pricing)).products[1]
        assert api.pricing.model == model


@pytest.mark.parametrize(
    "text, words",
    [
        (
            '{"model": "tiered", "tiers": [{"up_to": null, "unit_price": 1, "flat_fee": 2}]}',
            "flat_fee",
        ),
        ('{"model": "tiered", "tiers": [{"up_to": null}]}', "needs unit_price"),
        ('{"model": "per_unit", "unit_price": NaN}', "not a finite number"),
        ('{"model": "per_unit", "unit_price": "free"}', "'free' is not a number"),
        ('{"model": "per_unit", "unit_price": 1e30}', "out of range"),
        ('{"model": "per_unit", "unit_price": 1, "tiers": []}', "does not use tiers"),
    ],
)
def test_price_override_errors_stay_readable_value_errors(text, words):
    from golive.price_overrides import parse_override

    with pytest.raises(ValueError) as info:
        parse_override(text)
    assert str(info.value).startswith("price_override ")
    assert words in str(info.value)
    assert "Traceback" not in str(info.value)


# -- YAML: repeated keys ------------------------------------------------------------------------


def test_repeated_key_is_refused_with_its_lines(tmp_path):
    path = write_plan(
        tmp_path, BASE_PLAN, ("timezone: Europe/Paris\n", "timezone: Europe/Paris\ntimezone: UTC\n")
    )
    err = plan_error(path)
    assert_problem(err, "timezone", "appears twice", "line 3 and line 4", "keep one")
    assert len(err.problems) == 1


def test_repeated_key_in_a_flow_mapping_is_refused(tmp_path):
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        ("{model: flat_fee, amount: 500}", "{model: flat_fee, amount: 500, amount: 5}"),
    )
    assert_problem(
        plan_error(path), "products[0].pricing.amount", "appears twice", "line 23 and line 23"
    )


def test_repeated_tier_key_is_refused(tmp_path):
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        ("{up_to: 2000, unit_price: 1.50}", "{up_to: 2000, unit_price: 1.50, unit_price: 0}"),
    )
    assert_problem(plan_error(path), "products[1].pricing.tiers[1].unit_price", "appears twice")


def test_yaml_merge_keys_are_not_repeats(tmp_path):
    text = BASE_PLAN.replace(
        "  customers:      {connector: csv, path: data/customers.csv}",
        "  customers: &csv {connector: csv, path: data/customers.csv}",
    ).replace(
        "  contracts:      {connector: csv, path: data/contracts.csv}",
        "  contracts: {<<: *csv, path: data/contracts.csv}",
    )
    plan = load_plan(write_plan(tmp_path, text))
    assert plan.sources["contracts"].path == "data/contracts.csv"


# -- sources: one class per connector -----------------------------------------------------------

DATABASES = """\
  legacy_invoices: {connector: postgres, url_env: CRM_URL, table: crm.invoices}
  legacy_invoice_lines:
    connector: snowflake
    account_env: SF_ACCOUNT
    user_env: SF_USER
    password_env: SF_PASSWORD
    schema: billing
    query: select * from invoice_lines
  legacy_journal_entries:
    {connector: bigquery, project: acme-books, credentials_env: BQ_KEY, table: gl.entries}
metrics:
"""


def with_databases(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = BASE_PLAN.replace("metrics:\n", DATABASES, 1)
    return write_plan(tmp_path, text, *replacements)


def test_each_connector_has_its_own_class(tmp_path):
    from golive.loading import source_spec
    from golive.plan import BigQuerySource, DatabaseSource, FileSource, SnowflakeSource

    plan = load_plan(with_databases(tmp_path))
    sources = plan.sources
    assert isinstance(sources["customers"], FileSource)
    assert isinstance(sources["legacy_invoices"], DatabaseSource)
    assert isinstance(sources["legacy_invoice_lines"], SnowflakeSource)
    assert isinstance(sources["legacy_journal_entries"], BigQuerySource)
    assert sources["legacy_invoice_lines"].schema_ == "billing"
    assert [s.location for s in sources.values()][-3:] == ["crm.invoices", "query", "gl.entries"]
    assert sources["customers"].location == "data/customers.csv"
    spec = source_spec(plan, "customers")
    assert spec.location == plan.source_path("customers")
    assert spec.settings is sources["customers"]
    spec = source_spec(plan, "legacy_invoice_lines")
    assert (spec.connector, spec.location) == ("snowflake", "query")
    assert spec.settings is sources["legacy_invoice_lines"]


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        (
            "{connector: csv, path: data/customers.csv}",
            "{connector: csv, path: data/customers.csv, password_env: PW}",
            "sources.customers.password_env",
            ("connector csv does not take password_env", "path"),
        ),
        (
            "{connector: postgres, url_env: CRM_URL, table: crm.invoices}",
            "{connector: postgres, url_env: CRM_URL, table: crm.invoices, path: x.csv}",
            "sources.legacy_invoices.path",
            ("connector postgres does not take path", "url_env"),
        ),
        (
            "{connector: postgres, url_env: CRM_URL, table: crm.invoices}",
            "{connector: postgres, url_env: CRM_URL}",
            "sources.legacy_invoices",
            ("needs table or query",),
        ),
        (
            "{connector: postgres, url_env: CRM_URL, table: crm.invoices}",
            "{connector: postgres, url_env: CRM_URL, table: crm.invoices, query: select 1}",
            "sources.legacy_invoices",
            ("table or query, not both",),
        ),
        (
            "{connector: postgres, url_env: CRM_URL, table: crm.invoices}",
            "{connector: postgres, url_env: 'postgres://u:p@h/db', table: crm.invoices}",
            "sources.legacy_invoices.url_env",
            (),
        ),
        (
            "    account_env: SF_ACCOUNT\n",
            "",
            "sources.legacy_invoice_lines.account_env",
            ("add this key",),
        ),
        (
            "{connector: csv, path: data/customers.csv}",
            "{connector: oracle, path: data/customers.csv}",
            "sources.customers.connector",
            ("unknown connector 'oracle'", "csv, parquet, postgres, mysql, snowflake, bigquery"),
        ),
        (
            "{connector: csv, path: data/customers.csv}",
            "{path: data/customers.csv}",
            "sources.customers.connector",
            ("needs its connector",),
        ),
    ],
)
def test_a_source_takes_only_its_connector_fields(tmp_path, old, new, key, words):
    assert_problem(plan_error(with_databases(tmp_path, (old, new))), key, *words)


# -- sources: paths stay in the plan's folder ---------------------------------------------------


@pytest.mark.parametrize("where", ["../secret.csv", "data/../../secret.csv", "ABSOLUTE"])
def test_a_path_leaving_the_plan_folder_is_refused(tmp_path, where):
    secret = tmp_path / "secret.csv"
    secret.write_text("customer_id,name\nC1,very-private-row\n", encoding="utf-8")
    where = str(secret) if where == "ABSOLUTE" else where
    path = write_plan(tmp_path / "plan", BASE_PLAN, ("data/customers.csv", where))
    err = plan_error(path)
    assert_problem(
        err, "sources.customers.path", "outside the plan's folder", "allow_outside_folder: true"
    )
    assert "very-private-row" not in str(err)
    assert len(err.problems) == 1


def test_a_path_leaving_the_plan_folder_loads_when_allowed(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "customers.csv").write_text("customer_id,name\n", encoding="utf-8")
    path = write_plan(
        tmp_path / "plan",
        BASE_PLAN,
        (
            "{connector: csv, path: data/customers.csv}",
            "{connector: csv, path: ../shared/customers.csv, allow_outside_folder: true}",
        ),
    )
    plan = load_plan(path)
    assert plan.source_path("customers") == str(
        tmp_path / "plan" / ".." / "shared" / "customers.csv"
    )


def test_the_plan_folder_cannot_be_set_in_the_plan(tmp_path):
    path = write_plan(tmp_path, "folder: /etc\n" + BASE_PLAN)
    assert_problem(plan_error(path), "folder", "not a plan setting", "remove it")


# -- credentials in the environment -------------------------------------------------------------


def test_missing_credentials_lists_every_unset_or_empty_variable(tmp_path, monkeypatch):
    from golive.plan import check_environment, missing_credentials

    plan = load_plan(with_databases(tmp_path))
    monkeypatch.setenv("CRM_URL", "postgresql://loader:hunter2@db/crm")
    monkeypatch.setenv("SF_ACCOUNT", "acme-eu")
    monkeypatch.setenv("SF_USER", "")
    monkeypatch.setenv("SF_PASSWORD", "   ")
    monkeypatch.delenv("BQ_KEY", raising=False)
    problems = missing_credentials(plan)
    assert [(k, w) for k, w, _ in problems] == [
        ("sources.legacy_invoice_lines.user_env", "the environment variable SF_USER is empty"),
        (
            "sources.legacy_invoice_lines.password_env",
            "the environment variable SF_PASSWORD is empty",
        ),
        (
            "sources.legacy_journal_entries.credentials_env",
            "the environment variable BQ_KEY is not set",
        ),
    ]
    assert all(fix.startswith("export ") for _, _, fix in problems)
    with pytest.raises(PlanError) as info:
        check_environment(plan)
    message = str(info.value)
    assert message.startswith(f"{plan.file}: the plan has 3 problem(s):")
    assert "service-account JSON key" in message
    for value in ("hunter2", "acme-eu", "postgresql://"):
        assert value not in message


def test_check_environment_passes_when_every_variable_is_set(tmp_path):
    from golive.plan import check_environment, missing_credentials

    plan = load_plan(with_databases(tmp_path))
    environ = {n: "x" for n in ("CRM_URL", "SF_ACCOUNT", "SF_USER", "SF_PASSWORD", "BQ_KEY")}
    assert missing_credentials(plan, environ) == []
    check_environment(plan, environ)
    assert missing_credentials(load_plan(write_plan(tmp_path / "files"))) == []


def test_the_field_tables_cover_every_pricing_and_tier_field():
    from golive.plan import (
        PRICING_FIELDS,
        PRICING_MODELS,
        TIER_FIELDS,
        TIER_OPTIONAL,
        Pricing,
        Tier,
    )

    assert set(PRICING_FIELDS) == set(PRICING_MODELS)
    listed = {f for needs, may in PRICING_FIELDS.values() for f in (*needs, *may)}
    common = {"model", "skip_zero", "minimum_amount", "maximum_amount"}
    assert listed | common == set(Pricing.model_fields)
    tier_fields = {f for fields in (*TIER_FIELDS.values(), *TIER_OPTIONAL.values()) for f in fields}
    assert tier_fields | {"up_to"} == set(Tier.model_fields)


def test_an_incremental_column_on_a_dataset_replaced_whole_is_refused(tmp_path):
    path = write_plan(
        tmp_path,
        BASE_PLAN,
        (
            "customers:      {connector: csv, path: data/customers.csv}",
            "customers:      {connector: csv, path: data/customers.csv, incremental_column: seq}",
        ),
    )
    assert_problem(
        plan_error(path),
        "sources.customers.incremental_column",
        "only usage events are pulled incrementally",
        "remove incremental_column",
    )
