"""Jobs and schedules: the whole roadmap, and the nightly usage aggregation.

The nightly job is the partitioned usage job: it pulls what arrived, classifies it against all
history and re-aggregates the days it touched (late events into closed periods included). It
refreshes the sandbox; after go-live it also brings ``production.usage_aggregates`` up to date.
Billing, the parallel test and the sign-off are downstream and are not rebuilt by it: the
job ends with their ``built_on_current_usage`` checks (orchestration/freshness.py), which warn
once usage arrived after they were built, so nobody signs off on yesterday's usage unknowingly.
"""

import dagster as dg

from orchestration.freshness import checks_selection
from orchestration.stages import USAGE_STAGES, stage_group
from orchestration.stages.sandbox_load import USAGE_KEY

USAGE_GROUPS = tuple(stage_group(stage) for stage in USAGE_STAGES)


def nightly_job(partitions: dg.PartitionsDefinition):
    """Pull, classify and aggregate the usage of one day (or a backfilled range of days)."""
    return dg.define_asset_job(
        "nightly_usage_refresh",
        selection=(
            dg.AssetSelection.keys(USAGE_KEY).downstream() & dg.AssetSelection.groups(*USAGE_GROUPS)
        )
        | dg.AssetSelection.keys(dg.AssetKey(["production", "usage_aggregates"]))
        # and then whether billing, the parallel test and the sign-off are still current
        | checks_selection(),
        partitions_def=partitions,
        description="Pull the usage that arrived, classify it against all history and "
        "re-aggregate every day and period it touches; after go-live, production's usage too.",
    )


def nightly_schedule(job) -> dg.ScheduleDefinition:
    """02:00 in the plan's time zone, for the day that just ended."""
    return dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=2,
        name="nightly_usage_refresh_schedule",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every night at 02:00 (the plan's time zone): the day that ended.",
    )


onboarding_job = dg.define_asset_job(
    "onboarding",
    selection=dg.AssetSelection.all(),
    description="Every roadmap stage, discovery to production migration.",
)
