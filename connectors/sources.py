"""Source connectors: read a dataset from where it lives as a stream of Arrow record batches.

Every source is normalised to the dataset's contract columns (BUNDLE.md "The datasets"), all as
text: ``raw`` keeps values exactly as received, and staging types them, so that a bad value
becomes a quarantined row with a reason instead of a failed load. A source whose columns are
named differently maps them with ``columns:`` in the plan. For ``usage_events``, columns beyond
the contract's are the event's properties and are packed into the ``properties`` JSON text.

File sources (``csv``, ``parquet``, globs allowed) are read by an in-memory DuckDB, which parses
them in parallel and streams Arrow with bounded memory.
"""

from __future__ import annotations

import contextlib
import glob
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from connectors.warehouse import quote_ident

if TYPE_CHECKING:
    from golive.plan import Source

#: The contract: every dataset's columns, required first (BUNDLE.md).
DATASET_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "customers": (
        ("customer_id", "name"),
        ("email", "country", "currency", "tax_rate_percent", "parent_customer_id", "created_at"),
    ),
    "contracts": (
        ("contract_id", "customer_id", "start_date", "currency", "billing_period"),
        (
            "end_date",
            "billing_anchor_date",
            "discount_percent",
            "minimum_commitment",
            "prepaid_credit",
            "tax_rate_percent",
        ),
    ),
    "contract_lines": (
        ("contract_id", "product_id"),
        (
            "quantity",
            "billing_timing",
            "free_units",
            "discount_percent",
            "discount_amount",
            "minimum_commitment",
            "price_override",
            "skip_zero",
            "start_date",
            "end_date",
            "prorate_commitment",
        ),
    ),
    "usage_events": (("event_id", "customer_id", "event_name", "timestamp"), ("properties",)),
    "legacy_invoices": (
        ("invoice_id", "customer_id", "period_start", "period_end", "currency", "total"),
        ("contract_id", "subtotal", "tax"),
    ),
    "legacy_invoice_lines": (("invoice_id", "product_id", "amount"), ("quantity",)),
    "legacy_journal_entries": (
        ("entry_id", "invoice_id", "account", "debit", "credit"),
        ("currency",),
    ),
}

BATCH_ROWS = 250_000


class SourceError(RuntimeError):
    """A source that cannot be read: the message names the dataset and what to fix."""


@dataclass(frozen=True)
class SourceSpec:
    """What a connector needs: the dataset, where it is (a resolved path, a table, or
    ``query``), the column mapping, the plan's source settings (the connector's own class of
    :data:`golive.plan.Source`: ``DatabaseSource``, ``SnowflakeSource``, ...; None for a file
    read without a plan) and the watermark of an incremental pull."""

    dataset: str
    connector: str
    location: str
    columns: dict[str, str]
    settings: Source | None = None
    watermark: str | None = None


def _any_ident(name: str) -> str:
    """Quote a column name found in a file (any text: it names an event property)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select_list(
    dataset: str, available: list[str], mapping: dict[str, str], keep: str | None = None
) -> str:
    required, optional = DATASET_COLUMNS[dataset]
    lower = {c.lower(): c for c in available}
    picked: list[str] = []
    used: set[str] = set()
    missing: list[str] = []
    for col in required + optional:
        src = mapping.get(col, col)
        actual = lower.get(src.lower())
        if actual is None:
            if col in required:
                missing.append(col if src == col else f"{col} (mapped to '{src}')")
            picked.append(f"cast(null as varchar) as {quote_ident(col)}")
            continue
        used.add(actual)
        picked.append(f"cast({_any_ident(actual)} as varchar) as {quote_ident(col)}")
    if missing:
        raise SourceError(
            f"{dataset}: required column(s) {', '.join(missing)} not found; the source has "
            f"{', '.join(available) or 'no columns'}. Fix: rename them, or map them with "
            f"sources.{dataset}.columns in the plan"
        )
    kept = lower.get(keep.lower()) if keep else None
    if keep and kept is None:
        raise SourceError(
            f"{dataset}: the incremental column '{keep}' is not in the source; it has "
            f"{', '.join(available)}. Fix: sources.{dataset}.incremental_column"
        )
    if kept:
        used.add(kept)  # bookkeeping, not an event property
        picked.append(f"{_any_ident(kept)} as _watermark")
    if dataset == "usage_events":
        extra = [c for c in available if c not in used]
        if extra:
            # properties given as extra columns: pack them into the JSON text (merged into a
            # properties column when the source has one too), so that nothing is dropped
            pairs = ", ".join(f"{_sql_text(c)}: {_any_ident(c)}" for c in extra)
            packed = f"to_json({{{pairs}}})"
            props = lower.get(mapping.get("properties", "properties").lower())
            if props:
                col = _any_ident(props)
                # a properties text that is not JSON is kept as it is (and quarantined)
                packed = (
                    f"case when {col} is null then cast({packed} as varchar) "
                    f"when json_valid({col}) "
                    f"then cast(json_merge_patch({col}, {packed}) as varchar) "
                    f"else cast({col} as varchar) end"
                )
            at = [i for i, p in enumerate(picked) if p.endswith(' as "properties"')][0]
            picked[at] = f"cast({packed} as varchar) as properties"
    return ", ".join(picked)


def _normalized(con, scan: str, spec: SourceSpec) -> pa.RecordBatchReader:
    """The contract-shaped, all-text stream of whatever ``scan`` (a DuckDB relation) reads."""
    import duckdb

    try:
        available = [r[0] for r in con.execute(f"describe select * from {scan}").fetchall()]
    except duckdb.Error as exc:
        raise SourceError(f"{spec.dataset}: cannot read {spec.location}: {exc}") from None
    keep = spec.settings.incremental_column if spec.settings is not None else None
    select = _select_list(spec.dataset, available, spec.columns, keep)
    where = ""
    if keep and spec.watermark is not None and spec.connector in ("csv", "parquet"):
        # files are filtered here; databases filtered in their own query (their own rules)
        literal = "'" + spec.watermark.replace("'", "''") + "'"
        where = f" where {_any_ident(keep)} > {literal}"
    return con.sql(f"select {select} from {scan}{where}").to_arrow_reader(BATCH_ROWS)


@contextlib.contextmanager
def _duckdb() -> Iterator:
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    try:
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def read_file_source(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Stream a csv/parquet file or glob as contract-shaped Arrow batches (all text)."""
    files = sorted(glob.glob(spec.location))
    if not files:
        raise SourceError(f"{spec.dataset}: no file matches {spec.location}. Fix: check the path")
    with _duckdb() as con:
        file_list = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        if spec.connector == "csv":
            scan = f"read_csv({file_list}, all_varchar = true, header = true, union_by_name = true)"
        else:
            scan = f"read_parquet({file_list}, union_by_name = true)"
        yield _normalized(con, scan, spec)


@contextlib.contextmanager
def read_arrow_source(
    spec: SourceSpec, batches: pa.RecordBatchReader
) -> Iterator[pa.RecordBatchReader]:
    """Normalise a connector's Arrow stream (a database table or query) to the contract."""
    with _duckdb() as con:
        con.register("_golive_source", batches)
        yield _normalized(con, "_golive_source", spec)


#: connector name -> function(spec) returning the source's raw Arrow stream (a context manager)
DATABASE_CONNECTORS: dict[str, str] = {
    "postgres": "connectors.databases:extract_database",
    "mysql": "connectors.databases:extract_database",
    "snowflake": "connectors.snowflake:extract_snowflake",
    "bigquery": "connectors.bigquery:extract_bigquery",
}


@contextlib.contextmanager
def open_source(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Open any configured source as a stream of contract-shaped Arrow batches (all text)."""
    if spec.connector in ("csv", "parquet"):
        with read_file_source(spec) as reader:
            yield reader
        return
    target = DATABASE_CONNECTORS.get(spec.connector)
    if target is None:
        raise SourceError(f"{spec.dataset}: unknown connector '{spec.connector}'")
    import importlib

    module_name, func_name = target.split(":")
    extract = getattr(importlib.import_module(module_name), func_name)
    with extract(spec) as batches, read_arrow_source(spec, batches) as reader:
        yield reader
