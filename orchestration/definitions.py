"""The code location: the stage modules merged, with resources and cross-cutting policy.

Point ``GOLIVE_PLAN`` at a plan and ``GOLIVE_WAREHOUSE`` at a warehouse URL (default: the
DuckDB file ``golive.duckdb`` in the working folder), then ``dagster dev``. The definitions are
built when the code location loads (not at import): the usage partitions come from the plan.

What the UI shows of them: the resources name the variables they are configured from
(``dg.EnvVar``); the jobs carry the plan and the warehouse (its password as ``***``) as tags
and metadata, and so do their runs, the nightly schedule's included; a run launched from the
asset graph gets the same tags when it starts (orchestration/resources.py).
"""

import os

import dagster as dg
from dagster_shared.record import replace

from golive.alerts import ALERT_URLS_ENV
from golive.plan import Plan, PlanError
from orchestration.dbt import dbt_resource
from orchestration.freshness import CHECKS as FRESHNESS_CHECKS
from orchestration.partitions import usage_partitions
from orchestration.resources import (
    PLAN_ENV,
    WAREHOUSE_ENV,
    AlertsResource,
    PlanResource,
    WarehouseResource,
    config_url,
    run_tags,
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


def _from_environment(name: str) -> dg.EnvVar | None:
    """``dg.EnvVar(name)`` when the variable is set (read when a run starts; the UI shows its
    name, never its value), else None (the resource's own default or error applies)."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def resources(
    plan_path: str | None = None,
    warehouse_url: str | None = None,
    alert_urls: str | None = None,
    plan_digest: str | None = None,
) -> dict:
    """The resources by key; unset values come from the environment (``GOLIVE_PLAN``,
    ``GOLIVE_WAREHOUSE``, ``GOLIVE_ALERT_URLS``) when a run starts."""
    return {
        "plan": PlanResource(path=plan_path or _from_environment(PLAN_ENV), digest=plan_digest),
        # a URL with a password is held by reference: Dagster stores resource config
        "warehouse": WarehouseResource(
            url=config_url(warehouse_url) if warehouse_url else _from_environment(WAREHOUSE_ENV)
        ),
        "alerts": AlertsResource(urls=alert_urls or _from_environment(ALERT_URLS_ENV)),
        "dbt": dbt_resource(),
    }


def with_run_tags(job, tags: dict[str, str]):
    """The job, its runs tagged with ``tags`` (and the tags shown as its metadata)."""
    return replace(
        job,
        tags={**(job.tags or {}), **tags},
        run_tags={**(job.run_tags or {}), **tags},
        metadata={**(job.metadata or {}), **tags},
    )


def _plan_for_partitions(plan_path: str | None) -> Plan | None:
    path = plan_path or os.environ.get(PLAN_ENV)
    if not path:
        return None
    try:
        return validated_plan(path)
    except PlanError:
        return None  # the runs will say what is wrong with it, naming file and key


def build_definitions(plan_path: str | None = None, **resource_args) -> dg.Definitions:
    """All stages; DuckDB allows one writer per file, so steps run in one process. The jobs'
    runs are tagged with the plan and the warehouse (given, else from the environment)."""
    partitions = usage_partitions(_plan_for_partitions(plan_path))
    tags = run_tags(
        plan_path or os.environ.get(PLAN_ENV),
        resource_args.get("warehouse_url") or os.environ.get(WAREHOUSE_ENV),
    )
    nightly = with_run_tags(nightly_job(partitions), tags)
    return dg.Definitions.merge(
        *(module.definitions(partitions) for module in STAGE_MODULES),
        dg.Definitions(
            asset_checks=FRESHNESS_CHECKS,
            jobs=[with_run_tags(onboarding_job, tags), nightly],
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
