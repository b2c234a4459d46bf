"""The ``golive`` command line: ``golive demo`` and ``golive run PLAN``.

Exit status: 0 when every stage asked for succeeded; 1 when a stage failed; 2 for a bad plan,
a bad warehouse URL or bad arguments (nothing ran); 3 when the sign-off held production
migration back; 4 when the sign-off passed and the migration waits for a named approval
(``golive approve --by NAME``, or ``golive run --approved-by NAME``); 5 when another run holds
the warehouse (nothing ran). A warehouse that cannot be reached (a wrong port, a missing
database) is a failure, 1, for every command, printed on one line and scrubbed of its secrets.

Everything a user wrote (plan keys, column names, file paths, error messages that quote them)
is printed literally, never read as console markup.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.warehouse import (
    Warehouse,
    WarehouseBusyError,
    WarehouseURLError,
    warehouse_from_url,
)
from golive.plan import PlanError
from orchestration.runner import RunResult, StageResult, run_stages
from orchestration.stages import STAGES

console = Console(highlight=False, soft_wrap=True)

EXIT_STAGE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_SIGNOFF_HELD = 3
EXIT_AWAITING_APPROVAL = 4
EXIT_WAREHOUSE_BUSY = 5


def _one_line(warehouse: Warehouse, exc: BaseException) -> str:
    """``exc``'s message on one line, scrubbed of the warehouse's secrets (a driver's reason
    can span lines, and can echo what it was given)."""
    return " ".join(warehouse.scrub(str(exc)).split())


def _cannot_connect(warehouse: Warehouse, exc: ConnectionError) -> NoReturn:
    """A warehouse that cannot be reached: one line, no secret, the status of ``golive run``
    for the same failure."""
    reason = _one_line(warehouse, exc)
    end = " " if reason.endswith((".", "?", "!")) else ". "  # libpq's reason can end in a question
    console.print(
        f"[red]{escape(reason)}{end}Fix: check the host, port, database and user of "
        "--warehouse, and that the server accepts connections[/red]"
    )
    sys.exit(EXIT_STAGE_FAILED)


def _stage_line(stage: str, result: StageResult | None) -> None:
    if result is None:
        console.print(f"[bold]▶ {stage}[/bold] …")
        return
    if result.success:
        rows = sum(
            int(m.get("dagster/row_count", 0) or 0)
            for m in result.metadata.values()
            if isinstance(m.get("dagster/row_count", 0), int)
        )
        extra = f", {len(result.metadata)} assets" + (f", {rows:,} rows" if rows else "")
        console.print(f"  [green]✓ {stage}[/green] in {result.seconds:.1f} s{extra}")
    else:
        console.print(f"  [red]✗ {stage}[/red] failed after {result.seconds:.1f} s")
        console.print(f"    {escape(result.error)}")


def _signoff_table(run: RunResult) -> Table:
    table = Table(title=f"Sign-off: {escape(run.plan.company)}")
    for col in ("criterion", "threshold", "observed", "passed"):
        table.add_column(col)
    for c in run.signoff:
        table.add_row(
            escape(c["criterion"]),
            escape(c["threshold"]),
            escape(c["observed"]),
            "[green]yes[/green]" if c["passed"] else "[red]NO[/red]",
        )
    return table


def _finish(run: RunResult, report: Path | None) -> int:
    if run.signoff:
        console.print(_signoff_table(run))
    if report is not None:
        from golive.report import write_report

        write_report(run, report)
        console.print(
            f"Report: {escape(str(report))} (and {escape(str(report.with_suffix('.html')))})"
        )
    from expectations.evidence import data_docs_index

    docs = data_docs_index()
    if docs.exists():
        console.print(f"Data Docs: {escape(str(docs))}")
    console.print(f"Warehouse: {escape(run.warehouse.display_url)}")
    if run.success:
        return 0
    if run.held == "signoff":
        failing = [c["criterion"] for c in run.signoff if not c["passed"]]
        console.print(
            f"[red]Sign-off failed ({escape(', '.join(failing))}): "
            "production migration held back.[/red]"
        )
        return EXIT_SIGNOFF_HELD
    if run.held == "approval":
        console.print(
            "[yellow]The sign-off passed; production migration waits for a named approval: "
            "golive approve --by NAME (or run again with --approved-by NAME).[/yellow]"
        )
        return EXIT_AWAITING_APPROVAL
    return EXIT_STAGE_FAILED


@click.group()
@click.version_option(package_name="golive")
def main() -> None:
    """golive: take billing to usage-based billing, and prove the numbers first."""


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--warehouse",
    "warehouse_url",
    default=None,
    help="duckdb:///path/file.duckdb (default: golive.duckdb here) or postgresql://…",
)
@click.option(
    "--through",
    type=click.Choice(STAGES),
    default="production_migration",
    show_default=True,
    help="Stop after this stage.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the parallel test report (Markdown) here.",
)
@click.option(
    "--approved-by",
    default=None,
    help="Approve the production migration in this person's name (once the sign-off passed).",
)
@click.option("--note", default=None, help="A note kept with the approval.")
def run(
    plan: Path,
    warehouse_url: str | None,
    through: str,
    report: Path | None,
    approved_by: str | None,
    note: str | None,
) -> None:
    """Run the roadmap stages on PLAN, from discovery through --through."""
    if report is not None and report.suffix.lower() == ".html":
        # the HTML report is the Markdown report's name with .html: the two would be one file
        console.print(
            f"[red]--report {escape(str(report))} names the Markdown report; the HTML report "
            "is written beside it, with the same name and .html. Fix: --report "
            f"{escape(str(report.with_suffix('.md')))}[/red]"
        )
        sys.exit(EXIT_BAD_INPUT)
    log_path = (report.parent if report else Path.cwd()) / "golive-run.log"
    sys.exit(_execute(plan, warehouse_url, through, report, log_path, approved_by, note))


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "first_day", default=None, help="First day (YYYY-MM-DD, plan's zone).")
@click.option("--to", "last_day", default=None, help="Last day, included (default: --from).")
@click.option(
    "--warehouse",
    "warehouse_url",
    default=None,
    help="duckdb:///path/file.duckdb (default: golive.duckdb here) or postgresql://…",
)
def backfill(
    plan: Path, first_day: str | None, last_day: str | None, warehouse_url: str | None
) -> None:
    """Pull and aggregate usage for a range of days, as the nightly job does, in one run.

    Without --from/--to: the last complete day (what the nightly schedule runs). What arrived is
    classified against all history, every day it touches is re-aggregated (late events into
    closed periods included), and the days of the range are aggregated again. After go-live,
    production's usage aggregates follow."""
    from connectors.warehouse import DEFAULT_URL
    from orchestration.runner import run_usage

    try:
        warehouse = warehouse_from_url(warehouse_url or DEFAULT_URL)
    except WarehouseURLError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(EXIT_BAD_INPUT)
    try:
        outcome = run_usage(plan, warehouse.url, first_day, last_day, Path.cwd() / "golive-run.log")
    except ConnectionError as exc:
        _cannot_connect(warehouse, exc)
    except (PlanError, ValueError) as exc:
        console.print(f"[red]{escape(warehouse.scrub(str(exc)))}[/red]")
        sys.exit(EXIT_BAD_INPUT)
    except WarehouseBusyError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(EXIT_WAREHOUSE_BUSY)
    _stage_line("usage", outcome)
    for name, warning in sorted(outcome.warnings.items()):
        console.print(f"  [yellow]! {escape(name)}[/yellow]: {escape(warning)}")
    sys.exit(0 if outcome.success else EXIT_STAGE_FAILED)


@main.command()
@click.option("--by", "approved_by", required=True, help="The name of the person who approves.")
@click.option("--note", default=None, help="A note kept with the approval.")
@click.option(
    "--warehouse",
    "warehouse_url",
    default=None,
    help="duckdb:///path/file.duckdb (default: golive.duckdb here) or postgresql://…",
)
def approve(approved_by: str, note: str | None, warehouse_url: str | None) -> None:
    """Approve the production migration of the sandbox as it is now (its sign-off passed).

    The approval is recorded with the sandbox's checksums: a sandbox that changes afterwards
    needs a new one. The next `golive run` (or Dagster run) promotes it."""
    from connectors.warehouse import DEFAULT_URL
    from golive.migration import MigrationHeld
    from golive.migration import approve as record

    try:
        warehouse = warehouse_from_url(warehouse_url or DEFAULT_URL)
    except WarehouseURLError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(EXIT_BAD_INPUT)
    try:
        with warehouse.exclusive(f"golive approve by {approved_by}"):
            approval = record(warehouse, approved_by, note)
    except MigrationHeld as held:
        console.print(f"[red]{escape(str(held))}[/red]")
        sys.exit(EXIT_SIGNOFF_HELD)
    except ConnectionError as exc:
        _cannot_connect(warehouse, exc)
    except WarehouseBusyError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(EXIT_WAREHOUSE_BUSY)
    except ValueError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(EXIT_BAD_INPUT)
    console.print(
        f"Approved by {escape(approval.approved_by)} at {approval.approved_at:%Y-%m-%d %H:%M} "
        f"UTC ({len(approval.checksums)} sandbox tables). The next run promotes this sandbox."
    )


def _execute(
    plan: Path,
    warehouse_url: str | None,
    through: str,
    report: Path | None,
    log_path: Path,
    approved_by: str | None = None,
    note: str | None = None,
) -> int:
    """Check the arguments, run the stages, print the outcome; the exit status.

    Whatever goes wrong, the failure is printed and alerted (an unexpected error included)."""
    from connectors.warehouse import DEFAULT_URL

    try:
        warehouse = warehouse_from_url(warehouse_url or DEFAULT_URL)
    except WarehouseURLError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        return EXIT_BAD_INPUT
    try:  # the log (and the report, the GX evidence) go there: a folder that cannot be is refused
        log_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (
            "a file has that name, or the name of a folder above it"
            if isinstance(exc, FileExistsError | NotADirectoryError)
            else exc.strerror or type(exc).__name__
        )
        console.print(
            f"[red]cannot create the folder {escape(str(log_path.parent))} for the report and "
            f"the log: {escape(reason)}. Fix: name a --report in a folder you can write to[/red]"
        )
        return EXIT_BAD_INPUT
    from expectations.evidence import working_in

    try:
        # the GX evidence (gx/, Data Docs) goes beside the report and the log
        with working_in(log_path.parent):
            result = run_stages(
                plan,
                warehouse.url,
                through=through,
                on_stage=_stage_line,
                log_path=log_path,
                approved_by=approved_by,
                note=note,
            )
            code = _finish(result, report)
    except PlanError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        _alert_refused("bad_plan", plan.name, str(exc))
        return EXIT_BAD_INPUT
    except WarehouseBusyError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        _alert_refused("warehouse_busy", plan.name, str(exc))
        return EXIT_WAREHOUSE_BUSY
    except Exception as exc:
        message = _one_line(warehouse, exc)
        console.print(f"[red]golive failed: {escape(message)}[/red]")
        _alert_refused("stage_failed", plan.name, message)
        raise SystemExit(EXIT_STAGE_FAILED) from None
    console.print(f"Log: {escape(str(log_path))}")
    return code


def _alert_refused(cause: str, plan_name: str, error: str) -> None:
    """Alert a refusal that stopped the run before any stage (the plan may not even load:
    the alert names the plan file)."""
    from golive.alerts import compose_alert, send_alert

    send_alert(*compose_alert(cause, plan_name, error=error))


@main.command()
@click.option(
    "--events",
    default=1_000_000,
    show_default=True,
    type=click.IntRange(min=1000),
    help="Usage events to generate.",
)
@click.option(
    "--warehouse", "warehouse_url", default=None, help="Default: duckdb:///<dir>/warehouse.duckdb"
)
@click.option(
    "--dir",
    "directory",
    default="golive-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the sample company, warehouse and report go.",
)
@click.option("--seed", default=7, show_default=True, help="Random seed of the sample company.")
def demo(events: int, warehouse_url: str | None, directory: Path, seed: int) -> None:
    """Generate a sample company and run every stage on it, discovery to production."""
    from golive.demo import generate_company

    directory = directory.resolve()
    started = time.perf_counter()
    with console.status(f"Generating a sample company with {events:,} usage events …"):
        summary = generate_company(directory / "company", events=events, seed=seed)
    console.print(
        f"Generated {summary['customers']:,} customers, {summary['contracts']:,} contracts, "
        f"{summary['events']:,} usage events and the legacy invoices in "
        f"{time.perf_counter() - started:.1f} s: {directory / 'company'}"
    )
    if warehouse_url is None:
        db = directory / "warehouse.duckdb"
        db.unlink(missing_ok=True)
        warehouse_url = f"duckdb:///{db}"
    console.print(
        "The demo approves its own migration, in the name 'golive demo' (a sample company); "
        "a real plan waits for a named approval."
    )
    code = _execute(
        Path(summary["plan"]),
        warehouse_url,
        "production_migration",
        directory / "report.md",
        directory / "run.log",
        approved_by="golive demo",
        note="sample company, approved by the demo itself",
    )
    console.print(f"Total: {time.perf_counter() - started:.1f} s")
    sys.exit(code)


# ---------------------------------------------------------------------------- golive export


@main.group()
def export() -> None:
    """Export what golive posted, for other systems (docs/accounting.md)."""


@export.command("journal")
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(("netsuite", "quickbooks", "xero")),
    help="The ERP whose journal-import CSV layout to write.",
)
@click.option(
    "--from", "first_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day."
)
@click.option(
    "--to", "last_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, included."
)
@click.option(
    "--warehouse",
    "warehouse_url",
    default=None,
    help="duckdb:///path/file.duckdb (default: golive.duckdb here) or postgresql://…",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The CSV file (default: journal-FORMAT-FROM-TO.csv here).",
)
@click.option("--currency", default=None, help="Only the entries in this currency.")
@click.option(
    "--date-format", default=None, help="strftime pattern of the dates (NetSuite, QuickBooks)."
)
@click.option("--tax-rate", default=None, help="Xero's TaxRate column (default: Tax Exempt).")
@click.option(
    "--sandbox", is_flag=True, help="Export the sandbox's journal (a trial import before go-live)."
)
def export_journal(
    fmt: str,
    first_day,
    last_day,
    warehouse_url: str | None,
    output: Path | None,
    currency: str | None,
    date_format: str | None,
    tax_rate: str | None,
    sandbox: bool,
) -> None:
    """Write the journal of --from..--to (invoice postings and revenue recognition) in an
    ERP's journal-import CSV layout, accounts mapped by the plan's accounts section.

    Every entry balances; amounts are in the invoice currency. Exit status 2 when nothing
    could be written (production not live, an account not mapped, …); 1 when the warehouse
    cannot be reached."""
    from connectors.warehouse import DEFAULT_URL
    from golive.export import ExportError, money
    from golive.export import export_journal as write

    first, last = first_day.date(), last_day.date()
    output = output or Path.cwd() / f"journal-{fmt}-{first:%Y%m%d}-{last:%Y%m%d}.csv"
    try:
        warehouse = warehouse_from_url(warehouse_url or DEFAULT_URL)
    except WarehouseURLError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(EXIT_BAD_INPUT)
    try:
        result = write(
            warehouse,
            fmt,
            first,
            last,
            output,
            source="sandbox" if sandbox else "production",
            currency=currency,
            date_format=date_format,
            tax_rate=tax_rate,
        )
    except ConnectionError as exc:
        _cannot_connect(warehouse, exc)
    except ExportError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(EXIT_BAD_INPUT)
    totals = "; ".join(f"{c} {money(d, c)}" for c, (d, _) in result.totals.items())
    console.print(
        f"{result.entries:,} entries, {result.lines:,} lines, {first} to {last}"
        + (f" (debits = credits: {escape(totals)})" if totals else "")
    )
    for path in result.files:
        console.print(f"Wrote {escape(str(path))}")


if __name__ == "__main__":  # pragma: no cover
    main()
