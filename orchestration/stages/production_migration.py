"""Production migration: promote what passed sign-off and was approved, atomically, with an
audit trail; and, after go-live, keep production's usage aggregates current.

The production tables are assets, downstream of the sandbox tables they are promoted from,
so lineage reads through to production. Every attempt, promoted or held back, writes its
``audit.migration_runs`` row (golive/migration.py).
"""

import datetime as dt

import dagster as dg

from golive.migration import PROMOTED, MigrationHeld, is_live, migrate, sync_production_usage
from orchestration.checks import SIGNOFF_KEY
from orchestration.resources import PlanResource, WarehouseResource
from orchestration.stages import stage_group

USAGE = dg.AssetKey(["production", "usage_aggregates"])
AUDIT = dg.AssetKey(["audit", "migration_runs"])


class ApprovalConfig(dg.Config):
    """Who approves this promotion (the sign-off must have passed); empty: the latest recorded
    approval of this very sandbox is used, if there is one."""

    approved_by: str = ""
    note: str = ""


SPECS = [
    dg.AssetSpec(
        ["production", p.table],
        group_name=stage_group("production_migration"),
        deps=[dg.AssetKey(list(p.source)), SIGNOFF_KEY],
        skippable=True,
        description=(
            f"Production's {p.table.replace('_', ' ')}"
            + (" (legacy history, when the plan imports it)" if p.history else "")
            + f", promoted from {'.'.join(p.source)} by the migration."
        ),
    )
    for p in PROMOTED
] + [
    dg.AssetSpec(
        AUDIT,
        group_name=stage_group("production_migration"),
        deps=[SIGNOFF_KEY],
        skippable=True,
        description="Every migration attempt: promoted or held back, why, counts and checksums.",
    )
]


@dg.multi_asset(specs=SPECS, can_subset=True, pool="warehouse")
def production_migration(
    context: dg.AssetExecutionContext,
    config: ApprovalConfig,
    plan: PlanResource,
    warehouse: WarehouseResource,
):
    """Promote the signed-off, approved sandbox into ``production`` in one transaction.

    Selected alone (the nightly job), ``production/usage_aggregates`` is brought up to date
    with the periods the night re-aggregated, once production is live.
    """
    wh = warehouse.get()
    selected = context.selected_asset_keys
    if selected == {USAGE}:
        rows = sync_production_usage(wh)
        if rows is None:
            context.log.info("production is not live yet: its usage is left as it is")
            return
        yield dg.MaterializeResult(asset_key=USAGE, metadata={"rows_refreshed": rows})
        return
    try:
        result = migrate(
            wh,
            plan.get(),
            run_id=context.run_id,
            approved_by=config.approved_by or None,
            note=config.note or None,
            plan_digest=plan.digest,
        )
    except MigrationHeld as held:
        raise dg.Failure(
            description=str(held),
            metadata={"held": held.kind, "failing": dg.MetadataValue.json(held.failing)},
        ) from None
    for promoted in PROMOTED:
        key = dg.AssetKey(["production", promoted.table])
        if key in selected and promoted.table in result.row_counts:
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": result.row_counts[promoted.table],
                    "checksum": result.checksums[promoted.table],
                },
            )
    if AUDIT in selected:
        yield dg.MaterializeResult(
            asset_key=AUDIT,
            metadata={
                "run_id": result.run_id,
                "status": result.status,
                "approved_by": result.approval["approved_by"] if result.approval else "",
                "row_counts": dg.MetadataValue.json(result.row_counts),
                "invoices_promoted": result.row_counts.get("invoices", 0),
            },
        )


JOURNAL_EXPORT = dg.AssetKey(["production", "journal_export"])
JOURNAL_EXPORT_FOLDER = "journal-export"


class JournalExportConfig(dg.Config):
    """The ERP layouts to write (netsuite, quickbooks, xero) and the entry dates to export,
    ``YYYY-MM-DD`` (empty: from the journal's first date, to its last)."""

    formats: list[str] = ["netsuite", "quickbooks", "xero"]
    first_day: str = ""
    last_day: str = ""


@dg.asset(
    key=JOURNAL_EXPORT,
    group_name=stage_group("production_migration"),
    deps=[
        dg.AssetKey(["production", table])
        for table in ("journal_entries", "invoices", "customers", "accounts")
    ],
    output_required=False,
    pool="warehouse",
)
def journal_export(
    context: dg.AssetExecutionContext,
    config: JournalExportConfig,
    plan: PlanResource,
    warehouse: WarehouseResource,
):
    """Production's journal (invoice postings and revenue recognition) as each ERP's
    journal-import CSV (docs/accounting.md), in ``journal-export/`` of the working folder:
    ``journal-<format>.csv`` (QuickBooks and Xero: one file per currency when there are
    several, Xero at most 300 lines a file), replacing the files of the export before.
    Skipped when the plan maps no accounts or production is not live."""
    from expectations.evidence import working_folder
    from golive.export import export_journal, journal_range

    if not plan.get().accounts:
        context.log.info("the plan has no accounts section: the journal is not exported")
        return
    wh = warehouse.get()
    if not is_live(wh):
        context.log.info("production is not live yet: nothing to export")
        return
    first, last = journal_range(wh)
    first = dt.date.fromisoformat(config.first_day) if config.first_day else first
    last = dt.date.fromisoformat(config.last_day) if config.last_day else last
    folder = working_folder() / JOURNAL_EXPORT_FOLDER
    # an earlier export's files go first: one left beside the new ones (another currency or
    # part count) would be imported twice, and Xero cannot tell
    for stale in folder.glob("journal-*.csv"):
        stale.unlink()
    files, summary = [], {}
    for fmt in config.formats:
        result = export_journal(wh, fmt, first, last, folder / f"journal-{fmt}.csv")
        files += [str(f) for f in result.files]
        summary = {
            "entries": result.entries,
            "lines": result.lines,
            "totals": {c: f"{d:f}" for c, (d, _) in result.totals.items()},
        }
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary.get("lines", 0),
            "entries": summary.get("entries", 0),
            "from": first.isoformat(),
            "to": last.isoformat(),
            "debits_per_currency": dg.MetadataValue.json(summary.get("totals", {})),
            "files": dg.MetadataValue.json(files),
        }
    )


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:  # noqa: ARG001
    """The stage (not partitioned)."""
    return dg.Definitions(assets=[production_migration, journal_export])
