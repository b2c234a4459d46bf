"""The warehouse golive writes to: embedded DuckDB (default) or PostgreSQL, chosen by URL.

Data moves in and out as Arrow. Loads replace a table atomically (one transaction), so a failed
load leaves the previous table as it was. Connections are opened per operation and closed
again: DuckDB allows one writing process per file, and dbt runs in its own process.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_URL = "duckdb:///golive.duckdb"


def quote_ident(name: str) -> str:
    """Quote a schema/table/column name; names that are not plain identifiers are refused."""
    if not _IDENT.match(name):
        raise ValueError(f"'{name}' is not a plain identifier (letters, digits, underscores)")
    return f'"{name}"'


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and metadata."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


class Warehouse:
    """Common interface of the warehouses; build one with :func:`warehouse_from_url`."""

    dialect: str = ""

    def __init__(self, url: str):
        self.url = url

    # -- to implement -------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def _write_arrow(self, con: Any, target: str, batches: pa.RecordBatchReader) -> int:
        raise NotImplementedError  # pragma: no cover - interface

    def dbt_env(self) -> dict[str, str]:
        """Environment variables that point dbt's profile (``dbt_project/profiles.yml``) here."""
        raise NotImplementedError  # pragma: no cover - interface

    # -- shared ---------------------------------------------------------------------------------
    @property
    def display_url(self) -> str:
        """The URL without secrets."""
        return redact_url(self.url)

    def execute(self, sql: str, params: Iterable[Any] | None = None) -> None:
        """Run one statement (or several, separated by ``;``) in one transaction."""
        with self.connect() as con:
            self.run_in(con, sql, params)

    def query(self, sql: str, params: Iterable[Any] | None = None) -> list[tuple]:
        """Rows of a (small) query result."""
        with self.connect() as con:
            return self.fetch_in(con, sql, params)

    def query_arrow(self, sql: str) -> pa.Table:
        """A query result as an Arrow table (for bounded results: reports, validation tables)."""
        with self.connect() as con:
            return self._fetch_arrow(con, sql)

    def scalar(self, sql: str, params: Iterable[Any] | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def load_arrow(self, schema: str, table: str, data: pa.Table | pa.RecordBatchReader) -> int:
        """Replace ``schema.table`` with ``data`` in one transaction; return the row count."""
        if isinstance(data, pa.Table):
            data = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
        target = f"{quote_ident(schema)}.{quote_ident(table)}"
        with self.connect() as con:
            self.run_in(con, f"create schema if not exists {quote_ident(schema)}")
            return self._write_arrow(con, target, data)

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?".replace("?", self.param),
                [schema, table],
            )
        )

    def columns(self, schema: str, table: str) -> list[str]:
        rows = self.query(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position".replace(
                "?", self.param
            ),
            [schema, table],
        )
        return [r[0] for r in rows]

    param = "?"

    def run_in(self, con: Any, sql: str, params: Iterable[Any] | None = None) -> None:
        raise NotImplementedError  # pragma: no cover - interface

    def fetch_in(self, con: Any, sql: str, params: Iterable[Any] | None) -> list[tuple]:
        raise NotImplementedError  # pragma: no cover - interface

    def _fetch_arrow(self, con: Any, sql: str) -> pa.Table:
        raise NotImplementedError  # pragma: no cover - interface


class DuckDBWarehouse(Warehouse):
    """The embedded default: one DuckDB file, no server."""

    dialect = "duckdb"

    def __init__(self, url: str):
        super().__init__(url)
        path = url.removeprefix("duckdb://")
        # as in SQLAlchemy: duckdb:///relative.duckdb is under the working folder,
        # duckdb:////abs/path.duckdb is absolute
        path = path[1:] if path.startswith("/") else path
        self.path = Path(unquote(path)).resolve()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        con.execute("set TimeZone = 'UTC'")
        try:
            con.execute("begin transaction")
            yield con
            con.execute("commit")
        except BaseException:
            with contextlib.suppress(Exception):
                con.execute("rollback")
            raise
        finally:
            con.close()

    def run_in(self, con: Any, sql: str, params: Iterable[Any] | None = None) -> None:
        con.execute(sql, list(params) if params is not None else None)

    def fetch_in(self, con: Any, sql: str, params: Iterable[Any] | None) -> list[tuple]:
        return con.execute(sql, list(params) if params is not None else None).fetchall()

    def _fetch_arrow(self, con: Any, sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table()

    def _write_arrow(self, con: Any, target: str, batches: pa.RecordBatchReader) -> int:
        con.register("_golive_load", batches)
        try:
            con.execute(f"create or replace table {target} as select * from _golive_load")
        finally:
            # after a failed read the transaction is aborted: keep the source's error
            with contextlib.suppress(Exception):
                con.unregister("_golive_load")
        return con.execute(f"select count(*) from {target}").fetchone()[0]

    def dbt_env(self) -> dict[str, str]:
        return {"GOLIVE_DBT_TARGET": "duckdb", "GOLIVE_DUCKDB_PATH": str(self.path)}


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    if pa.types.is_date(t):
        return "date"
    return "text"


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database: the shared deployment's warehouse. Loads use COPY."""

    dialect = "postgres"
    param = "%s"

    def __init__(self, url: str):
        super().__init__(url.replace("postgres://", "postgresql://", 1))
        parts = urlsplit(self.url)
        self.host = parts.hostname or ""
        self.port = parts.port or 5432
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.database = (parts.path or "/").lstrip("/") or "postgres"
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        if not self.host and "host" in query:  # socket URI: postgresql://user@/db?host=/tmp
            self.host = unquote(query["host"])
        self.host = self.host or "127.0.0.1"

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        import psycopg

        try:
            con = psycopg.connect(self.url, options="-c TimeZone=UTC")
        except psycopg.OperationalError as exc:
            # the driver's message can echo the URL; keep only what names the failure
            reason = str(exc).replace(self.password, "***") if self.password else str(exc)
            raise ConnectionError(
                f"cannot connect to the PostgreSQL warehouse {self.display_url}: {reason}"
            ) from None
        try:
            with con.transaction():
                yield con
        finally:
            con.close()

    def run_in(self, con: Any, sql: str, params: Iterable[Any] | None = None) -> None:
        con.execute(sql, list(params) if params is not None else None)

    def fetch_in(self, con: Any, sql: str, params: Iterable[Any] | None) -> list[tuple]:
        return con.execute(sql, list(params) if params is not None else None).fetchall()

    def _fetch_arrow(self, con: Any, sql: str) -> pa.Table:
        cur = con.execute(sql)
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def _write_arrow(self, con: Any, target: str, batches: pa.RecordBatchReader) -> int:
        wanted = [(f.name, _pg_type(f.type)) for f in batches.schema]
        schema, table = (part.strip('"') for part in target.split("."))
        existing = con.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
            "order by a.attnum",
            [schema, table],
        ).fetchall()
        # names as PostgreSQL's format_type() spells them, so the shapes compare
        if [tuple(r) for r in existing] == wanted:
            # keep the table (and the views built on it): replace its rows in this transaction
            con.execute(f"truncate {target}")
        else:
            # a new shape: dependent views are rebuilt by the next dbt run
            con.execute(f"drop table if exists {target} cascade")
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in wanted)
            con.execute(f"create table {target} ({cols})")
        rows = 0
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        with con.cursor().copy(f"copy {target} from stdin with (format csv)") as copy:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                buf = io.BytesIO()
                pacsv.write_csv(batch, buf, write_options=options)
                copy.write(buf.getvalue())
                rows += batch.num_rows
        return rows

    def dbt_env(self) -> dict[str, str]:
        return {
            "GOLIVE_DBT_TARGET": "postgres",
            "GOLIVE_PG_HOST": self.host,
            "GOLIVE_PG_PORT": str(self.port),
            "GOLIVE_PG_USER": self.user or "postgres",
            "GOLIVE_PG_PASSWORD": self.password,
            "GOLIVE_PG_DATABASE": self.database,
            # dbt-postgres has no session options: libpq reads the zone from here
            "PGTZ": "UTC",
        }


def warehouse_from_url(url: str | None) -> Warehouse:
    """``duckdb:///path/file.duckdb`` or ``postgresql://user:pass@host:port/db``."""
    url = url or DEFAULT_URL
    if url.startswith("duckdb://"):
        return DuckDBWarehouse(url)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresWarehouse(url)
    raise ValueError(
        f"unsupported warehouse URL '{redact_url(url)}': use duckdb:///path/file.duckdb "
        "or postgresql://user@host:port/database"
    )
