"""The bad-input matrix: one row per kind of bad input, through the real pipeline on DuckDB and
PostgreSQL. Every row gets its reason, nothing is lost (received = loaded + duplicates +
quarantined, for events and for each master dataset), nothing that overflows stops a stage,
and the two warehouses agree row for row on every table a user reads."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from connectors.warehouse import warehouse_from_url
from orchestration.runner import run_stages

FIXTURE = Path(__file__).parents[1] / "fixtures" / "worked_examples"

pytestmark = pytest.mark.slow

# (event_id, customer, event, timestamp, properties) -> the status or reason it must get
EVENTS = [
    (("", "C02", "use", "2026-09-10T10:00:00Z", '{"n": 5}'), "missing_event_id"),
    (("x1", "C02", "use", "2026-09-10T10:00:00Z", '{"n": 5}'), "conflicting_event_id"),
    (("x1", "C02", "use", "2026-09-10T10:00:00Z", '{"n": 6}'), "conflicting_event_id"),
    (("d1", "C02", "use", "2026-09-11T10:00:00Z", '{"n": 7}'), "loaded"),
    (("d1", "C02", "use", "2026-09-11T10:00:00Z", '{"n": 7}'), "duplicate"),
    (("d1", " C02 ", "use", " 2026-09-11T10:00:00Z ", ' {"n": 7} '), "duplicate"),  # trimmed
    (("p1", "C02|use", "use", "2026-09-11T10:00:00Z", "{}"), "conflicting_event_id"),
    (("p1", "C02", "use|use", "2026-09-11T10:00:00Z", "{}"), "conflicting_event_id"),
    (("nm", "C02", "", "2026-09-10T10:00:00Z", '{"n": 5}'), "missing_event_name"),
    (("u1", "C404", "use", "2026-09-10T10:00:00Z", '{"n": 5}'), "unknown_customer"),
    (("u2", "", "use", "2026-09-10T10:00:00Z", '{"n": 5}'), "unknown_customer"),
    (("t1", "C02", "use", "2026-09-10T10:00:60Z", '{"n": 5}'), "unparseable_timestamp"),
    (("t2", "C02", "use", "2026-09-10T24:00:00Z", '{"n": 5}'), "unparseable_timestamp"),
    (("t3", "C02", "use", "2026-02-30T10:00:00Z", '{"n": 5}'), "unparseable_timestamp"),
    (("t4", "C02", "use", "0000-01-01", '{"n": 5}'), "unparseable_timestamp"),
    (("t5", "C02", "use", "yesterday", '{"n": 5}'), "unparseable_timestamp"),
    (("ok1", "C02", "use", "2026-09-10T10:00:00 +05:00", '{"n": 5}'), "loaded"),
    (("j1", "C02", "use", "2026-09-10T10:00:00Z", '{"n": NaN}'), "properties_not_a_json_object"),
    (("j2", "C02", "use", "2026-09-10T10:00:00Z", '{"n": 5,}'), "properties_not_a_json_object"),
    (
        ("j3", "C02", "use", "2026-09-10T10:00:00Z", '{"n": 5, "n": 6}'),
        "properties_not_a_json_object",
    ),
    (("j4", "C02", "use", "2026-09-10T10:00:00Z", "[5]"), "properties_not_a_json_object"),
    (("o1", "C02", "use", "2026-09-10T10:00:00Z", '{"n": 9e27}'), "value_out_of_range"),
    (("o2", "C02", "use", "2026-09-10T10:00:00Z", '{"n": "1e30"}'), "value_out_of_range"),
    (("o3", "C02", "use", "2026-09-10T10:00:00Z", '{"n": "-1e15"}'), "value_out_of_range"),
    (("v1", "C02", "use", "2026-09-10T10:00:00Z", '{"n": "1,5"}'), "non_numeric_value"),
    (("v2", "C02", "use", "2026-09-10T10:00:00Z", '{"n": true}'), "non_numeric_value"),
    (("v3", "C02", "use", "2026-09-10T10:00:00Z", '{"n": [1]}'), "non_numeric_value"),
    (("m1", "C02", "use", "2026-09-10T10:00:00Z", '{"n": null}'), "missing_numeric_property"),
    (("m2", "C02", "use", "2026-09-10T10:00:00Z", "{}"), "missing_numeric_property"),
    # two events of 9e14 each: their sum is within bounds, and the line prices them
    (("big1", "C03", "use", "2026-09-12T10:00:00Z", '{"n": 900000000000000}'), "loaded"),
    (("big2", "C03", "use", "2026-09-12T11:00:00Z", '{"n": 900000000000000}'), "loaded"),
]

# master data rows appended to the fixture, with the reason each must get (None: accepted)
CUSTOMERS = [
    (["", "No id", "", "", "USD", ""], ("customers", None, "missing_customer_id")),
    (["C60", "", "", "", "USD", ""], ("customers", "C60", "missing_name")),
    (["C61", "Twice", "", "", "USD", ""], None),
    (["C61", "Twice", "", "", "USD", ""], None),  # an identical repeat: one customer
    (["C62", "Acme", "", "", "USD", ""], ("customers", "C62", "conflicting_customer_id")),
    (["C62", "Acme Inc", "", "", "USD", ""], ("customers", "C62", "conflicting_customer_id")),
    (["C63", "Taxed", "", "", "USD", "150"], ("customers", "C63", "value_out_of_range")),
]
CONTRACTS = [
    (["", "C61", "2026-09-01", "", "USD", "P1M"], ("contracts", None, "missing_contract_id")),
    (["K60", "", "2026-09-01", "", "USD", "P1M"], ("contracts", "K60", "missing_customer_id")),
    (["K61", "C61", "2026-09-01", "", "", "P1M"], ("contracts", "K61", "missing_currency")),
    (["K62", "C61", "2026-09-01", "", "XYZ", "P1M"], ("contracts", "K62", "unknown_currency")),
    (
        ["K63", "C61", "2026-09-01", "", "USD", "P1M"],
        ("contracts", "K63", "conflicting_contract_id"),
    ),
    (
        ["K63", "C61", "2026-08-01", "", "USD", "P1M"],
        ("contracts", "K63", "conflicting_contract_id"),
    ),
    (["K64", "C62", "2026-09-01", "", "USD", "P1M"], ("contracts", "K64", "unknown_customer")),
    (
        ["K65", "C61", "2026-09-31", "", "USD", "P1M"],
        ("contracts", "K65", "unparseable_start_date"),
    ),
    (
        ["K66", "C61", "2026-09-01", "2026-08-01", "USD", "P1M"],
        ("contracts", "K66", "end_date_before_start_date"),
    ),
    (
        ["K67", "C61", "2026-09-01", "", "USD", "P2W"],
        ("contracts", "K67", "unknown_billing_period"),
    ),
    (
        ["K68", "C61", "2026-09-01", "", "USD", "P1M", "", "150"],
        ("contracts", "K68", "value_out_of_range"),
    ),
    (
        ["K69", "C61", "2026-09-01", "", "USD", "P1M", "", "5%"],
        ("contracts", "K69", "non_numeric_value"),
    ),
    (["K70", "C61", "2026-09-01", "", "USD", "P1M"], None),
]
LINES = [
    (["", "platform"], ("contract_lines", "/platform", "missing_contract_id")),
    (["K70", ""], ("contract_lines", "K70/", "missing_product_id")),
    (["K99", "platform"], ("contract_lines", "K99/platform", "unknown_contract")),
    (["K70", "support"], ("contract_lines", "K70/support", "unknown_product")),
    (["K70", "platform", "-3"], ("contract_lines", "K70/platform", "value_out_of_range")),
    (
        ["K70", "platform", "", "", "", "", "", "", "", '{"model": "flat_fee", "amount": 1e30}'],
        ("contract_lines", "K70/platform", "invalid_price_override"),
    ),
    (["K70", "platform"], None),
    (["K70", "platform"], None),  # the same product twice: two lines
]


def _company(tmp_path: Path) -> Path:
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    with open(root / "data" / "usage_bad.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "customer_id", "event_name", "timestamp", "properties"])
        w.writerows(row for row, _ in EVENTS)
    lines = root / "data" / "contract_lines.csv"
    kept = list(csv.reader(lines.open()))
    header = [*kept[0], "skip_zero", "price_override"]  # the fixture's file lacks these two
    with lines.open("w", newline="") as f:
        csv.writer(f).writerows([header] + [r + ["", ""] for r in kept[1:]])
    for name, rows in (
        ("customers", CUSTOMERS),
        ("contracts", CONTRACTS),
        ("contract_lines", LINES),
    ):
        path = root / "data" / f"{name}.csv"
        width = len(next(csv.reader(path.open())))
        with path.open("a", newline="") as f:
            w = csv.writer(f)
            for row, _ in rows:
                w.writerow((row + [""] * width)[:width])
    return root / "plan.yaml"


def _tables(url: str) -> dict[str, list]:
    """What a user reads, each as sorted rows of text."""
    wh = warehouse_from_url(url)

    def rows(sql: str) -> list:
        return sorted(tuple("" if v is None else str(v) for v in r) for r in wh.query(sql))

    return {
        "quarantined events": rows("select event_id, reason from quarantine.usage_events"),
        "records": rows("select dataset, record_key, reason from quarantine.records"),
        "record counts": rows("select * from sandbox.record_counts"),
        "event counts": rows(
            "select sum(received), sum(loaded), sum(duplicates), sum(quarantined) "
            "from sandbox.usage_event_counts"
        ),
        "aggregates": rows(
            "select contract_id, metric_id, group_value, period_start, value "
            "from sandbox.usage_aggregates"
        ),
        "invoices": rows("select invoice_id, subtotal, tax, total from sandbox.invoices"),
        "lines": rows(
            "select invoice_id, line_no, product_id, quantity, amount from sandbox.invoice_lines"
        ),
        "pricing errors": rows(
            "select contract_id, product_id, reason from sandbox.pricing_errors"
        ),
    }


def test_every_bad_input_gets_its_reason_and_both_warehouses_agree(tmp_path, postgres_url):
    plan = _company(tmp_path)
    duck = f"duckdb:///{tmp_path}/w.duckdb"
    seen = {}
    for url in (duck, postgres_url):
        run = run_stages(plan, url, through="billing")
        assert run.success, [s.error for s in run.stages]
        seen[url] = _tables(url)
    assert seen[duck] == seen[postgres_url]  # row for row, table by table

    tables = seen[duck]
    wh = warehouse_from_url(duck)
    statuses = {}
    for event_id, status, reason in wh.query(
        "select event_id, status, reason from staging.int_usage_events_classified"
    ):
        statuses.setdefault(event_id or "", []).append(reason or status)
    for (event_id, *_), expected in EVENTS:
        assert expected in statuses[event_id], (event_id, statuses[event_id])
    received, loaded, duplicates, quarantined = map(int, tables["event counts"][0])
    assert received == loaded + duplicates + quarantined == 1410 + len(EVENTS)
    assert duplicates == 2

    expected_records = sorted(
        (d, k or "", r) for d, k, r in [e for _, e in CUSTOMERS + CONTRACTS + LINES if e]
    )
    assert tables["records"] == expected_records
    for dataset, received, accepted, dups, rejected in tables["record counts"]:
        assert int(received) == int(accepted) + int(dups) + int(rejected), dataset
    counts = {r[0]: tuple(map(int, r[1:])) for r in tables["record counts"]}
    assert counts["customers"][2] == 1  # C61's identical repeat
    # the override of 10^30 never reached the arithmetic: its line is quarantined with why
    detail = wh.scalar(
        "select detail from quarantine.records where reason = 'invalid_price_override'"
    )
    assert "amount" in detail and "10^12" in detail.replace("1000000000000", "10^12")
    # 2 × 9e14 units for C03's message packs: a line of 1.8e15 is a pricing error, named,
    # and the rest of the invoices are billed
    assert ("K_PK100", "packs", "quantity_out_of_range") in tables["pricing errors"]


def test_a_csv_that_mixes_line_ends_loads_whole(tmp_path):
    plan = _company(tmp_path)
    path = plan.parent / "data" / "usage_2026_09.csv"
    lines = path.read_bytes().split(b"\n")
    mixed = b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines) if line)
    path.write_bytes(mixed)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, through="sandbox_load")
    assert run.success, [s.error for s in run.stages]
    wh = warehouse_from_url(url)
    assert wh.scalar("select count(*) from raw.usage_events") == 1410 + len(EVENTS)
    assert wh.scalar("select count(*) from raw.usage_events where properties like '%\r%'") == 0


def test_a_file_not_in_its_encoding_names_the_line(tmp_path):
    plan = _company(tmp_path)
    path = plan.parent / "data" / "customers.csv"
    path.write_bytes(path.read_bytes() + "C70,Caf\u00e9,,,USD,\n".encode("latin-1"))
    run = run_stages(plan, f"duckdb:///{tmp_path}/w.duckdb", through="sandbox_load")
    assert not run.success
    lines = len(path.read_bytes().splitlines())
    assert f"customers.csv line {lines} is not utf-8 text" in run.stages[-1].error
    assert "encoding (e.g. latin-1)" in run.stages[-1].error
    # with the encoding said in the plan, it loads
    text = plan.read_text().replace(
        "customers:      {connector: csv, path: data/customers.csv}",
        "customers:      {connector: csv, path: data/customers.csv, encoding: latin-1}",
    )
    plan.write_text(text)
    url = f"duckdb:///{tmp_path}/w2.duckdb"
    assert run_stages(plan, url, through="sandbox_load").success
    assert (
        warehouse_from_url(url).scalar("select name from raw.customers where customer_id = 'C70'")
        == "Caf\u00e9"
    )


def test_an_empty_extra_column_keeps_the_property_and_markup_is_text(tmp_path):
    plan = _company(tmp_path)
    with open(plan.parent / "data" / "usage_more.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "customer_id", "event_name", "timestamp", "properties", "[/bold]"])
        w.writerow(["pp1", "C02", "use", "2026-09-20T10:00:00Z", json.dumps({"n": "4"}), ""])
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, through="metering")
    assert run.success, [s.error for s in run.stages]
    props = warehouse_from_url(url).scalar(
        "select properties from raw.usage_events where event_id = 'pp1'"
    )
    assert json.loads(props) == {"n": "4"}
