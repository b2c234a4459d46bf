"""Secrets: the password of a PostgreSQL warehouse URL and of a source URL appears in no output,
no file, no table and no alert of a full run (one that promotes, and one that fails). The
Snowflake warehouse's password is held to the same (tests/test_snowflake_warehouse.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from connectors.warehouse import warehouse_from_url

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "worked_examples"

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver():
    """A local HTTP server that keeps the JSON bodies posted to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"json://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


def _with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _every_text(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in folder.rglob("*") if p.is_file()]


def _warehouse_text(url: str) -> str:
    """Every text value of every table golive wrote, as one string (PostgreSQL, Snowflake)."""
    wh = warehouse_from_url(url)
    texts = []
    for schema, table, column in wh.query(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where lower(table_schema) in ('raw', 'quarantine', 'staging', 'sandbox', "
        "'production', 'audit') and lower(data_type) in ('text', 'character varying')"
    ):
        texts += [
            str(v)
            for (v,) in wh.query(f'select distinct "{column}" from {schema}."{table}"')
            if v is not None
        ]
    return "\n".join(texts)


def assert_secret_nowhere(
    secret: str,
    folders: list[Path],
    url: str,
    *texts: str,
    not_golives: tuple[str, ...] = ("plan.yaml",),
) -> None:
    """``secret`` is in no file under ``folders`` (but those named in ``not_golives``: files
    the test wrote itself), in none of ``texts`` (outputs, alerts, run metadata) and in no text
    value of the warehouse at ``url``."""
    for text in texts:
        assert secret not in text
    for folder in folders:
        for path, data in _every_text(folder):
            if path.name in not_golives:
                continue
            assert secret.encode() not in data, path
    assert secret not in _warehouse_text(url)


def test_no_password_anywhere(tmp_path, postgres_url, receiver, monkeypatch):
    import psycopg

    alert_url, received = receiver
    warehouse_pw = f"Wh-{uuid.uuid4().hex[:12]}"
    source_pw = f"Src-{uuid.uuid4().hex[:12]}"
    role = f"golive_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"create role {role} login superuser password '{warehouse_pw}'")
    try:
        warehouse = _with_user(postgres_url, role, warehouse_pw)
        # the customers come from PostgreSQL too, through a URL that holds another password
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute("create schema crm")
            con.execute("create table crm.customers (customer_id text, name text, currency text)")
            rows = [
                line.split(",")
                for line in (FIXTURE / "data" / "customers.csv").read_text().splitlines()[1:]
            ]
            for r in rows:
                con.execute("insert into crm.customers values (%s, %s, %s)", [r[0], r[1], r[4]])
        company = tmp_path / "company"
        shutil.copytree(FIXTURE, company)
        plan = company / "plan.yaml"
        plan.write_text(
            plan.read_text().replace(
                "customers:      {connector: csv, path: data/customers.csv}",
                "customers:      {connector: postgres, url_env: CRM_URL, table: crm.customers}",
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CRM_URL": _with_user(postgres_url, role, source_pw),
            "GOLIVE_ALERT_URLS": alert_url,
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        }
        (tmp_path / "dagster_home").mkdir()
        work = tmp_path / "work"
        work.mkdir()

        def golive(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", "golive.cli", *args],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )

        promoted = golive(
            "run",
            str(plan),
            "--warehouse",
            warehouse,
            "--approved-by",
            "Ada",
            "--report",
            str(work / "report.md"),
        )
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert "postgresql://" in promoted.stdout and ":***@" in promoted.stdout

        # a source that refuses the connection: the run fails, and says so without the secret
        env["CRM_URL"] = (
            _with_user(postgres_url, role, source_pw)
            .replace(urlsplit(postgres_url).hostname or "127.0.0.1", "127.0.0.2")
            .replace(f":{urlsplit(postgres_url).port}", ":9")
        )
        failed = golive("run", str(plan), "--warehouse", warehouse)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "customers: cannot read from postgres" in failed.stdout
        assert len(received) == 1 and "a source could not be read" in received[0]["title"]

        outputs = (promoted.stdout, promoted.stderr, failed.stdout, failed.stderr)
        for secret in (warehouse_pw, source_pw):
            assert_secret_nowhere(
                secret,
                [tmp_path, ROOT / "dbt_project" / "target"],
                warehouse,
                *outputs,
                json.dumps(received),
            )
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f"drop owned by {role} cascade")
            con.execute(f"drop role {role}")
