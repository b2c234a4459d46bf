"""Billing periods (docs/billing-rules.md §4): counted from the anchor, bounded by midnights of the
plan's zone.

A period is a pair of dates ``[start, end)``. As instants, its bounds are the local midnights
of those dates in the plan's time zone, converted to UTC: in America/New_York, March 2024 runs
from 05:00Z on 1 March to 04:00Z on 1 April, 743 real hours. Usage is assigned and
time-weighted between these UTC instants (:mod:`golive.reference.metering`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

CADENCE_MONTHS = {"P1M": 1, "P3M": 3, "P6M": 6, "P1Y": 12}
#: cadences counted in days: period k is [anchor + k·days, anchor + (k+1)·days)
CADENCE_DAYS = {"P1W": 7, "P1D": 1}
CADENCES = (*CADENCE_MONTHS, *CADENCE_DAYS)


@dataclass(frozen=True)
class Period:
    """One billing period of a contract: ``[start, end)`` with the contract's active days.

    ``active_start``/``active_end`` are the inclusive dates on which the contract is in force
    inside the period; they differ from the period bounds only in a first or last period.
    """

    index: int
    start: date
    end: date
    active_start: date
    active_end: date

    @property
    def days_in_period(self) -> int:
        """Calendar days of the full period, ``(end - start).days``."""
        return (self.end - self.start).days

    @property
    def active_days(self) -> int:
        """Days the contract is in force inside the period, both bounds counted."""
        return (self.active_end - self.active_start).days + 1

    @property
    def is_partial(self) -> bool:
        """True when the contract covers only part of the period (flat fees are prorated)."""
        return self.active_days < self.days_in_period


def cadence_months(cadence: str) -> int:
    """Months per billing period for ``P1M``/``P3M``/``P6M``/``P1Y`` (0 for a cadence in
    days, ``P1W``/``P1D``)."""
    if cadence in CADENCE_DAYS:
        return 0
    try:
        return CADENCE_MONTHS[cadence]
    except KeyError:
        raise ValueError(
            f"unknown billing_period {cadence!r}: use one of {', '.join(CADENCES)}"
        ) from None


def period_bounds(anchor: date, cadence: str, k: int) -> tuple[date, date]:
    """Return ``[start, end)`` of period ``k`` counted from ``anchor`` (``k`` may be negative).

    Both bounds are computed from the anchor itself, never from the previous period, so a
    month-end anchor stays on month ends: Jan 31 monthly gives Feb 28, Mar 31, Apr 30.
    """
    if cadence in CADENCE_DAYS:
        days = CADENCE_DAYS[cadence]
        return anchor + timedelta(days=k * days), anchor + timedelta(days=(k + 1) * days)
    n = cadence_months(cadence)
    return anchor + relativedelta(months=k * n), anchor + relativedelta(months=(k + 1) * n)


def periods(
    start_date: date,
    end_date: date | None,
    anchor: date | None,
    cadence: str,
    as_of: date,
) -> list[Period]:
    """List the invoiced periods of a contract, oldest first.

    The first period is the one that contains ``start_date``; periods follow until one ends
    after ``as_of`` (still running, not invoiced) or starts after ``end_date`` (inclusive).
    ``anchor`` defaults to ``start_date``.
    """
    anchor = anchor or start_date
    if end_date is not None and end_date < start_date:
        raise ValueError(f"end_date {end_date} is before start_date {start_date}")
    n = cadence_months(cadence)
    # A first guess from the month (or day) difference, then walk to the period holding
    # start_date.
    if n == 0:
        k = (start_date - anchor).days // CADENCE_DAYS[cadence]
    else:
        months = (start_date.year - anchor.year) * 12 + (start_date.month - anchor.month)
        k = months // n
    while period_bounds(anchor, cadence, k)[0] > start_date:
        k -= 1
    while period_bounds(anchor, cadence, k)[1] <= start_date:
        k += 1

    result: list[Period] = []
    while True:
        start, end = period_bounds(anchor, cadence, k)
        if end > as_of or (end_date is not None and start > end_date):
            return result
        last_day = end - timedelta(days=1)
        result.append(
            Period(
                index=k,
                start=start,
                end=end,
                active_start=max(start, start_date),
                active_end=min(last_day, end_date) if end_date is not None else last_day,
            )
        )
        k += 1


def local_midnight(day: date, zone: str = "UTC") -> datetime:
    """The instant (aware, in UTC) at which ``day`` begins in the time zone ``zone``."""
    return datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)


def local_date(instant: datetime, zone: str = "UTC") -> date:
    """The calendar date of an aware instant in the time zone ``zone``."""
    return instant.astimezone(ZoneInfo(zone)).date()
