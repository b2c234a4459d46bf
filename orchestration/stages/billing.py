"""Billing: price quantities, build invoices, invoice lines and journal entries (dbt)."""

import dagster as dg

from orchestration.dbt import stage_dbt_assets


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:  # noqa: ARG001
    """The stage (not partitioned: every invoice is rebuilt from the usage aggregates)."""
    return dg.Definitions(assets=[stage_dbt_assets("billing")])
