"""Snowflake source: a table or a query as a stream of Arrow batches.

Account, user and password come from the environment variables the plan names (``account_env``,
``user_env``, ``password_env``), never from the plan itself, and the password never appears in
a message: errors name the source and the variables, and the driver's text is scrubbed of it.
``database``, ``schema``, ``warehouse`` and ``role`` set the session; ``host``, ``port`` and
``protocol`` reach a private endpoint (or a local fake in tests) instead of the account's.

A ``table`` is ``table``, ``schema.table`` or ``database.schema.table``. Each part is either a
plain identifier, resolved as Snowflake resolves it (case-insensitively: ``billing.customers``
reads ``BILLING.CUSTOMERS``), or a double-quoted one kept exactly (``"Billing"."customers"``);
anything else is refused, so a plan cannot inject SQL through a table name (a ``query`` is the
plan author's own SQL, run as it is).

Rows stream from Snowflake's result chunks (``fetch_arrow_batches``) with bounded memory.
Column names Snowflake stores in upper case (every unquoted identifier) arrive in lower case,
as the contract and event properties name them (``CUSTOMER_ID`` -> ``customer_id``, a usage
column ``REGION`` -> property ``region``); a name with a lower-case letter is kept as it is.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pyarrow as pa

from connectors.sources import BATCH_ROWS, SourceError, SourceSpec, contract_columns
from golive.plan import SnowflakeSource

_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_TABLE = re.compile(rf"^{_PART}(?:\.{_PART}){{0,2}}$")
_COLUMN = re.compile(rf"^{_PART}$")

#: seconds to wait for the login before giving up
LOGIN_TIMEOUT = 60

_CREDENTIALS = (
    ("account_env", "account identifier"),
    ("user_env", "user name"),
    ("password_env", "password"),
)


def snowflake_settings(spec: SourceSpec) -> SnowflakeSource:
    """The plan's settings of a snowflake source, or a clear error for any other."""
    if not isinstance(spec.settings, SnowflakeSource):
        raise SourceError(
            f"{spec.dataset}: connector {spec.connector} needs the plan's snowflake source "
            "settings (account_env, user_env, password_env, and table or query)"
        )
    return spec.settings


def _ident(part: str) -> str:
    """One identifier part, quoted: plain ones upper-cased as Snowflake resolves them."""
    return part if part.startswith('"') else f'"{part.upper()}"'


def quoted_table(name: str) -> str:
    """``[database.][schema.]table`` from the plan, validated and quoted."""
    if not _TABLE.match(name):
        raise SourceError(
            f"'{name}' is not a Snowflake table name ([database.][schema.]table; letters, "
            'digits, _ and $, or a "double-quoted" name). Fix: correct sources.<dataset>.table, '
            "or use query"
        )
    return ".".join(_ident(p) for p in re.findall(_PART, name))


def quoted_column(name: str) -> str:
    """A column name from the plan, validated and quoted."""
    if not _COLUMN.match(name):
        raise SourceError(
            f"'{name}' is not a Snowflake column name (letters, digits, _ and $, "
            'or a "double-quoted" name)'
        )
    return _ident(name)


def source_query(spec: SourceSpec, table: str | None = None) -> str:
    """The SQL that reads the source: its table (or query), after the watermark if any;
    ``table``, already quoted, names the table another way (fully qualified, in place)."""
    settings = snowflake_settings(spec)
    if settings.table:
        base = f"select * from {table or quoted_table(settings.table)}"
    else:
        base = settings.query.strip().rstrip(";").rstrip()
    if settings.incremental_column and spec.watermark is not None:
        column = quoted_column(settings.incremental_column)
        # in the column's own type; >= re-reads the ties at the watermark, the load skips them;
        # a row without a value is read too, so that the pull refuses it instead of skipping it
        base = (
            f"select * from ({base}) as golive_source "
            f"where {column} >= {spec.watermark.literal()} or {column} is null"
        )
    return base


def credentials(spec: SourceSpec) -> dict[str, str]:
    """Account, user and password from the environment variables the plan names."""
    settings = snowflake_settings(spec)
    values = {}
    for field, what in _CREDENTIALS:
        name = getattr(settings, field)
        if not name:
            raise SourceError(
                f"{spec.dataset}: sources.{spec.dataset}.{field} is missing. Fix: name the "
                f"environment variable that holds the Snowflake {what}"
            )
        value = os.environ.get(name)
        if not value:
            raise SourceError(
                f"{spec.dataset}: the environment variable {name} "
                f"(sources.{spec.dataset}.{field}) is not set. Fix: export it with the "
                f"Snowflake {what}"
            )
        values[field.removesuffix("_env")] = value
    return values


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` without any of the secrets (as written, or URL-encoded)."""
    variants = {v for s in secrets if s for v in (s, quote(s, safe=""))}
    for secret in sorted(variants, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _connect_args(spec: SourceSpec, creds: dict[str, str]) -> dict:
    settings = snowflake_settings(spec)
    args = dict(
        creds,
        login_timeout=LOGIN_TIMEOUT,
        # NUMBER(p, s) as exact decimals, not floats: money must stay exact
        arrow_number_to_decimal=True,
        session_parameters={"QUERY_TAG": "golive"},
    )
    for key, value in (
        ("database", settings.database),
        ("schema", settings.schema_),
        ("warehouse", settings.warehouse),
        ("role", settings.role),
        ("host", settings.host),
        ("port", settings.port),
        ("protocol", settings.protocol),
    ):
        if value is not None:
            args[key] = value
    return args


def _column_names(names: list[str]) -> list[str]:
    """Snowflake's names, the upper-case ones (unquoted identifiers) in lower case."""
    taken = set(names)
    out = []
    for name in names:
        lower = name.lower()
        if name == name.upper() and lower != name and lower not in taken:
            taken.add(lower)
            name = lower
        out.append(name)
    return out


def _widened(schema: pa.Schema, names: list[str]) -> pa.Schema:
    """The stream's schema: Snowflake sends each chunk's integers in the narrowest type that
    holds them, so integers become int64 and floats float64 for every chunk to fit."""
    fields = []
    for name, field in zip(names, schema, strict=True):
        kind = field.type
        if pa.types.is_integer(kind):
            kind = pa.int64()
        elif pa.types.is_floating(kind):
            kind = pa.float64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _stream(spec: SourceSpec, cursor, password: str) -> pa.RecordBatchReader:
    """The cursor's result chunks as one Arrow stream of a fixed schema."""
    names = _column_names([d.name for d in cursor.description or []])
    chunks = cursor.fetch_arrow_batches()
    first = next(chunks, None)
    if first is None:  # no rows: the description still gives the columns
        schema = pa.schema([pa.field(n, pa.string()) for n in names])
        return pa.RecordBatchReader.from_batches(schema, iter(()))
    schema = _widened(first.schema, names)

    def batches() -> Iterator[pa.RecordBatch]:
        chunk = first
        while chunk is not None:
            try:
                table = chunk.rename_columns(names).cast(schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SourceError(
                    f"{spec.dataset}: a result chunk from snowflake does not fit the first "
                    f"one's columns ({exc})"
                ) from None
            yield from table.to_batches(max_chunksize=BATCH_ROWS)
            try:
                chunk = next(chunks, None)
            except Exception as exc:  # a chunk download failed: its text may hold anything
                raise SourceError(
                    f"{spec.dataset}: reading from snowflake failed: {scrub(str(exc), [password])}"
                ) from None

    return pa.RecordBatchReader.from_batches(schema, batches())


@contextlib.contextmanager
def extract_snowflake(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Stream a Snowflake table or query as Arrow record batches; the connection closes when
    the block ends."""
    import snowflake.connector

    settings = snowflake_settings(spec)
    creds = credentials(spec)
    sql = source_query(spec)
    password = creds["password"]
    with contextlib.ExitStack() as stack:
        try:
            connection = snowflake.connector.connect(**_connect_args(spec, creds))
            stack.callback(connection.close)
            cursor = connection.cursor()
            stack.callback(cursor.close)
            cursor.execute(sql)
            reader = _stream(spec, cursor, password)
        except SourceError:
            raise
        except Exception as exc:  # the driver's message may hold anything it was given
            raise SourceError(
                f"{spec.dataset}: cannot read from snowflake "
                f"({settings.location}; account from ${settings.account_env}, "
                f"user from ${settings.user_env}): {scrub(str(exc), [password])}"
            ) from None
        yield reader


# ----------------------------------------------------------------------- reading in place
#
# A Snowflake table in the account the warehouse is in is copied into ``raw`` by the warehouse
# itself (``create table as select``): no row goes through golive. The text each column becomes
# is written by Snowflake, so only types whose text is defined by an explicit format (or is the
# value itself) are read this way; a source with any other column is pulled through golive.

#: the connector's type name -> how the value is written as text in place ({} is the column)
_IN_PLACE_TEXT = {
    "TEXT": "cast({} as varchar)",
    "FIXED": "cast({} as varchar)",  # NUMBER(p, s): its digits with s decimals
    "BOOLEAN": "cast({} as varchar)",
    "DATE": "to_varchar({}, 'YYYY-MM-DD')",
    "TIMESTAMP_NTZ": "to_varchar({}, 'YYYY-MM-DD HH24:MI:SS.FF6')",
    "TIMESTAMP_LTZ": "to_varchar(convert_timezone('UTC', {}), 'YYYY-MM-DD HH24:MI:SS.FF6') "
    "|| '+00:00'",
    "TIMESTAMP_TZ": "to_varchar(convert_timezone('UTC', {}), 'YYYY-MM-DD HH24:MI:SS.FF6') "
    "|| '+00:00'",
}
#: a semi-structured column is read in place as its JSON text only for event properties
_IN_PLACE_JSON = ("VARIANT", "OBJECT")

IN_PLACE_LABEL = "snowflake (in place)"


@dataclass(frozen=True)
class InPlaceRead:
    """How a warehouse in the source's account reads it: ``columns``, a select list over the
    fully qualified ``table``, gives the contract's columns as text (and, with an incremental
    column, ``_watermark`` as text and ``_watermark_value`` in its own type); ``order`` lists
    them in a deterministic order, for the arrival numbers of usage events."""

    table: str
    columns: str
    order: str

    def select(self, spec: SourceSpec) -> str:
        """The query the warehouse runs: the rows after ``spec.watermark``, as text."""
        return f"select {self.columns} from ({source_query(spec, self.table)}) as golive_source"


def _qualified(settings: SnowflakeSource) -> str | None:
    """The source table as ``database.schema.table`` (quoted), or None when the plan leaves
    the database to the source user's default. A name that is not a table name is refused as
    :func:`quoted_table` refuses it."""
    quoted_table(settings.table or "")
    parts = re.findall(_PART, settings.table or "")
    if not parts:
        return None
    if len(parts) < 3:
        schema = settings.schema_ or "PUBLIC"
        parts = ([schema] if len(parts) == 1 else []) + parts
        if not settings.database:
            return None
        parts = [settings.database, *parts]
    return ".".join(_ident(p) for p in parts)


def in_place_read(spec: SourceSpec, warehouse) -> InPlaceRead | str:
    """How ``warehouse`` (a :class:`connectors.warehouse.SnowflakeWarehouse`) reads the source
    in place, or why it cannot (the rows are then pulled through golive): another account or
    endpoint, ``read_in_place: false``, a query, or a column of a type it does not write as
    text here (FLOAT, TIME, BINARY, ...)."""
    settings = snowflake_settings(spec)
    if not settings.read_in_place:
        return "read_in_place is false"
    account = os.environ.get(settings.account_env or "", "")
    if account.lower() != warehouse.account.lower() or (settings.host, settings.port) != (
        warehouse.host,
        warehouse.port,
    ):
        return "the source is in another Snowflake account (or behind another endpoint)"
    if not settings.table:
        return "a query source runs in its own session; only a table is read in place"
    table = _qualified(settings)
    if table is None:
        return "the plan names no database for the table (set database, or database.schema.table)"
    try:
        with warehouse.connect() as con:
            described = warehouse.column_kinds_in(con, f"select * from {table}")
    except Exception as exc:  # no grant, no such table: say so, with the fix
        raise SourceError(
            f"{spec.dataset}: the warehouse cannot read {table} in place "
            f"({warehouse.scrub(str(exc))}). Fix: grant select on it to the warehouse's role, "
            f"or set sources.{spec.dataset}.read_in_place: false to pull it with the source's "
            "own credentials"
        ) from None
    names = _column_names([name for name, _ in described])
    kinds = {name: kind for name, (_, kind) in zip(names, described, strict=True)}
    quoted = {
        name: f'"{raw.replace(chr(34), chr(34) * 2)}"'
        for name, (raw, _) in zip(names, described, strict=True)
    }
    pairs, kept = contract_columns(spec.dataset, names, spec.columns, settings.incremental_column)
    used = {actual for _, actual in pairs if actual} | ({kept} if kept else set())
    extra = [n for n in names if n not in used] if spec.dataset == "usage_events" else []

    def text(column: str, contract: str) -> str | None:
        kind = kinds[column]
        if kind in _IN_PLACE_JSON and contract == "properties":
            return f"to_json({quoted[column]})"
        pattern = _IN_PLACE_TEXT.get(kind)
        return pattern.format(quoted[column]) if pattern else None

    packed = None
    if extra:
        # columns beyond the contract are event properties (as golive packs them when the rows
        # go through it): numbers and booleans as JSON values, the rest as text, an empty or
        # missing value as no property (object_construct leaves out a NULL)
        if dict(pairs).get("properties"):
            return "it has a properties column and property columns, which golive merges"
        entries = []
        for column in extra:
            kind = kinds[column]
            if kind in ("FIXED", "BOOLEAN"):
                value = quoted[column]
            elif kind == "TEXT":
                value = f"nullif({quoted[column]}, '')"
            elif kind in _IN_PLACE_TEXT:
                value = text(column, column)
            else:
                return f"column {column} is {kinds[column]}, whose text golive writes itself"
            name = column.replace("'", "''")
            entries.append(f"'{name}', {value}")
        packed = f"to_json(object_construct({', '.join(entries)}))"

    select: list[str] = []
    order: list[str] = []
    for contract, actual in pairs:
        if contract == "properties" and packed:
            select.append(f'{packed} as "properties"')
            order.append('"properties"')
            continue
        if actual is None:
            select.append(f'cast(null as varchar) as "{contract}"')
            continue
        expression = text(actual, contract)
        if expression is None:
            return f"column {actual} is {kinds[actual]}, whose text golive writes itself"
        select.append(f'{expression} as "{contract}"')
        order.append(f'"{contract}"')
    if kept:
        expression = text(kept, "_watermark")
        if expression is None:
            return f"the incremental column {kept} is {kinds[kept]}"
        select.append(f'{expression} as "_watermark"')
        select.append(f'{quoted[kept]} as "_watermark_value"')
        order.insert(0, '"_watermark_value"')
    return InPlaceRead(table=table, columns=", ".join(select), order=", ".join(order))
