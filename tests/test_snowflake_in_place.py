"""A Snowflake source on a Snowflake warehouse in the same account is read in place: the
warehouse copies the table into ``raw`` with one ``create table as select`` (no row goes through
golive), and what it writes is what the same rows give when they go through golive.

On fakesnow's server (tests/snowflake_fake.py): one account, the company's tables in database
``SRC`` and golive's warehouse in ``GOLIVE``. fakesnow runs the SQL on DuckDB, so these tests
check golive's SQL and its bookkeeping, not Snowflake's own text formats (which the in-place
read pins with explicit formats; docs/plan-and-datasets.md "Reading in place").
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest
from snowflake_fake import ACCOUNT, PASSWORD, PASSWORD_ENV, snowflake_url
from test_connectors_cloud import EXPECTED_INVOICES, FILES, company_tables, plan_with

from connectors.sources import SourceError
from connectors.warehouse import SnowflakeWarehouse, warehouse_from_url
from golive.loading import load_dataset, usage_batches
from golive.plan import load_plan
from orchestration.runner import run_stages

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

CUSTOMERS = "customer_id varchar, name varchar"


@pytest.fixture
def account(fakesnow_port, monkeypatch):
    """The fake account: the warehouse URL, and a function giving a source's plan fields for a
    table of ``SRC.BILLING`` (its own credentials, as a source on another warehouse needs)."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("SRC_ACCOUNT", ACCOUNT)
    monkeypatch.setenv("SRC_USER", "reader")
    monkeypatch.setenv("SRC_PASSWORD", "src-Pa55word")
    source_db = SnowflakeWarehouse(snowflake_url(fakesnow_port, "SRC"))
    source_db.execute("create database if not exists SRC; create schema if not exists SRC.BILLING")

    def source(table: str, **more) -> dict:
        return {
            "connector": "snowflake",
            "account_env": "SRC_ACCOUNT",
            "user_env": "SRC_USER",
            "password_env": "SRC_PASSWORD",
            "database": "SRC",
            "schema": "BILLING",
            "host": "127.0.0.1",
            "port": fakesnow_port,
            "protocol": "http",
            "table": table,
            **more,
        }

    return snowflake_url(fakesnow_port), source_db, source


@pytest.mark.slow
def test_a_company_in_the_same_account_is_billed_from_its_tables_read_in_place(account, tmp_path):
    url, source_db, source = account
    for dataset, table in company_tables().items():
        source_db.load_arrow("billing", dataset, table)
    sources = {d: source(d) for d in FILES}
    # the events' timestamp is a TIMESTAMP_TZ named ts; their property n a NUMBER column
    sources["usage_events"] = source("usage_events", columns={"timestamp": "ts"})
    plan = plan_with(tmp_path, sources)

    run = run_stages(plan, url, through="billing")
    assert run.success, [s.error for s in run.stages]
    reads = {
        key: meta.get("read")
        for stage in run.stages
        for key, meta in stage.metadata.items()
        if key.removeprefix("raw/") in FILES
    }
    assert reads == {f"raw/{d}": "in place" for d in FILES}
    wh = warehouse_from_url(url)
    rows = wh.query("select invoice_id, total from sandbox.invoices")
    invoices = {i: f"{t:.2f}" for i, t in rows}
    assert invoices == EXPECTED_INVOICES
    assert [b["connector"] for b in usage_batches(wh)] == ["snowflake (in place)"]


def _events(rows: list[tuple]) -> pa.Table:
    names = ["seq", "event_id", "customer_id", "event_name", "ts", "n", "region", "flag"]
    columns = list(zip(*rows, strict=True))
    types = [
        pa.int64(),
        pa.string(),
        pa.string(),
        pa.string(),
        pa.timestamp("us", tz="UTC"),
        pa.decimal128(12, 2),
        pa.string(),
        pa.bool_(),
    ]
    return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _raw(wh) -> list[dict]:
    rows = wh.query_arrow(
        'select event_id, "timestamp", properties, _batch, _received_no from raw.usage_events '
        "order by _received_no"
    ).to_pylist()
    # the same values, whichever way the text was written
    return [
        {
            **r,
            "timestamp": _utc(r["timestamp"]),
            "properties": json.loads(r["properties"], parse_float=Decimal),
        }
        for r in rows
    ]


def test_an_incremental_source_appends_in_place_and_a_change_of_path_reloads_it(account, tmp_path):
    url, source_db, source = account
    at = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)
    first = [
        (2, "e2", "C1", "use", at, Decimal("12.50"), "eu", True),
        (1, "e1", "C1", "use", at, Decimal("3"), "", None),
        (3, "e3", "C2", "use", at + dt.timedelta(hours=1), None, "us", False),
    ]
    source_db.load_arrow("billing", "events", _events(first))
    usage = source("events", columns={"timestamp": "ts"}, incremental_column="seq")
    plan_path = plan_with(tmp_path, {"usage_events": usage})
    wh = warehouse_from_url(url)

    loaded = load_dataset(load_plan(plan_path), wh, "usage_events")
    assert (loaded.path, loaded.mode, loaded.read, loaded.loaded) == ("in place", "full", 3, 3)
    in_place = _raw(wh)
    # arrival numbers in the incremental column's order; a blank text column is no property
    assert [r["event_id"] for r in in_place] == ["e1", "e2", "e3"]
    assert [r["_received_no"] for r in in_place] == [1, 2, 3]
    assert in_place[0]["properties"] == {"n": 3}
    assert in_place[1]["properties"] == {"n": Decimal("12.5"), "region": "eu", "flag": True}
    assert in_place[2]["properties"] == {"region": "us", "flag": False}
    assert in_place[2]["timestamp"] == at + dt.timedelta(hours=1)
    watermark = wh.query("select kind, watermark from raw.source_watermarks")
    assert watermark == [("integer", "3")]

    # the next pull: what is past the watermark, appended in place with the next numbers
    source_db.execute(
        "insert into billing.events select 4, 'e4', 'C2', 'use', ts, 1, 'us', true "
        "from billing.events where seq = 3"
    )
    loaded = load_dataset(load_plan(plan_path), wh, "usage_events")
    assert (loaded.mode, loaded.read, loaded.loaded, loaded.skipped) == ("append", 2, 1, 1)
    # (the row read again at the watermark took number 4 before it was skipped)
    assert [(r["event_id"], r["_received_no"]) for r in _raw(wh)][-1] == ("e4", 5)

    # the same source through golive: another way of writing the text, so all is read again,
    # and every value is the one the in-place read gave
    usage["read_in_place"] = False
    plan_path = plan_with(tmp_path, {"usage_events": usage})
    loaded = load_dataset(load_plan(plan_path), wh, "usage_events")
    assert loaded.path == "through golive (read_in_place is false)"
    assert (loaded.mode, loaded.read) == ("full", 4)
    values = {
        r["event_id"]: (r["timestamp"], r["properties"]) for r in _raw(wh) if r["event_id"] != "e4"
    }
    assert values == {r["event_id"]: (r["timestamp"], r["properties"]) for r in in_place}
    assert [b["connector"] for b in usage_batches(wh)] == [
        "snowflake (in place)",
        "snowflake (in place)",
        "snowflake",
    ]


def test_what_the_warehouse_cannot_write_in_place_goes_through_golive(account, tmp_path):
    url, source_db, source = account
    source_db.execute(
        "create or replace table billing.customers (customer_id varchar, name varchar, "
        "credit_limit float)"
    )
    source_db.execute("insert into billing.customers values ('C1', 'Acme', 1.5)")
    wh = warehouse_from_url(url)
    plan = load_plan(plan_with(tmp_path, {"customers": source("customers")}))
    loaded = load_dataset(plan, wh, "customers")
    # credit_limit is not a contract column: ignored, so the rest is read in place
    assert (loaded.path, loaded.rows) == ("in place", 1)

    source_db.execute("create or replace table billing.customers (customer_id float, name varchar)")
    source_db.execute("insert into billing.customers values (7, 'Acme')")
    loaded = load_dataset(plan, wh, "customers")
    assert loaded.path == (
        "through golive (column customer_id is REAL, whose text golive writes itself)"
    )
    assert wh.query("select customer_id, name from raw.customers") == [("7.0", "Acme")]


def test_a_source_in_another_account_is_pulled_with_its_own_credentials(
    account, tmp_path, monkeypatch
):
    url, source_db, source = account
    source_db.execute(f"create or replace table billing.customers ({CUSTOMERS})")
    source_db.execute("insert into billing.customers values ('C1', 'Acme')")
    monkeypatch.setenv("SRC_ACCOUNT", "another_account")
    plan = load_plan(plan_with(tmp_path, {"customers": source("customers")}))
    loaded = load_dataset(plan, warehouse_from_url(url), "customers")
    assert loaded.path == (
        "through golive (the source is in another Snowflake account (or behind another endpoint))"
    )
    assert loaded.rows == 1


def test_a_nul_character_is_refused_in_place_and_the_loaded_rows_stay(account, tmp_path):
    url, source_db, source = account
    source_db.execute(f"create or replace table billing.customers ({CUSTOMERS})")
    source_db.execute("insert into billing.customers values ('C1', 'Acme')")
    wh = warehouse_from_url(url)
    plan = load_plan(plan_with(tmp_path, {"customers": source("customers")}))
    assert load_dataset(plan, wh, "customers").rows == 1

    source_db.execute("insert into billing.customers values ('C2', 'Bad' || char(0) || 'Co')")
    with pytest.raises(SourceError) as raised:
        load_dataset(plan, wh, "customers")
    assert str(raised.value) == (
        "customers: column name holds a NUL character (\\x00), which no warehouse can store "
        "the same way. Fix: remove it from the source"
    )
    assert wh.query("select customer_id, name from raw.customers") == [("C1", "Acme")]
    assert not wh.table_exists("raw", "customers__golive_load")


def test_a_table_the_warehouse_cannot_read_says_what_to_grant(account, tmp_path):
    url, _, source = account
    plan = load_plan(plan_with(tmp_path, {"customers": source("no_such_table")}))
    with pytest.raises(SourceError) as raised:
        load_dataset(plan, warehouse_from_url(url), "customers")
    message = str(raised.value)
    assert message.startswith(
        'customers: the warehouse cannot read "SRC"."BILLING"."NO_SUCH_TABLE" in place ('
    )
    assert message.endswith(
        "Fix: grant select on it to the warehouse's role, or set "
        "sources.customers.read_in_place: false to pull it with the source's own credentials"
    )
    assert PASSWORD not in message


def test_a_table_name_that_is_not_one_is_refused_before_any_sql(account, tmp_path):
    url, _, source = account
    plan = load_plan(plan_with(tmp_path, {"customers": source("customers; drop table x")}))
    with pytest.raises(SourceError) as raised:
        load_dataset(plan, warehouse_from_url(url), "customers")
    assert str(raised.value).startswith(
        "'customers; drop table x' is not a Snowflake table name ([database.][schema.]table"
    )
