"""Parallel test: reconcile with the legacy process to the cent, then the sign-off gate."""

import dagster as dg

from orchestration.checks import signoff
from orchestration.dbt import stage_dbt_assets


def definitions(partitions: dg.PartitionsDefinition) -> dg.Definitions:  # noqa: ARG001
    """The stage (not partitioned)."""
    return dg.Definitions(assets=[stage_dbt_assets("parallel_test"), signoff])
