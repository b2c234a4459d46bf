"""Source connectors: read a dataset from where it lives as a stream of Arrow record batches.

Every source is normalised to the dataset's contract columns (docs/plan-and-datasets.md "The
datasets"), all as text: ``raw`` keeps values exactly as received, and staging types them, so that a
bad value becomes a quarantined row with a reason instead of a failed load. A source whose columns
are named differently maps them with ``columns:`` in the plan. For ``usage_events``, columns beyond
the contract's are the event's properties and are packed into the ``properties`` JSON text.

File sources (``csv``, ``parquet``, globs allowed) stream with bounded memory: csv files are
parsed by pyarrow's streaming CSV reader (RFC 4180: a row with more fields than the header is an
error, never dropped; LF, CRLF and CR line ends, mixed too; the file's encoding as the plan says),
parquet by DuckDB; both are normalised to the contract by an in-memory DuckDB.

An incremental pull (``incremental_column``) compares the column in its real type, never as
text (as text, ``2001`` sorts before ``999``): :class:`Watermark` holds the greatest value
pulled and the kind it is compared as, and :class:`WatermarkTracker` finds both while the rows
stream past.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from connectors.warehouse import quote_ident

if TYPE_CHECKING:
    from golive.plan import Source

#: The contract: every dataset's columns, required first (docs/plan-and-datasets.md "The datasets").
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
            "maximum_commitment",
            "prorate_commitment",
            "coupon_id",
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
            "maximum_amount",
            "tax_rate_percent",
            "tax_code",
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
    "legacy_revenue_schedule": (
        ("invoice_id", "account", "recognition_date", "amount"),
        ("currency",),
    ),
}

BATCH_ROWS = 250_000


class SourceError(RuntimeError):
    """A source that cannot be read: the message names the dataset and what to fix."""


_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$")
WATERMARK_KINDS = ("integer", "decimal", "timestamp")


@dataclass(frozen=True)
class Watermark:
    """The greatest value of the incremental column pulled so far, and how it compares.

    ``kind`` is ``integer``, ``decimal`` or ``timestamp``; ``value`` its canonical text (digits,
    a plain decimal, or an ISO 8601 timestamp, UTC when the source's values carry a zone).
    """

    kind: str
    value: str

    def __post_init__(self) -> None:
        ok = {
            "integer": _INTEGER.match(self.value),
            "decimal": _DECIMAL.match(self.value),
            "timestamp": re.match(
                r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+)?(Z|[+-][0-9:]+)?$", self.value
            ),
        }.get(self.kind)
        if not ok:
            raise SourceError(f"not a {self.kind} watermark: '{self.value}'")

    def literal(self) -> str:
        """The value as a SQL literal (already validated: digits, or a quoted ISO text)."""
        return self.value if self.kind != "timestamp" else f"'{self.value}'"

    def typed_sql(self, column: str) -> str:
        """``column`` (SQL text) as DuckDB compares it with this watermark."""
        target = {"integer": "hugeint", "decimal": "decimal(38, 10)", "timestamp": "timestamptz"}
        return f"try_cast({column} as {target[self.kind]})"


class WatermarkTracker:
    """Watches the ``_watermark`` column of the batches a pull streams: decides its kind on
    the first pull (an Arrow number or timestamp type; for text, integers or decimals or ISO
    timestamps throughout, else the pull is refused) and keeps the greatest value."""

    def __init__(self, dataset: str, column: str, previous: Watermark | None):
        self.dataset, self.column = dataset, column
        self.kind = previous.kind if previous else None
        self.best: Decimal | dt.datetime | None = None

    def _refuse(self, example: object) -> SourceError:
        wanted = {"integer": "an integer", "decimal": "a number", "timestamp": "a timestamp"}
        return SourceError(
            f"{self.dataset}: the incremental column '{self.column}' holds {example!r}, which is "
            f"not {wanted.get(self.kind or '', 'a number or a timestamp')}: "
            "compared as text, '2001' would sort before '999' and new rows would never load. "
            f"Fix: point sources.{self.dataset}.incremental_column at an ingestion sequence or a "
            "timestamp column"
        )

    def refuse_missing(self, rows: int) -> None:
        """Refuse a pull with rows that have no value in the incremental column: whether such
        a row is new cannot be told, and a later pull would skip it without a word."""
        if rows:
            raise SourceError(
                f"{self.dataset}: the incremental column '{self.column}' has no value in "
                f"{rows} row(s): whether such a row is new cannot be told, and an incremental "
                f"pull would skip it. Nothing was loaded. Fix: give every row a value in "
                f"'{self.column}' (an ingestion sequence or a load timestamp), or remove "
                f"sources.{self.dataset}.incremental_column"
            )

    def observe(self, values: pa.Array) -> None:
        self.refuse_missing(values.null_count)
        values = values.drop_null()
        if len(values) == 0:
            return
        if pa.types.is_integer(values.type):
            kind, typed = "integer", [Decimal(int(v)) for v in (pc.max(values).as_py(),)]
        elif pa.types.is_decimal(values.type) or pa.types.is_floating(values.type):
            kind, typed = "decimal", [Decimal(str(pc.max(values).as_py()))]
        elif pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
            kind, typed = "timestamp", [pc.max(values).as_py()]
        else:
            text = pc.utf8_trim_whitespace(values.cast(pa.string()))
            kind, typed = self._text_kind(text)
        if self.kind is None:
            self.kind = kind
        elif kind != self.kind and not (self.kind == "decimal" and kind == "integer"):
            raise self._refuse(values[0].as_py())
        best = max(typed)
        if self.best is None or best > self.best:
            self.best = best

    def _text_kind(self, text: pa.Array) -> tuple[str, list]:
        for kind, pattern in (("integer", _INTEGER), ("decimal", _DECIMAL)):
            if self.kind in (None, kind) or (kind == "integer" and self.kind == "decimal"):
                ok = pc.match_substring_regex(text, pattern.pattern)
                if pc.all(ok).as_py():
                    numbers = [Decimal(v) for v in text.to_pylist()]
                    return kind, [max(numbers)]
        try:
            stamps = pc.cast(text, pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = next(
                (v for v in text.to_pylist() if not _INTEGER.match(v) and not _DECIMAL.match(v)),
                text[0].as_py(),
            )
            raise self._refuse(bad) from None
        return "timestamp", [pc.max(stamps).as_py()]

    def watermark(self) -> Watermark | None:
        """The watermark after this pull (None when it pulled nothing)."""
        if self.best is None:
            return None
        if self.kind == "timestamp":
            return Watermark("timestamp", self.best.isoformat())
        text = format(self.best, "f")
        return Watermark(self.kind, text)


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
    watermark: Watermark | None = None
    #: files of a glob read whole by earlier pulls (an incremental pull skips them)
    skip_files: frozenset[str] = field(default_factory=frozenset)


def _any_ident(name: str) -> str:
    """Quote a column name found in a file (any text: it names an event property)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def contract_columns(
    dataset: str, available: list[str], mapping: dict[str, str], keep: str | None = None
) -> tuple[list[tuple[str, str | None]], str | None]:
    """Which source column gives each contract column (None: an optional one it lacks), as
    the plan's mapping says, names compared case-insensitively; and the source's incremental
    column (``keep``). A required column or the incremental column missing is an error."""
    required, optional = DATASET_COLUMNS[dataset]
    lower = {c.lower(): c for c in available}
    pairs: list[tuple[str, str | None]] = []
    missing: list[str] = []
    for col in required + optional:
        src = mapping.get(col, col)
        actual = lower.get(src.lower())
        if actual is None and col in required:
            missing.append(col if src == col else f"{col} (mapped to '{src}')")
        pairs.append((col, actual))
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
    return pairs, kept


def _select_list(
    dataset: str, available: list[str], mapping: dict[str, str], keep: str | None = None
) -> str:
    lower = {c.lower(): c for c in available}
    pairs, kept = contract_columns(dataset, available, mapping, keep)
    picked: list[str] = []
    used: set[str] = set()
    for col, actual in pairs:
        if actual is None:
            picked.append(f"cast(null as varchar) as {quote_ident(col)}")
            continue
        used.add(actual)
        picked.append(f"cast({_any_ident(actual)} as varchar) as {quote_ident(col)}")
    if kept:
        used.add(kept)  # bookkeeping, not an event property
        picked.append(f"{_any_ident(kept)} as _watermark")
    if dataset == "usage_events":
        extra = [c for c in available if c not in used]
        if extra:
            # properties given as extra columns: pack them into the JSON text (merged into a
            # properties column when the source has one too), so that nothing is dropped
            # an empty cell is no property (it must not erase one the properties column has)
            entries = ", ".join(
                f"{{'k': {_sql_text(c)}, 'v': to_json({_any_ident(c)})}}" for c in extra
            )
            packed = (
                f"to_json(map_from_entries(list_filter([{entries}], "
                "lambda e: e.v is not null and e.v::varchar not in ('null', '\"\"'))))"
            )
            props = lower.get(mapping.get("properties", "properties").lower())
            if props:
                col = _any_ident(props)
                # the columns' entries are added to the object's text as written, never
                # through a JSON writer (it would rewrite 1.50 as 1.5 and round long numbers);
                # a key both in the object and in a column is then there twice, and the event
                # is quarantined as such (which value is meant cannot be told). A properties
                # text that is not a JSON object is kept as it is (and quarantined)
                packed = (
                    f"(select case when nullif(trim({col}), '') is null then packed "
                    f"when not coalesce(json_valid({col}), false) "
                    f"or json_type({col}) <> 'OBJECT' or packed = '{{}}' "
                    f"then cast({col} as varchar) "
                    f"when len(json_keys({col})) = 0 then packed "
                    f"else regexp_replace({col}, '}}[[:space:]]*$', '') || ',' "
                    f"|| substr(packed, 2) end "
                    f"from (select cast({packed} as varchar) as packed))"
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
        # files are filtered here, in the column's real type (databases in their own query);
        # a value that is not of that type, or none, is kept, so that the pull refuses it by
        # name (WatermarkTracker) instead of skipping the row
        column = _any_ident(_actual(available, keep))
        typed = spec.watermark.typed_sql(column)
        where = (
            f" where {typed} >= {spec.watermark.typed_sql(spec.watermark.literal())} "
            f"or {typed} is null"
        )
    return con.sql(f"select {select} from {scan}{where}").to_arrow_reader(BATCH_ROWS)


def _actual(available: list[str], name: str) -> str:
    return {c.lower(): c for c in available}[name.lower()]


@contextlib.contextmanager
def _duckdb() -> Iterator:
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    try:
        yield con
    finally:
        con.close()


def file_list(spec: SourceSpec) -> list[str]:
    """The files a file source reads, in name order (an incremental pull leaves out the ones
    earlier pulls read whole and that have not changed since)."""
    files = sorted(glob.glob(spec.location))
    if not files:
        raise SourceError(f"{spec.dataset}: no file matches {spec.location}. Fix: check the path")
    return [f for f in files if f not in spec.skip_files]


def _encoding(spec: SourceSpec) -> str:
    return getattr(spec.settings, "encoding", None) or "utf-8"


def refuse_repeated_names(dataset: str, where: str, names: list[str]) -> None:
    """Refuse a source whose columns repeat a name: columns are matched case-insensitively
    (and warehouses fold case), so ``name`` and ``Name`` are one name twice, and which column
    is meant cannot be told."""
    seen: dict[str, list[str]] = {}
    for name in names:
        seen.setdefault(name.lower(), []).append(name)
    twice = [spelled for spelled in seen.values() if len(spelled) > 1]
    if twice:
        named = "; ".join(
            f"{spelled[0]} twice" if len(set(spelled)) == 1 else " and ".join(spelled)
            for spelled in twice
        )
        raise SourceError(
            f"{dataset}: {where}: the columns name {named} (names are compared "
            "case-insensitively); which column is meant cannot be told. Fix: rename one"
        )


def _csv_header(path: str, encoding: str, dataset: str) -> list[str]:
    with open(path, newline="", encoding=encoding) as f:
        try:
            header = next(csv.reader(f), [])
        except UnicodeDecodeError:
            raise _not_encoded(path, encoding, dataset) from None
    # a byte order mark (Excel's "CSV UTF-8") is not part of the first name: the csv reader
    # drops it too, and the names must be the reader's for every column to stay text
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    refuse_repeated_names(dataset, f"{path}: the header", header)
    return header


def _not_encoded(path: str, encoding: str, dataset: str) -> SourceError:
    """Name the first line of a file that is not in ``encoding`` (and what it holds)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as exc:
                return SourceError(
                    f"{dataset}: {path} line {number} is not {encoding} text (byte "
                    f"0x{line[exc.start]:02x} at position {exc.start + 1}: {line[:80]!r}). Fix: "
                    f"save the file as UTF-8, or set sources.{dataset}.encoding (e.g. latin-1)"
                )
    return SourceError(f"{dataset}: {path} is not {encoding} text")


def _csv_batches(path: str, spec: SourceSpec) -> pa.RecordBatchReader:
    """One csv file as Arrow batches of text, every value as written ('' stays '')."""
    import pyarrow.csv as pacsv

    encoding = _encoding(spec)
    names = _csv_header(path, encoding, spec.dataset)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, spec, exc) from None
    # every column as written: a column the reader named otherwise than the header read here
    # would have its type guessed (leading zeros, long ids and decimals changed), never that
    guessed = [f.name for f in reader.schema if not pa.types.is_string(f.type)]
    if guessed:
        reader.close()
        raise SourceError(
            f"{spec.dataset}: {path}: column(s) {', '.join(guessed)} could not be read as text "
            "as written (the header's names differ from the reader's). Nothing was loaded. "
            "Fix: save the file as plain UTF-8 csv and report this file to golive's maintainers"
        )
    return reader


def _csv_error(path: str, spec: SourceSpec, exc: Exception) -> SourceError:
    if "UTF8" in str(exc) or "utf8" in str(exc).lower():
        return _not_encoded(path, _encoding(spec), spec.dataset)
    return SourceError(
        f"{spec.dataset}: {path} is not a well-formed csv file ({exc}). Nothing was loaded. "
        "Fix: every row needs as many fields as the header, quotes closed"
    )


def _text_schema(spec: SourceSpec) -> pa.Schema:
    """The normalised shape of a csv source: the contract's columns (and the watermark), text."""
    required, optional = DATASET_COLUMNS[spec.dataset]
    names = [*required, *optional]
    if spec.settings is not None and getattr(spec.settings, "incremental_column", None):
        names.append("_watermark")
    return pa.schema([pa.field(n, pa.string()) for n in names])


def _csv_stream(files: list[str], spec: SourceSpec, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    with _duckdb() as con:
        for path in files:
            con.register("_golive_file", _csv_batches(path, spec))
            normalized = _normalized(con, "_golive_file", spec)
            try:
                while True:
                    try:
                        batch = normalized.read_next_batch()
                    except StopIteration:
                        break
                    except Exception as exc:  # the CSV reader's error, raised mid-stream
                        message = str(exc)
                        if "CSV" in message or "UTF8" in message or "utf8" in message.lower():
                            raise _csv_error(path, spec, exc) from None
                        raise
                    yield batch.cast(schema)
            finally:
                normalized.close()
                con.unregister("_golive_file")


@contextlib.contextmanager
def read_file_source(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Stream a csv/parquet file or glob as contract-shaped Arrow batches (all text)."""
    files = file_list(spec)
    if not files:
        yield _empty_reader(spec)
        return
    if spec.connector == "csv":
        schema = _text_schema(spec)
        yield pa.RecordBatchReader.from_batches(schema, _csv_stream(files, spec, schema))
        return
    import pyarrow.parquet as pq

    for path in files:
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowInvalid, OSError):
            continue  # not parquet: DuckDB's scan below says so, naming the file
        refuse_repeated_names(spec.dataset, path, names)
    with _duckdb() as con:
        listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        # text written as plain BINARY (no UTF8 annotation, as some writers do) is read as the
        # text it is; cast as bytes it would load as escapes ('M\\xC3\\xBCller'), and a value
        # that is not UTF-8 fails the load naming the file
        scan = f"read_parquet({listed}, union_by_name = true, binary_as_string = true)"
        yield _normalized(con, scan, spec)


def _empty_reader(spec: SourceSpec) -> pa.RecordBatchReader:
    """No new file to read: the contract's columns and no rows."""
    required, optional = DATASET_COLUMNS[spec.dataset]
    fields = [pa.field(c, pa.string()) for c in required + optional]
    if spec.settings is not None and getattr(spec.settings, "incremental_column", None):
        fields.append(pa.field("_watermark", pa.string()))
    return pa.RecordBatchReader.from_batches(pa.schema(fields), iter([]))


@contextlib.contextmanager
def read_arrow_source(
    spec: SourceSpec, batches: pa.RecordBatchReader
) -> Iterator[pa.RecordBatchReader]:
    """Normalise a connector's Arrow stream (a database table or query) to the contract."""
    refuse_repeated_names(spec.dataset, spec.location, batches.schema.names)
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


def nul_refused(dataset: str, where: str) -> SourceError:
    """The error for a text value with a NUL character (``\\x00``), ``where`` naming it (a
    row and column, or a column): the rule for the rows read through golive and in place."""
    return SourceError(
        f"{dataset}: {where} holds a NUL character (\\x00), which no warehouse can store the "
        "same way. Fix: remove it from the source"
    )


def refuse_nul(dataset: str, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """The same stream, refusing a text value with a NUL character (``\\x00``): PostgreSQL cannot
    store one, so the warehouses would disagree; the error names the row and the column."""
    text_columns = [
        i
        for i, f in enumerate(reader.schema)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]

    def batches() -> Iterator[pa.RecordBatch]:
        seen = 0
        for batch in reader:
            for i in text_columns:
                found = pc.match_substring(batch.column(i), "\x00")
                if pc.any(found).as_py():
                    row = found.to_pylist().index(True)
                    where = f"row {seen + row + 1}, column {reader.schema.field(i).name},"
                    raise nul_refused(dataset, where)
            seen += batch.num_rows
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


@contextlib.contextmanager
def open_source(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Open any configured source as a stream of contract-shaped Arrow batches (all text)."""
    if spec.connector in ("csv", "parquet"):
        with read_file_source(spec) as reader:
            yield refuse_nul(spec.dataset, reader)
        return
    target = DATABASE_CONNECTORS.get(spec.connector)
    if target is None:
        raise SourceError(f"{spec.dataset}: unknown connector '{spec.connector}'")
    import importlib

    module_name, func_name = target.split(":")
    extract = getattr(importlib.import_module(module_name), func_name)
    with extract(spec) as batches, read_arrow_source(spec, batches) as reader:
        yield refuse_nul(spec.dataset, reader)
