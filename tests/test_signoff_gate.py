"""A failing sign-off holds production migration back, exits non-zero naming the criteria,
and alerts: from the command line, and from the Dagster run-failure sensor."""

from __future__ import annotations

import csv
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from connectors.warehouse import warehouse_from_url
from golive.cli import EXIT_SIGNOFF_HELD, main
from orchestration.resources import AlertsResource
from orchestration.sensors import alert_on_failure

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"


@pytest.fixture
def receiver():
    """A local HTTP server that records the JSON bodies posted to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # keep the test output clean
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


def _company_with_a_wrong_legacy_invoice(tmp_path: Path) -> Path:
    """The worked examples, with one legacy invoice $5 off: sign-off requires 100 % match."""
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    path = root / "legacy" / "invoices.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0]["total"] = f"{float(rows[0]['total']) + 5:.2f}"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root / "plan.yaml"


def test_failing_signoff_holds_migration_and_alerts(tmp_path, receiver, monkeypatch):
    url, received = receiver
    monkeypatch.setenv("GOLIVE_ALERT_URLS", url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    plan = _company_with_a_wrong_legacy_invoice(tmp_path)
    warehouse = f"duckdb:///{tmp_path}/w.duckdb"

    result = CliRunner().invoke(main, ["run", str(plan), "--warehouse", warehouse])

    assert result.exit_code == EXIT_SIGNOFF_HELD, result.output
    assert "Sign-off failed (max_abs_total_delta, min_invoice_match_rate)" in result.output
    assert "production migration held back" in result.output
    wh = warehouse_from_url(warehouse)
    signoff = dict(wh.query("select criterion, passed from sandbox.signoff"))
    assert signoff == {
        "journal_must_balance": True,
        "max_abs_total_delta": False,
        "max_quarantined_event_ratio": True,
        "min_invoice_match_rate": False,
        "no_pricing_errors": True,
    }
    delta = "select observed from sandbox.signoff where criterion = 'max_abs_total_delta'"
    assert wh.scalar(delta) == "5"
    assert not wh.table_exists("production", "invoices")  # nothing promoted

    # the command line alerted once, through apprise, to the local receiver
    assert len(received) == 1
    assert "sign-off failed" in received[0]["title"]
    assert "signoff_criteria_pass" in received[0]["message"]
    assert "- min_invoice_match_rate: observed 0.9375, threshold >= 1" in received[0]["message"]

    # the deployment's run-failure sensor sends the same alert for the failed run
    instance = dg.DagsterInstance.get()
    failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert len(failed) == 1
    event = instance.all_logs(failed[0].run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_failure",
        dagster_event=event.dagster_event,
        dagster_instance=instance,
        dagster_run=failed[0],
        resources={"alerts": AlertsResource(urls=url)},
    ).for_run_failure()
    alert_on_failure(context)
    assert len(received) == 2
    assert received[1]["title"].startswith("golive: sign-off failed, production migration held")
    assert "min_invoice_match_rate: 0.9375 (>= 1)" in received[1]["message"]


def test_bad_plan_fails_before_any_run(tmp_path):
    plan = tmp_path / "plan.yaml"
    shutil.copytree(FIXTURE / "data", tmp_path / "data")
    text = (FIXTURE / "plan.yaml").read_text().replace("model: volume", "model: volumetric")
    plan.write_text(text)
    warehouse = f"duckdb:///{tmp_path}/w.duckdb"
    result = CliRunner().invoke(main, ["run", str(plan), "--warehouse", warehouse])
    assert result.exit_code == 2
    assert str(plan) in result.output
    assert "products[6].pricing.model" in result.output
    assert not (tmp_path / "w.duckdb").exists()  # nothing ran
