"""The parallel test report: ``report.md`` for diffs and terminals, and beside it
``report.html``, one self-contained page with charts that a lead reads and forwards.

Both are built from the warehouse tables with bounded queries (:mod:`golive.report.data`).
The command line calls :func:`write_report` after a run; the Dagster sign-off asset calls
:func:`write_signoff_report` and attaches what it returns (Markdown metadata and the path of
the HTML page).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.warehouse import Warehouse
from expectations.evidence import data_docs_index, working_folder
from golive.plan import Plan
from golive.report import html, markdown
from golive.report.data import ReportData, read_report_data

if TYPE_CHECKING:  # the runner imports dagster; the report needs only its result's shape
    from orchestration.runner import RunResult

__all__ = ["SIGNOFF_REPORT", "ReportFiles", "stage_rows", "write_report", "write_signoff_report"]

#: what the Dagster sign-off asset writes in the working folder (and ``.html`` beside it)
SIGNOFF_REPORT = "signoff-report.md"


@dataclass
class ReportFiles:
    """What a report wrote, and a short Markdown version of it (for Dagster's metadata)."""

    markdown: Path
    html: Path
    summary: str
    data: ReportData


def _held(run: RunResult) -> str | None:
    held = getattr(run, "held", None)
    if held:
        return held
    return "signoff" if run.signoff_failed else None


def stage_rows(run: RunResult) -> list[tuple[str, str, float]]:
    """(stage, result, seconds) per stage run; a stage the sign-off (or a missing approval)
    held back says so rather than "failed"."""
    held = _held(run)
    rows = []
    for s in run.stages:
        if s.success:
            result = "ok"
        elif held == "signoff":
            result = "held back by the sign-off"
        elif held == "approval":
            result = "waiting for an approval"
        else:
            result = "failed"
        rows.append((s.stage, result, s.seconds))
    return rows


def _docs(folder: Path, report_folder: Path) -> str | None:
    """Where the Data Docs are, relative to the report when they sit beside it (so a copied
    folder keeps the link working)."""
    index = data_docs_index(folder)
    if not index.exists():
        return None
    try:
        return str(index.relative_to(report_folder.resolve()))
    except ValueError:
        return str(index)


def _write(data: ReportData, md_path: Path) -> ReportFiles:
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown.render(data), encoding="utf-8")
    html_path = md_path.with_suffix(".html")
    html_path.write_text(html.render(data), encoding="utf-8")
    return ReportFiles(md_path, html_path, markdown.render_summary(data), data)


def write_report(run: RunResult, path: Path) -> Path:
    """Write the report of ``run`` to ``path`` (Markdown) and ``report.html`` beside it (same
    name, ``.html``); return ``path``. The GX Data Docs it links to are in the working folder
    (``$GOLIVE_WORKDIR``, else the report's folder)."""
    path = Path(path)
    data = read_report_data(
        run.warehouse,
        run.plan,
        stages=stage_rows(run),
        held=_held(run),
        data_docs=_docs(working_folder(path.parent), path.parent),
    )
    if data.signoff and not any(s.stage == "parallel_test" and s.success for s in run.stages):
        data.signoff_stale = _changed_since_signoff(run.warehouse)
    _write(data, path)
    return path


def _changed_since_signoff(warehouse: Warehouse) -> list[str]:
    """The tables a promotion copies that differ from the sandbox the sign-off checked (a run
    that stopped before the parallel test, on other prices or usage, keeps the old one)."""
    from golive.migration import sandbox_checksums, signoff_basis

    basis, current = signoff_basis(warehouse), sandbox_checksums(warehouse)
    return sorted(t for t in current if basis.get(t) != current[t])


def write_signoff_report(
    warehouse: Warehouse, plan: Plan, folder: str | Path | None = None
) -> ReportFiles:
    """Write ``signoff-report.md`` and ``signoff-report.html`` for the sign-off just checked
    into the working folder (``$GOLIVE_WORKDIR``, else ``folder``, else the current folder).
    Their own names: a ``report.md`` of the user's in that folder is never overwritten."""
    root = working_folder(folder)
    data = read_report_data(warehouse, plan, data_docs=_docs(root, root))
    return _write(data, root / SIGNOFF_REPORT)
