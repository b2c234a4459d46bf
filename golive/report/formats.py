"""One number format per kind of value, for every table of the report (Markdown and HTML).

- money: rounded to the currency's minor unit (half away from zero): ``5.80``, ``-2.00``,
  ``1200`` for JPY;
- a quantity: as exact as it is, without trailing zeros or exponent: ``2000000``, ``1.5``;
- a ratio: a percentage with two places, rounded down, so that 100.00 % means all of them;
- a count: a whole number; seconds: one place.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from golive.currencies import MINOR_UNITS


def places(currency: str | None) -> int:
    """Decimal places of a currency's amounts (2 for one golive does not know)."""
    return MINOR_UNITS.get((currency or "").upper(), 2)


def money(value: Any, currency: str | None, grouped: bool = False) -> str:
    """An amount at the currency's minor unit; empty for a missing one."""
    if value is None:
        return ""
    exact = Decimal(value).quantize(Decimal(1).scaleb(-places(currency)), ROUND_HALF_UP)
    text = f"{exact:,f}" if grouped else f"{exact:f}"
    return "0" + text[2:] if text.startswith("-0") and exact == 0 else text


def quantity(value: Any) -> str:
    """A quantity as exact as it is, without trailing zeros: ``1.5``, ``2000000``."""
    if value is None:
        return ""
    text = f"{Decimal(value):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def percent(ratio: Any) -> str:
    """A ratio as a percentage with two places, rounded down: ``99.81 %``."""
    if ratio is None:
        return ""
    shown = (Decimal(ratio) * 100).quantize(Decimal("0.01"), ROUND_DOWN)
    return f"{shown:f} %"


def count(value: Any) -> str:
    """A whole number."""
    return "" if value is None else str(int(value))


def seconds(value: float) -> str:
    """Seconds with one place."""
    return f"{value:.1f}"


def day(value: Any) -> str:
    """A date (or the date of a timestamp) as ``YYYY-MM-DD``."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def instant(value: Any) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def text(value: Any) -> str:
    """Any other value as text (empty for a missing one)."""
    return "" if value is None else str(value)
