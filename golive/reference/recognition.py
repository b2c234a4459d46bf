"""Revenue recognition (docs/accounting.md): deferred revenue released over its service period.

A product line billed in advance is credited to ``deferred_revenue`` when its invoice posts.
Its service period is the days the line is active in the billing period (partial periods and
line dates included, so a prorated line is spread over exactly the days it was charged for).
The line is released to ``revenue`` in equal daily amounts, on one entry per calendar month
(dated the month's last day) or per day, as the plan's ``revenue_recognition.schedule`` says.

Rounding: what is recognised up to and including each date is the deferred amount times the
service days up to that date over all the service days, rounded half-up to the currency's
minor unit; each entry is that less what the earlier entries recognised. The last date's
running share is the whole amount, so it takes the remainder and the schedule sums to the
deferred amount exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from golive.reference.invoices import (
    DEFERRED_REVENUE,
    REVENUE,
    Invoice,
    InvoiceLine,
    JournalEntry,
)
from golive.reference.numbers import PRECISION, ZERO, round_half_up

SCHEDULES = ("month_end", "daily")


@dataclass(frozen=True)
class Recognition:
    """One date of a line's recognition schedule: the service days it covers and the amount
    released to revenue on it."""

    line_no: int
    product_id: str
    recognition_date: date
    days: int
    amount: Decimal


def _service_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def recognition_dates(first: date, last: date, schedule: str) -> list[tuple[date, int]]:
    """``(recognition date, service days it covers)`` for a service period ``first..last``
    (inclusive): one per calendar month dated its last day, or one per day."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown recognition schedule {schedule!r}: use {', '.join(SCHEDULES)}")
    dates: dict[date, int] = {}
    for day in _service_days(first, last):
        key = _month_end(day) if schedule == "month_end" else day
        dates[key] = dates.get(key, 0) + 1
    return sorted(dates.items())


def schedule_amount(
    amount: Decimal, currency: str, first: date, last: date, schedule: str
) -> list[tuple[date, int, Decimal]]:
    """``(date, days, amount)`` releasing ``amount`` over ``first..last`` (module docstring)."""
    total_days = (last - first).days + 1
    out = []
    recognised = round_half_up(ZERO, currency)
    days_so_far = 0
    with localcontext() as ctx:
        ctx.prec = PRECISION
        for when, days in recognition_dates(first, last, schedule):
            days_so_far += days
            running = round_half_up(amount * days_so_far / total_days, currency)
            out.append((when, days, running - recognised))
            recognised = running
    return out


def recognise(invoice: Invoice, schedule: str = "month_end") -> list[Recognition]:
    """The recognition schedule of every deferred line of ``invoice`` (lines of amount 0 have
    none), in line then date order."""
    out = []
    for line in invoice.lines:
        if not _is_deferred(line):
            continue
        assert line.service_start is not None and line.service_end is not None
        for when, days, amount in schedule_amount(
            line.amount, invoice.currency, line.service_start, line.service_end, schedule
        ):
            out.append(Recognition(line.line_no, line.product_id, when, days, amount))
    return out


def recognition_journal(
    invoice: Invoice, schedule: str = "month_end"
) -> dict[date, tuple[JournalEntry, JournalEntry]]:
    """Per recognition date, the entry that releases the invoice's deferred revenue: Dr
    ``deferred_revenue``, Cr ``revenue``, the sum over its lines (dates whose sum is 0 have
    no entry; a negative sum posts on the opposite sides)."""
    sums: dict[date, Decimal] = {}
    for r in recognise(invoice, schedule):
        sums[r.recognition_date] = sums.get(r.recognition_date, ZERO) + r.amount
    zero = round_half_up(ZERO, invoice.currency)
    out = {}
    for when, amount in sorted(sums.items()):
        if amount == 0:
            continue
        debit, credit = (amount, zero) if amount > 0 else (zero, -amount)
        out[when] = (
            JournalEntry(DEFERRED_REVENUE, debit, credit),
            JournalEntry(REVENUE, credit, debit),
        )
    return out


def _is_deferred(line: InvoiceLine) -> bool:
    return line.is_product and line.account == DEFERRED_REVENUE and line.amount != 0
