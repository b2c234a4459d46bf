"""Metering: accepted usage events into billable quantities (``sandbox.usage_aggregates``).

The usage models are daily-partitioned and incremental: a run re-aggregates the days whose
events were classified since the last metering (late arrivals into closed periods included)
and the days of its partition window, never a fixed look-back.
"""

import dagster as dg

from orchestration.dbt import stage_dbt_assets


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """The stage, with the usage models on ``partitions``."""
    return dg.Definitions(
        assets=[stage_dbt_assets("metering"), stage_dbt_assets("metering", partitions)]
    )
