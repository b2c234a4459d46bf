"""PostgreSQL and MySQL/MariaDB sources: a table or a query as a stream of Arrow batches.

The connection URL comes from the environment variable the plan names (``url_env``), never from
the plan itself, and never appears in a message: errors name the source and the variable, and
the driver's text is scrubbed of the URL and its password. Table names from the plan are
validated and quoted; a plan cannot inject SQL through them (a ``query`` is the plan author's
own SQL, run as it is). Batches stream from the server through connectorx (Rust, Arrow native)
with bounded memory.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from connectors.sources import BATCH_ROWS, SourceError, SourceSpec
from golive.plan import DatabaseSource

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def database_settings(spec: SourceSpec) -> DatabaseSource:
    """The plan's settings of a postgres/mysql source, or a clear error for any other."""
    if not isinstance(spec.settings, DatabaseSource):
        raise SourceError(
            f"{spec.dataset}: connector {spec.connector} needs the plan's postgres/mysql "
            "source settings (url_env, and table or query)"
        )
    return spec.settings


def connection_url(spec: SourceSpec) -> str:
    """The URL from the environment variable the plan names, or a clear error."""
    name = database_settings(spec).url_env
    url = os.environ.get(name or "")
    if not url:
        raise SourceError(
            f"{spec.dataset}: the environment variable {name} (sources.{spec.dataset}.url_env) "
            "is not set. Fix: export it with the connection URL"
        )
    return url


def scrub(text: str, url: str) -> str:
    """``text`` without the URL, its password or its user:password pair."""
    parts = urlsplit(url)
    secrets = [url]
    if parts.password:
        secrets += [parts.password, unquote(parts.password)]
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def quoted_table(name: str, quote: str) -> str:
    """``schema.table`` from the plan, validated and quoted (``"`` or backtick)."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(_IDENT.match(p) for p in parts):
        raise SourceError(
            f"'{name}' is not a table name (schema.table, letters, digits, underscores). "
            "Fix: correct sources.<dataset>.table, or use query"
        )
    return ".".join(f"{quote}{p}{quote}" for p in parts)


def quoted_column(name: str, quote: str) -> str:
    """A column name from the plan, validated and quoted."""
    if not _IDENT.match(name):
        raise SourceError(f"'{name}' is not a column name (letters, digits, underscores)")
    return f"{quote}{name}{quote}"


def source_query(spec: SourceSpec, dialect: str) -> str:
    """The SQL that reads the source: its table (or query), after the watermark if any."""
    quote = "`" if dialect == "mysql" else '"'
    settings = database_settings(spec)
    if settings.table:
        base = f"select * from {quoted_table(settings.table, quote)}"
    else:
        base = f"select * from ({settings.query}) as golive_source"
    if settings.incremental_column and spec.watermark is not None:
        column = quoted_column(settings.incremental_column, quote)
        # in the column's own type: a number unquoted, a timestamp as ISO text the database
        # casts; >= re-reads the rows at the watermark (ties), which the load then skips; a row
        # without a value is read too, so that the pull refuses it instead of skipping it
        literal = spec.watermark.literal()
        if spec.watermark.kind == "timestamp" and dialect == "mysql":
            literal = f"'{spec.watermark.value.replace('T', ' ')[:26]}'"
        base = (
            f"select * from ({base}) as golive_incremental "
            f"where {column} >= {literal} or {column} is null"
        )
    return base


def _connectorx_url(url: str) -> tuple[str, str]:
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        rest = url.split("://", 1)[1]
        parts = urlsplit("postgresql://" + rest)
        if not parts.hostname and "host=" in parts.query:
            # a Unix socket (libpq's ?host=/dir): connectorx wants a host name beside it
            user = parts.netloc.rstrip("@")
            rest = f"{user}@localhost{parts.path}?{parts.query}"
        return "postgres", "postgresql://" + rest
    if scheme in ("mysql", "mariadb", "mysql+pymysql", "mysql+mysqldb"):
        return "mysql", "mysql://" + url.split("://", 1)[1]
    raise SourceError(f"unsupported database URL scheme '{scheme}' (use postgresql:// or mysql://)")


def _preflight(dialect: str, url: str) -> None:
    """Connect once with the plain driver and a timeout: a refused connection or a bad
    password fails in seconds with the driver's reason (connectorx's pool would retry)."""
    if dialect == "postgres":
        import psycopg

        psycopg.connect(url, connect_timeout=10).close()
        return
    import pymysql

    parts = urlsplit(url)
    pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=(parts.path or "/").lstrip("/") or None,
        connect_timeout=10,
    ).close()


@contextlib.contextmanager
def extract_database(spec: SourceSpec) -> Iterator[pa.RecordBatchReader]:
    """Stream a PostgreSQL or MySQL/MariaDB table or query as Arrow record batches."""
    os.environ.setdefault("RUST_LOG", "off")  # connectorx's pool logs to stderr otherwise
    import connectorx as cx

    settings = database_settings(spec)
    url = connection_url(spec)
    dialect, cx_url = _connectorx_url(url)
    expected = "postgres" if spec.connector == "postgres" else "mysql"
    if dialect != expected:
        raise SourceError(
            f"{spec.dataset}: connector {spec.connector} but {settings.url_env} holds a "
            f"{dialect} URL. Fix: point url_env at a {expected} database"
        )
    sql = source_query(spec, dialect)
    try:
        _preflight(dialect, url)
        reader = cx.read_sql(cx_url, sql, return_type="arrow_stream", batch_size=BATCH_ROWS)
    except Exception as exc:  # the driver's message may hold the URL: scrub it
        raise SourceError(
            f"{spec.dataset}: cannot read from {spec.connector} "
            f"({settings.location}; URL from ${settings.url_env}): "
            f"{scrub(str(exc), url)}"
        ) from None
    yield reader
