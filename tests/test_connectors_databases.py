"""PostgreSQL and MariaDB/MySQL sources against real servers: the demo company loaded from
them bills exactly like its CSV files; incremental pulls equal a full reload; and a failed
connection never shows its password."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from connectors.warehouse import warehouse_from_url
from golive.demo import generate_company
from orchestration.runner import run_stages

MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
SOURCE_DATASETS = ("customers", "contracts", "contract_lines", "usage_events")


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    out = tmp_path_factory.mktemp("company")
    generate_company(out, events=6_000, seed=5)
    return out


def _read_dataset(company: Path, dataset: str):
    """The demo's file for a dataset, as an Arrow table (all text, like the contract)."""
    plan = yaml.safe_load((company / "plan.yaml").read_text())
    path = str(company / plan["sources"][dataset]["path"])
    con = duckdb.connect()
    scan = "read_parquet" if path.endswith(".parquet") else "read_csv"
    extra = ", all_varchar = true" if scan == "read_csv" else ""
    return con.sql(f"select * from {scan}('{path}'{extra})").to_arrow_table()


def _plan_from(company: Path, tmp_path: Path, sources: dict) -> Path:
    folder = tmp_path / "plan"
    shutil.copytree(company, folder)
    plan = yaml.safe_load((folder / "plan.yaml").read_text())
    plan["sources"].update(sources)
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return folder / "plan.yaml"


def _invoices(url: str) -> list[tuple]:
    return sorted(
        (i, f"{t:.2f}")
        for i, t in warehouse_from_url(url).query("select invoice_id, total from sandbox.invoices")
    )


@pytest.fixture(scope="module")
def csv_invoices(company, tmp_path_factory):
    url = f"duckdb:///{tmp_path_factory.mktemp('csv')}/w.duckdb"
    run = run_stages(company / "plan.yaml", url, through="billing")
    assert run.success, [s.error for s in run.stages]
    return _invoices(url)


def test_postgres_source_bills_like_the_files(
    company, csv_invoices, postgres_url, tmp_path, monkeypatch
):
    source = warehouse_from_url(postgres_url)
    for dataset in SOURCE_DATASETS:
        source.load_arrow("crm", dataset, _read_dataset(company, dataset))
    monkeypatch.setenv("CRM_DATABASE_URL", postgres_url)
    plan = _plan_from(
        company,
        tmp_path,
        {
            d: {"connector": "postgres", "url_env": "CRM_DATABASE_URL", "table": f"crm.{d}"}
            for d in SOURCE_DATASETS
        },
    )
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, through="billing")
    assert run.success, [s.error for s in run.stages]
    assert run.stages[1].metadata["raw/usage_events"]["connector"] == "postgres"
    assert _invoices(url) == csv_invoices


def _mysql():
    try:
        import pymysql

        return pymysql.connect(
            host="127.0.0.1",
            port=3306,
            user="root",
            database="test",
            connect_timeout=5,
            autocommit=True,
        )
    except Exception as exc:
        pytest.skip(f"no MariaDB/MySQL at 127.0.0.1:3306 with database test ({exc})")


def test_mysql_source_bills_like_the_files(company, csv_invoices, tmp_path, monkeypatch):
    con = _mysql()
    with con.cursor() as cur:
        for dataset in SOURCE_DATASETS:
            table = _read_dataset(company, dataset)
            cur.execute(f"drop table if exists golive_{dataset}")
            cols = ", ".join(f"`{c}` text" for c in table.column_names)
            cur.execute(f"create table golive_{dataset} ({cols})")
            marks = ", ".join(["%s"] * table.num_columns)
            rows = [tuple(r.values()) for r in table.to_pylist()]
            cur.executemany(f"insert into golive_{dataset} values ({marks})", rows)
    monkeypatch.setenv("BILLING_DB_URL", MYSQL_URL)
    plan = _plan_from(
        company,
        tmp_path,
        {
            d: {"connector": "mysql", "url_env": "BILLING_DB_URL", "table": f"test.golive_{d}"}
            for d in SOURCE_DATASETS
        },
    )
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, through="billing")
    assert run.success, [s.error for s in run.stages]
    assert _invoices(url) == csv_invoices


def _aggregates(url: str) -> list[tuple]:
    rows = warehouse_from_url(url).query(
        "select contract_id, metric_id, cast(period_start as varchar), value "
        "from sandbox.usage_aggregates"
    )
    return sorted((c, m, p, f"{v:.6f}") for c, m, p, v in rows)


def test_incremental_pulls_equal_a_full_reload(company, postgres_url, tmp_path, monkeypatch):
    """Three pulls with new, late and re-sent events in between; then a full reload."""
    events = _read_dataset(company, "usage_events")
    rows = events.to_pylist()
    first, second, third = rows[:3000], rows[3000:4500], rows[4500:]
    late = dict(second[0], event_id="late-1")  # arrives later, stamped in an old period
    late["timestamp"] = "2026-07-03T10:00:00Z"
    source = warehouse_from_url(postgres_url)
    source.execute(
        "create schema crm; create table crm.events (seq bigint, event_id text, "
        "customer_id text, event_name text, timestamp text, properties text)"
    )

    def append(batch: list[dict], start: int) -> None:
        with (
            source.connect() as con,
            con.cursor().copy(
                "copy crm.events (seq, event_id, customer_id, event_name, timestamp, properties) "
                "from stdin"
            ) as copy,
        ):
            for seq, r in enumerate(batch, start=start):
                copy.write_row(
                    [
                        seq,
                        r["event_id"],
                        r["customer_id"],
                        r["event_name"],
                        r["timestamp"],
                        r["properties"],
                    ]
                )

    monkeypatch.setenv("EVENTS_URL", postgres_url)
    incremental = {
        "connector": "postgres",
        "url_env": "EVENTS_URL",
        "table": "crm.events",
        "incremental_column": "seq",
    }
    plan = _plan_from(company, tmp_path, {"usage_events": incremental})
    url = f"duckdb:///{tmp_path}/incremental.duckdb"

    def night() -> None:
        run = run_stages(plan, url, through="metering")
        assert run.success, [s.error for s in run.stages]

    append(first, 1)
    night()
    append(second + [late] + first[:5], 10_000)  # new, late, and five re-sent events
    night()
    append(third, 20_000)
    night()
    night()  # nothing new: no change

    wh = warehouse_from_url(url)
    resent = ", ".join(f"'{r['event_id']}'" for r in first[:5])
    # re-sent rows are kept as received, and counted once: the later copies are duplicates
    assert wh.scalar(f"select count(*) from raw.usage_events where event_id in ({resent})") == 10
    assert wh.scalar(f"select count(*) from sandbox.usage_events where event_id in ({resent})") == 5
    duplicates = wh.scalar("select sum(duplicates) from sandbox.usage_event_counts")
    assert wh.query("select watermark from raw.source_watermarks") == [
        (str(20_000 + len(third) - 1),)
    ]
    assert wh.scalar("select count(*) from sandbox.usage_events where event_id = 'late-1'") == 1

    full_reload = {
        "connector": "postgres",
        "url_env": "EVENTS_URL",
        "query": "select event_id, customer_id, event_name, timestamp, properties from crm.events",
    }
    full_plan = _plan_from(company, tmp_path / "full", {"usage_events": full_reload})
    full_url = f"duckdb:///{tmp_path}/full.duckdb"
    assert run_stages(full_plan, full_url, through="metering").success
    # the full reload saw the five re-sent rows as duplicates too; the aggregates are the same
    assert _aggregates(url) == _aggregates(full_url)
    full = warehouse_from_url(full_url)
    assert full.scalar("select sum(duplicates) from sandbox.usage_event_counts") == duplicates


def test_failed_connection_never_shows_the_password(company, tmp_path, monkeypatch, caplog, capsys):
    secret = "Tr0ub4dor-and-3"
    monkeypatch.setenv("CRM_DATABASE_URL", f"postgresql://billing:{secret}@127.0.0.1:9/crm")
    plan = _plan_from(
        company,
        tmp_path,
        {
            "customers": {
                "connector": "postgres",
                "url_env": "CRM_DATABASE_URL",
                "table": "crm.customers",
            }
        },
    )
    caplog.set_level(logging.DEBUG)
    run = run_stages(plan, f"duckdb:///{tmp_path}/w.duckdb", through="sandbox_load")
    assert not run.success
    failed = run.stages[-1]
    assert "customers: cannot read from postgres (crm.customers; URL from $CRM_DATABASE_URL)" in (
        failed.error
    )
    captured = capsys.readouterr()
    for text in (failed.error, caplog.text, captured.out, captured.err, repr(run.stages)):
        assert secret not in text
        assert "billing:" not in text


def test_missing_variable_names_dataset_and_variable(company, tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_URL", raising=False)
    plan = _plan_from(
        company,
        tmp_path,
        {"contracts": {"connector": "mysql", "url_env": "NOT_SET_URL", "table": "crm.contracts"}},
    )
    run = run_stages(plan, f"duckdb:///{tmp_path}/w.duckdb", through="sandbox_load")
    assert not run.success
    assert (
        "contracts: the environment variable NOT_SET_URL (sources.contracts.url_env) is not set"
        in run.stages[-1].error
    )
