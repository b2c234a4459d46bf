"""The sign-off: a Great Expectations suite built from the criteria table, as an asset check.

Its evidence (every validation result and the Data Docs) is kept in the working folder's
``gx/`` (expectations/evidence.py); the parallel test report (``signoff-report.html`` and
``signoff-report.md``) is written there too and attached to the sign-off's materialization.
"""

import datetime as dt
from decimal import Decimal

import dagster as dg
import pyarrow as pa

from expectations.evidence import data_docs_index, working_folder
from expectations.signoff import Criterion, signoff_rows, validate_signoff
from golive.migration import record_signoff_basis
from golive.usage import record_built_on
from orchestration.resources import PlanResource, WarehouseResource
from orchestration.stages import stage_group

SIGNOFF_KEY = dg.AssetKey(["sandbox", "signoff"])

#: measures of ``sandbox.parallel_test_summary`` shown as numbers, so Dagster plots them
#: across runs: metadata key -> (summary column, kind)
MEASURES = {
    "invoice_match_rate": ("invoice_match_rate", float),
    "abs_total_delta": ("abs_total_delta", float),
    "quarantined_event_ratio": ("quarantined_event_ratio", float),
    "pricing_errors": ("pricing_errors", int),
    "line_match_rate": ("line_match_rate", float),
    "abs_journal_delta": ("abs_journal_delta", float),
    "unbalanced_invoices": ("unbalanced_invoices", int),
    "invoices_compared": ("invoices_compared", int),
}


def read_summary(warehouse: WarehouseResource) -> dict:
    """The one row of ``sandbox.parallel_test_summary``."""
    table = warehouse.get().query_arrow("select * from sandbox.parallel_test_summary")
    return {name: table.column(name)[0].as_py() for name in table.column_names}


def run_signoff(
    plan: PlanResource, warehouse: WarehouseResource, summary: dict | None = None
) -> list[Criterion]:
    """Validate the parallel test summary with the sign-off suite; write ``sandbox.signoff``."""
    wh = warehouse.get()
    summary = read_summary(warehouse) if summary is None else summary
    criteria = validate_signoff(summary, plan.get().signoff, wh, folder=working_folder())
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = signoff_rows(criteria, checked_at)
    wh.load_arrow(
        "sandbox",
        "signoff",
        pa.table(
            {
                "criterion": pa.array(rows["criterion"], pa.string()),
                "threshold": pa.array(rows["threshold"], pa.string()),
                "observed": pa.array(rows["observed"], pa.string()),
                "passed": pa.array(rows["passed"], pa.bool_()),
                "checked_at": pa.array(rows["checked_at"], pa.timestamp("us")),
            }
        ),
    )
    return criteria


def measure_metadata(summary: dict) -> dict[str, dg.MetadataValue]:
    """The summary's measures as numeric metadata (plotted across runs in the UI)."""
    out: dict[str, dg.MetadataValue] = {}
    for key, (column, kind) in MEASURES.items():
        value = summary.get(column)
        if value is None:
            continue
        if kind is int:
            out[key] = dg.MetadataValue.int(int(value))
        else:
            out[key] = dg.MetadataValue.float(float(Decimal(value)))
    return out


def report_metadata(plan: PlanResource, warehouse: WarehouseResource) -> dict:
    """Write the report into the working folder; its short Markdown and paths as metadata."""
    from golive.report import write_signoff_report

    files = write_signoff_report(warehouse.get(), plan.get(), working_folder())
    metadata = {
        "report": dg.MetadataValue.md(files.summary),
        "report_html": dg.MetadataValue.path(str(files.html)),
        "report_md": dg.MetadataValue.path(str(files.markdown)),
    }
    docs = data_docs_index(working_folder())
    if docs.exists():
        metadata["data_docs"] = dg.MetadataValue.path(str(docs))
    return metadata


@dg.asset(
    key=SIGNOFF_KEY,
    group_name=stage_group("parallel_test"),
    deps=[["sandbox", "parallel_test_summary"]],
    check_specs=[
        dg.AssetCheckSpec(
            "signoff_criteria_pass",
            asset=SIGNOFF_KEY,
            # not blocking: the migration itself refuses a failed sign-off, so that the
            # attempt is audited and its alert says why (golive/migration.py)
            blocking=False,
            description="The plan's sign-off criteria (expectations/criteria.py), checked by "
            "the Great Expectations suite in expectations/signoff.py. Production migration "
            "refuses to run unless all pass (and a named person approved).",
        )
    ],
    pool="warehouse",
)
def signoff(context: dg.AssetExecutionContext, plan: PlanResource, warehouse: WarehouseResource):
    """The sign-off table: each criterion of the plan, its threshold, what was observed, passed.
    The measures are numeric metadata; the report (Markdown and HTML) is attached."""
    summary = read_summary(warehouse)
    criteria = run_signoff(plan, warehouse, summary)
    record_built_on(warehouse.get(), "signoff")  # what built_on_current_usage compares with
    # the sandbox this sign-off describes: approval and promotion refuse any other
    record_signoff_basis(warehouse.get())
    failing = [c for c in criteria if not c.passed]
    try:
        report = report_metadata(plan, warehouse)
    except Exception as exc:  # the sign-off stands without its report; say why it is missing
        context.log.error(f"the parallel test report could not be written: {exc}")
        report = {"report_error": dg.MetadataValue.text(warehouse.get().scrub(str(exc)))}
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(criteria),
            **measure_metadata(summary),
            "passed": not failing,
            "failing_criteria": ", ".join(
                f"{c.criterion} (observed {c.observed}, threshold {c.threshold})" for c in failing
            )
            or "none",
            **report,
        }
    )
    yield dg.AssetCheckResult(
        check_name="signoff_criteria_pass",
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={c.criterion: f"{c.observed} ({c.threshold})" for c in criteria},
        description=(
            "failing: " + ", ".join(c.criterion for c in failing) if failing else "all passed"
        ),
    )
