"""Which received rows are billed, and why the others are not (docs/billing-rules.md §7, §11).

Every dataset is read by the same contract: each text cell trimmed of spaces, an empty cell
missing. Each received row ends up accepted, a duplicate (an exact repeat, counted once) or
quarantined with one reason, the first that applies in the decided order, so that per dataset
``received = accepted + duplicates + quarantined``.

Master data (customers, contracts, contract lines): empty keys, repeated ids (identical repeats
are duplicates; differing copies are all ``conflicting_<key>``), unknown references, dates,
cadences and numbers with their ranges. Usage events: missing ids, conflicting ids (the same id
with different payloads, every row of it), exact repeats, names, customers, timestamps,
properties, and the numbers that a numeric metric whose filters the event passes reads.

In every dataset with a key, conflicts and repeats are decided right after the key: every row
of an id whose rows differ gets ``conflicting_<key>`` whatever else is wrong with it (the
decided rule quarantines EVERY row of it with that reason), and an identical repeat is a
duplicate; the remaining reasons apply, in the decided order, to the one row kept.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from golive.reference.contracts import Contract, ContractLine, Coupon, Product
from golive.reference.invoices import line_pricing
from golive.reference.metering import USAGE_VALUE_BOUND, Event, Metric
from golive.reference.numbers import is_known_currency, minor_unit, to_decimal
from golive.reference.parsing import (
    cell,
    parse_date,
    parse_flag,
    parse_number,
    parse_properties,
    parse_timestamp,
)
from golive.reference.periods import CADENCES

CUSTOMERS = "customers"
CONTRACTS = "contracts"
CONTRACT_LINES = "contract_lines"
USAGE_EVENTS = "usage_events"

# The columns of each dataset (docs/plan-and-datasets.md "The datasets"), in the order the contract
# lists them; a row's identity (for duplicates) is its trimmed values in these columns.
CUSTOMER_COLUMNS = (
    "customer_id",
    "name",
    "email",
    "country",
    "currency",
    "tax_rate_percent",
    "parent_customer_id",
    "created_at",
)
CONTRACT_COLUMNS = (
    "contract_id",
    "customer_id",
    "start_date",
    "end_date",
    "currency",
    "billing_period",
    "billing_anchor_date",
    "discount_percent",
    "minimum_commitment",
    "prepaid_credit",
    "tax_rate_percent",
    "maximum_commitment",
    "prorate_commitment",
    "coupon_id",
)
CONTRACT_LINE_COLUMNS = (
    "contract_id",
    "product_id",
    "quantity",
    "billing_timing",
    "free_units",
    "discount_percent",
    "discount_amount",
    "minimum_commitment",
    "price_override",
    "skip_zero",
    "start_date",
    "end_date",
    "prorate_commitment",
    "maximum_amount",
    "tax_rate_percent",
    "tax_code",
)
EVENT_COLUMNS = ("event_id", "customer_id", "event_name", "timestamp", "properties")

_MONEY_BOUND = Decimal(10) ** 12
_QUANTITY_BOUND = Decimal(10) ** 15

# (lowest, highest, highest included) per kind of number
_PERCENT = (Decimal(0), Decimal(100), True)
_MONEY = (Decimal(0), _MONEY_BOUND, False)
_QUANTITY = (Decimal(0), _QUANTITY_BOUND, False)

_CUSTOMER_NUMBERS = {"tax_rate_percent": _PERCENT}
_CONTRACT_NUMBERS = {
    "discount_percent": _PERCENT,
    "minimum_commitment": _MONEY,
    "prepaid_credit": _MONEY,
    "tax_rate_percent": _PERCENT,
    "maximum_commitment": _MONEY,
}
_LINE_NUMBERS = {
    "quantity": _QUANTITY,
    "free_units": _QUANTITY,
    "discount_percent": _PERCENT,
    "discount_amount": _MONEY,
    "minimum_commitment": _MONEY,
    "maximum_amount": _MONEY,
    "tax_rate_percent": _PERCENT,
}

Row = dict[str, str | None]


@dataclass
class DatasetCounts:
    """What happened to the received rows of one dataset.

    ``quarantined`` counts rows per reason; ``records`` lists each quarantined row's key
    (customer_id, contract_id, ``contract_id/product_id`` for a contract line, event_id; ``None``
    when the key is empty) with its reason, in the order received.
    """

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    records: list[tuple[str | None, str]] = field(default_factory=list)

    @property
    def total_quarantined(self) -> int:
        """Rows quarantined, whatever the reason."""
        return sum(self.quarantined.values())

    def reconciles(self) -> bool:
        """``received = accepted + duplicates + quarantined``."""
        return self.received == self.accepted + self.duplicates + self.total_quarantined

    def _quarantine(self, key: str | None, reason: str) -> None:
        self.quarantined[reason] += 1
        self.records.append((key, reason))


def clean_row(row: Mapping[str, Any], columns: Sequence[str]) -> Row:
    """The row's cells in ``columns`` (header names case-insensitive), trimmed; empty is None."""
    lower = {str(k).strip(" ").lower(): v for k, v in row.items()}
    return {c: cell(lower.get(c)) for c in columns}


def _identity(row: Row) -> tuple[str | None, ...]:
    return tuple(row.values())


def _versions(rows: Sequence[Row], key: str) -> dict[str, set[tuple[str | None, ...]]]:
    """Per non-empty key value, the distinct rows that carry it."""
    found: dict[str, set[tuple[str | None, ...]]] = defaultdict(set)
    for row in rows:
        if row[key] is not None:
            found[row[key]].add(_identity(row))
    return found


def _number_reason(row: Row, bounds: Mapping[str, tuple[Decimal, Decimal, bool]]) -> str | None:
    """``non_numeric_value`` when a given number column is not a number, else
    ``value_out_of_range`` when one is outside its bounds, else ``None``."""
    values = {}
    for column in bounds:
        if row[column] is not None:
            value = parse_number(row[column])
            if value is None:
                return "non_numeric_value"
            values[column] = value
    for column, value in values.items():
        low, high, inclusive = bounds[column]
        if value < low or value > high or (value == high and not inclusive):
            return "value_out_of_range"
    return None


def _number(row: Row, column: str) -> Decimal | None:
    return parse_number(row[column]) if row[column] is not None else None


def accept_customers(
    rows: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, Decimal | None], DatasetCounts]:
    """Apply §1 to customers; return the accepted ones (id -> tax rate) and the counts.

    Reasons, the first that applies: ``missing_customer_id``; ``conflicting_customer_id``
    (an id whose rows differ: every row of it, whatever else is wrong with it); then the
    repeats of a row already seen are duplicates, and the row kept gets
    ``missing_name``, ``unknown_currency`` (an empty currency is allowed),
    ``non_numeric_value``, ``value_out_of_range`` (tax_rate_percent 0..100).
    """
    cleaned = [clean_row(r, CUSTOMER_COLUMNS) for r in rows]
    versions = _versions(cleaned, "customer_id")
    counts = DatasetCounts(received=len(cleaned))
    accepted: dict[str, Decimal | None] = {}
    seen: set[str] = set()
    for row in cleaned:
        key = row["customer_id"]
        if key is None:
            reason = "missing_customer_id"
        elif len(versions[key]) > 1:
            reason = "conflicting_customer_id"
        elif key in seen:
            counts.duplicates += 1
            continue
        else:
            seen.add(key)
            if row["name"] is None:
                reason = "missing_name"
            elif row["currency"] is not None and not is_known_currency(row["currency"]):
                reason = "unknown_currency"
            else:
                reason = _number_reason(row, _CUSTOMER_NUMBERS)
        if reason:
            counts._quarantine(key, reason)
            continue
        accepted[key] = _number(row, "tax_rate_percent")
        counts.accepted += 1
    return accepted, counts


def _contract_reason(
    row: Row, customers: Collection[str], coupons: Mapping[str, Coupon] | None = None
) -> str | None:
    """The reasons of a contract once its id is known to be on one version (see
    accept_contracts)."""
    if row["customer_id"] is None:
        return "missing_customer_id"
    if row["currency"] is None:
        return "missing_currency"
    if not is_known_currency(row["currency"]):
        return "unknown_currency"
    if row["customer_id"] not in customers:
        return "unknown_customer"
    start = parse_date(row["start_date"])
    if start is None:
        return "unparseable_start_date"
    end = parse_date(row["end_date"])
    if row["end_date"] is not None and end is None:
        return "unparseable_end_date"
    if row["billing_anchor_date"] is not None and parse_date(row["billing_anchor_date"]) is None:
        return "unparseable_billing_anchor_date"
    if end is not None and end < start:
        return "end_date_before_start_date"
    if (row["billing_period"] or "").upper() not in CADENCES:
        return "unknown_billing_period"
    reason = _number_reason(row, _CONTRACT_NUMBERS)
    if reason:
        return reason
    maximum = _number(row, "maximum_commitment")
    if maximum is not None and maximum < (_number(row, "minimum_commitment") or 0):
        return "maximum_below_minimum"
    if row["coupon_id"] is not None:
        coupon = (coupons or {}).get(row["coupon_id"])
        if coupon is None:
            return "unknown_coupon"
        if coupon.currency is not None and coupon.currency != row["currency"].upper():
            return "coupon_currency_mismatch"
    prepaid = _number(row, "prepaid_credit") or 0
    if prepaid % (Decimal(1).scaleb(-minor_unit(row["currency"].upper()))) != 0:
        return "prepaid_credit_beyond_minor_unit"
    return None


def accept_contracts(
    rows: Iterable[Mapping[str, Any]],
    customers: Collection[str],
    coupons: Mapping[str, Coupon] | None = None,
) -> tuple[list[Contract], DatasetCounts]:
    """Apply §1 to contracts; return the accepted ones (in the order received) and the counts.

    Reasons, the first that applies: ``missing_contract_id``; ``conflicting_contract_id``
    (every row of an id whose rows differ); then the repeats of a row already seen are
    duplicates, and the row kept gets ``missing_customer_id``, ``missing_currency``,
    ``unknown_currency``, ``unknown_customer`` (not an accepted customer),
    ``unparseable_start_date``, ``unparseable_end_date``, ``unparseable_billing_anchor_date``,
    ``end_date_before_start_date``, ``unknown_billing_period``, ``non_numeric_value``,
    ``value_out_of_range`` (percentages 0..100, minimum_commitment, prepaid_credit and
    maximum_commitment 0 <= x < 10^12), ``maximum_below_minimum``, ``unknown_coupon`` (not
    one of ``coupons``), ``coupon_currency_mismatch`` (a fixed coupon in another currency),
    ``prepaid_credit_beyond_minor_unit`` (more decimals than the currency has).
    """
    cleaned = [clean_row(r, CONTRACT_COLUMNS) for r in rows]
    versions = _versions(cleaned, "contract_id")
    counts = DatasetCounts(received=len(cleaned))
    accepted: list[Contract] = []
    seen: set[str] = set()
    for row in cleaned:
        key = row["contract_id"]
        if key is None:
            reason = "missing_contract_id"
        elif len(versions[key]) > 1:
            reason = "conflicting_contract_id"
        elif key in seen:
            counts.duplicates += 1
            continue
        else:
            seen.add(key)
            reason = _contract_reason(row, customers, coupons)
        if reason:
            counts._quarantine(key, reason)
            continue
        accepted.append(
            Contract(
                contract_id=key,
                customer_id=row["customer_id"],
                currency=row["currency"].upper(),
                start_date=parse_date(row["start_date"]),
                billing_period=row["billing_period"].upper(),
                end_date=parse_date(row["end_date"]),
                billing_anchor_date=parse_date(row["billing_anchor_date"]),
                discount_percent=_number(row, "discount_percent"),
                minimum_commitment=_number(row, "minimum_commitment"),
                prepaid_credit=_number(row, "prepaid_credit"),
                tax_rate_percent=_number(row, "tax_rate_percent"),
                maximum_commitment=_number(row, "maximum_commitment"),
                prorate_commitment=parse_flag(row["prorate_commitment"] or ""),
                coupon_id=row["coupon_id"],
            )
        )
        counts.accepted += 1
    return accepted, counts


def _line(row: Row, tax_codes: Mapping[str, Decimal] | None = None) -> ContractLine:
    timing = row["billing_timing"]
    rate = _number(row, "tax_rate_percent")
    if rate is None and row["tax_code"] is not None:
        rate = (tax_codes or {}).get(row["tax_code"])
    return ContractLine(
        product_id=row["product_id"],
        quantity=_number(row, "quantity"),
        billing_timing=timing.lower() if timing else None,
        free_units=_number(row, "free_units"),
        discount_percent=_number(row, "discount_percent"),
        discount_amount=_number(row, "discount_amount"),
        minimum_commitment=_number(row, "minimum_commitment"),
        skip_zero=parse_flag(row["skip_zero"] or ""),
        price_override=row["price_override"],
        start_date=parse_date(row["start_date"]),
        end_date=parse_date(row["end_date"]),
        prorate_commitment=parse_flag(row["prorate_commitment"] or ""),
        maximum_amount=_number(row, "maximum_amount"),
        tax_rate_percent=rate,
    )


def _line_reason(
    row: Row,
    contracts: Collection[str],
    products: Mapping[str, Product],
    tax_codes: Mapping[str, Decimal] | None = None,
) -> str:
    """The first reason a contract line is quarantined for, or ``""``."""
    if row["contract_id"] is None:
        return "missing_contract_id"
    if row["product_id"] is None:
        return "missing_product_id"
    if row["contract_id"] not in contracts:
        return "unknown_contract"
    if row["product_id"] not in products:
        return "unknown_product"
    reason = _number_reason(row, _LINE_NUMBERS)
    if reason:
        return reason
    timing = row["billing_timing"]
    if timing is not None and timing.lower() not in ("advance", "arrears"):
        return "unknown_billing_timing"
    start, end = parse_date(row["start_date"]), parse_date(row["end_date"])
    if row["start_date"] is not None and start is None:
        return "unparseable_start_date"
    if row["end_date"] is not None and end is None:
        return "unparseable_end_date"
    if start is not None and end is not None and end < start:
        return "end_date_before_start_date"
    try:
        _, pricing = line_pricing(_line(row), products[row["product_id"]])
    except ValueError:
        return "invalid_price_override"
    minimum = _number(row, "minimum_commitment")
    if minimum is None:
        minimum = to_decimal(pricing.get("minimum_amount"))
    maximum = _number(row, "maximum_amount")
    if maximum is None:
        maximum = to_decimal(pricing.get("maximum_amount"))
    if minimum is not None and maximum is not None and maximum < minimum:
        return "maximum_below_minimum"
    if row["tax_code"] is not None:
        if row["tax_rate_percent"] is not None:
            return "tax_rate_and_tax_code"
        if row["tax_code"] not in (tax_codes or {}):
            return "unknown_tax_code"
    return ""


def _line_order(row: Row, received_no: int) -> tuple:
    """A contract's lines are numbered by product_id, then every other column's text (a
    missing value after any text), then the order received (docs/billing-rules.md §11.4)."""
    others = tuple(
        (1, "") if row[c] is None else (0, row[c])
        for c in CONTRACT_LINE_COLUMNS
        if c not in ("contract_id", "product_id")
    )
    return (row["product_id"], others, received_no)


def accept_contract_lines(
    rows: Iterable[Mapping[str, Any]],
    contracts: Collection[str],
    products: Mapping[str, Product],
    tax_codes: Mapping[str, Decimal] | None = None,
) -> tuple[dict[str, list[ContractLine]], DatasetCounts]:
    """Apply §1 to contract lines; return the accepted lines per contract id, in line_no order.

    Reasons, the first that applies: ``missing_contract_id``, ``missing_product_id``,
    ``unknown_contract`` (not an accepted contract), ``unknown_product``, ``non_numeric_value``,
    ``value_out_of_range`` (quantity and free_units 0 <= x < 10^15, discount_percent 0..100,
    discount_amount and minimum_commitment 0 <= x < 10^12), then ``unknown_billing_timing``,
    ``unparseable_start_date``, ``unparseable_end_date``, ``end_date_before_start_date``,
    ``invalid_price_override``, ``maximum_below_minimum`` (the line's or its pricing's cap
    below its minimum), ``tax_rate_and_tax_code`` and ``unknown_tax_code``.
    Identical lines are not duplicates: a contract may buy the same product twice. Record
    keys are ``contract_id/product_id`` (an empty one as "").
    """
    cleaned = [clean_row(r, CONTRACT_LINE_COLUMNS) for r in rows]
    counts = DatasetCounts(received=len(cleaned))
    ordered: dict[str, list[tuple[tuple, ContractLine]]] = defaultdict(list)
    for received_no, row in enumerate(cleaned):
        reason = _line_reason(row, contracts, products, tax_codes)
        if reason:
            counts._quarantine(f"{row['contract_id'] or ''}/{row['product_id'] or ''}", reason)
            continue
        ordered[row["contract_id"]].append((_line_order(row, received_no), _line(row, tax_codes)))
        counts.accepted += 1
    lines = {
        contract_id: [line for _, line in sorted(found, key=lambda x: x[0])]
        for contract_id, found in ordered.items()
    }
    return lines, counts


def _numeric_reason(properties: Mapping[str, Any], readers: Sequence[Metric]) -> str | None:
    """Reasons 9-11 of §2 over the numeric metrics that read the event."""
    found = set()
    for metric in readers:
        if not metric.passes_filters(properties):
            continue
        raw = properties.get(metric.property)
        value = parse_number(raw)
        if raw is None:
            found.add("missing_numeric_property")
        elif value is None:
            found.add("non_numeric_value")
        elif abs(value) >= USAGE_VALUE_BOUND:
            found.add("value_out_of_range")
    for reason in ("value_out_of_range", "non_numeric_value", "missing_numeric_property"):
        if reason in found:
            return reason
    return None


def accept_events(
    rows: Iterable[Mapping[str, Any]],
    customers: Collection[str],
    metrics: Sequence[Metric],
) -> tuple[list[Event], DatasetCounts]:
    """Apply §2 to usage events; return the accepted events and the counts.

    The payload of an event id is (customer_id, event_name, timestamp, properties), four
    separate trimmed values (an empty one missing). Reasons, the first that applies:
    ``missing_event_id``; ``conflicting_event_id`` (the id carries several payloads: every
    row of it); then an exact repeat of an id already seen is a duplicate; then
    ``missing_event_name``, ``unknown_customer`` (empty or not an accepted customer),
    ``unparseable_timestamp``, ``properties_not_a_json_object``, and over the numeric metrics
    of the event's name whose filters it passes: ``value_out_of_range`` (|v| >= 10^15),
    ``non_numeric_value``, ``missing_numeric_property``.
    """
    cleaned = [clean_row(r, EVENT_COLUMNS) for r in rows]
    readers: dict[str, list[Metric]] = defaultdict(list)
    for metric in metrics:
        if metric.reads_number():
            readers[metric.event_name].append(metric)
    payloads: dict[str, set[tuple[str | None, ...]]] = defaultdict(set)
    for row in cleaned:
        if row["event_id"] is not None:
            payloads[row["event_id"]].add(_identity(row)[1:])
    counts = DatasetCounts(received=len(cleaned))
    events: list[Event] = []
    seen: set[str] = set()
    for row in cleaned:
        event_id = row["event_id"]
        reason = None
        if event_id is None:
            reason = "missing_event_id"
        elif len(payloads[event_id]) > 1:
            reason = "conflicting_event_id"
        elif event_id in seen:
            counts.duplicates += 1
            continue
        if reason:
            counts._quarantine(event_id, reason)
            continue
        seen.add(event_id)
        timestamp = parse_timestamp(row["timestamp"])
        properties = parse_properties(row["properties"])
        if row["event_name"] is None:
            reason = "missing_event_name"
        elif row["customer_id"] not in customers:
            reason = "unknown_customer"
        elif timestamp is None:
            reason = "unparseable_timestamp"
        elif properties is None:
            reason = "properties_not_a_json_object"
        else:
            reason = _numeric_reason(properties, readers.get(row["event_name"], ()))
        if reason:
            counts._quarantine(event_id, reason)
            continue
        events.append(Event(event_id, row["customer_id"], row["event_name"], timestamp, properties))
        counts.accepted += 1
    return events, counts
