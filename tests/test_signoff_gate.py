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
from orchestration.resources import AlertsResource, PlanResource
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
    monkeypatch.chdir(tmp_path)  # the command line writes its log here
    monkeypatch.setenv("GOLIVE_ALERT_URLS", url)
    monkeypatch.setenv("GOLIVE_DAGSTER_URL", "http://dagster.internal:3000")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    plan = _company_with_a_wrong_legacy_invoice(tmp_path)
    warehouse = f"duckdb:///{tmp_path}/w.duckdb"

    result = CliRunner().invoke(
        main, ["run", str(plan), "--warehouse", warehouse, "--approved-by", "Ada Lovelace"]
    )

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

    assert (tmp_path / "golive-run.log").exists()
    # the held attempt is audited, with why
    audit = wh.query("select status, reason from audit.migration_runs")
    assert audit[0][0] == "held"
    assert audit[0][1].startswith("sign-off held the migration back: max_abs_total_delta")

    # the command line alerted once, through apprise, to the local receiver: only the failing
    # criteria, with what was observed against the threshold, what to do, and the run's page
    assert len(received) == 1
    title, message = received[0]["title"], received[0]["message"]
    assert title == "golive (Worked Examples Ltd): sign-off held the production migration back"
    assert "- min_invoice_match_rate: observed 0.9375, threshold >= 1" in message
    assert "- max_abs_total_delta: observed 5, threshold <= 0" in message
    assert "journal_must_balance" not in message and "no_pricing_errors" not in message
    assert "Look at the parallel test report" in message
    assert "Run: http://dagster.internal:3000/runs/" in message

    # the deployment's run-failure sensor sends the same alert for the failed run
    instance = dg.DagsterInstance.get()
    failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert len(failed) == 1
    event = instance.all_logs(failed[0].run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
    # the plan resource opens per run (it tags the run), so the context is entered, as the
    # daemon does
    with dg.build_run_status_sensor_context(
        sensor_name="alert_on_failure",
        dagster_event=event.dagster_event,
        dagster_instance=instance,
        dagster_run=failed[0],
        resources={"alerts": AlertsResource(urls=url), "plan": PlanResource(path=str(plan))},
    ) as context:
        alert_on_failure(context.for_run_failure())
    assert len(received) == 2
    # the sensor's alert says it in the same words, about the same run
    assert received[1]["title"] == title
    assert received[1]["message"] == message


def test_bad_plan_fails_before_any_run(tmp_path, receiver, monkeypatch):
    url, received = receiver
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOLIVE_ALERT_URLS", url)
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
    # the alert names the key, and says nothing ran
    assert received[0]["title"] == "golive (plan.yaml): the plan cannot run"
    assert "products[6].pricing.model" in received[0]["message"]
    assert "nothing ran" in received[0]["message"]
