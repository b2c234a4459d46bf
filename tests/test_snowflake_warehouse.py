"""Snowflake as the warehouse golive runs on, against fakesnow's server (the real connector and
the real dbt-snowflake talk to it over HTTP): URLs and their secrets, bulk loads, the lock, the
exact division, and the worked-examples and demo companies priced to the same invoices, lines
and journal entries as on DuckDB, row for row.

fakesnow runs Snowflake's SQL on DuckDB: it checks that golive's SQL is Snowflake's and gives
the right answers, never how fast it runs. Each test gets a server of its own
(tests/snowflake_fake.py); where fakesnow cannot start, the tests are skipped and the reason is
printed in pytest's summary (``-ra``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from snowflake_fake import PASSWORD

from connectors.warehouse import (
    SnowflakeWarehouse,
    WarehouseBusyError,
    WarehouseURLError,
    warehouse_from_url,
)
from orchestration.runner import run_stages
from orchestration.stages import STAGES

# fakesnow's note on its own Arrow copy of a result
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

ROOT = Path(__file__).parents[1]
PLAN = ROOT / "tests" / "fixtures" / "worked_examples" / "plan.yaml"
# -- URLs ------------------------------------------------------------------------------------


def test_a_snowflake_url_names_its_secret_and_never_holds_it(monkeypatch):
    monkeypatch.setenv("SF_PW", PASSWORD)
    url = "snowflake://loader@xy12345.eu-central-1/BILLING?warehouse=WH&role=R&password_env=SF_PW"
    wh = warehouse_from_url(url)
    assert isinstance(wh, SnowflakeWarehouse)
    assert (wh.user, wh.account, wh.database, wh.warehouse, wh.role) == (
        "loader",
        "xy12345.eu-central-1",
        "BILLING",
        "WH",
        "R",
    )
    assert PASSWORD not in repr(wh) and PASSWORD not in wh.display_url
    assert PASSWORD in wh.secrets()
    assert wh.scrub(f"login failed for {PASSWORD}") == "login failed for ***"
    env = wh.dbt_env()
    assert env["GOLIVE_DBT_TARGET"] == "snowflake" and env["GOLIVE_SF_PASSWORD"] == PASSWORD


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("snowflake://loader:hunter2@acct/DB?password_env=SF_PW", "password_env=VAR"),
        ("snowflake://loader@acct/DB?warehouse=WH", "exactly one of password_env"),
        ("snowflake://loader@acct/DB?password_env=SF_PW&private_key_env=K", "exactly one"),
        ("snowflake://loader@acct/DB?password_env=NOT_SET_ANYWHERE", "NOT_SET_ANYWHERE"),
        ("snowflake://loader@acct/DB?password_env=SF_PW&colour=blue", "unknown parameter 'colour'"),
        ("snowflake://loader@acct/?password_env=SF_PW", "one database name"),
        ("snowflake://loader@acct/DB/SCHEMA?password_env=SF_PW", "one database name"),
        ("snowflake://acct/DB?password_env=SF_PW", "names no user"),
        ("snowflake://loader@acct/DB?password_env=SF_PW&port=http", "port='http'"),
        ("snowflake://loader@acct/DB?password_env=SF_PW&protocol=ftp", "protocol=https"),
        ("snowflake://loader@acct/DB?password_env=SF_PW&role=a;drop", "role="),
    ],
)
def test_a_bad_snowflake_url_says_which_key_and_the_fix(url, says, monkeypatch):
    monkeypatch.setenv("SF_PW", PASSWORD)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(WarehouseURLError) as error:
        warehouse_from_url(url)
    message = str(error.value)
    assert says in message
    assert "Fix:" in message
    assert "hunter2" not in message and PASSWORD not in message


def test_key_pair_authentication_reads_the_key_from_its_variable(monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"open sesame"),
    ).decode()
    monkeypatch.setenv("SF_KEY", pem)
    monkeypatch.setenv("SF_KEY_PASS", "open sesame")
    wh = warehouse_from_url(
        "snowflake://loader@acct/DB?private_key_env=SF_KEY&private_key_passphrase_env=SF_KEY_PASS"
    )
    args = wh.connect_args()
    assert "password" not in args
    der = args["private_key"]
    assert serialization.load_der_private_key(der, None).private_numbers() == (
        key.private_numbers()
    )
    assert wh.dbt_env()["GOLIVE_SF_PRIVATE_KEY"] == pem
    assert "open sesame" in wh.secrets() and pem in wh.secrets()
    shown = wh.scrub(f"bad key {pem.splitlines()[1]} / open sesame")
    assert pem.splitlines()[1] not in shown and "open sesame" not in shown

    monkeypatch.setenv("SF_KEY", "not a key")
    with pytest.raises(WarehouseURLError, match="PKCS#8"):
        warehouse_from_url("snowflake://loader@acct/DB?private_key_env=SF_KEY").connect_args()


# -- the warehouse on fakesnow ----------------------------------------------------------------


def test_loads_replace_a_table_in_bulk_and_keep_decimals_exact(snowflake_url_for):
    wh = warehouse_from_url(snowflake_url_for)
    first = pa.table(
        {
            "customer_id": ["C1", "C2"],
            "amount": pa.array([Decimal("1.005"), Decimal("-12345678901234.5678901234")]),
        }
    ).cast(pa.schema([("customer_id", pa.string()), ("amount", pa.decimal128(38, 10))]))
    assert wh.load_arrow("raw", "amounts", first) == 2
    assert wh.table_exists("raw", "amounts") and wh.columns("raw", "amounts") == [
        "customer_id",
        "amount",
    ]
    rows = dict(wh.query("select customer_id, amount from raw.amounts"))
    assert rows == {"C1": Decimal("1.005"), "C2": Decimal("-12345678901234.5678901234")}

    # the same columns: rows replaced; other columns: the table replaced
    assert wh.load_arrow("raw", "amounts", first.slice(0, 1)) == 1
    assert wh.scalar("select count(*) from raw.amounts") == 1
    assert wh.load_arrow("raw", "amounts", pa.table({"x": ["a", "b", "c"]})) == 3
    assert wh.columns("raw", "amounts") == ["x"]
    assert not wh.table_exists("raw", "amounts__golive_load")

    # a stream that fails part way leaves the previous table as it was
    def failing():
        yield pa.record_batch({"x": ["d"]})
        raise OSError("the source went away")

    broken = pa.RecordBatchReader.from_batches(pa.schema([("x", pa.string())]), failing())
    with pytest.raises(OSError, match="went away"):
        wh.load_arrow("raw", "amounts", broken)
    assert sorted(r[0] for r in wh.query("select x from raw.amounts")) == ["a", "b", "c"]
    assert wh.base_tables({("raw", "amounts"), ("raw", "nothing")}) == {("raw", "amounts")}


def test_one_run_at_a_time_holds_a_snowflake_warehouse(snowflake_url_for):
    first, second = warehouse_from_url(snowflake_url_for), warehouse_from_url(snowflake_url_for)
    with first.exclusive("golive run of plan A"):
        # a second holder in this process shares it; another process finds it taken
        release = second._acquire.__func__  # the lease itself, as another process takes it
        with pytest.raises(WarehouseBusyError, match="golive run of plan A"):
            release(second, "golive run of plan B")
    # released: the next run gets it
    second._acquire("golive run of plan B")()


def test_decimal_division_is_exact_and_rounds_half_away_from_zero(snowflake_url_for, tmp_path):
    from orchestration.dbt import compile_inline

    cases = [
        ("1", "3"),
        ("2", "3"),
        ("-2", "3"),
        ("66000", "31"),  # §5: 3,000 a month for 22 of 31 days
        ("1", "20000000000"),  # 0.00000000005: half, away from zero
        ("-1", "20000000000"),
        ("0.0000000001", "3"),
        ("123456789012345.1234567891", "7"),
        ("5", "0"),
    ]
    sql = " union all ".join(
        f"select {i} as i, {{{{ golive.decimal_div('cast({n} as ' ~ golive.decimal_type() ~ ')'"
        f", 'cast({d} as ' ~ golive.decimal_type() ~ ')') }}}} as q"
        for i, (n, d) in enumerate(cases)
    )
    snowflake = warehouse_from_url(snowflake_url_for)
    duckdb = warehouse_from_url(f"duckdb:///{tmp_path}/division.duckdb")
    got = dict(snowflake.query(compile_inline(sql, snowflake.dbt_env())))
    want = dict(duckdb.query(compile_inline(sql, duckdb.dbt_env())))
    assert got == want
    assert got[3] == Decimal("2129.0322580645") and got[4] == Decimal("0.0000000001")
    assert got[5] == Decimal("-0.0000000001") and got[8] is None


# -- whole companies: the same numbers as on DuckDB ---------------------------------------------

#: the tables compared row for row, and the columns that order them
COMPARED = {
    "sandbox.invoices": "invoice_id",
    "sandbox.invoice_lines": "invoice_id, product_id, line_no",
    "sandbox.journal_entries": "entry_id, account",
    "sandbox.usage_aggregates": "customer_id, contract_id, metric_id, period_start, group_value",
}


def _value(v):
    # the same number or day, whatever type and scale the engine gave it
    if isinstance(v, Decimal):
        return v.normalize() if v else Decimal(0)
    if isinstance(v, int) and not isinstance(v, bool):
        return Decimal(v)
    return str(v) if v is not None and not isinstance(v, (str, bool)) else v


def _rows(url: str, table: str) -> tuple[list[str], list[tuple]]:
    wh = warehouse_from_url(url)
    schema, name = table.split(".")
    columns = wh.columns(schema, name)
    order = COMPARED[table]
    order = ", ".join(c.strip() for c in order.split(",") if c.strip() in columns)
    rows = wh.query(f"select {', '.join(columns)} from {table} order by {order}")
    return columns, [tuple(_value(v) for v in r) for r in rows]


def assert_same_numbers(snowflake: str, duckdb: str) -> None:
    for table in COMPARED:
        sf_columns, sf_rows = _rows(snowflake, table)
        dd_columns, dd_rows = _rows(duckdb, table)
        assert sf_columns == dd_columns, table
        assert len(sf_rows) == len(dd_rows) > 0, table
        for sf, dd in zip(sf_rows, dd_rows, strict=True):
            assert sf == dd, f"{table}: {dict(zip(sf_columns, sf, strict=True))} != {dd}"


@pytest.mark.slow
def test_worked_examples_on_snowflake_as_on_duckdb_then_promoted(
    snowflake_url_for, tmp_path, working_folder
):
    from reliability.test_secrets import assert_secret_nowhere
    from test_worked_examples import EXPECTED_TOTALS

    duckdb = f"duckdb:///{tmp_path}/warehouse.duckdb"
    assert run_stages(PLAN, duckdb, approved_by="Grace Hopper").success

    log = tmp_path / "golive-run.log"
    run = run_stages(PLAN, snowflake_url_for, approved_by="Grace Hopper", log_path=log)
    assert [s.stage for s in run.stages if s.success] == list(STAGES), [s.error for s in run.stages]
    wh = warehouse_from_url(snowflake_url_for)
    totals = {
        (c, str(p)): f"{t:.2f}"
        for c, p, t in wh.query("select contract_id, period_start, total from sandbox.invoices")
    }
    assert totals == EXPECTED_TOTALS
    assert_same_numbers(snowflake_url_for, duckdb)
    assert all(c["passed"] for c in run.signoff)
    # GX read the sign-off margins and the input profiles in Snowflake, through SQL
    gx_project = (working_folder / "gx" / "great_expectations.yml").read_text()
    for source in ("golive_signoff_snowflake", "golive_input_profile_customers_snowflake"):
        assert source in gx_project
    assert "${GOLIVE_GX_WAREHOUSE_URL}" in gx_project
    margins = wh.query("select * from staging.signoff_margins")
    assert len(margins) == 1 and all(m >= 0 for m in margins[0])

    # promoted in one transaction, with its audit row
    assert wh.scalar("select count(*) from production.invoices") == len(EXPECTED_TOTALS)
    audit = wh.query("select status, row_counts from audit.migration_runs")
    assert [a[0] for a in audit] == ["promoted"]
    assert not wh.table_exists("production_next", "invoices")

    # a second run: the incremental usage models run incrementally (transient staging tables),
    # the numbers stay, the promotion is idempotent
    again = run_stages(PLAN, snowflake_url_for, approved_by="Grace Hopper")
    assert again.success, [s.error for s in again.stages]
    assert_same_numbers(snowflake_url_for, duckdb)
    assert [r[0] for r in wh.query("select status from audit.migration_runs")] == [
        "promoted",
        "promoted",
    ]
    # the password reached the connector and dbt only: it is in no log line (dbt's, kept in
    # the log file), no file (evidence, reports, dbt's folders), no run metadata, no table
    assert log.stat().st_size > 0
    metadata = json.dumps([(s.metadata, s.error, s.warnings) for s in run.stages], default=str)
    assert_secret_nowhere(
        PASSWORD,
        [tmp_path, working_folder, ROOT / "dbt_project" / "target"],
        snowflake_url_for,
        metadata,
        str(run.signoff),
        not_golives=("fakesnow.log",),  # the fake server's own log of the logins it took
    )


@pytest.mark.slow
def test_demo_company_on_snowflake_as_on_duckdb(snowflake_url_for, tmp_path):
    from golive.demo import generate_company

    summary = generate_company(tmp_path / "company", events=3_000, seed=11)
    plan_path = Path(summary["plan"])
    plan = yaml.safe_load(plan_path.read_text())
    plan["signoff"].update({"min_invoice_match_rate": "0.5", "max_abs_total_delta": "10000"})
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))

    duckdb = f"duckdb:///{tmp_path}/warehouse.duckdb"
    assert run_stages(plan_path, duckdb, through="parallel_test").success
    run = run_stages(plan_path, snowflake_url_for, through="parallel_test")
    assert run.success, [s.error for s in run.stages]
    assert_same_numbers(snowflake_url_for, duckdb)
    sf, dd = warehouse_from_url(snowflake_url_for), warehouse_from_url(duckdb)
    for query in (
        "select status, count(*) from staging.int_usage_events_classified group by 1",
        "select reason, count(*) from quarantine.usage_events group by 1",
        "select status, count(*) from sandbox.reconciliation_invoices group by 1",
        "select cause, count(*) from sandbox.reconciliation_lines group by 1",
    ):
        assert sorted(sf.query(query), key=repr) == sorted(dd.query(query), key=repr), query
