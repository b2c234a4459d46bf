"""The command line: it reports only what this run produced, prints what users wrote literally
(a header like ``[/bold]`` is text, not console markup), and alerts whatever the error."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from golive.cli import EXIT_BAD_INPUT, EXIT_STAGE_FAILED, main

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"


@pytest.fixture
def receiver():
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


@pytest.fixture
def company(tmp_path, monkeypatch, receiver):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOLIVE_ALERT_URLS", receiver[0])
    shutil.copytree(FIXTURE, tmp_path / "company")
    return tmp_path / "company" / "plan.yaml"


@pytest.mark.slow
def test_a_failed_load_reports_no_earlier_signoff_and_prints_user_text_literally(
    company, tmp_path, receiver
):
    _, received = receiver
    warehouse = f"duckdb:///{tmp_path}/w.duckdb"
    first = CliRunner().invoke(main, ["run", str(company), "--warehouse", warehouse])
    assert first.exit_code == 4, first.output  # signed off, waiting for an approval
    assert "Sign-off: Worked Examples Ltd" in first.output

    # the customers now come with a header that reads like console markup, and no name column
    (company.parent / "data" / "customers.csv").write_text(
        "customer_id,[/bold],[link=x]y\nC1,a,b\n"
    )
    again = CliRunner().invoke(main, ["run", str(company), "--warehouse", warehouse])
    assert again.exit_code == EXIT_STAGE_FAILED, again.output
    assert "✗ sandbox_load" in again.output
    assert "the source has customer_id, [/bold], [link=x]y" in again.output
    assert "Sign-off" not in again.output  # the earlier run's table is not this run's
    assert received[-1]["title"] == "golive (Worked Examples Ltd): a source could not be read"
    assert "[/bold]" in received[-1]["message"]


def test_a_bad_warehouse_url_fails_before_anything_runs_with_one_message(company, tmp_path):
    for url, hint in (
        ("duckdb:/x.duckdb", "write duckdb:///x.duckdb (relative to the working folder)"),
        ("mysql://user:pw@host/db", "golive runs on DuckDB"),
    ):
        result = CliRunner().invoke(main, ["run", str(company), "--warehouse", url])
        assert result.exit_code == EXIT_BAD_INPUT
        assert hint in result.output
        assert result.output.count(hint) == 1
        assert "Traceback" not in result.output and ":pw@" not in result.output
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize("password", ["S3c#retXYZ", "S3c/retXYZ", "S3c?retXYZ", "S3cret%XYZ"])
def test_a_password_golive_cannot_read_is_refused_without_showing_it(company, receiver, password):
    _, received = receiver
    url = f"postgresql://postgres:{password}@127.0.0.1:5432/postgres"
    result = CliRunner().invoke(
        main, ["run", str(company), "--warehouse", url, "--through", "discovery"]
    )
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "golive cannot read the warehouse URL postgresql://***" in lines[0]
    assert "Fix: percent-encode the password" in lines[0] and "# as %23" in lines[0]
    for part in ("S3c", "retXYZ", "%XYZ"):
        assert part not in result.output
    assert "Traceback" not in result.output
    assert received == []  # refused before anything ran


#: the commands that open the warehouse themselves (golive run: its stage failure)
WAREHOUSE_COMMANDS = pytest.mark.parametrize(
    "command",
    [
        ["approve", "--by", "Grace Hopper"],
        ["backfill", "PLAN", "--from", "2026-06-01"],
        ["export", "journal", "--format", "xero", "--from", "2026-07-01", "--to", "2026-07-31"],
    ],
    ids=["approve", "backfill", "export"],
)


def _with_password(url: str, port: int | None = None, database: str | None = None) -> str:
    """``url`` as user postgres with the password ``S3c#retXYZ`` (percent-encoded)."""
    parts = urlsplit(url)
    netloc = f"postgres:S3c%23retXYZ@{parts.hostname}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database or 'postgres'}"))


def _cannot_connect(company: Path, command: list[str], url: str) -> str:
    args = [str(company) if a == "PLAN" else a for a in command]
    result = CliRunner().invoke(main, [*args, "--warehouse", url])
    assert result.exit_code == EXIT_STAGE_FAILED, result.output  # as golive run's
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    # (Dagster's own warnings aside, on stderr)
    lines = [x for x in result.output.splitlines() if "Warning" not in x and "return fn" not in x]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(
        "cannot connect to the PostgreSQL warehouse postgresql://postgres:***@"
    )
    assert "Fix: check the host, port, database and user of --warehouse" in lines[0]
    for secret in ("S3c", "retXYZ"):
        assert secret not in result.output
    return lines[0]


@WAREHOUSE_COMMANDS
def test_a_warehouse_on_a_wrong_port_is_one_scrubbed_line(company, command):
    line = _cannot_connect(company, command, _with_password("postgresql://127.0.0.1", port=1))
    assert "Connection refused" in line


@WAREHOUSE_COMMANDS
def test_a_missing_warehouse_database_is_one_scrubbed_line(company, command, postgres_server_url):
    url = _with_password(postgres_server_url, database="golive_no_such_database")
    line = _cannot_connect(company, command, url)
    assert "golive_no_such_database" in line or "authentication" in line


@pytest.mark.slow
def test_a_plain_duckdb_path_is_a_warehouse(company, tmp_path):
    result = CliRunner().invoke(
        main, ["run", str(company), "--warehouse", "plain.duckdb", "--through", "discovery"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plain.duckdb").exists()
    assert "Warehouse: duckdb:///plain.duckdb" in result.output


@pytest.mark.slow
def test_the_reports_and_the_gx_evidence_go_beside_the_report(company, tmp_path, monkeypatch):
    monkeypatch.delenv("GOLIVE_WORKDIR", raising=False)  # the command line chooses the folder
    out = tmp_path / "evidence"
    out.mkdir()
    warehouse = f"duckdb:///{tmp_path}/w.duckdb"
    result = CliRunner().invoke(
        main,
        ["run", str(company), "--warehouse", warehouse, "--report", str(out / "report.md")],
    )
    assert result.exit_code == 4, result.output  # signed off, waiting for an approval
    assert (out / "report.md").read_text().startswith("# ")
    assert "<html" in (out / "report.html").read_text()[:500].lower()
    docs = out / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs.exists()
    assert f"Data Docs: {docs}" in result.output.replace("\n", "")
    assert (out / "golive-run.log").exists()
    assert not (tmp_path / "gx").exists()  # nothing in the working folder of the shell


@pytest.mark.slow
def test_a_report_in_a_folder_not_made_yet_makes_the_folder(company, tmp_path, receiver):
    _, received = receiver
    out = tmp_path / "not" / "made" / "yet"
    result = CliRunner().invoke(
        main,
        ["run", str(company), "--warehouse", f"duckdb:///{tmp_path}/w.duckdb",
         "--through", "discovery", "--report", str(out / "r.md")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "r.md").exists() and (out / "r.html").exists()
    assert (out / "golive-run.log").exists()
    assert received == []  # no stage failed


@pytest.mark.parametrize(
    ("report", "message"),
    [
        (
            "report.html",
            "names the Markdown report; the HTML report is written beside it, with the same "
            "name and .html. Fix: --report {tmp}/report.md",
        ),
        (
            "a-file/report.md",
            "cannot create the folder {tmp}/a-file for the report and the log: a file has that "
            "name, or the name of a folder above it. Fix: name a --report in a folder you can "
            "write to",
        ),
    ],
)
def test_a_report_that_cannot_be_written_is_refused_before_anything_runs(
    company, tmp_path, receiver, report, message
):
    _, received = receiver
    (tmp_path / "a-file").write_text("not a folder")
    result = CliRunner().invoke(
        main,
        ["run", str(company), "--warehouse", f"duckdb:///{tmp_path}/w.duckdb",
         "--report", str(tmp_path / report)],
    )  # fmt: skip
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert message.format(tmp=tmp_path) in result.output
    assert not (tmp_path / "w.duckdb").exists() and received == []  # nothing ran


def test_a_backfill_range_that_ends_before_it_starts_is_refused(company):
    result = CliRunner().invoke(
        main, ["backfill", str(company), "--from", "2026-10-05", "--to", "2026-10-01"]
    )
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert (
        "--from 2026-10-05 is after --to 2026-10-01: the range holds no day. Fix: "
        "--from 2026-10-01 --to 2026-10-05"
    ) in result.output
    assert not Path("golive.duckdb").exists()  # nothing ran (the default warehouse)
