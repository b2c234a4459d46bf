"""The warehouse golive writes to: embedded DuckDB (default), PostgreSQL or Snowflake, chosen
by URL.

Data moves in and out as Arrow. Loads replace a table atomically (one transaction), so a failed
load leaves the previous table as it was. Connections are opened per operation and closed
again: DuckDB allows one writing process per file, and dbt runs in its own process. Snowflake
sessions are kept for reuse (a login costs a round trip); see :class:`SnowflakeWarehouse`.
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
import time
from collections.abc import Callable, Iterable, Iterator
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


#: a URL query key holding any of these is a secret (password, sslpassword, passfile, token,
#: client_secret, private_key, ...): a part of the name, so that no variant shows
_SECRET_QUERY_WORDS = ("pass", "pwd", "token", "secret", "private_key", "credential")


def _is_secret_key(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_QUERY_WORDS)


def secret_query_values(url: str) -> list[str]:
    """The values of a URL's secret query keys (each must never be shown on its own either)."""
    return [
        v
        for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
        if _is_secret_key(k) and v
    ]


#: a ``%`` that does not start a percent-escape (libpq refuses the URL, quoting the part)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

#: how to write a password that holds a character a URL reserves
_ENCODE_HELP = (
    "percent-encode the password (and the user name): # as %23, / as %2F, ? as %3F, @ as %40, "
    "% as %25"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def url_problem(url: str) -> str | None:
    """Why golive cannot read a server URL (anything but DuckDB) the way its driver would, in
    words that quote no part of it; None when it reads it.

    A password holding ``#``, ``/``, ``?`` or ``@`` (or a ``%`` that starts no escape) spills
    into the host, the port or the path: where the password ends cannot be told, so the
    message names none of the URL and says how to write it."""
    if "://" not in url:
        return None
    scheme, rest = url.split("://", 1)
    if scheme.lower() == "duckdb":
        return None
    if _BAD_PERCENT.search(url):
        return (
            "it holds a '%' that is not followed by two hexadecimal digits (a password with a "
            "'%' in it, say)"
        )
    if "#" in url:
        return "it holds a '#' (a password with a '#' in it, say), which ends a URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises when the text after the host's ':' is not a number
    except ValueError:
        return (
            "its server part does not read as user:password@host:port (a password with a '/', "
            "'?' or '#' in it ends that part early, or the port is not a number)"
        )
    if "@" in parts.path:
        return "its path holds an '@' (a password with a '/' in it ends the server part early)"
    if scheme.lower() in ("postgresql", "postgres"):
        # libpq takes the user part up to the first '@' before any '/'; Python up to the last
        # '@' of the server part: both must read the same
        head = rest.split("/", 1)[0]
        libpq_user = head.split("@", 1)[0] if "@" in head else None
        python_user = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
        if libpq_user != python_user:
            return (
                "its user or password holds a '?', '#' or '@', so the server part cannot be "
                "told from the rest"
            )
    return None


def _unreadable_url_text(url: str) -> str:
    """What may be shown of a URL :func:`url_problem` refuses: its scheme, nothing more."""
    scheme, sep, _ = url.partition("://") if "://" in url else url.partition(":")
    return f"{scheme}{sep}***" if sep and _SCHEME.match(scheme) else "***"


def redact_url(url: str) -> str:
    """The URL with any password (in the user part or the query) replaced by ``***``, for
    every message, log line, table and metadata value that shows a URL. A URL golive cannot
    read (:func:`url_problem`) shows its scheme only: where its password ends is unknown."""
    if url_problem(url) or ("://" not in url and "@" in url):  # user:password@…, say
        return _unreadable_url_text(url)
    parts = urlsplit(url)
    changed = False
    if parts.password:
        user, host = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}")
        changed = True
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(_is_secret_key(k) for k, _ in pairs):
        query = "&".join(f"{k}=***" if _is_secret_key(k) else f"{k}={v}" for k, v in pairs)
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
        if self.url == self.display_url:
            return []
        return [self.url, *secret_query_values(self.url)]

    def sqlalchemy_access(self) -> tuple[str, dict[str, Any]] | None:
        """How SQLAlchemy reaches this warehouse (what Great Expectations' SQL data sources
        use): the URL, **secret included** (hand it on in an environment variable only), and
        ``create_engine`` arguments that hold no secret. None where SQLAlchemy cannot reach it
        (DuckDB: docs/stack.md "GX cannot validate DuckDB through SQL")."""
        return None

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
                self._create_schema(con, schema)
                return self._write_arrow(con, target, data)
        except Exception:
            if raised:
                raise raised[0] from None
            raise

    def _create_schema(self, con: Any, schema: str) -> None:
        self.run_in(con, f"create schema if not exists {quote_ident(schema)}")

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


#: the environment variable that caps DuckDB's memory (DuckDB's own default: 80% of RAM)
DUCKDB_MEMORY_LIMIT_ENV = "GOLIVE_DUCKDB_MEMORY_LIMIT"
_MEMORY_LIMIT = re.compile(r"^[0-9]+(\.[0-9]+)? ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$")


class DuckDBWarehouse(Warehouse):
    """The embedded default: one DuckDB file, no server.

    ``GOLIVE_DUCKDB_MEMORY_LIMIT`` (e.g. ``3GiB``, or ``50%`` of the machine's memory) caps the
    memory DuckDB takes, in golive's sessions and in dbt's alike; past it, DuckDB spills the
    large joins, aggregates and sorts to a folder beside the file (``<file>.tmp``). Unset,
    DuckDB takes up to 80% of the machine's memory."""

    dialect = "duckdb"

    def __init__(self, url: str):
        super().__init__(url)
        path = url.removeprefix("duckdb://")
        # as in SQLAlchemy: duckdb:///relative.duckdb is under the working folder,
        # duckdb:////abs/path.duckdb is absolute
        path = path[1:] if path.startswith("/") else path
        self.path = Path(unquote(path)).resolve()
        limit = os.environ.get(DUCKDB_MEMORY_LIMIT_ENV, "").strip()
        if limit and not _MEMORY_LIMIT.match(limit):
            raise WarehouseURLError(
                f"{DUCKDB_MEMORY_LIMIT_ENV}='{limit}' is not an amount of memory. Fix: write it "
                "as DuckDB does, e.g. 3GiB, 3000MB or 50%, or unset it (DuckDB's own default, "
                "80% of the machine's memory)"
            )
        self.memory_limit = limit or "80%"

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"set memory_limit = '{self.memory_limit}'")
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
        return {
            "GOLIVE_DBT_TARGET": "duckdb",
            "GOLIVE_DUCKDB_PATH": str(self.path),
            DUCKDB_MEMORY_LIMIT_ENV: self.memory_limit,
        }

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
        con.execute(f"set memory_limit = '{self.memory_limit}'")
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

    def sqlalchemy_access(self) -> tuple[str, dict[str, Any]] | None:
        # the psycopg2 driver named (docs/stack.md "dagster-postgres needs psycopg2")
        return "postgresql+psycopg2://" + self.url.split("://", 1)[1], {}

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
        with con.transaction():  # a second run never reads the table between the two
            con.execute("delete from audit.warehouse_holders")
            con.execute(
                "insert into audit.warehouse_holders values (pg_backend_pid(), %s, %s, %s, %s)",
                [info["holder"], info["host"], info["pid"], info["since"]],
            )
        return con.close

    def _busy_message(self, con: Any) -> str:
        row = con.execute(
            # pg_locks is the whole server's: this database's lock, not another golive's
            "select l.pid from pg_locks l where l.locktype = 'advisory' and l.granted "
            "and l.database = (select oid from pg_database where datname = current_database()) "
            "and (l.classid::bigint << 32 | l.objid::bigint) = %s limit 1",
            [self.LOCK_ID],
        ).fetchone()
        who = ""
        if row:
            held = None
            # the holder notes who it is right after it took the lock: give it a moment
            deadline = time.monotonic() + 3
            while held is None:
                with contextlib.suppress(Exception):
                    held = con.execute(
                        "select holder, os_pid, host, since from audit.warehouse_holders "
                        "where backend_pid = %s",
                        [row[0]],
                    ).fetchone()
                if held is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            who = (
                f": {held[0]} (PID {held[1]} on {held[2]}, since {held[3]})"
                if held
                else f": PostgreSQL backend {row[0]}"
            )
        return (
            f"another run is using this warehouse ({self.display_url}){who}. One golive run "
            "writes to a warehouse at a time: wait for it to finish, or stop it"
        )


# ------------------------------------------------------------------------------- Snowflake

#: what a snowflake:// URL may say after ``?``
_SNOWFLAKE_QUERY_KEYS = (
    "warehouse",
    "role",
    "password_env",
    "private_key_env",
    "private_key_passphrase_env",
    "host",
    "port",
    "protocol",
    "network_timeout",
)
_SNOWFLAKE_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SNOWFLAKE_FORM = (
    "snowflake://USER@ACCOUNT/DATABASE?warehouse=WH&role=ROLE&password_env=VAR "
    "(or private_key_env=VAR for key-pair authentication)"
)

#: a lock not renewed for this long belongs to a process that died (renewed every minute)
SNOWFLAKE_LOCK_STALE = dt.timedelta(minutes=10)
_SNOWFLAKE_LOCK_RENEW_SECONDS = 60


def _snowflake_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "number(38, 0)"
    if pa.types.is_decimal(t):
        return f"number({min(t.precision, 38)}, {t.scale})"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_timestamp(t):
        return "timestamp_tz" if t.tz else "timestamp_ntz"
    if pa.types.is_date(t):
        return "date"
    return "varchar"


# idle sessions by warehouse, reused by the next operation of this process
_SNOWFLAKE_POOL: dict[str, list[tuple[float, Any]]] = {}
_SNOWFLAKE_POOL_LOCK = threading.Lock()
_SNOWFLAKE_POOL_IDLE_SECONDS = 600


class SnowflakeWarehouse(Warehouse):
    """A Snowflake database: golive's schemas (raw, staging, sandbox, quarantine, production,
    audit) are created in it, and dbt runs the models there through dbt-snowflake.

    The URL names no secret: ``password_env`` (or ``private_key_env``, a PKCS#8 private key in
    PEM, with ``private_key_passphrase_env`` when it is encrypted) names the environment
    variable that holds it, read when the warehouse is opened. Sessions run in UTC, and with
    ``QUOTED_IDENTIFIERS_IGNORE_CASE`` so that golive's quoted lower-case names
    (``"raw"."customers"``) are the upper-case objects dbt creates unquoted (``RAW.CUSTOMERS``);
    names come back in lower case, as on the other warehouses.

    Loads go in bulk: Arrow batches are written as Parquet files, PUT to the table's stage and
    loaded by one ``COPY INTO`` into a load table beside the target, which then replaces the
    target's rows in one transaction (same columns) or takes its place (new columns).
    """

    dialect = "snowflake"
    param = "%s"

    def __init__(self, url: str):
        super().__init__(url)
        parts = urlsplit(url)
        self.user = unquote(parts.username or "")
        self.account = parts.hostname or ""
        path = [p for p in (parts.path or "").split("/") if p]
        self.database = unquote(path[0]) if path else ""
        query: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _SNOWFLAKE_QUERY_KEYS:
                raise WarehouseURLError(
                    f"'{redact_url(url)}': unknown parameter '{key}'. Fix: use only "
                    f"{', '.join(_SNOWFLAKE_QUERY_KEYS)}"
                )
            query[key] = value
        if parts.password is not None:
            raise WarehouseURLError(
                f"'{redact_url(url)}' holds a password. Fix: put it in an environment variable "
                "and name the variable with ?password_env=VAR (the URL is shown in logs)"
            )
        if not self.user or not self.account:
            missing = "user" if not self.user else "account"
            raise WarehouseURLError(
                f"'{redact_url(url)}' names no {missing}. Fix: write {_SNOWFLAKE_FORM}"
            )
        if len(path) != 1 or not _SNOWFLAKE_IDENT.match(self.database):
            raise WarehouseURLError(
                f"'{redact_url(url)}': the path must be one database name (letters, digits, "
                f"_ and $), got '{parts.path or ''}'. Fix: write {_SNOWFLAKE_FORM}"
            )
        self.warehouse = query.get("warehouse") or None
        self.role = query.get("role") or None
        for key in ("warehouse", "role"):
            value = query.get(key)
            if value is not None and not _SNOWFLAKE_IDENT.match(value):
                raise WarehouseURLError(
                    f"'{redact_url(url)}': {key}='{value}' is not a Snowflake name (letters, "
                    f"digits, _ and $). Fix: correct the {key} parameter"
                )
        self.host = query.get("host") or None
        self.protocol = query.get("protocol") or None
        if self.protocol not in (None, "https", "http"):
            raise WarehouseURLError(
                f"'{redact_url(url)}': protocol='{self.protocol}'. Fix: protocol=https "
                "(or http for a local test server)"
            )
        self.port = self._integer(query, "port")
        self.network_timeout = self._integer(query, "network_timeout")
        self.password = self.private_key = self.private_key_passphrase = None
        password_env, key_env = query.get("password_env"), query.get("private_key_env")
        if bool(password_env) == bool(key_env):
            raise WarehouseURLError(
                f"'{redact_url(url)}': name exactly one of password_env and private_key_env "
                f"(the environment variable holding the secret). Fix: write {_SNOWFLAKE_FORM}"
            )
        if password_env:
            self.password = self._secret(query, "password_env", "the password")
        else:
            self.private_key = self._secret(
                query, "private_key_env", "the private key (PKCS#8, PEM)"
            )
            if query.get("private_key_passphrase_env"):
                self.private_key_passphrase = self._secret(
                    query, "private_key_passphrase_env", "the private key's passphrase"
                )

    def _integer(self, query: dict[str, str], key: str) -> int | None:
        value = query.get(key)
        if value in (None, ""):
            return None
        if not value.isdigit() or int(value) < 1:
            raise WarehouseURLError(
                f"'{redact_url(self.url)}': {key}='{value}' is not a positive whole number. "
                f"Fix: correct the {key} parameter"
            )
        return int(value)

    def _secret(self, query: dict[str, str], key: str, what: str) -> str:
        name = query[key]
        if not _ENV_NAME.match(name):
            raise WarehouseURLError(
                f"'{redact_url(self.url)}': {key} must name an environment variable "
                f"(letters, digits and _), got '{name[:3]}…'. Fix: {key}=VARIABLE_NAME, with "
                f"{what} in that variable, never in the URL"
            )
        value = os.environ.get(name)
        if not value:
            raise WarehouseURLError(
                f"the environment variable {name} ({key} in the Snowflake warehouse URL "
                f"{redact_url(self.url)}) is not set. Fix: export {name} with {what}"
            )
        return value

    # -- identity and secrets --------------------------------------------------------------
    @property
    def lock_key(self) -> str:
        return f"snowflake:{self.account.lower()}/{self.database.upper()}"

    @property
    def _pool_key(self) -> str:
        """What a pooled connection is: the whole URL (host, port, user, role, warehouse) and
        the credentials, so that a connection is only reused by the same identity on the same
        server (``lock_key`` names the database, which many identities share)."""
        import hashlib

        secrets = "\0".join(v or "" for v in self._credentials())
        return self.url + "#" + hashlib.sha256(secrets.encode()).hexdigest()

    def _credentials(self) -> tuple[str | None, ...]:
        return (self.password, self.private_key, self.private_key_passphrase)

    def secrets(self) -> list[str]:
        from urllib.parse import quote

        values = list(self._credentials())
        out = [v for v in values if v]
        out += [quote(v, safe="") for v in out]
        if self.private_key:  # its lines, as a message might quote a part of it
            out += [line for line in self.private_key.splitlines() if len(line) >= 16]
        return out

    def sqlalchemy_access(self) -> tuple[str, dict[str, Any]] | None:
        """snowflake-sqlalchemy's URL (user and password, account, database, warehouse, role)
        and, as connect arguments, what is no secret: a private endpoint's host, port and
        protocol and golive's session parameters. Key-pair authentication gives None: the
        private key would have to be a connect argument, which GX writes to its project."""
        if not self.password:
            return None
        from urllib.parse import quote, urlencode

        query = {k: getattr(self, k) for k in ("warehouse", "role") if getattr(self, k)}
        url = (
            f"snowflake://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.account}/{self.database}" + (f"?{urlencode(query)}" if query else "")
        )
        args = self.connect_args()
        connect = {
            key: args[key]
            for key in ("host", "port", "protocol", "network_timeout", "login_timeout")
            if key in args
        }
        connect["session_parameters"] = args["session_parameters"]
        return url, {"connect_args": connect}

    def _private_key_der(self) -> bytes | None:
        if not self.private_key:
            return None
        from cryptography.hazmat.primitives import serialization

        passphrase = self.private_key_passphrase.encode() if self.private_key_passphrase else None
        try:
            key = serialization.load_pem_private_key(self.private_key.encode(), passphrase)
        except (ValueError, TypeError) as exc:
            raise WarehouseURLError(
                f"the private key in the variable private_key_env names (warehouse "
                f"{self.display_url}) cannot be read: {type(exc).__name__}. Fix: export the "
                "PKCS#8 private key in PEM (-----BEGIN PRIVATE KEY-----…), and its passphrase "
                "with private_key_passphrase_env when it is encrypted"
            ) from None
        return key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def connect_args(self) -> dict[str, Any]:
        """The connector's arguments for a session of golive's own (not dbt's)."""
        args: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "database": self.database,
            "schema": "PUBLIC",
            "autocommit": False,
            "login_timeout": 60,
            # NUMBER(p, s) as exact decimals in Arrow results too
            "arrow_number_to_decimal": True,
            "session_parameters": {
                "QUOTED_IDENTIFIERS_IGNORE_CASE": True,
                "TIMEZONE": "UTC",
                "TIMESTAMP_TYPE_MAPPING": "TIMESTAMP_NTZ",
                "QUERY_TAG": "golive",
            },
            "application": "golive",
        }
        for key in ("warehouse", "role", "host", "port", "protocol", "network_timeout"):
            if getattr(self, key) is not None:
                args[key] = getattr(self, key)
        if self.password:
            args["password"] = self.password
        else:
            args["private_key"] = self._private_key_der()
        return args

    # -- sessions -----------------------------------------------------------------------------
    def _open(self) -> Any:
        import snowflake.connector

        try:
            return snowflake.connector.connect(**self.connect_args())
        except WarehouseURLError:
            raise
        except Exception as exc:  # the driver's message may echo what it was given
            raise ConnectionError(
                f"cannot connect to the Snowflake warehouse {self.display_url}: "
                f"{self.scrub(str(exc))}"
            ) from None

    def _pooled(self) -> Any:
        import time

        now = time.monotonic()
        with _SNOWFLAKE_POOL_LOCK:
            idle = _SNOWFLAKE_POOL.get(self._pool_key, [])
            while idle:
                since, con = idle.pop()
                if now - since < _SNOWFLAKE_POOL_IDLE_SECONDS and not con.is_closed():
                    return con
                with contextlib.suppress(Exception):
                    con.close()
        return self._open()

    def _release(self, con: Any) -> None:
        import time

        with _SNOWFLAKE_POOL_LOCK:
            idle = _SNOWFLAKE_POOL.setdefault(self._pool_key, [])
            if len(idle) < 2:
                idle.append((time.monotonic(), con))
                return
        with contextlib.suppress(Exception):
            con.close()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        con = self._pooled()
        healthy = False
        try:
            yield con
            con.commit()
            healthy = True
        except BaseException:
            with contextlib.suppress(Exception):
                con.rollback()
                healthy = True
            raise
        finally:
            if healthy:
                self._release(con)
            else:
                with contextlib.suppress(Exception):
                    con.close()

    def _statements(self, sql: str) -> list[str]:
        from snowflake.connector.util_text import split_statements

        return [
            s.rstrip().rstrip(";")
            for s, _ in split_statements(io.StringIO(sql), remove_comments=True)
            if s.strip().rstrip(";").strip()
        ]

    def run_in(self, con: Any, sql: str, params: Iterable[Any] | None = None) -> None:
        with con.cursor() as cur:
            if params is not None:
                cur.execute(sql, list(params))
                return
            for statement in self._statements(sql):
                cur.execute(statement)

    def fetch_in(self, con: Any, sql: str, params: Iterable[Any] | None) -> list[tuple]:
        with con.cursor() as cur:
            cur.execute(sql, list(params) if params is not None else None)
            return [tuple(r) for r in cur.fetchall()]

    def description_in(self, con: Any, sql: str) -> list[str]:
        """The (lower-case) column names of a query's result."""
        with con.cursor() as cur:
            cur.execute(f"select * from ({sql}) as q limit 0")
            return _lower_names([d.name for d in cur.description])

    def _fetch_arrow(self, con: Any, sql: str) -> pa.Table:
        with con.cursor() as cur:
            cur.execute(sql)
            names = _lower_names([d.name for d in cur.description])
            rows = cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    # -- catalog: Snowflake keeps unquoted names in upper case -------------------------------
    def table_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables "
                "where upper(table_schema) = %s and upper(table_name) = %s",
                [schema.upper(), table.upper()],
            )
        )

    def base_tables(self, names: set[tuple[str, str]]) -> set[tuple[str, str]]:
        if not names:
            return set()
        rows = self.query(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        )
        found = {(s.lower(), t.lower()) for s, t in rows}
        return {(s, t) for s, t in names if (s.lower(), t.lower()) in found}

    def columns(self, schema: str, table: str) -> list[str]:
        with self.connect() as con:
            return self.columns_in(con, schema, table)

    def columns_in(self, con: Any, schema: str, table: str) -> list[str]:
        """A table's columns (lower case), in order, read in the session ``con``."""
        return [name for name, _ in self._column_types(con, schema, table)]

    def _column_types(self, con: Any, schema: str, table: str) -> list[tuple[str, str]]:
        rows = self.fetch_in(
            con,
            "select column_name, data_type, numeric_precision, numeric_scale "
            "from information_schema.columns where upper(table_schema) = %s "
            "and upper(table_name) = %s order by ordinal_position",
            [schema.upper(), table.upper()],
        )
        names = _lower_names([r[0] for r in rows])
        return [
            (n, f"{r[1]}({r[2]},{r[3]})" if r[2] is not None else str(r[1]))
            for n, r in zip(names, rows, strict=True)
        ]

    # -- loads --------------------------------------------------------------------------------
    def _create_schema(self, con: Any, schema: str) -> None:
        # unquoted: stored in upper case, as dbt creates it
        self.run_in(con, f"create schema if not exists {quote_ident(schema).strip(chr(34))}")

    def _write_arrow(self, con: Any, target: str, batches: pa.RecordBatchReader) -> int:
        import tempfile

        import pyarrow.parquet as pq

        # unquoted names (plain identifiers, checked by quote_ident): stored in upper case, as
        # Snowflake keeps every name dbt creates
        schema, table = (part.strip('"') for part in target.split("."))
        quote_ident(schema), quote_ident(table)
        target = f"{schema}.{table}"
        load = f"{schema}.{table}__golive_load"
        stage = f"@{load.replace('.', '.%', 1)}"  # the load table's own stage
        columns = ", ".join(
            f"{quote_ident(f.name).strip(chr(34))} {_snowflake_type(f.type)}"
            for f in batches.schema
        )
        run = self.run_in
        run(con, f"create or replace table {load} ({columns})")
        rows = 0
        with tempfile.TemporaryDirectory(prefix="golive-load-") as folder:
            files = 0

            def put(path: str) -> None:
                uri = Path(path).as_uri()
                run(con, f"put '{uri}' {stage} auto_compress = false overwrite = true")
                os.unlink(path)

            writer = None
            path = ""
            in_file = 0
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if writer is None:
                    path = os.path.join(folder, f"part-{files:05d}.parquet")
                    writer = pq.ParquetWriter(path, batches.schema, coerce_timestamps="us")
                    files += 1
                writer.write_batch(batch)
                rows += batch.num_rows
                in_file += batch.num_rows
                if in_file >= 1_000_000:  # bounded memory and files of a size COPY likes
                    writer.close()
                    put(path)
                    writer, in_file = None, 0
            if writer is not None:
                writer.close()
                put(path)
            if files:
                run(
                    con,
                    f"copy into {load} from {stage} file_format = (type = parquet) "
                    "match_by_column_name = case_insensitive purge = true",
                )
        self._take_load(con, schema, table)
        return rows

    def _take_load(self, con: Any, schema: str, table: str) -> None:
        """The load table ``schema.table__golive_load`` becomes ``schema.table``."""
        run = self.run_in
        target, load = f"{schema}.{table}", f"{schema}.{table}__golive_load"
        previous = self._column_types(con, schema, table)
        if previous and previous == self._column_types(con, schema, table + "__golive_load"):
            # the same columns: replace the rows in one transaction, with the COPY (DML; the
            # session does not autocommit), so views built on the table stay valid
            run(con, f"delete from {target}")
            run(con, f"insert into {target} select * from {load}")
            con.commit()
            run(con, f"drop table {load}")
        else:
            # new columns: the load table takes the target's place (dbt rebuilds dependents)
            run(con, f"drop table if exists {target}")
            run(con, f"alter table {load} rename to {target}")

    def load_select(
        self,
        schema: str,
        table: str,
        select: str,
        check: Callable[[Any, str], None] | None = None,
    ) -> int:
        """Replace ``schema.table`` with the rows of ``select``, computed inside Snowflake (a
        source in the same account read in place: no row leaves the warehouse); return the
        row count. ``check(con, load_table)`` may refuse the rows before they replace any."""
        quote_ident(schema), quote_ident(table)
        schema, table = schema.upper(), table.upper()
        load = f"{schema}.{table}__golive_load"
        with self.connect() as con:
            self._create_schema(con, schema)
            self.run_in(con, f"create or replace table {load} as {select}")
            rows = int(self.fetch_in(con, f"select count(*) from {load}", None)[0][0])
            if check is not None:
                try:
                    check(con, load)
                except BaseException:
                    with contextlib.suppress(Exception):
                        self.run_in(con, f"drop table if exists {load}")
                    raise
            self._take_load(con, schema, table)
        return rows

    def column_kinds_in(self, con: Any, sql: str) -> list[tuple[str, str]]:
        """The columns of a query's result as Snowflake names them, with each one's type as
        the connector reports it (``TEXT``, ``FIXED``, ``DATE``, ``TIMESTAMP_NTZ``, ...)."""
        from snowflake.connector.constants import FIELD_ID_TO_NAME

        with con.cursor() as cur:
            cur.execute(f"select * from ({sql}) as q limit 0")
            return [(d.name, FIELD_ID_TO_NAME.get(d.type_code, "?")) for d in cur.description]

    def dbt_env(self) -> dict[str, str]:
        # handed to dbt for one invocation (orchestration.dbt), never put in os.environ
        env = {
            "GOLIVE_DBT_TARGET": "snowflake",
            "GOLIVE_SF_ACCOUNT": self.account,
            "GOLIVE_SF_USER": self.user,
            "GOLIVE_SF_DATABASE": self.database,
            "GOLIVE_SF_WAREHOUSE": self.warehouse or "",
            "GOLIVE_SF_ROLE": self.role or "",
            "GOLIVE_SF_HOST": self.host or "",
            "GOLIVE_SF_PORT": str(self.port or 0),
            "GOLIVE_SF_PROTOCOL": self.protocol or "",
            "GOLIVE_SF_PASSWORD": self.password or "",
            "GOLIVE_SF_PRIVATE_KEY": self.private_key or "",
            "GOLIVE_SF_PRIVATE_KEY_PASSPHRASE": self.private_key_passphrase or "",
        }
        return env

    # -- the one-writer lock --------------------------------------------------------------------
    def _acquire(self, holder: str):
        """Snowflake has no session locks: a lease in ``audit.warehouse_lock``, taken by one
        UPDATE (Snowflake runs UPDATEs of a table one at a time), renewed every minute by a
        thread of this process and released at the end. A lease not renewed for
        :data:`SNOWFLAKE_LOCK_STALE` belongs to a process that died and may be taken over."""
        import uuid

        info = _holder_text(holder)
        token = uuid.uuid4().hex
        self.execute(
            "create schema if not exists audit; "
            "create table if not exists audit.warehouse_lock (lock_name varchar, "
            "token varchar, holder varchar, host varchar, os_pid number(38, 0), "
            "since varchar, renewed_at timestamp_ntz)"
        )
        with self.connect() as con:
            self.run_in(
                con,
                "insert into audit.warehouse_lock (lock_name) select 'golive' where not exists "
                "(select 1 from audit.warehouse_lock where lock_name = 'golive')",
            )
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.connect() as con, con.cursor() as cur:
            cur.execute(
                "update audit.warehouse_lock set token = %s, holder = %s, host = %s, "
                "os_pid = %s, since = %s, renewed_at = %s where lock_name = 'golive' "
                "and (token is null or renewed_at < %s)",
                [
                    token,
                    info["holder"],
                    info["host"],
                    info["pid"],
                    info["since"],
                    now,
                    now - SNOWFLAKE_LOCK_STALE,
                ],
            )
            got = (cur.rowcount or 0) > 0
        if not got:
            raise WarehouseBusyError(self._busy_message())
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(_SNOWFLAKE_LOCK_RENEW_SECONDS):
                with contextlib.suppress(Exception):
                    self.execute(
                        "update audit.warehouse_lock set renewed_at = %s where token = %s",
                        [dt.datetime.now(dt.UTC).replace(tzinfo=None), token],
                    )

        thread = threading.Thread(target=renew, name="golive-snowflake-lock", daemon=True)
        thread.start()

        def release() -> None:
            stop.set()
            thread.join(timeout=5)
            self.execute(
                "update audit.warehouse_lock set token = null, holder = null, host = null, "
                "os_pid = null, since = null, renewed_at = null where token = %s",
                [token],
            )

        return release

    def _busy_message(self) -> str:
        rows = self.query(
            "select holder, os_pid, host, since from audit.warehouse_lock "
            "where lock_name = 'golive' and token is not null"
        )
        who = ""
        if rows:
            holder, pid, host, since = rows[0]
            who = f": {holder} (PID {pid} on {host}, since {since})"
        return (
            f"another run is using this warehouse ({self.display_url}){who}. One golive run "
            "writes to a warehouse at a time: wait for it to finish, or stop it (a lease of a "
            f"process that died lapses after {int(SNOWFLAKE_LOCK_STALE.total_seconds() // 60)} "
            "minutes)"
        )


def _lower_names(names: list[str]) -> list[str]:
    """Snowflake's column names, the upper-case ones (unquoted identifiers) in lower case."""
    return [n.lower() if n == n.upper() else n for n in names]


_DUCKDB_HELP = (
    "use duckdb:///relative/file.duckdb (under the working folder), "
    "duckdb:////absolute/file.duckdb, or a plain path ending in .duckdb"
)


def warehouse_from_url(url: str | None) -> Warehouse:
    """The warehouse a URL names: ``duckdb:///relative.duckdb``, ``duckdb:////abs.duckdb``, a
    plain path ending in ``.duckdb``, ``postgresql://user:pass@host:port/db``, or
    ``snowflake://USER@ACCOUNT/DATABASE?warehouse=WH&role=ROLE&password_env=VAR``.

    A URL golive cannot use raises :class:`WarehouseURLError` with the fix, before anything
    runs; the message never shows a password.
    """
    url = (url or DEFAULT_URL).strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    problem = url_problem(url) if scheme in ("postgresql", "postgres", "snowflake") else None
    if problem:
        raise WarehouseURLError(
            f"golive cannot read the warehouse URL {_unreadable_url_text(url)}: {problem}. "
            f"Fix: {_ENCODE_HELP}"
        )
    try:
        return _warehouse(url)
    except WarehouseURLError:
        raise
    except ValueError:  # whatever the URL parser refuses: its message may quote the URL
        raise WarehouseURLError(
            f"golive cannot read the warehouse URL {_unreadable_url_text(url)}. Fix: write "
            f"postgresql://user:password@host:port/database, {_SNOWFLAKE_FORM} or a DuckDB file "
            f"({_DUCKDB_HELP}); {_ENCODE_HELP}"
        ) from None


def _warehouse(url: str) -> Warehouse:
    """The warehouse of a URL :func:`url_problem` found nothing wrong with."""
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
    if scheme == "snowflake":
        return SnowflakeWarehouse(url)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        if not (parts.hostname or "host=" in parts.query):
            raise WarehouseURLError(
                f"'{redact_url(url)}' names no server: write postgresql://user@host:port/database"
            )
        return PostgresWarehouse(url)
    raise WarehouseURLError(
        f"unsupported warehouse '{scheme}://' in '{redact_url(url)}': golive runs on DuckDB "
        f"({_DUCKDB_HELP}), PostgreSQL (postgresql://user@host:port/database) or Snowflake "
        f"({_SNOWFLAKE_FORM})"
    )
