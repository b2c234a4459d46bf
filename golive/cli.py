"""The ``golive`` command line: ``golive demo`` and ``golive run PLAN``.

Exit status: 0 when every stage asked for succeeded; 1 when a stage failed; 2 for a bad plan,
a bad warehouse URL or bad arguments (nothing ran); 3 when the sign-off gate held production
migration back; 5 when another run holds the warehouse (nothing ran).

Everything a user wrote (plan keys, column names, file paths, error messages that quote them)
is printed literally, never read as console markup.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.warehouse import WarehouseBusyError, WarehouseURLError, warehouse_from_url
from golive.plan import PlanError
from orchestration.runner import RunResult, StageResult, run_stages
from orchestration.stages import STAGES

console = Console(highlight=False, soft_wrap=True)

EXIT_STAGE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_SIGNOFF_HELD = 3
EXIT_WAREHOUSE_BUSY = 5


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
        console.print(f"Report: {escape(str(report))}")
    console.print(f"Warehouse: {escape(run.warehouse.display_url)}")
    if run.success:
        return 0
    if run.signoff_failed:
        failing = [c["criterion"] for c in run.signoff if not c["passed"]]
        console.print(
            f"[red]Sign-off failed ({escape(', '.join(failing))}): "
            "production migration held back.[/red]"
        )
        return EXIT_SIGNOFF_HELD
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
def run(plan: Path, warehouse_url: str | None, through: str, report: Path | None) -> None:
    """Run the roadmap stages on PLAN, from discovery through --through."""
    log_path = (report.parent if report else Path.cwd()) / "golive-run.log"
    sys.exit(_execute(plan, warehouse_url, through, report, log_path))


def _execute(
    plan: Path, warehouse_url: str | None, through: str, report: Path | None, log_path: Path
) -> int:
    """Check the arguments, run the stages, print the outcome; the exit status.

    Whatever goes wrong, the failure is printed and alerted (an unexpected error included)."""
    from connectors.warehouse import DEFAULT_URL

    try:
        warehouse = warehouse_from_url(warehouse_url or DEFAULT_URL)
    except WarehouseURLError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        return EXIT_BAD_INPUT
    try:
        result = run_stages(
            plan, warehouse.url, through=through, on_stage=_stage_line, log_path=log_path
        )
    except PlanError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        _alert_refused("golive: the plan cannot run", str(exc))
        return EXIT_BAD_INPUT
    except WarehouseBusyError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        _alert_refused("golive: the warehouse is busy, nothing ran", str(exc))
        return EXIT_WAREHOUSE_BUSY
    except Exception as exc:
        message = warehouse.scrub(f"{type(exc).__name__}: {exc}")
        console.print(f"[red]golive failed: {escape(message)}[/red]")
        _alert_refused("golive: the run failed", message)
        raise SystemExit(EXIT_STAGE_FAILED) from None
    code = _finish(result, report)
    console.print(f"Log: {escape(str(log_path))}")
    return code


def _alert_refused(title: str, body: str) -> None:
    from golive.alerts import send_alert

    send_alert(title, body)


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
    code = _execute(
        Path(summary["plan"]),
        warehouse_url,
        "production_migration",
        directory / "report.md",
        directory / "run.log",
    )
    console.print(f"Total: {time.perf_counter() - started:.1f} s")
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
