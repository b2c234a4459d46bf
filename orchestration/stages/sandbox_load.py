"""Sandbox load: every dataset into ``raw`` as received; staging types it and quarantines.

Master data (customers, contracts, contract lines, the legacy datasets) is reloaded whole.
Usage events are daily-partitioned: each run pulls what arrived (a batch) and the incremental
usage models classify it against all history (golive/loading.py, golive/usage.py).
"""

import dagster as dg

from golive.loading import USAGE, event_counts, load_dataset, quarantine_reasons
from golive.plan import DATASETS
from golive.price_overrides import OVERRIDE_TABLES, write_price_overrides
from orchestration.contracts import definitions as input_contracts
from orchestration.dbt import stage_dbt_assets
from orchestration.resources import PlanResource, WarehouseResource
from orchestration.stages import stage_group

MASTER_DATASETS = tuple(d for d in DATASETS if d != USAGE)
USAGE_KEY = dg.AssetKey(["raw", USAGE])
COUNTS_KEY = dg.AssetKey(["sandbox", "usage_event_counts"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", name],
            group_name=stage_group("sandbox_load"),
            description=f"{name.replace('_', ' ').capitalize()}, exactly as received (all text).",
            skippable=True,
        )
        for name in MASTER_DATASETS
    ]
    + [
        dg.AssetSpec(
            ["raw", name],
            group_name=stage_group("sandbox_load"),
            description="Contract-line price overrides, validated (from raw.contract_lines).",
            skippable=True,
            deps=[["raw", "contract_lines"]],
        )
        for name in OVERRIDE_TABLES
    ],
    can_subset=True,
    pool="warehouse",
)
def raw_datasets(
    context: dg.AssetExecutionContext, plan: PlanResource, warehouse: WarehouseResource
):
    """Load each master-data and legacy dataset of the plan into ``raw`` (one transaction
    each), replacing what was there. An optional dataset the plan leaves out is written empty,
    with the contract's columns."""
    p = plan.get()
    wh = warehouse.get()
    selected = {k.path[-1] for k in context.selected_asset_keys}
    for dataset in [d for d in MASTER_DATASETS if d in selected]:
        result = load_dataset(p, wh, dataset)
        context.log.info(
            f"{dataset}: {result.rows:,} rows from {result.connector or '(none)'}, {result.path}"
        )
        yield dg.MaterializeResult(
            asset_key=["raw", dataset],
            metadata={
                "dagster/row_count": result.rows,
                "connector": result.connector or "(not in the plan: empty)",
                "location": result.location or "",
                "read": result.path,
            },
        )
    if selected & set(OVERRIDE_TABLES):
        counts = write_price_overrides(wh)
        for name in OVERRIDE_TABLES:
            if name in selected:
                yield dg.MaterializeResult(
                    asset_key=["raw", name], metadata={"dagster/row_count": counts[name]}
                )


def usage_assets(partitions: dg.PartitionsDefinition) -> list:
    """The partitioned usage ingestion and its reconciliation check."""

    @dg.asset(
        key=USAGE_KEY,
        group_name=stage_group("sandbox_load"),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool="warehouse",
    )
    def raw_usage_events(
        context: dg.AssetExecutionContext, plan: PlanResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Pull the usage events that arrived as the next batch of ``raw.usage_events``: with
        an incremental column, what is new since the watermark (compared in the column's
        type); without one, the whole source again. Every row keeps its batch and arrival
        number, so an event id seen on an earlier day is recognised when it comes again."""
        result = load_dataset(plan.get(), warehouse.get(), USAGE)
        context.log.info(
            f"usage batch {result.batch} ({result.mode}): read {result.read:,}, "
            f"loaded {result.loaded:,}, skipped {result.skipped:,}; {result.path}"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "batch": result.batch,
                "mode": result.mode,
                "rows_read": result.read,
                "rows_loaded": result.loaded,
                "rows_skipped": result.skipped,
                "connector": result.connector,
                "location": result.location or "",
                "read": result.path,
            }
        )

    @dg.asset_check(
        asset=COUNTS_KEY,
        name="counts_reconcile",
        blocking=True,
        description="received = loaded + duplicates + quarantined, for every batch and in total",
    )
    def counts_reconcile(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Every usage event received is loaded, a duplicate or quarantined with a reason."""
        wh = warehouse.get()
        unreconciled = wh.query(
            "select batch_no, received, loaded, duplicates, quarantined "
            "from sandbox.usage_event_counts "
            "where received <> loaded + duplicates + quarantined order by batch_no"
        )
        raw_rows = int(wh.scalar("select count(*) from raw.usage_events"))
        counts = event_counts(wh)
        reasons = quarantine_reasons(wh)
        passed = not unreconciled and counts["received"] == raw_rows
        return dg.AssetCheckResult(
            passed=passed,
            metadata={
                **counts,
                "rows_in_raw": raw_rows,
                "quarantine_reasons": dg.MetadataValue.json(reasons),
            },
            description=(
                "every event accounted for"
                if passed
                else f"counts do not reconcile: {unreconciled or 'received != rows in raw'}"
            ),
        )

    return [raw_usage_events, counts_reconcile]


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """The stage, with the usage assets on ``partitions``."""
    *assets, check = usage_assets(partitions)
    return dg.Definitions.merge(
        dg.Definitions(
            assets=[
                raw_datasets,
                *assets,
                stage_dbt_assets("sandbox_load"),
                stage_dbt_assets("sandbox_load", partitions),
            ],
            asset_checks=[check],
        ),
        input_contracts(),
    )
