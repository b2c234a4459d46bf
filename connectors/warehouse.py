"""The warehouse golive writes to: embedded DuckDB (default) or PostgreSQL, chosen by URL.

Data moves in and out as Arrow. Loads replace a table atomically (one transaction), so a failed
load leaves the previous table as it was. Connections are opened per operation and closed
again: DuckDB allows one writing process per file, and dbt runs in its own process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa
import pyarrow.csv as pacsv

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_URL = "duckdb:///golive.duckdb"


def quote_ident(name: str) -> str:
    """Quote a schema/table/column name; names that are not plain identifiers are refused."""
    if not _IDENT.match(name):
        raise ValueError(f"'{name}' is not a plain identifier (letters, digits, underscores)")
    return f'"{name}"'


_SECRET_QUERY_KEYS = ("password", "pass", "pwd", "token", "secret", "private_key")


def redact_url(url: str) -> str:
    """The URL with any password (in the user part or the query) replaced by ``***``, for
    every message, log line, table and metadata value that shows a URL."""
    parts = urlsplit(url)
    changed = False
    if parts.password:
        user, host = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}")
        changed = True
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower() in _SECRET_QUERY_KEYS for k, _ in pairs):
        query = "&".join(
            f"{k}=***" if k.lower() in _SECRET_QUERY_KEYS else f"{k}={v}" for k, v in pairs
        )
        parts = parts._replace(query=query)
        changed = True
    return parts.geturl() if changed else url


class WarehouseURLError(ValueError):
    """A ``--warehouse`` / ``GOLIVE_WAREHOUSE`` URL golive cannot use; the message says the fix."""


class WarehouseBusyError(RuntimeError):
    """Another run holds this warehouse: one writer per warehouse, for the whole run."""


# What this process holds: warehouse key -> [depth, release callback]. A run takes the lock
# once; the stages inside it (Dagster runs of the same process) take it again for free.
_HELD: dict[str, list] = {}
_HELD_LOCK = threading.Lock()


def _holder_text(holder: str) -> dict:
    return {
        "holder": holder,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


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

    def __str__(self) -> str:
        return self.display_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r})"

    def secrets(self) -> list[str]:
        """Texts that must never be shown (the password, the URL that holds it)."""
        return [self.url] if self.url != self.display_url else []

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this warehouse replaced by ``***``."""
        for secret in sorted(set(self.secrets()), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text.replace(self.url, self.display_url) if self.url in text else text

    @property
    def lock_key(self) -> str:
        """What identifies this warehouse for the one-writer lock."""
        return self.display_url

    @contextlib.contextmanager
    def exclusive(self, holder: str) -> Iterator[None]:
        """Hold this warehouse for the whole ``with`` block: another process (another
        ``golive run``, a Dagster run) gets :class:`WarehouseBusyError` naming who holds it.
        Nested use in the same process (the stages of one run) is free."""
        key = self.lock_key
        with _HELD_LOCK:
            held = _HELD.get(key)
            if held is not None:
                held[0] += 1
        if held is None:
            release = self._acquire(holder)
            with _HELD_LOCK:
                _HELD[key] = [1, release]
        try:
            yield
        finally:
            with _HELD_LOCK:
                entry = _HELD[key]
                entry[0] -= 1
                done = entry[0] == 0
                if done:
                    del _HELD[key]
            if done:
                entry[1]()

    def _acquire(self, holder: str):  # pragma: no cover - interface
        """Take the warehouse's lock; return the function that releases it."""
        raise NotImplementedError

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
        """Replace ``schema.table`` with ``data`` in one transaction; return the row count.

        An error the stream raises (a source that cannot be read, found while its rows go by)
        comes out as itself, not as the database driver's wrapping of it.
        """
        if isinstance(data, pa.Table):
            data = pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
        raised: list[BaseException] = []

        def watched(reader: pa.RecordBatchReader):
            try:
                yield from reader
            except BaseException as exc:
                raised.append(exc)
                raise

        data = pa.RecordBatchReader.from_batches(data.schema, watched(data))
        target = f"{quote_ident(schema)}.{quote_ident(table)}"
        try:
            with self.connect() as con:
                self.run_in(con, f"create schema if not exists {quote_ident(schema)}")
                return self._write_arrow(con, target, data)
        except Exception:
            if raised:
                raise raised[0] from None
            raise

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?".replace("?", self.param),
                [schema, table],
            )
        )

    def base_tables(self, names: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of ``(schema, table)`` names are tables (not views) in the warehouse."""
        if not names:
            return set()
        rows = self.query(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        )
        return {(s, t) for s, t in rows} & names

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

    @property
    def lock_key(self) -> str:
        return f"duckdb:{self.path}"

    @property
    def _holder_file(self) -> Path:
        return self.path.with_name(self.path.name + ".golive-lock")

    def _acquire(self, holder: str):
        """DuckDB lets one process open a file for writing: keep a connection open for the
        run (dbt runs in this process and shares it), and note who holds it beside the file."""
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            raise WarehouseBusyError(self._busy_message(str(exc))) from None
        self._holder_file.write_text(json.dumps(_holder_text(holder)), encoding="utf-8")

        def release() -> None:
            with contextlib.suppress(FileNotFoundError):
                self._holder_file.unlink()
            con.close()

        return release

    def _busy_message(self, driver_message: str) -> str:
        who = ""
        with contextlib.suppress(OSError, ValueError):
            held = json.loads(self._holder_file.read_text(encoding="utf-8"))
            who = f": {held['holder']} (PID {held['pid']} on {held['host']}, since {held['since']})"
        if not who:
            pid = re.search(r"PID (\d+)", driver_message)
            who = f": process {pid.group(1)}" if pid else ""
        return (
            f"another run is using this warehouse ({self.path}){who}. DuckDB allows one writer "
            "per file: wait for it to finish, or stop that process"
        )


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
        if not self.password and "password" in query:
            self.password = unquote(query["password"])
        self.host = self.host or "127.0.0.1"

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        import psycopg

        try:
            con = psycopg.connect(self.url, options="-c TimeZone=UTC")
        except psycopg.OperationalError as exc:
            # the driver's message can echo the URL; keep only what names the failure
            raise ConnectionError(
                f"cannot connect to the PostgreSQL warehouse {self.display_url}: "
                f"{self.scrub(str(exc))}"
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
        # statistics now, so that the planner does not depend on the server's autovacuum
        con.execute(f"analyze {target}")
        return rows

    def dbt_env(self) -> dict[str, str]:
        # handed to dbt for one invocation (orchestration.dbt), never put in os.environ
        return {
            "GOLIVE_DBT_TARGET": "postgres",
            "GOLIVE_PG_HOST": self.host,
            "GOLIVE_PG_PORT": str(self.port),
            "GOLIVE_PG_USER": self.user or "postgres",
            "GOLIVE_PG_PASSWORD": self.password,
            "GOLIVE_PG_DATABASE": self.database,
        }

    def secrets(self) -> list[str]:
        secrets = super().secrets()
        if self.password:
            raw = urlsplit(self.url).password or ""
            secrets += [self.password, raw]
        return [s for s in secrets if s]

    #: the advisory lock golive takes on a PostgreSQL warehouse (per database)
    LOCK_ID = 0x676F6C697665  # "golive"

    def _acquire(self, holder: str):
        """A session advisory lock on a connection kept open for the run: PostgreSQL releases
        it when the connection ends, however the process ends. Who holds it is noted in
        ``audit.warehouse_holders`` (by backend), for the message a second run gets."""
        import psycopg

        info = _holder_text(holder)
        try:
            con = psycopg.connect(self.url, autocommit=True, application_name="golive")
        except psycopg.OperationalError as exc:
            raise ConnectionError(
                f"cannot connect to the PostgreSQL warehouse {self.display_url}: "
                f"{self.scrub(str(exc))}"
            ) from None
        got = con.execute("select pg_try_advisory_lock(%s)", [self.LOCK_ID]).fetchone()[0]
        if not got:
            message = self._busy_message(con)
            con.close()
            raise WarehouseBusyError(message)
        con.execute(
            "create schema if not exists audit; "
            "create table if not exists audit.warehouse_holders (backend_pid integer, "
            "holder text, host text, os_pid integer, since text)"
        )
        con.execute("delete from audit.warehouse_holders")
        con.execute(
            "insert into audit.warehouse_holders values (pg_backend_pid(), %s, %s, %s, %s)",
            [info["holder"], info["host"], info["pid"], info["since"]],
        )
        return con.close

    def _busy_message(self, con: Any) -> str:
        row = con.execute(
            "select l.pid from pg_locks l where l.locktype = 'advisory' and l.granted "
            "and (l.classid::bigint << 32 | l.objid::bigint) = %s limit 1",
            [self.LOCK_ID],
        ).fetchone()
        who = ""
        if row:
            held = None
            with contextlib.suppress(Exception):
                held = con.execute(
                    "select holder, os_pid, host, since from audit.warehouse_holders "
                    "where backend_pid = %s",
                    [row[0]],
                ).fetchone()
            who = (
                f": {held[0]} (PID {held[1]} on {held[2]}, since {held[3]})"
                if held
                else f": PostgreSQL backend {row[0]}"
            )
        return (
            f"another run is using this warehouse ({self.display_url}){who}. One golive run "
            "writes to a warehouse at a time: wait for it to finish, or stop it"
        )


_DUCKDB_HELP = (
    "use duckdb:///relative/file.duckdb (under the working folder), "
    "duckdb:////absolute/file.duckdb, or a plain path ending in .duckdb"
)


def warehouse_from_url(url: str | None) -> Warehouse:
    """The warehouse a URL names: ``duckdb:///relative.duckdb``, ``duckdb:////abs.duckdb``, a
    plain path ending in ``.duckdb``, or ``postgresql://user:pass@host:port/db``.

    A URL golive cannot use raises :class:`WarehouseURLError` with the fix, before anything
    runs; the message never shows a password.
    """
    url = (url or DEFAULT_URL).strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        if url.lower().startswith("duckdb:"):
            rest = url.split(":", 1)[1].lstrip("/")
            raise WarehouseURLError(
                f"'{redact_url(url)}' is not a DuckDB URL: write duckdb:///{rest} (relative to "
                f"the working folder) or duckdb:////{rest} (absolute); {_DUCKDB_HELP}"
            )
        if url.lower().endswith(".duckdb"):
            # a plain path: relative ones stay under the working folder, as duckdb:/// does
            return DuckDBWarehouse(f"duckdb:///{Path(url).expanduser()}")
        raise WarehouseURLError(
            f"'{redact_url(url)}' is not a warehouse URL: {_DUCKDB_HELP}, or "
            "postgresql://user@host:port/database"
        )
    if scheme == "duckdb":
        rest = url.split("://", 1)[1]
        if not rest.startswith("/") or rest in ("/", "//"):
            raise WarehouseURLError(f"'{url}' names no file: {_DUCKDB_HELP}")
        return DuckDBWarehouse(url)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        if not (parts.hostname or "host=" in parts.query):
            raise WarehouseURLError(
                f"'{redact_url(url)}' names no server: write postgresql://user@host:port/database"
            )
        return PostgresWarehouse(url)
    raise WarehouseURLError(
        f"unsupported warehouse '{scheme}://' in '{redact_url(url)}': golive runs on DuckDB "
        f"({_DUCKDB_HELP}) or PostgreSQL (postgresql://user@host:port/database)"
    )
