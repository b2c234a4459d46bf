"""A small wire-level fake of the BigQuery REST API (v2), for tests of the real client.

It answers what ``google-cloud-bigquery`` calls to run a query and page through its results:
``jobs.query``, ``jobs.insert``, ``jobs.get``, ``jobs.getQueryResults``, ``jobs.cancel`` and
``tabledata.list``. Queries run in an in-memory DuckDB: a project is a DuckDB catalog and a
dataset a schema; backtick-quoted names become DuckDB's double-quoted ones and GoogleSQL's
backslash escapes in string literals become standard SQL, which covers the simple GoogleSQL
the connector writes. A page holds at most ``page_rows`` rows whatever the client asks for, as
a real server caps a page's size, so the client's paging is exercised. Every request is kept in
``requests`` for assertions.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import pyarrow as pa

_PREFIX = "/bigquery/v2"
_TOKEN = re.compile(r"('(?:[^'\\]|\\.)*'|`[^`]*`)", re.DOTALL)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DUCKDB_TYPES = {
    "INT64": "bigint",
    "FLOAT64": "double",
    "BOOL": "boolean",
    "NUMERIC": "decimal(38, 9)",
    "BIGNUMERIC": "double",
    "STRING": "varchar",
    "BYTES": "blob",
    "DATETIME": "timestamp",
    "TIMESTAMP": "timestamptz",
}
_CAST_TYPE = re.compile(rf"\bas\s+({'|'.join(_DUCKDB_TYPES)})\b", re.IGNORECASE)


def to_duckdb(sql: str) -> str:
    """GoogleSQL in DuckDB's dialect: backticked names, backslash-escaped literals, and the
    type names of casts."""
    out = []
    for i, part in enumerate(_TOKEN.split(sql)):
        if i % 2 == 0:  # between literals and names
            out.append(_CAST_TYPE.sub(lambda m: f"as {_DUCKDB_TYPES[m[1].upper()]}", part))
        elif part.startswith("`"):
            out.append(".".join('"' + p.replace('"', '""') + '"' for p in part[1:-1].split(".")))
        else:
            text = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), part[1:-1])
            out.append("'" + text.replace("'", "''") + "'")
    return "".join(out)


def _bq_type(duck_type: str) -> str:
    kind = duck_type.upper()
    if kind in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"):
        return "INTEGER"
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        return "FLOAT"
    if kind.startswith("DECIMAL"):
        return "NUMERIC"
    if kind == "TIMESTAMP WITH TIME ZONE":
        return "TIMESTAMP"
    if kind == "TIMESTAMP":
        return "DATETIME"
    return {"BOOLEAN": "BOOLEAN", "DATE": "DATE"}.get(kind, "STRING")


def _cell(value: Any, bq_type: str, int64_timestamps: bool) -> str | None:
    """One value as the REST API writes it (text, timestamps per formatOptions)."""
    if value is None:
        return None
    if bq_type == "TIMESTAMP":
        delta = value.astimezone(dt.UTC) - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return str(micros) if int64_timestamps else f"{micros / 1e6:.6f}"
    if bq_type == "BOOLEAN":
        return "true" if value else "false"
    if bq_type == "NUMERIC" and isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


class _Result:
    def __init__(self, project: str, job_id: str, sql: str, columns, types, rows):
        self.project = project
        self.job_id = job_id
        self.sql = sql
        self.fields = [
            {"name": c, "type": t, "mode": "NULLABLE"} for c, t in zip(columns, types, strict=True)
        ]
        self.rows = rows

    def reference(self) -> dict:
        return {"projectId": self.project, "jobId": self.job_id, "location": "US"}

    def job(self, dry_run: bool = False) -> dict:
        now = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        statistics: dict[str, Any] = {"totalBytesProcessed": "0", "statementType": "SELECT"}
        if dry_run:
            statistics["schema"] = {"fields": self.fields}
        return {
            "kind": "bigquery#job",
            "id": f"{self.project}:US.{self.job_id}",
            "jobReference": self.reference(),
            "configuration": {
                "jobType": "QUERY",
                "query": {
                    "query": self.sql,
                    "useLegacySql": False,
                    "destinationTable": {
                        "projectId": self.project,
                        "datasetId": "_fake_results",
                        "tableId": self.job_id,
                    },
                },
            },
            "status": {"state": "DONE"},
            "statistics": {
                "creationTime": now,
                "startTime": now,
                "endTime": now,
                "query": statistics,
            },
        }

    def page(self, params: dict, page_rows: int, kind: str) -> dict:
        int64 = params.get("formatOptions.useInt64Timestamp", ["false"])[0].lower() == "true"
        asked = int(params["maxResults"][0]) if "maxResults" in params else page_rows
        start = int(params.get("pageToken", params.get("startIndex", ["0"]))[0])
        return self.rows_page(start, min(asked, page_rows), int64, kind)

    def rows_page(self, start: int, count: int, int64: bool, kind: str) -> dict:
        types = [f["type"] for f in self.fields]
        rows = [
            {"f": [{"v": _cell(v, t, int64)} for v, t in zip(row, types, strict=True)]}
            for row in self.rows[start : start + count]
        ]
        body: dict[str, Any] = {
            "kind": kind,
            "jobReference": self.reference(),
            "schema": {"fields": self.fields},
            "totalRows": str(len(self.rows)),
            "jobComplete": True,
            "cacheHit": False,
            "totalBytesProcessed": "0",
        }
        if rows:
            body["rows"] = rows
        if count and start + count < len(self.rows):
            body["pageToken"] = str(start + count)
        return body


class FakeBigQuery:
    """The fake server: ``with FakeBigQuery("my-project") as bq: ... bq.url ...``."""

    def __init__(self, project: str, page_rows: int = 500):
        self.project = project
        self.page_rows = page_rows
        self.requests: list[dict] = []
        self._results: dict[str, _Result] = {}
        self._lock = threading.Lock()
        self._con = duckdb.connect()
        self._con.execute("set TimeZone = 'UTC'")
        self._con.execute(f"attach ':memory:' as \"{project}\"")
        self._con.execute(f'use "{project}"')
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to give the client as ``api_endpoint``."""
        assert self._server is not None, "the server is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_table(self, dataset: str, table: str, data: pa.Table) -> None:
        """Create ``dataset.table`` in the fake's project with ``data``'s rows and types."""
        with self._lock:
            self._con.execute(f'create schema if not exists "{dataset}"')
            self._con.register("_incoming", data)
            self._con.execute(f'create or replace table "{dataset}"."{table}" as from _incoming')
            self._con.unregister("_incoming")

    def run(
        self, project: str, sql: str, job_id: str | None = None, dry_run: bool = False
    ) -> _Result:
        """Run a query; its result is kept for the client's page requests. A dry run only
        describes the result."""
        job_id = job_id or "job_" + uuid.uuid4().hex[:12]
        with self._lock:
            relation = self._con.sql(to_duckdb(sql))
            columns, types = relation.columns, [_bq_type(str(t)) for t in relation.types]
            rows = [] if dry_run else relation.fetchall()
            result = _Result(project, job_id, sql, columns, types, rows)
            if not dry_run:
                self._results[result.job_id] = result
        return result

    def result(self, job_id: str) -> _Result | None:
        """A query's result by its job id (``None`` when unknown)."""
        return self._results.get(job_id)

    def __enter__(self) -> FakeBigQuery:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._con.close()


def _error(code: int, message: str, reason: str) -> dict:
    status = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}.get(code, "UNKNOWN")
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }
    }


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeBigQuery
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        fake = self.server_fake
        parts = urlsplit(self.path)
        params = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        is_json = "json" in (self.headers.get("Content-Type") or "")
        body = json.loads(data) if data and is_json else {"text": data.decode(errors="replace")}
        fake.requests.append(
            {
                "method": method,
                "path": parts.path,
                "params": params,
                "body": body,
                "authorization": self.headers.get("Authorization"),
            }
        )
        path = parts.path.removeprefix(_PREFIX)
        try:
            self._route(method, path, params, body)
        except duckdb.Error as exc:
            self._reply(400, _error(400, f"Query error: {exc}", "invalidQuery"))
        except Exception as exc:  # a request the fake does not understand: fail, never retry
            self._reply(400, _error(400, f"The fake cannot answer: {exc!r}", "invalid"))

    def _route(self, method: str, path: str, params: dict, body: dict) -> None:
        fake = self.server_fake
        route = f"{method} {path}"
        if m := re.fullmatch(r"POST /projects/([^/]+)/queries", route):  # jobs.query
            result = fake.run(m[1], body["query"])
            int64 = body.get("formatOptions", {}).get("useInt64Timestamp", False)
            count = min(body.get("maxResults", fake.page_rows), fake.page_rows)
            return self._reply(200, result.rows_page(0, count, int64, "bigquery#queryResponse"))
        if m := re.fullmatch(r"POST /projects/([^/]+)/jobs", route):  # jobs.insert
            query = body["configuration"]["query"]["query"]
            dry_run = bool(body["configuration"].get("dryRun"))
            result = fake.run(m[1], query, body.get("jobReference", {}).get("jobId"), dry_run)
            return self._reply(200, result.job(dry_run))
        pages = {
            r"GET /projects/[^/]+/queries/([^/]+)": "bigquery#getQueryResultsResponse",
            r"GET /projects/[^/]+/datasets/_fake_results/tables/([^/]+)/data": (
                "bigquery#tableDataList"
            ),
        }
        for pattern, kind in pages.items():
            if (m := re.fullmatch(pattern, route)) and (result := fake.result(m[1])):
                return self._reply(200, result.page(params, fake.page_rows, kind))
        m = re.fullmatch(r"(?:GET|POST) /projects/[^/]+/jobs/([^/]+)(/cancel)?", route)
        if m and (result := fake.result(m[1])):  # jobs.get, jobs.cancel
            return self._reply(200, {"job": result.job()} if m[2] else result.job())
        self._reply(404, _error(404, f"Not found: {route}", "notFound"))

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")
