"""Billable metrics (docs/billing-rules.md §6): which events a metric reads, and its value per
period.

An event belongs to its customer's contract that covers the event's date in the plan's time
zone (the latest-starting one if several do, then the greatest contract id), and to that
contract's invoiced period whose bounds, local midnights converted to UTC instants, hold it.
``weighted_sum`` measures real time between UTC instants: in America/New_York a level held for
all of March 2024 is held 743 hours, and March is 743 hours long.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from golive.reference.contracts import Contract
from golive.reference.numbers import PRECISION, QUANTITY_STEP, ZERO
from golive.reference.parsing import parse_number
from golive.reference.periods import local_date, local_midnight, periods
from golive.reference.pricing import Quantity, pair_text

AGGREGATIONS = ("count", "sum", "min", "max", "avg", "count_distinct", "latest", "weighted_sum")
#: Aggregations that read their property as a number (its events are checked for one).
#: ``latest`` reads a number too but checks nothing: it never quarantines an event.
NUMERIC_AGGREGATIONS = ("sum", "min", "max", "avg", "weighted_sum")
#: |usage value| must stay below this, else ``value_out_of_range`` (a latest value: 0).
USAGE_VALUE_BOUND = Decimal(10) ** 15

_MICROSECOND = timedelta(microseconds=1)


def property_text(value: Any) -> str | None:
    """A JSON property value as text, as ``->>`` gives it: strings as they are, numbers as
    written, ``true``/``false``, objects and arrays as JSON; a missing value is ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Event:
    """An accepted usage event: ``timestamp`` is timezone-aware, ``properties`` parsed JSON."""

    event_id: str
    customer_id: str
    event_name: str
    timestamp: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Metric:
    """A billable metric (docs/billing-rules.md §6): which events, how aggregated, of which
    property.

    ``filters`` are equality conditions on properties (compared as text; a missing property
    reads as ""); ``group_by`` names the property whose value splits the metric per group, or
    two of them (a tuple), whose values together make the group.
    """

    metric_id: str
    event_name: str
    aggregation: str
    property: str | None = None
    group_by: str | tuple[str, str] | None = None
    filters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_plan(cls, entry: Mapping[str, Any]) -> Metric:
        """Build from one ``metrics`` entry of plan.yaml."""
        if entry["aggregation"] not in AGGREGATIONS:
            raise ValueError(f"metric {entry['id']}: unknown aggregation {entry['aggregation']!r}")
        filters = tuple(sorted((str(k), str(v)) for k, v in (entry.get("filters") or {}).items()))
        return cls(
            entry["id"],
            entry["event_name"],
            entry["aggregation"],
            entry.get("property"),
            _group_by(entry.get("group_by")),
            filters,
        )

    def reads_number(self) -> bool:
        """True when the metric aggregates its property as a number."""
        return self.aggregation in NUMERIC_AGGREGATIONS and bool(self.property)

    def passes_filters(self, properties: Mapping[str, Any]) -> bool:
        """True when the properties meet every equality filter of the metric."""
        return all(
            (property_text(properties.get(key)) or "") == value for key, value in self.filters
        )

    def selects(self, event: Event) -> bool:
        """True when the event has the metric's name and passes its filters."""
        return event.event_name == self.event_name and self.passes_filters(event.properties)


def _group_by(value: Any) -> str | tuple[str, str] | None:
    if isinstance(value, list | tuple):
        return value[0] if len(value) == 1 else (value[0], value[1])
    return value


def group_key(group_by: str | tuple[str, str] | None, properties: Mapping[str, Any]) -> str | None:
    """An event's group value: ``None`` without ``group_by``; the one property's text (``None``
    when missing); for two properties the pair of their texts, a missing one as ""."""
    if not group_by:
        return None
    if isinstance(group_by, str):
        return property_text(properties.get(group_by))
    first, second = (property_text(properties.get(k)) or "" for k in group_by)
    return pair_text(first, second)


def _numeric(metric: Metric, event: Event) -> Decimal:
    value = parse_number(event.properties.get(metric.property or ""))
    if value is None:
        raise ValueError(
            f"metric {metric.metric_id}: event {event.event_id} has no numeric "
            f"{metric.property!r} (the bundle reader quarantines it)"
        )
    return value


def _weighted_sum(
    metric: Metric, events: Sequence[Event], start: datetime, end: datetime
) -> Decimal:
    """Σ level × microseconds held / microseconds in ``[start, end)``, all between UTC instants.

    The level is 0 before the first event; each event sets it until the next one (ties in
    event id order) or the end. Divided once, kept to 10 places half-up (README).
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    ordered = sorted(events, key=lambda e: (e.timestamp.astimezone(UTC), e.event_id))
    held = ZERO
    for event, following in zip(ordered, [*ordered[1:], None], strict=True):
        until = following.timestamp.astimezone(UTC) if following is not None else end
        micros = (until - event.timestamp.astimezone(UTC)) // _MICROSECOND
        held += _numeric(metric, event) * micros
    return (held / ((end - start) // _MICROSECOND)).quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP)


def metric_value(
    metric: Metric, events: Iterable[Event], start: datetime, end: datetime
) -> dict[str | None, Decimal]:
    """The metric's value per group value (``None`` without ``group_by``) over the events.

    ``events`` are those of one customer's contract with their instants in ``[start, end)``
    (the billing period, aware datetimes); events the metric does not select are skipped. A
    group without selected events is absent. ``latest`` takes the event with the greatest
    timestamp, then the greatest event id; its value is 0 when that event's property is
    missing, not a number or outside the bounds (never an earlier event's value: a guess).
    """
    groups: dict[str | None, list[Event]] = defaultdict(list)
    for event in events:
        if metric.selects(event):
            key = group_key(metric.group_by, event.properties)
            groups[key].append(event)
    result: dict[str | None, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = PRECISION
        for key, selected in groups.items():
            agg = metric.aggregation
            if agg == "count":
                value = Decimal(len(selected))
            elif agg == "count_distinct":
                texts = {property_text(e.properties.get(metric.property or "")) for e in selected}
                value = Decimal(len(texts - {None}))
            elif agg == "latest":
                last = max(selected, key=lambda e: (e.timestamp.astimezone(UTC), e.event_id))
                number = parse_number(last.properties.get(metric.property or ""))
                value = number if number is not None and abs(number) < USAGE_VALUE_BOUND else ZERO
            elif agg == "weighted_sum":
                value = _weighted_sum(metric, selected, start, end)
            else:
                numbers = [_numeric(metric, e) for e in selected]
                if agg == "sum":
                    value = sum(numbers, ZERO)
                elif agg == "min":
                    value = min(numbers)
                elif agg == "max":
                    value = max(numbers)
                elif agg == "avg":
                    value = (sum(numbers, ZERO) / len(numbers)).quantize(
                        QUANTITY_STEP, rounding=ROUND_HALF_UP
                    )
                else:
                    raise ValueError(f"metric {metric.metric_id}: unknown aggregation {agg!r}")
            result[key] = value
    return result


def meter(
    contracts: Sequence[Contract],
    metrics: Sequence[Metric],
    events: Iterable[Event],
    *,
    as_of: date,
    timezone: str = "UTC",
) -> dict[str, dict[tuple[date, str], Quantity]]:
    """Usage per contract id, in the shape :func:`~golive.reference.invoices.bill_contract`
    takes: ``(period start, metric id)`` to a value, or to a mapping of group value to value
    for a grouped metric.

    Each event belongs to its customer's contract that covers the event's date in
    ``timezone`` (the latest-starting one if several do, then the greatest contract id) and
    to that contract's invoiced period holding its instant; other events are not billed.
    Period bounds are the local midnights of the period's dates in ``timezone``, as UTC
    instants.
    """
    by_customer: dict[str, list[Contract]] = defaultdict(list)
    for contract in contracts:
        by_customer[contract.customer_id].append(contract)
    for candidates in by_customer.values():
        candidates.sort(key=lambda c: (c.start_date, c.contract_id), reverse=True)
    bounds = {
        c.contract_id: [
            (local_midnight(p.start, timezone), local_midnight(p.end, timezone), p.start)
            for p in periods(
                c.start_date, c.end_date, c.billing_anchor_date, c.billing_period, as_of
            )
        ]
        for c in contracts
    }
    assigned: dict[tuple[str, date], list[Event]] = defaultdict(list)
    period_of: dict[tuple[str, date], tuple[datetime, datetime]] = {}
    for event in events:
        instant = event.timestamp.astimezone(UTC)
        day = local_date(instant, timezone)
        contract = next(
            (
                c
                for c in by_customer.get(event.customer_id, [])
                if c.start_date <= day and (c.end_date is None or day <= c.end_date)
            ),
            None,
        )
        if contract is None:
            continue
        for start, end, key in bounds[contract.contract_id]:
            if start <= instant < end:
                assigned[(contract.contract_id, key)].append(event)
                period_of[(contract.contract_id, key)] = (start, end)
                break
    usage: dict[str, dict[tuple[date, str], Quantity]] = {c.contract_id: {} for c in contracts}
    for (contract_id, period_start), selected in assigned.items():
        start, end = period_of[(contract_id, period_start)]
        for metric in metrics:
            values = metric_value(metric, selected, start, end)
            if not values:
                continue
            if metric.group_by:
                usage[contract_id][(period_start, metric.metric_id)] = values
            else:
                usage[contract_id][(period_start, metric.metric_id)] = values[None]
    return usage
