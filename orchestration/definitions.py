"""The code location: the stage modules merged, with resources and cross-cutting policy.

Point ``GOLIVE_PLAN`` at a plan and ``GOLIVE_WAREHOUSE`` at a warehouse URL (default: the
DuckDB file ``golive.duckdb`` in the working folder), then ``dagster dev``. The definitions are
built when the code location loads (not at import): the usage partitions come from the plan.
"""

import os

import dagster as dg

from golive.plan import Plan, PlanError
from orchestration.dbt import dbt_resource
from orchestration.partitions import usage_partitions
from orchestration.resources import (
    PLAN_ENV,
    AlertsResource,
    PlanResource,
    WarehouseResource,
    validated_plan,
)
from orchestration.schedules import nightly_job, nightly_schedule, onboarding_job
from orchestration.sensors import alert_on_failure
from orchestration.stages import (
    billing,
    discovery,
    metering,
    parallel_test,
    production_migration,
    sandbox_load,
)

STAGE_MODULES = (discovery, sandbox_load, metering, billing, parallel_test, production_migration)


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


def _plan_for_partitions(plan_path: str | None) -> Plan | None:
    path = plan_path or os.environ.get(PLAN_ENV)
    if not path:
        return None
    try:
        return validated_plan(path)
    except PlanError:
        return None  # the runs will say what is wrong with it, naming file and key


def build_definitions(plan_path: str | None = None, **resource_args) -> dg.Definitions:
    """All stages; DuckDB allows one writer per file, so steps run in one process."""
    partitions = usage_partitions(_plan_for_partitions(plan_path))
    nightly = nightly_job(partitions)
    return dg.Definitions.merge(
        *(module.definitions(partitions) for module in STAGE_MODULES),
        dg.Definitions(
            jobs=[onboarding_job, nightly],
            schedules=[nightly_schedule(nightly)],
            sensors=[alert_on_failure],
            resources=resources(plan_path=plan_path, **resource_args),
            executor=dg.in_process_executor,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location of ``workspace.yaml``: plan and warehouse from the environment."""
    return build_definitions()
