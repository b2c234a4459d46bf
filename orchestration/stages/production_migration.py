"""Production migration: promote what passed sign-off, atomically, with an audit trail."""

import dagster as dg

from golive.migration import PROMOTED_TABLES, migrate
from orchestration.checks import SIGNOFF_KEY
from orchestration.resources import WarehouseResource


@dg.asset(
    key=["production", "migration"],
    group_name="production_migration",
    deps=[SIGNOFF_KEY] + [["sandbox", t] for t, _ in PROMOTED_TABLES if t != "signoff"],
    pool="warehouse",
)
def production_migration(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Copy the signed-off sandbox tables into ``production`` in one transaction (invoices
    approved), and record the run in ``audit.migration_runs``. Runs only after the sign-off
    check passed; it re-reads the sign-off table and refuses if any criterion failed."""
    result = migrate(warehouse.get(), run_id=context.run_id)
    return dg.MaterializeResult(
        metadata={
            "run_id": result.run_id,
            "status": result.status,
            "row_counts": dg.MetadataValue.json(result.row_counts),
            "checksums": dg.MetadataValue.json(result.checksums),
            "invoices_promoted": result.row_counts.get("invoices", 0),
        }
    )


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:  # noqa: ARG001
    """The stage (not partitioned)."""
    return dg.Definitions(assets=[production_migration])
