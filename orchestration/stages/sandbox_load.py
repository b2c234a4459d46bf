"""Sandbox load: every dataset into ``raw`` as received; staging types it and quarantines."""

import dagster as dg

from golive.loading import event_counts, load_dataset, quarantine_reasons
from golive.plan import DATASETS
from orchestration.dbt import stage_dbt_assets
from orchestration.resources import PlanResource, WarehouseResource


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", name],
            group_name="sandbox_load",
            description=f"{name.replace('_', ' ').capitalize()}, exactly as received (all text).",
            skippable=True,
        )
        for name in DATASETS
    ],
    can_subset=True,
    pool="warehouse",
)
def raw_datasets(
    context: dg.AssetExecutionContext, plan: PlanResource, warehouse: WarehouseResource
):
    """Load each dataset of the plan from its connector into ``raw`` (one transaction each).

    An optional dataset the plan leaves out is written empty, with the contract's columns.
    """
    p = plan.get()
    wh = warehouse.get()
    for key in sorted(context.selected_asset_keys, key=lambda k: DATASETS.index(k.path[-1])):
        dataset = key.path[-1]
        result = load_dataset(p, wh, dataset)
        context.log.info(f"{dataset}: {result.rows:,} rows from {result.connector or '(none)'}")
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": result.rows,
                "connector": result.connector or "(not in the plan: empty)",
                "location": result.location or "",
            },
        )


@dg.asset(
    key=["sandbox", "usage_event_counts"],
    group_name="sandbox_load",
    deps=[["staging", "int_usage_events_classified"], ["quarantine", "usage_events"]],
    check_specs=[
        dg.AssetCheckSpec(
            "counts_reconcile",
            asset=["sandbox", "usage_event_counts"],
            blocking=True,
            description="received = loaded + duplicates + quarantined",
        ),
    ],
    pool="warehouse",
)
def usage_event_counts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """What happened to every received usage event: loaded, duplicate or quarantined (why)."""
    wh = warehouse.get()
    counts = event_counts(wh)
    reasons = quarantine_reasons(wh)
    reconciled = counts["received"] == (
        counts["loaded"] + counts["duplicates"] + counts["quarantined"]
    )
    yield dg.MaterializeResult(
        metadata={
            "received": counts["received"],
            "loaded": counts["loaded"],
            "duplicates": counts["duplicates"],
            "quarantined": counts["quarantined"],
            "quarantine_reasons": dg.MetadataValue.json(reasons),
            "reconciles": reconciled,
        }
    )
    yield dg.AssetCheckResult(
        check_name="counts_reconcile",
        passed=reconciled,
        metadata={k: v for k, v in counts.items()},
        description=None if reconciled else "received != loaded + duplicates + quarantined",
    )


defs = dg.Definitions(assets=[raw_datasets, stage_dbt_assets("sandbox_load"), usage_event_counts])
