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

import pyarrow as pa

from connectors.warehouse import quote_ident

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
    """What a connector needs: the dataset, where it is, and the column mapping."""

    dataset: str
    connector: str
    location: str
    columns: dict[str, str]


def _any_ident(name: str) -> str:
    """Quote a column name found in a file (any text: it names an event property)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select_list(dataset: str, available: list[str], mapping: dict[str, str]) -> str:
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
            f"{', '.join(available)}. Fix: rename them, or map them with "
            f"sources.{dataset}.columns in the plan"
        )
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
            picked[-1] = f"cast({packed} as varchar) as properties"
    return ", ".join(picked)


@contextlib.contextmanager
def read_file_source(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Stream a csv/parquet file or glob as contract-shaped Arrow batches (all text)."""
    import duckdb

    files = sorted(glob.glob(spec.location))
    if not files:
        raise SourceError(f"{spec.dataset}: no file matches {spec.location}. Fix: check the path")
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    try:
        file_list = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        if spec.connector == "csv":
            scan = f"read_csv({file_list}, all_varchar = true, header = true, union_by_name = true)"
        else:
            scan = f"read_parquet({file_list}, union_by_name = true)"
        try:
            available = [r[0] for r in con.execute(f"describe select * from {scan}").fetchall()]
        except duckdb.Error as exc:
            raise SourceError(f"{spec.dataset}: cannot read {spec.location}: {exc}") from None
        select = _select_list(spec.dataset, available, spec.columns)
        yield con.sql(f"select {select} from {scan}").to_arrow_reader(BATCH_ROWS)
    finally:
        con.close()


@contextlib.contextmanager
def open_source(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Open any configured source as a stream of Arrow batches."""
    if spec.connector in ("csv", "parquet"):
        with read_file_source(spec) as reader:
            yield reader
        return
    raise SourceError(
        f"{spec.dataset}: connector '{spec.connector}' is not available in this version; "
        "use csv or parquet"
    )
