"""The HTML report a lead forwards, opened in headless Chromium with no network: its charts
render (SVG, carrying the numbers), the top discrepancy is listed, and a held migration is said
to be held back by the sign-off. The run also keeps its GX evidence: the sign-off validation
and the Data Docs under the working folder, and numeric measures on the sign-off asset."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from golive.report import write_report
from golive.report.html import CHART_IDS

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


def _skip(reason: str):
    print(f"SKIPPED: {reason}")  # shown with -s; pytest -ra lists the reason too
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (its own browser downloads are not used)."""
    if not CHROMIUM.exists():
        _skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _skip(f"playwright is not installed ({exc}): pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:  # a Chromium that cannot start here: say why
            _skip(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def held_run(tmp_path_factory):
    """The worked examples with one legacy invoice $5 off: the sign-off (100 % match) holds
    the migration back. Evidence and report go to the working folder."""
    import os

    tmp = tmp_path_factory.mktemp("held")
    root = tmp / "company"
    shutil.copytree(FIXTURE, root)
    path = root / "legacy" / "invoices.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0]["total"] = f"{float(rows[0]['total']) + 5:.2f}"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    # the invoice's line too: a price cause (the quantity agrees, the amount does not)
    lines_path = root / "legacy" / "invoice_lines.csv"
    lines = list(csv.DictReader(lines_path.open()))
    line = next(r for r in lines if r["invoice_id"] == rows[0]["invoice_id"])
    line["amount"] = f"{float(line['amount']) + 5:.2f}"
    with lines_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(lines[0]))
        w.writeheader()
        w.writerows(lines)
    work = tmp / "work"
    previous = os.environ.get("GOLIVE_WORKDIR")
    os.environ["GOLIVE_WORKDIR"] = str(work)
    try:
        from orchestration.runner import run_stages

        run = run_stages(root / "plan.yaml", f"duckdb:///{tmp}/w.duckdb")
        report = write_report(run, work / "report.md")
    finally:
        if previous is None:
            os.environ.pop("GOLIVE_WORKDIR", None)
        else:
            os.environ["GOLIVE_WORKDIR"] = previous
    return run, report, rows[0]


def _open(browser, path: Path):
    """The page at ``path``, every request that is not the file itself refused and recorded."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    outside: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "about:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", guard)
    page.goto(path.as_uri())
    return page, outside


def test_charts_render_with_their_numbers_offline(held_run, browser):
    run, report, wrong = held_run
    html = report.with_suffix(".html")
    assert html.exists() and report.exists()
    page, outside = _open(browser, html)
    page.wait_for_selector("#chart-currency-match svg.main-svg", timeout=30_000)

    for chart in CHART_IDS:
        if page.locator(f"#{chart}").count():
            assert page.locator(f"#{chart} svg.main-svg").count() >= 1, chart
    # 15 of the 16 invoices match, all in USD; the one off by 5
    assert "93.75 %" in page.locator("#chart-currency-match .bartext").all_text_contents()
    assert "5.00" in page.locator("#chart-currency-delta .bartext").all_text_contents()
    assert page.locator("#chart-delta-distribution .bartext").all_text_contents() == ["1", "15"]
    assert page.locator("#chart-cause-counts .bartext").all_text_contents() == ["1"]
    assert page.locator("#chart-cause-money .bartext").all_text_contents() == ["5.00"]
    assert "price" in page.locator("#chart-cause-counts").inner_text()

    top = page.locator("#discrepancy-1").inner_text()
    assert wrong["customer_id"] in top and "amount_mismatch" in top and "-5.00" in top
    assert wrong["invoice_id"] in top
    assert "price" in top  # its line, with the cause
    verdict = page.locator("#verdict").inner_text()
    assert "sign-off held the migration back" in verdict
    assert "min_invoice_match_rate" in verdict
    assert "FAILED" not in page.content()
    assert outside == []  # plotly's JavaScript is in the file: nothing was fetched
    page.close()


def test_report_md_says_the_signoff_held_the_migration(held_run):
    run, report, _ = held_run
    text = report.read_text()
    assert "**The sign-off held the migration back.**" in text
    assert "| production_migration | held back by the sign-off |" in text
    assert "FAILED" not in text


def test_evidence_and_numeric_metadata(held_run):
    run, report, _ = held_run
    work = report.parent
    docs = work / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert (docs / "index.html").exists()
    pages = list((docs / "validations" / "golive_signoff").rglob("*.html"))
    assert pages and "min_invoice_match_rate" in pages[-1].read_text()
    kept = list((work / "gx" / "uncommitted" / "validations" / "golive_signoff").rglob("*.json"))
    assert kept
    assert list((docs / "validations").glob("input_profile_*"))

    stage = next(s for s in run.stages if s.stage == "parallel_test")
    signoff = stage.metadata["sandbox/signoff"]
    assert signoff["invoice_match_rate"] == pytest.approx(0.9375)
    assert isinstance(signoff["invoice_match_rate"], float)
    assert signoff["abs_total_delta"] == pytest.approx(5.0)
    assert signoff["pricing_errors"] == 0 and isinstance(signoff["pricing_errors"], int)
    assert isinstance(signoff["quarantined_event_ratio"], float)
    assert Path(signoff["report_html"]).exists()
    assert "sign-off held the migration back" in signoff["report"]
