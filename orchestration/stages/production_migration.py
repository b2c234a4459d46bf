"""Production migration: promote what passed sign-off and was approved, atomically, with an
audit trail; and, after go-live, keep production's usage aggregates current.

The production tables are assets, downstream of the sandbox tables they are promoted from,
so lineage reads through to production. Every attempt, promoted or held back, writes its
``audit.migration_runs`` row (golive/migration.py).
"""

import dagster as dg

from golive.migration import PROMOTED, MigrationHeld, migrate, sync_production_usage
from orchestration.checks import SIGNOFF_KEY
from orchestration.resources import PlanResource, WarehouseResource

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
        group_name="production_migration",
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
        group_name="production_migration",
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


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:  # noqa: ARG001
    """The stage (not partitioned)."""
    return dg.Definitions(assets=[production_migration])
