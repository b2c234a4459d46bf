"""The code location: the stage modules merged, with resources and cross-cutting policy.

Point ``GOLIVE_PLAN`` at a plan and ``GOLIVE_WAREHOUSE`` at a warehouse URL (default: the
DuckDB file ``golive.duckdb`` in the working folder), then ``dagster dev``.
"""

import dagster as dg

from orchestration.dbt import dbt_resource
from orchestration.resources import AlertsResource, PlanResource, WarehouseResource
from orchestration.schedules import nightly_usage_refresh, nightly_usage_refresh_job, onboarding_job
from orchestration.sensors import alert_on_failure
from orchestration.stages import (
    billing,
    discovery,
    metering,
    parallel_test,
    production_migration,
    sandbox_load,
)


def resources(
    plan_path: str | None = None,
    warehouse_url: str | None = None,
    alert_urls: str | None = None,
    plan_digest: str | None = None,
) -> dict:
    """The resources by key; unset values are read from the environment at run time."""
    return {
        "plan": PlanResource(path=plan_path, digest=plan_digest),
        "warehouse": WarehouseResource(url=warehouse_url),
        "alerts": AlertsResource(urls=alert_urls),
        "dbt": dbt_resource(),
    }


def build_definitions(**resource_args) -> dg.Definitions:
    """All stages; DuckDB allows one writer per file, so steps run in one process."""
    return dg.Definitions.merge(
        discovery.defs,
        sandbox_load.defs,
        metering.defs,
        billing.defs,
        parallel_test.defs,
        production_migration.defs,
        dg.Definitions(
            jobs=[onboarding_job, nightly_usage_refresh_job],
            schedules=[nightly_usage_refresh],
            sensors=[alert_on_failure],
            resources=resources(**resource_args),
            executor=dg.in_process_executor,
        ),
    )


defs = build_definitions()
