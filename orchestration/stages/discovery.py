"""Discovery: the plan, validated, becomes the price book and settings tables in ``raw``."""

import glob
import os

import dagster as dg

from golive.loading import write_plan_tables
from orchestration.resources import PlanResource, WarehouseResource
from orchestration.stages import stage_group

PLAN_TABLES = (
    "plan_settings",
    "plan_products",
    "plan_price_tiers",
    "plan_metrics",
    "plan_metric_filters",
    "plan_tax_codes",
    "plan_coupons",
    "plan_coupon_products",
    "plan_accounts",
    "currencies",
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", name],
            group_name=stage_group("discovery"),
            description=f"The plan's {name.replace('_', ' ')}, as discovery wrote them.",
        )
        for name in PLAN_TABLES
    ],
    pool="warehouse",
)
def implementation_plan(
    context: dg.AssetExecutionContext, plan: PlanResource, warehouse: WarehouseResource
):
    """Validate the plan and write its price book, metrics and settings to ``raw.plan_*``.

    A plan that breaks a rule fails here, before anything is loaded, naming file, key and fix.
    """
    p = plan.get()
    counts = write_plan_tables(p, warehouse.get())
    inventory = {}
    for dataset, src in p.sources.items():
        if src.connector in ("csv", "parquet"):
            files = glob.glob(p.source_path(dataset))
            inventory[dataset] = (
                f"{src.connector}: {len(files)} file(s), "
                f"{sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB"
            )
        else:
            inventory[dataset] = f"{src.connector}: {src.location}"
    models = sorted({pr.pricing.model for pr in p.products})
    for name in PLAN_TABLES:
        metadata = {"dagster/row_count": counts[name]}
        if name == "plan_settings":
            metadata.update(
                {
                    "company": p.company,
                    "timezone": p.timezone,
                    "as_of": str(p.as_of_date),
                    "parallel_test": f"{p.parallel_test.periods.from_} .. "
                    f"{p.parallel_test.periods.to}",
                    "sources": dg.MetadataValue.json(inventory),
                }
            )
        if name == "plan_products":
            metadata["pricing_models"] = ", ".join(models)
        yield dg.MaterializeResult(asset_key=["raw", name], metadata=metadata)
    context.log.info(
        f"plan of {p.company}: {len(p.products)} products ({', '.join(models)}), "
        f"{len(p.metrics)} metrics, {len(p.sources)} sources"
    )


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:  # noqa: ARG001
    """The stage (not partitioned)."""
    return dg.Definitions(assets=[implementation_plan])
