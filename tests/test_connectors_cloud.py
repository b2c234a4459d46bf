"""Snowflake and BigQuery sources through their real clients, against local fakes: fakesnow's
HTTP server for Snowflake, and a wire-level fake of BigQuery's REST API (``bigquery_fake``).
The worked-examples company loaded from either bills to docs/billing-rules.md's cent; a failed
connection never shows its secret; a missing variable is named."""

from __future__ import annotations

import json
import logging
import re
import socket
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from bigquery_fake import FakeBigQuery
from test_worked_examples import EXPECTED_TOTALS

from connectors.sources import DATASET_COLUMNS, SourceError, SourceSpec, Watermark, open_source
from connectors.warehouse import warehouse_from_url
from golive.plan import BigQuerySource, SnowflakeSource, Source
from orchestration.runner import run_stages

# fakesnow.server() imports its submodule fakesnow.server, which from then on shadows the
# function in the package: a second start in the same process (a module-scoped fixture set up
# again on a pytest-xdist worker) would call the module. The function is kept here, before any
# start.
try:
    from fakesnow import server as start_fakesnow
except ImportError:  # pragma: no cover - fakesnow is a test dependency
    start_fakesnow = None

# fakesnow's note on its own Arrow copy of a result
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

COMPANY = Path(__file__).parent / "fixtures" / "worked_examples"
FILES = {
    "customers": "data/customers.csv",
    "contracts": "data/contracts.csv",
    "contract_lines": "data/contract_lines.csv",
    "usage_events": "data/usage_*.csv",
    "legacy_invoices": "legacy/invoices.csv",
    "legacy_invoice_lines": "legacy/invoice_lines.csv",
}
# typed as a warehouse would hold them: money as exact decimals, events with a real timestamp
# (named ts, mapped back with `columns:`) and their property as a number
TYPED = {
    "usage_events": 'event_id, customer_id, event_name, cast("timestamp" as timestamptz) as ts, '
    "cast(n as bigint) as n",
    "legacy_invoices": "* replace (cast(subtotal as decimal(12, 2)) as subtotal, "
    "cast(tax as decimal(12, 2)) as tax, cast(total as decimal(12, 2)) as total)",
    "legacy_invoice_lines": "* replace (cast(quantity as bigint) as quantity, "
    "cast(amount as decimal(12, 2)) as amount)",
}
# the invoices docs/billing-rules.md's worked examples give: id (contract-period start) -> total
EXPECTED_INVOICES = {f"{c}-{p.replace('-', '')}": t for (c, p), t in EXPECTED_TOTALS.items()}

SECRET = "s3cr3t-Pa55phrase-do-not-show"


def company_tables() -> dict[str, pa.Table]:
    """The worked-examples company's datasets, typed."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    tables = {}
    for dataset, path in FILES.items():
        scan = f"read_csv('{COMPANY / path}', all_varchar = true, header = true)"
        tables[dataset] = con.sql(f"select {TYPED.get(dataset, '*')} from {scan}").to_arrow_table()
    return tables


def plan_with(tmp_path: Path, sources: dict[str, dict]) -> Path:
    """The worked-examples plan with these sources instead of its files."""
    text = (COMPANY / "plan.yaml").read_text(encoding="utf-8")
    files = {
        d: {"connector": "csv", "path": str(COMPANY / p), "allow_outside_folder": True}
        for d, p in FILES.items()
    }
    block = "sources:\n" + "".join(
        f"  {d}: {json.dumps(s)}\n" for d, s in (files | sources).items()
    )
    text, replaced = re.subn(r"(?ms)^sources:\n.*?(?=^metrics:)", lambda _: block, text)
    assert replaced == 1
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def billed_invoices(plan: Path, tmp_path: Path) -> dict[str, str]:
    """Run the plan through billing; invoice id -> total."""
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, through="billing")
    assert run.success, [s.error for s in run.stages]
    rows = warehouse_from_url(url).query("select invoice_id, total from sandbox.invoices")
    return {i: f"{t:.2f}" for i, t in rows}


def read(dataset: str, source: Source, watermark: Watermark | None = None) -> pa.Table:
    spec = SourceSpec(
        dataset, source.connector, source.table or "query", dict(source.columns), source, watermark
    )
    with open_source(spec) as reader:
        return reader.read_all()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- Snowflake ----------------------------------------------------------------------------------

_SNOWFLAKE_TYPES = {"string": "varchar", "int64": "number(38, 0)"}


def _snowflake_type(kind: pa.DataType) -> str:
    if pa.types.is_decimal(kind):
        return f"number({kind.precision}, {kind.scale})"
    if pa.types.is_timestamp(kind):
        return "timestamp_tz"
    return _SNOWFLAKE_TYPES[str(kind)]


@pytest.fixture(scope="module")
def snowflake_server():
    """fakesnow's server, holding the company in GOLIVE.BILLING (unquoted names, as usual)."""
    import snowflake.connector

    assert start_fakesnow is not None and callable(start_fakesnow), "fakesnow is not installed"
    with start_fakesnow() as server:
        # uvicorn logs to the stderr of the moment it started; send its lines to logging instead
        for name in ("uvicorn", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
        con = snowflake.connector.connect(
            account=server["account"],
            user=server["user"],
            password=server["password"],
            host=server["host"],
            port=server["port"],
            protocol=server["protocol"],
            database="golive",
            schema="billing",
        )
        cur = con.cursor()
        for dataset, table in company_tables().items():
            columns = ", ".join(f"{f.name} {_snowflake_type(f.type)}" for f in table.schema)
            cur.execute(f"create or replace table {dataset} ({columns})")
            marks = ", ".join(["%s"] * table.num_columns)
            rows = [tuple(r.values()) for r in table.to_pylist()]
            cur.executemany(f"insert into {dataset} values ({marks})", rows)
        con.close()
        yield server


@pytest.fixture
def snowflake_env(snowflake_server, monkeypatch):
    """Credentials in the environment; the source fields that reach the fake server."""
    monkeypatch.setenv("SNOWFLAKE_TEST_ACCOUNT", "golive_test")
    monkeypatch.setenv("SNOWFLAKE_TEST_USER", "loader")
    monkeypatch.setenv("SNOWFLAKE_TEST_PASSWORD", SECRET)
    return {
        "connector": "snowflake",
        "account_env": "SNOWFLAKE_TEST_ACCOUNT",
        "user_env": "SNOWFLAKE_TEST_USER",
        "password_env": "SNOWFLAKE_TEST_PASSWORD",
        "database": "golive",
        "schema": "billing",
        "warehouse": "loading_wh",
        "role": "loader",
        "host": snowflake_server["host"],
        "port": snowflake_server["port"],
        "protocol": "http",
    }


def test_snowflake_source_bills_like_domain_md(snowflake_env, tmp_path):
    sf = snowflake_env
    plan = plan_with(
        tmp_path,
        {
            "customers": {**sf, "table": "billing.customers"},
            "contracts": {**sf, "table": "golive.billing.contracts"},
            "contract_lines": {**sf, "table": "CONTRACT_LINES"},
            "usage_events": {
                **sf,
                "query": "select event_id, customer_id, event_name, ts, n from usage_events",
                "columns": {"timestamp": "ts"},
            },
            "legacy_invoices": {**sf, "table": "legacy_invoices"},
            "legacy_invoice_lines": {**sf, "query": "select * from legacy_invoice_lines;"},
        },
    )
    assert billed_invoices(plan, tmp_path) == EXPECTED_INVOICES


def test_snowflake_streams_typed_columns_in_lower_case(snowflake_env):
    from connectors.snowflake import extract_snowflake

    source = SnowflakeSource(**snowflake_env, table="usage_events")
    spec = SourceSpec("usage_events", "snowflake", "usage_events", {}, source)
    with extract_snowflake(spec) as reader:
        table = reader.read_all()
    assert table.column_names == ["event_id", "customer_id", "event_name", "ts", "n"]
    assert table.num_rows == company_tables()["usage_events"].num_rows
    assert pa.types.is_timestamp(table.schema.field("ts").type)
    assert table.schema.field("n").type == pa.int64()

    source = SnowflakeSource(**snowflake_env, table="legacy_invoices")
    spec = SourceSpec("legacy_invoices", "snowflake", "legacy_invoices", {}, source)
    with extract_snowflake(spec) as reader:
        totals = reader.read_all().column("total")
    assert totals.type == pa.decimal128(12, 2)  # money stays exact


def test_snowflake_empty_result_keeps_the_columns(snowflake_env):
    source = SnowflakeSource(
        **snowflake_env, query="select * from contracts where contract_id = 'none'"
    )
    table = read("contracts", source)
    assert table.num_rows == 0
    required, optional = DATASET_COLUMNS["contracts"]
    assert table.column_names == [*required, *optional]


def test_snowflake_incremental_pull_filters_at_the_source(snowflake_env):
    source = SnowflakeSource(
        **snowflake_env,
        table="usage_events",
        columns={"timestamp": "ts"},
        incremental_column="ts",
    )
    everything = read("usage_events", source)
    newer = read("usage_events", source, Watermark("timestamp", "2026-09-15T00:00:00+00:00"))
    assert 0 < newer.num_rows < everything.num_rows
    assert min(newer.column("timestamp").to_pylist()) >= "2026-09-15"


def test_snowflake_table_name_cannot_inject_sql(snowflake_env):
    source = SnowflakeSource(**snowflake_env, table="customers; drop table customers")
    with pytest.raises(SourceError, match="not a Snowflake table name"):
        read("customers", source)


@pytest.mark.parametrize("failure", ["refused", "query"])
def test_snowflake_failure_never_shows_the_password(
    failure, snowflake_env, tmp_path, monkeypatch, caplog, capsys
):
    import dagster as dg

    from orchestration import runner

    sf = dict(snowflake_env)
    table = "customers"
    if failure == "refused":
        sf["port"] = closed_port()
    else:
        table = "billing.no_such_table"
    plan = plan_with(tmp_path, {"customers": {**sf, "table": table}})
    instance = dg.DagsterInstance.ephemeral()
    monkeypatch.setattr(runner, "_instance", lambda: instance)
    alerts = []
    monkeypatch.setattr(runner, "send_alert", lambda title, body: alerts.append(title + body))
    caplog.set_level(logging.DEBUG)

    run = run_stages(plan, f"duckdb:///{tmp_path}/w.duckdb", through="sandbox_load")

    assert not run.success
    failed = run.stages[-1]
    assert failed.stage == "sandbox_load"
    assert (
        f"customers: cannot read from snowflake ({table}; account from $SNOWFLAKE_TEST_ACCOUNT, "
        "user from $SNOWFLAKE_TEST_USER)" in failed.error
    )
    events = [
        dg.serialize_value(entry)
        for record in instance.get_runs()
        for entry in instance.all_logs(record.run_id)
    ]
    assert events
    captured = capsys.readouterr()
    texts = [failed.error, caplog.text, captured.out, captured.err, *alerts, *events]
    texts += [json.dumps(s.metadata, default=str) for s in run.stages]
    for text in texts:
        assert SECRET not in text


def test_snowflake_missing_variable_names_dataset_and_variable(snowflake_env, monkeypatch):
    monkeypatch.delenv("SNOWFLAKE_TEST_PASSWORD")
    with pytest.raises(SourceError) as raised:
        read("contracts", SnowflakeSource(**snowflake_env, table="contracts"))
    assert str(raised.value).startswith(
        "contracts: the environment variable SNOWFLAKE_TEST_PASSWORD "
        "(sources.contracts.password_env) is not set"
    )


# -- BigQuery -----------------------------------------------------------------------------------

PROJECT = "golive-test"


@pytest.fixture(scope="module")
def bigquery_server():
    """The REST fake, holding the company in dataset ``billing``; pages of 500 rows at most."""
    with FakeBigQuery(PROJECT, page_rows=500) as server:
        for dataset, table in company_tables().items():
            server.add_table("billing", dataset, table)
        yield server


@pytest.fixture
def bigquery_env(bigquery_server, monkeypatch):
    monkeypatch.setenv("GOLIVE_BIGQUERY_API_ENDPOINT", bigquery_server.url)
    monkeypatch.setenv("GOLIVE_BIGQUERY_ANONYMOUS", "1")
    bigquery_server.requests.clear()
    return {"connector": "bigquery", "project": PROJECT}


def test_bigquery_source_bills_like_domain_md(bigquery_env, bigquery_server, tmp_path):
    bq = bigquery_env
    plan = plan_with(
        tmp_path,
        {
            "customers": {**bq, "table": "billing.customers"},
            "contracts": {**bq, "table": f"{PROJECT}.billing.contracts"},
            "contract_lines": {**bq, "table": "billing.contract_lines"},
            "usage_events": {
                **bq,
                "query": f"select * from `{PROJECT}.billing.usage_events`",
                "columns": {"timestamp": "ts"},
            },
            "legacy_invoices": {**bq, "table": "billing.legacy_invoices"},
            "legacy_invoice_lines": {**bq, "table": "billing.legacy_invoice_lines"},
        },
    )
    assert billed_invoices(plan, tmp_path) == EXPECTED_INVOICES
    requests = bigquery_server.requests
    # the 1,410 events came in pages, through the REST API, with no credentials sent
    assert any("pageToken" in r["params"] for r in requests if "/queries/" in r["path"])
    assert all(r["authorization"] is None for r in requests)


def test_bigquery_incremental_pull_filters_at_the_source(bigquery_env, bigquery_server):
    def pull(column: str, watermark: Watermark) -> tuple[pa.Table, str]:
        source = BigQuerySource(
            **bigquery_env,
            table="billing.usage_events",
            columns={"timestamp": "ts"},
            incremental_column=column,
        )
        table = read("usage_events", source, watermark)
        posted = [r for r in bigquery_server.requests if r["method"] == "POST"]
        # a dry run (free) tells the column's type first: GoogleSQL does not compare a
        # number with text
        assert posted[-2]["body"]["configuration"]["dryRun"] is True
        return table, posted[-1]["body"]["query"]

    base = f"select * from (select * from `{PROJECT}`.`billing`.`usage_events`) as golive_source"
    big, sql = pull("n", Watermark("integer", "500"))
    # >= re-reads the rows at the watermark (ties); the load skips those it already has; a
    # row without a value comes too, for the pull to refuse it rather than skip it
    assert sql == f"{base} where `n` >= cast('500' as INT64) or `n` is null"
    values = big.column("_watermark").to_pylist()
    # the events without n come too (a load refuses them: WatermarkTracker.refuse_missing)
    assert None in values
    assert sorted(v for v in values if v is not None) == [
        500,
        501,
        501,
        1500,
        1500,
        2500,
        2000000,
    ]

    # a watermark is a number or a timestamp, never text: nothing can be injected through it
    with pytest.raises(SourceError, match="not a integer watermark"):
        Watermark("integer", "e99' or 'x' = 'x")

    with pytest.raises(SourceError, match="the incremental column 'seq' is not in the source"):
        pull("seq", Watermark("integer", "1"))


def test_bigquery_empty_result_and_bad_table(bigquery_env):
    source = BigQuerySource(**bigquery_env, query="select * from `billing.customers` where false")
    assert read("customers", source).num_rows == 0
    with pytest.raises(SourceError, match="not a BigQuery table name"):
        read(
            "customers",
            BigQuerySource(**bigquery_env, table="billing.customers` union all select 1"),
        )
    with pytest.raises(SourceError, match=r"customers: cannot read from bigquery \(billing.nope"):
        read("customers", BigQuerySource(**bigquery_env, table="billing.nope"))


def test_bigquery_key_file_never_shows_in_messages(
    bigquery_env, bigquery_server, tmp_path, monkeypatch
):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem,
        "client_email": "loader@golive-test.iam.gserviceaccount.com",
        # the fake has no token endpoint: getting a token fails
        "token_uri": f"{bigquery_server.url}/token",
    }
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    monkeypatch.delenv("GOLIVE_BIGQUERY_ANONYMOUS")
    monkeypatch.setenv("BQ_KEY_FILE", str(path))
    source = BigQuerySource(
        **bigquery_env, credentials_env="BQ_KEY_FILE", table="billing.customers"
    )
    with pytest.raises(SourceError) as raised:
        read("customers", source)
    message = str(raised.value)
    assert message.startswith(
        "customers: cannot read from bigquery (billing.customers; project golive-test, "
        "credentials from $BQ_KEY_FILE)"
    )
    body = pem.split("-----")[2].strip().splitlines()
    assert info["private_key_id"] not in message
    assert not any(line in message for line in body)


def test_bigquery_missing_variable_names_dataset_and_variable(bigquery_env, monkeypatch):
    monkeypatch.delenv("GOLIVE_BIGQUERY_ANONYMOUS")
    monkeypatch.delenv("BQ_KEY_FILE", raising=False)
    source = BigQuerySource(
        **bigquery_env, credentials_env="BQ_KEY_FILE", table="billing.contracts"
    )
    with pytest.raises(SourceError) as raised:
        read("contracts", source)
    assert str(raised.value).startswith(
        "contracts: the environment variable BQ_KEY_FILE (sources.contracts.credentials_env) "
        "is not set"
    )


def test_bigquery_without_any_credentials_says_how_to_set_them(bigquery_env, tmp_path, monkeypatch):
    monkeypatch.delenv("GOLIVE_BIGQUERY_ANONYMOUS")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login here
    metadata = f"127.0.0.1:{closed_port()}"  # nor a metadata server
    monkeypatch.setenv("GCE_METADATA_HOST", metadata)
    monkeypatch.setenv("GCE_METADATA_IP", metadata)
    with pytest.raises(SourceError) as raised:
        read("contracts", BigQuerySource(**bigquery_env, table="billing.contracts"))
    message = str(raised.value)
    assert message.startswith(
        "contracts: sources.contracts.credentials_env is not set and no application default "
        "credentials were found"
    )
    assert "gcloud auth application-default login" in message
