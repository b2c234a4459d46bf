"""Sandbox load: every dataset into ``raw`` as received; staging types it and quarantines."""

import dagster as dg

from golive.loading import event_counts, load_dataset, quarantine_reasons
from golive.plan import DATASETS
from golive.price_overrides import OVERRIDE_TABLES, write_price_overrides
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
    ]
    + [
        dg.AssetSpec(
            ["raw", name],
            group_name="sandbox_load",
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
    """Load each dataset of the plan from its connector into ``raw`` (one transaction each).

    An optional dataset the plan leaves out is written empty, with the contract's columns.
    """
    p = plan.get()
    wh = warehouse.get()
    selected = {k.path[-1] for k in context.selected_asset_keys}
    for dataset in [d for d in DATASETS if d in selected]:
        key = dg.AssetKey(["raw", dataset])
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
    if selected & set(OVERRIDE_TABLES):
        counts = write_price_overrides(wh)
        for name in OVERRIDE_TABLES:
            if name in selected:
                yield dg.MaterializeResult(
                    asset_key=["raw", name], metadata={"dagster/row_count": counts[name]}
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
