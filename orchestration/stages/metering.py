"""Metering: accepted usage events into billable quantities (``sandbox.usage_aggregates``)."""

import dagster as dg

from orchestration.dbt import stage_dbt_assets

defs = dg.Definitions(assets=[stage_dbt_assets("metering")])
