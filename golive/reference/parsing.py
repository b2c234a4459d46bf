"""The text rules every warehouse and the reference biller read data by (docs/billing-rules.md §10).

- A cell is trimmed of spaces, as SQL's ``trim`` does; an empty cell is missing (``None``).
- A number is ``[+-]?(D+(.D*)?|.D+)([eE][+-]?D+)?`` (D an ASCII digit) after trimming, or a
  JSON number; the value is exact and keeps at most 10 decimal places, rounded half away from
  zero. ``NaN``, ``Infinity``, ``1,000`` and empty text are not numbers.
- A timestamp is ``YYYY-MM-DD``, optionally followed by ``T`` or one space, ``HH:MM``, optionally
  ``:SS`` and then optionally ``.fraction`` (1-9 digits, truncated to microseconds), then
  optionally one space and a zone (``Z``, ``z``, ``±HH``, ``±HH:MM``, ``±HHMM``). No zone means
  UTC; a date alone is midnight UTC. Every component must be in range (no second 60, no hour
  24, a day that exists in its month). ``datetime.fromisoformat`` accepts other shapes (week
  dates, ``20260910``, ``T`` in lower case), so the rule is matched here first.
- A date (master data) is ``YYYY-MM-DD`` of a day that exists.
- Properties are a JSON object by RFC 8259 (no NaN or Infinity, no trailing comma, no lone
  surrogate), with no top-level key twice and no ``\u0000``; missing or empty properties are
  ``{}``.
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from golive.reference.numbers import keep_ten_places

_NUMBER = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,4})?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.]([0-9]{1,9}))?)?"
    r" ?(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?"
)


def cell(value: Any) -> str | None:
    """A text cell trimmed of spaces (SQL ``trim``); empty or all-blank is ``None``.

    Only spaces are trimmed: a tab or a newline is part of the value.
    """
    if value is None:
        return None
    text = str(value).strip(" ")
    return text or None


def parse_number(value: Any) -> Decimal | None:
    """The number rule: a numeric text or JSON number as an exact decimal, else ``None``.

    Text is trimmed of spaces and must match the rule exactly; JSON numbers (``int`` or
    ``Decimal`` from ``json.loads(..., parse_float=Decimal)``) always count. Booleans, ``NaN``,
    infinities, objects and lists are not numbers. The value keeps at most 10 decimal places,
    rounded half away from zero; range checks are the caller's.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return keep_ten_places(value) if value.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip(" ")
    if not _NUMBER.fullmatch(text):
        return None
    return keep_ten_places(Decimal(text))


def _valid_day(year: int, month: int, day: int) -> bool:
    if not (1 <= year <= 9999 and 1 <= month <= 12):
        return False
    return 1 <= day <= calendar.monthrange(year, month)[1]


def parse_date(value: Any) -> date | None:
    """A master-data date: ``YYYY-MM-DD`` (after trimming) of a day that exists, else ``None``."""
    text = cell(value)
    match = _DATE.fullmatch(text) if text else None
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    return date(year, month, day) if _valid_day(year, month, day) else None


def parse_timestamp(value: Any) -> datetime | None:
    """The timestamp rule: an event timestamp as an aware UTC ``datetime``, else ``None``.

    ``2026-01-31T20:00:00-05:00`` is 2026-02-01T01:00Z; ``2026-09-10`` is midnight UTC;
    ``2026-09-10T10:00:00.1234567Z`` keeps 10:00:00.123456 (truncated, never rounded up into
    the next second). An instant that an offset pushes out of years 1 to 9999 is refused.
    """
    text = cell(value)
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    y, mo, d, h, mi, s, fraction, zulu, sign, oh, om = match.groups()
    year, month, day = int(y), int(mo), int(d)
    hour, minute, second = int(h or 0), int(mi or 0), int(s or 0)
    offset_hours, offset_minutes = int(oh or 0), int(om or 0)
    if not _valid_day(year, month, day):
        return None
    if hour > 23 or minute > 59 or second > 59 or offset_hours > 23 or offset_minutes > 59:
        return None
    micros = int((fraction or "").ljust(6, "0")[:6])
    offset = timedelta(hours=offset_hours, minutes=offset_minutes)
    if sign == "-":
        offset = -offset
    local = datetime(year, month, day, hour, minute, second, micros)
    try:
        return local.replace(tzinfo=timezone(offset)).astimezone(UTC)
    except OverflowError:  # the instant leaves years 1 to 9999: not a timestamp of the rule
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_properties(value: Any) -> dict[str, Any] | None:
    """Event properties as a JSON object (numbers as exact decimals), else ``None``.

    Missing or empty properties are ``{}``. ``NaN`` and ``Infinity`` are not JSON; a JSON value
    that is not an object (a list, a string, a number) is not properties.
    """
    if isinstance(value, dict):
        return value
    text = cell(value)
    if text is None:
        return {}
    if "\\u0000" in text.lower():
        return None  # PostgreSQL cannot read a NUL back out of JSON: not properties anywhere
    try:
        parsed = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_no_constant,
            object_pairs_hook=_Object.of,
        )
    except ValueError:
        return None
    if not isinstance(parsed, _Object) or parsed.repeated or not _unicode(parsed):
        return None
    return dict(parsed)


class _Object(dict):
    """A JSON object that remembers whether a key appeared twice in it."""

    repeated = False

    @classmethod
    def of(cls, pairs: list[tuple[str, Any]]) -> _Object:
        obj = cls(pairs)
        obj.repeated = len(obj) != len(pairs)
        return obj


def _unicode(value: Any) -> bool:
    """No lone surrogate (``\\ud800``) anywhere: json.loads lets them through, and they are not
    Unicode text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_unicode(k) and _unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_unicode(v) for v in value)
    return True


def parse_flag(value: Any) -> bool:
    """A boolean flag from YAML, JSON or a CSV cell ("true", "1", "yes", "t")."""
    if isinstance(value, str):
        return value.strip(" ").lower() in ("true", "1", "yes", "t")
    return bool(value)
