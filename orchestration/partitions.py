"""The daily partitions of the usage assets: days of the plan's time zone, from the plan's
first usage day (``usage.first_day``) to yesterday."""

import datetime as dt

import dagster as dg

from golive.plan import Plan

#: without a plan (a code location loaded before GOLIVE_PLAN is set): a start far enough back
DEFAULT_FIRST_DAY = dt.date(2020, 1, 1)


def usage_partitions(plan: Plan | None) -> dg.DailyPartitionsDefinition:
    """Daily partitions in the plan's time zone, starting on its first usage day."""
    first = plan.usage_first_day if plan is not None else DEFAULT_FIRST_DAY
    return dg.DailyPartitionsDefinition(
        start_date=first.isoformat(), timezone=plan.timezone if plan is not None else "UTC"
    )
