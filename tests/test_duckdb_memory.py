"""GOLIVE_DUCKDB_MEMORY_LIMIT caps the memory DuckDB takes, in golive's own sessions and in
dbt's (docs/stack.md "DuckDB's memory"); a value that is not an amount is refused before
anything runs."""

from __future__ import annotations

import duckdb
import pytest

from connectors.warehouse import WarehouseURLError, warehouse_from_url
from orchestration.dbt import compile_inline

# read in dbt's session when the text compiles (run_query runs only then, not at parse time)
SETTING = (
    "{% if execute %}{{ run_query(\"select current_setting('memory_limit')\")"
    ".columns[0].values()[0] }}{% endif %}"
)


def test_the_memory_cap_reaches_golive_sessions_and_dbt(tmp_path, monkeypatch):
    monkeypatch.setenv("GOLIVE_DUCKDB_MEMORY_LIMIT", "1GiB")
    wh = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    assert wh.scalar("select current_setting('memory_limit')") == "1.0 GiB"
    assert wh.dbt_env()["GOLIVE_DUCKDB_MEMORY_LIMIT"] == "1GiB"
    # dbt's own session takes the value golive hands it (another one here, to tell them apart)
    env = wh.dbt_env() | {"GOLIVE_DUCKDB_MEMORY_LIMIT": "2GiB"}
    assert compile_inline(SETTING, env).strip() == "2.0 GiB"


def test_without_a_cap_duckdb_keeps_its_own_default(tmp_path, monkeypatch):
    monkeypatch.delenv("GOLIVE_DUCKDB_MEMORY_LIMIT", raising=False)
    wh = warehouse_from_url(f"duckdb:///{tmp_path}/w.duckdb")
    default = duckdb.connect().execute("select current_setting('memory_limit')").fetchone()[0]
    assert wh.scalar("select current_setting('memory_limit')") == default
    assert wh.dbt_env()["GOLIVE_DUCKDB_MEMORY_LIMIT"] == "80%"


@pytest.mark.parametrize("value", ["lots", "3 gigabytes", "-1GB", "3GiB;drop"])
def test_a_memory_cap_that_is_not_an_amount_says_how_to_write_it(value, monkeypatch):
    monkeypatch.setenv("GOLIVE_DUCKDB_MEMORY_LIMIT", value)
    with pytest.raises(WarehouseURLError) as raised:
        warehouse_from_url("duckdb:///w.duckdb")
    assert str(raised.value) == (
        f"GOLIVE_DUCKDB_MEMORY_LIMIT='{value}' is not an amount of memory. Fix: write it as "
        "DuckDB does, e.g. 3GiB, 3000MB or 50%, or unset it (DuckDB's own default, 80% of the "
        "machine's memory)"
    )
