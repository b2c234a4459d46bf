"""File sources as contract-shaped Arrow, and their load into the warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.sources import DATASET_COLUMNS, SourceError, SourceSpec, open_source
from connectors.warehouse import WarehouseURLError, quote_ident, redact_url, warehouse_from_url
from golive.loading import load_dataset
from golive.plan import load_plan

PLAN = """\
company: Load Co
parallel_test:
  periods: {from: 2026-09-01, to: 2026-11-01}
sources:
  customers:      {connector: csv, path: data/customers.csv}
  contracts:      {connector: csv, path: data/contracts.csv}
  contract_lines: {connector: csv, path: data/contract_lines.csv}
  usage_events:   {connector: parquet, path: "data/usage/*.parquet"}
products:
  - id: platform
    pricing: {model: flat_fee, amount: 500}
"""


def contract_columns(dataset: str) -> list[str]:
    required, optional = DATASET_COLUMNS[dataset]
    return [*required, *optional]


def read(dataset: str, connector: str, location: Path | str, **columns: str) -> pa.Table:
    with open_source(SourceSpec(dataset, connector, str(location), dict(columns))) as reader:
        return reader.read_all()


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def events_table(ids: list[str], gb: list[int]) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "event_id": ids,
            "customer_id": ["C1"] * n,
            "event_name": ["storage"] * n,
            "timestamp": ["2026-09-15T12:00:00Z"] * n,
            "gb": gb,
        }
    )


# -- reading ------------------------------------------------------------------------------------


def test_csv_streams_as_text_in_contract_order(tmp_path):
    path = write_csv(
        tmp_path / "customers.csv",
        "country,name,customer_id,tax_rate_percent\nFR,Acme,C001,20.0\nDE,Beta,007,\n",
    )
    table = read("customers", "csv", path)
    assert table.column_names == contract_columns("customers")
    assert all(pa.types.is_string(f.type) for f in table.schema)
    rows = table.to_pylist()
    assert rows[0]["customer_id"] == "C001"
    assert rows[0]["tax_rate_percent"] == "20.0"
    assert rows[1]["customer_id"] == "007"  # kept as received, not read as a number
    assert rows[1]["country"] == "DE"
    assert rows[0]["email"] is None


def test_columns_mapping_renames_source_columns(tmp_path):
    path = write_csv(tmp_path / "accounts.csv", "AccountId,AccountName,Mail\nA1,Acme,a@acme.test\n")
    table = read(
        "customers", "csv", path, customer_id="AccountId", name="AccountName", email="Mail"
    )
    assert table.column_names == contract_columns("customers")
    assert table.to_pylist()[0] == {
        **dict.fromkeys(contract_columns("customers")),
        "customer_id": "A1",
        "name": "Acme",
        "email": "a@acme.test",
    }


def test_missing_required_column_names_dataset_column_and_fix(tmp_path):
    path = write_csv(tmp_path / "customers.csv", "customer_id,full_name\nC1,Acme\n")
    with pytest.raises(SourceError) as info:
        read("customers", "csv", path)
    message = str(info.value)
    assert message.startswith("customers:")
    assert "required column(s) name not found" in message
    assert "customer_id, full_name" in message
    assert "sources.customers.columns" in message


def test_missing_mapped_column_names_the_mapping(tmp_path):
    path = write_csv(tmp_path / "customers.csv", "id,name\nC1,Acme\n")
    with pytest.raises(SourceError, match=r"customer_id \(mapped to 'cust_id'\)"):
        read("customers", "csv", path, customer_id="cust_id")


def test_no_matching_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="usage_events: no file matches"):
        read("usage_events", "parquet", tmp_path / "usage" / "*.parquet")


def test_unavailable_connector_is_a_source_error():
    with pytest.raises(SourceError, match="unknown connector 'oracle'"):
        read("customers", "oracle", "crm.customers")


def test_usage_properties_as_extra_columns_are_packed_into_json(tmp_path):
    path = write_csv(
        tmp_path / "usage.csv",
        "event_id,customer_id,event_name,timestamp,gb,region\n"
        "e1,C1,egress,2026-09-15T12:00:00Z,1.5,eu\n"
        "e2,C1,egress,2026-09-16T12:00:00Z,2,us\n",
    )
    table = read("usage_events", "csv", path)
    assert table.column_names == contract_columns("usage_events")
    props = [json.loads(p) for p in table["properties"].to_pylist()]
    assert props == [{"gb": "1.5", "region": "eu"}, {"gb": "2", "region": "us"}]


def test_parquet_glob_reads_every_file(tmp_path):
    folder = tmp_path / "usage"
    folder.mkdir()
    pq.write_table(events_table(["a", "b"], [1, 2]), folder / "2026-09-01.parquet")
    pq.write_table(events_table(["c", "d", "e"], [3, 4, 5]), folder / "2026-09-02.parquet")
    table = read("usage_events", "parquet", folder / "*.parquet")
    assert table.num_rows == 5
    assert sorted(table["event_id"].to_pylist()) == ["a", "b", "c", "d", "e"]
    assert all(pa.types.is_string(f.type) for f in table.schema)
    by_id = {r["event_id"]: json.loads(r["properties"]) for r in table.to_pylist()}
    assert by_id["e"] == {"gb": 5}


def test_a_byte_order_mark_keeps_every_value_as_written(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte order mark: the first column is still read as
    text, as written (no leading zero, digit or id changed), in every dataset."""
    customers = tmp_path / "customers.csv"
    customers.write_bytes(
        b"\xef\xbb\xbfcustomer_id,name\n00123,Acme\n0042,Beta\n42,Gamma\nNA,Delta\n"
    )
    table = read("customers", "csv", customers)
    assert table["customer_id"].to_pylist() == ["00123", "0042", "42", "NA"]
    usage = tmp_path / "usage.csv"
    usage.write_bytes(
        b"\xef\xbb\xbfevent_id,customer_id,event_name,timestamp\n"
        b"007,C1,call,2026-09-15T12:00:00Z\n7,C1,call,2026-09-15T12:00:00Z\n"
        b"12345678901234567890123,C1,call,2026-09-15T12:00:00Z\n"
    )
    assert read("usage_events", "csv", usage)["event_id"].to_pylist() == [
        "007",
        "7",
        "12345678901234567890123",
    ]


@pytest.mark.parametrize(
    "header, named",
    [
        ("customer_id,name,Name", "name and Name"),
        ("customer_id,Customer_ID,name", "customer_id and Customer_ID"),
        ("customer_id,name,name", "name twice"),
    ],
)
def test_a_csv_header_naming_a_column_twice_in_any_case_is_refused(tmp_path, header, named):
    path = write_csv(tmp_path / "customers.csv", f"{header}\nC1,Acme,Other\n")
    with pytest.raises(SourceError) as raised:
        read("customers", "csv", path)
    assert str(raised.value) == (
        f"customers: {path}: the header: the columns name {named} (names are compared "
        "case-insensitively); which column is meant cannot be told. Fix: rename one"
    )


def test_parquet_and_database_columns_naming_one_name_twice_are_refused(tmp_path):
    from connectors.sources import read_arrow_source

    table = pa.table({"customer_id": ["C1"], "name": ["Real"], "NAME": ["Wrong"]})
    path = tmp_path / "customers.parquet"
    pq.write_table(table, path)
    with pytest.raises(SourceError, match="the columns name name and NAME"):
        read("customers", "parquet", path)
    spec = SourceSpec("customers", "postgres", "crm.customers", {})
    with (
        pytest.raises(
            SourceError, match="customers: crm.customers: the columns name name and NAME"
        ),
        read_arrow_source(spec, table.to_reader()),
    ):
        pass


def test_parquet_text_written_as_binary_is_read_as_text(tmp_path):
    """Some writers store strings as BINARY without the UTF8 annotation: the values are the
    text they hold, never their bytes' escapes."""
    path = tmp_path / "customers.parquet"
    table = pa.table(
        {
            "customer_id": pa.array([b"C1"], pa.binary()),
            "name": pa.array(["Müller GmbH".encode()], pa.binary()),
        }
    )
    pq.write_table(table, path)
    assert read("customers", "parquet", path)["name"].to_pylist() == ["Müller GmbH"]


def test_properties_column_and_extra_columns_are_merged(tmp_path):
    path = write_csv(
        tmp_path / "usage.csv",
        "event_id,customer_id,event_name,timestamp,properties,region\n"
        'e1,C1,egress,2026-09-15T12:00:00Z,"{""tier"": ""paid"", ""gb"": 3}",eu\n'
        "e2,C1,egress,2026-09-16T12:00:00Z,,us\n",
    )
    props = [json.loads(p) for p in read("usage_events", "csv", path)["properties"].to_pylist()]
    assert props == [{"tier": "paid", "gb": 3, "region": "eu"}, {"region": "us"}]


def test_extra_columns_are_added_to_the_properties_text_as_written(tmp_path):
    """The JSON's numbers keep their digits (a JSON writer would make 1.50 1.5 and round the
    long one); a key both in the JSON and in a column is there twice, and a properties text
    that is not an object is kept as it is: staging quarantines both (billing rules §10.6)."""
    path = write_csv(
        tmp_path / "usage.csv",
        "event_id,customer_id,event_name,timestamp,properties,region\n"
        'e1,C1,egress,2026-09-15T12:00:00Z,"{""gb"": 0.12345678901234567891, ""p"": 1.50}",EU\n'
        'e2,C1,egress,2026-09-15T12:00:00Z,"{""region"": ""US""}",EU\n'
        'e3,C1,egress,2026-09-15T12:00:00Z,"[1, 2]",EU\n'
        "e4,C1,egress,2026-09-15T12:00:00Z,null,EU\n"
        'e5,C1,egress,2026-09-15T12:00:00Z,"{""a"": {""b"": 1}} ",EU\n'
        'e6,C1,egress,2026-09-15T12:00:00Z,"{ }",EU\n'
        'e7,C1,egress,2026-09-15T12:00:00Z,"{""a"": 1.0}",\n',
    )
    assert read("usage_events", "csv", path)["properties"].to_pylist() == [
        '{"gb": 0.12345678901234567891, "p": 1.50,"region":"EU"}',
        '{"region": "US","region":"EU"}',
        "[1, 2]",
        "null",
        '{"a": {"b": 1},"region":"EU"}',
        '{"region":"EU"}',
        '{"a": 1.0}',
    ]


def test_usage_events_without_extra_columns_keep_properties(tmp_path):
    path = write_csv(
        tmp_path / "usage.csv",
        "event_id,customer_id,event_name,timestamp,properties\n"
        'e1,C1,call,2026-09-15T12:00:00Z,"{""n"": 1}"\n',
    )
    assert read("usage_events", "csv", path)["properties"].to_pylist() == ['{"n": 1}']


# -- loading into the warehouse -----------------------------------------------------------------


def make_company(folder: Path) -> Path:
    data = folder / "data"
    write_csv(data / "customers.csv", "customer_id,name\nC1,Acme\nC2,Beta\nC3,Gamma\n")
    write_csv(
        data / "contracts.csv",
        "contract_id,customer_id,start_date,currency,billing_period\nK1,C1,2026-09-01,USD,P1M\n",
    )
    write_csv(data / "contract_lines.csv", "contract_id,product_id\nK1,platform\n")
    (data / "usage").mkdir()
    pq.write_table(events_table(["a", "b"], [1, 2]), data / "usage" / "part-1.parquet")
    pq.write_table(events_table(["c"], [3]), data / "usage" / "part-2.parquet")
    path = folder / "plan.yaml"
    path.write_text(PLAN, encoding="utf-8")
    return path


def test_load_dataset_into_duckdb_returns_row_count(tmp_path):
    plan = load_plan(make_company(tmp_path / "company"))
    warehouse = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    result = load_dataset(plan, warehouse, "usage_events")
    assert result.rows == 3
    assert result.connector == "parquet"
    assert warehouse.scalar("select count(*) from raw.usage_events") == 3
    # as received, with where each row came from: its watermark, batch and arrival number
    assert warehouse.columns("raw", "usage_events") == [
        *contract_columns("usage_events"),
        "_watermark",
        "_batch",
        "_received_no",
    ]
    customers = load_dataset(plan, warehouse, "customers")
    assert customers.rows == 3
    names = warehouse.query("select name from raw.customers order by customer_id")
    assert names == [("Acme",), ("Beta",), ("Gamma",)]


def test_a_row_without_an_incremental_value_is_refused_not_skipped(tmp_path):
    """A usage row whose incremental column is empty cannot be placed against the watermark:
    an incremental pull read past it without a word. The pull that brings one is refused by
    name, and loads nothing."""
    from golive.loading import load_usage_events

    path = make_company(tmp_path / "company")
    path.write_text(
        PLAN.replace(
            'path: "data/usage/*.parquet"}',
            'path: "data/usage/*.parquet", incremental_column: seq}',
        )
    )
    usage = path.parent / "data" / "usage"
    for old in usage.iterdir():
        old.unlink()

    def part(name: str, ids: list[str], seqs: list[int | None]) -> None:
        table = events_table(ids, [1] * len(ids)).append_column("seq", pa.array(seqs, pa.int64()))
        pq.write_table(table, usage / name)

    part("a.parquet", ["e1", "e2"], [1, 2])
    plan = load_plan(path)
    warehouse = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    assert load_usage_events(plan, warehouse).loaded == 2
    part("b.parquet", ["e3", "e4"], [None, 3])
    with pytest.raises(SourceError) as raised:
        load_usage_events(plan, warehouse)
    assert str(raised.value).startswith(
        "usage_events: the incremental column 'seq' has no value in 1 row(s): whether such a "
        "row is new cannot be told"
    )
    assert warehouse.query("select event_id from raw.usage_events order by 1") == [
        ("e1",),
        ("e2",),
    ]


def test_second_load_replaces_rows(tmp_path):
    path = make_company(tmp_path / "company")
    plan = load_plan(path)
    warehouse = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    assert load_dataset(plan, warehouse, "customers").rows == 3
    write_csv(path.parent / "data" / "customers.csv", "customer_id,name\nC9,Zeta\n")
    assert load_dataset(plan, warehouse, "customers").rows == 1
    assert warehouse.query("select customer_id, name from raw.customers") == [("C9", "Zeta")]


def test_optional_dataset_without_source_loads_empty(tmp_path):
    plan = load_plan(make_company(tmp_path / "company"))
    warehouse = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    result = load_dataset(plan, warehouse, "legacy_invoices")
    assert (result.rows, result.connector) == (0, None)
    assert warehouse.columns("raw", "legacy_invoices") == contract_columns("legacy_invoices")


def test_load_arrow_replaces_table(tmp_path):
    warehouse = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    assert warehouse.load_arrow("raw", "t", pa.table({"x": [1, 2, 3]})) == 3
    assert warehouse.load_arrow("raw", "t", pa.table({"x": [7]})) == 1
    assert warehouse.query("select x from raw.t") == [(7,)]


# -- identifiers and URLs -----------------------------------------------------------------------


def test_quote_ident_refuses_injection():
    assert quote_ident("usage_events") == '"usage_events"'
    with pytest.raises(ValueError, match="not a plain identifier"):
        quote_ident("x; drop table y")
    with pytest.raises(ValueError):
        quote_ident('a"b')


def test_redact_url_hides_password():
    redacted = redact_url("postgresql://u:secret@h/db")
    assert "secret" not in redacted
    assert redacted == "postgresql://u:***@h/db"
    assert redact_url("duckdb:///golive.duckdb") == "duckdb:///golive.duckdb"


@pytest.mark.parametrize(
    "key", ["password", "sslpassword", "passfile", "PWD", "token", "client_secret", "private_key"]
)
def test_every_secret_query_key_is_hidden_and_scrubbed(key):
    """A key is secret by any part of its name, so no variant (libpq's sslpassword, the
    passphrase of the client's TLS key) shows in a URL, nor its value alone in an error."""
    url = f"postgresql://u@h/db?sslmode=require&{key}=s3cret-value"
    assert redact_url(url) == f"postgresql://u@h/db?sslmode=require&{key}=***"
    warehouse = warehouse_from_url(url)
    assert "s3cret-value" not in warehouse.display_url
    assert warehouse.scrub("could not load key: s3cret-value") == "could not load key: ***"


def test_warehouse_display_url_and_unknown_scheme():
    warehouse = warehouse_from_url("postgresql://u:secret@h:5433/db")
    assert "secret" not in warehouse.display_url
    with pytest.raises(ValueError) as info:
        warehouse_from_url("mysql://u:secret@h/db")
    assert "secret" not in str(info.value)
    assert "duckdb:///" in str(info.value)


@pytest.mark.parametrize(
    ("password", "secret_parts"),
    [
        ("S3c#retXYZ", ["S3c", "retXYZ"]),
        ("S3c/retXYZ", ["S3c", "retXYZ"]),
        ("S3c?retXYZ", ["S3c", "retXYZ"]),
        ("123/retXYZ", ["retXYZ"]),  # a port Python reads, the rest in the path
        ("12?aXYZ", ["aXYZ"]),  # libpq would take it all as the password, Python would not
        ("p@ssXYZ", ["ssXYZ"]),  # libpq would take "ssXYZ@127.0.0.1" as the host
        ("S3cret%XYZ", ["S3cret", "%XYZ"]),  # libpq: "invalid percent-encoded token"
    ],
)
def test_a_password_that_needs_percent_encoding_is_refused_without_showing_it(
    password, secret_parts
):
    """A password holding a character a URL reserves spills into the host, the port or the
    path: the URL is refused before anything connects, naming the fix and no part of it."""
    url = f"postgresql://golive:{password}@127.0.0.1:5432/postgres"
    with pytest.raises(WarehouseURLError) as raised:
        warehouse_from_url(url)
    message = str(raised.value)
    assert "Fix: percent-encode the password" in message and "# as %23" in message
    assert "\n" not in message
    shown = [message, redact_url(url)]
    for part in secret_parts:
        assert not any(part in text for text in shown), (part, shown)
    assert redact_url(url) == "postgresql://***"


def test_a_percent_encoded_password_is_read_and_hidden():
    warehouse = warehouse_from_url("postgresql://golive:S3c%23ret%2FXYZ@127.0.0.1/postgres")
    assert warehouse.password == "S3c#ret/XYZ"
    assert warehouse.display_url == "postgresql://golive:***@127.0.0.1/postgres"
    assert warehouse.scrub("no: S3c#ret/XYZ, S3c%23ret%2FXYZ") == "no: ***, ***"


def test_the_run_tag_of_an_unreadable_url_shows_no_password():
    from orchestration.resources import WAREHOUSE_TAG, run_tags

    tags = run_tags(None, "postgresql://golive:S3c#retXYZ@127.0.0.1:5432/postgres")
    assert tags[WAREHOUSE_TAG] == "postgresql://***"


def test_a_nul_character_is_refused_naming_its_row_and_column(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"customer_id,name\nC1,Acme\nC2,Bad\x00Co\n")
    with pytest.raises(SourceError) as raised:
        read("customers", "csv", path)
    assert str(raised.value) == (
        "customers: row 2, column name, holds a NUL character (\\x00), which no warehouse can "
        "store the same way. Fix: remove it from the source"
    )
