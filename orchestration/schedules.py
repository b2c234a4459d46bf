"""Schedules: every night, re-ingest usage and refresh the usage aggregates."""

import dagster as dg

nightly_usage_refresh_job = dg.define_asset_job(
    "nightly_usage_refresh",
    selection=(
        dg.AssetSelection.keys(dg.AssetKey(["raw", "usage_events"])).downstream()
        & dg.AssetSelection.groups("sandbox_load", "metering")
    )
    | dg.AssetSelection.keys(dg.AssetKey(["raw", "usage_events"])),
    description="Re-ingest usage events, re-run quarantine and refresh usage_aggregates.",
)

nightly_usage_refresh = dg.ScheduleDefinition(
    name="nightly_usage_refresh_schedule",
    job=nightly_usage_refresh_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:00 UTC every night.",
)

onboarding_job = dg.define_asset_job(
    "onboarding",
    selection=dg.AssetSelection.all(),
    description="Every roadmap stage, discovery to production migration.",
)
