"""A small, independent biller used as the demo company's "legacy process".

It is written straight from DOMAIN.md and the README's "Billing decisions", in plain Python with
``decimal.Decimal`` only, and shares no code with the SQL models. The demo generator uses it to
write the legacy invoices that the pipeline's own invoices are reconciled against, so a rule
implemented differently on either side shows up as a parallel-test mismatch.

Scope: the pricing models ``flat_fee``, ``per_unit``, ``package``, ``tiered`` (graduated) and
``volume``; free units, line discounts and minimums; contract discount, minimum commitment and
prepaid credit; tax; journal entries. Quantities are given per (period start, metric): turning
usage events into those numbers is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from dateutil.relativedelta import relativedelta

# Enough significant digits that no intermediate value (a prorated fee, a per-unit price over a
# unit size) is rounded before the single rounding of step 5.
_PRECISION = 60

ZERO = Decimal(0)
HUNDRED = Decimal(100)

# ISO 4217 exponents of the currencies the demo uses, plus the usual exceptions to "2".
_MINOR_UNITS = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}

CADENCE_MONTHS = {"P1M": 1, "P3M": 3, "P1Y": 12}

MODELS = ("flat_fee", "per_unit", "package", "tiered", "volume")

# Ids of the invoice lines that come from no contract line (README, "Billing decisions").
CONTRACT_DISCOUNT = "contract_discount"
MINIMUM_TRUE_UP = "minimum_commitment_true_up"
PREPAID_APPLIED = "prepaid_credit_applied"

# Journal accounts (README, "Billing decisions").
ACCOUNTS_RECEIVABLE = "accounts_receivable"
REVENUE = "revenue"
DEFERRED_REVENUE = "deferred_revenue"
SALES_TAX_PAYABLE = "sales_tax_payable"
CUSTOMER_PREPAID_BALANCE = "customer_prepaid_balance"


# --------------------------------------------------------------------------- money and numbers


def to_decimal(value: Any) -> Decimal | None:
    """Read a configuration or CSV value as an exact decimal; ``None`` and ``""`` give ``None``.

    Floats go through their shortest repr, so a YAML ``1.005`` is 1.005, not the nearest binary
    float. Booleans are rejected: ``True`` is not a price.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        raise TypeError(f"expected a decimal, got {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value).strip())


def minor_unit(currency: str) -> int:
    """Return the ISO 4217 exponent of ``currency`` (USD 2, JPY 0); unknown codes raise."""
    try:
        return _MINOR_UNITS[currency.upper()]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}: no minor unit is known for it") from None


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the minor unit of ``currency``, halves away from zero.

    ``round_half_up(Decimal("2.345"), "USD") == Decimal("2.35")``,
    ``round_half_up(Decimal("-2.345"), "USD") == Decimal("-2.35")``,
    ``round_half_up(Decimal("1234.5"), "JPY") == Decimal("1235")``.
    """
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """Write a money amount with exactly the currency's number of decimals ("500.00", "500")."""
    return f"{round_half_up(amount, currency):f}"


def format_quantity(value: Decimal | None) -> str:
    """Write a quantity as the shortest exact decimal ("12", "12.5"); ``None`` gives ``""``."""
    if value is None:
        return ""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"


# --------------------------------------------------------------------------- periods


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
    """Months per billing period for ``P1M``/``P3M``/``P1Y``."""
    try:
        return CADENCE_MONTHS[cadence]
    except KeyError:
        raise ValueError(
            f"unknown billing_period {cadence!r}: use one of {', '.join(CADENCE_MONTHS)}"
        ) from None


def period_bounds(anchor: date, cadence: str, k: int) -> tuple[date, date]:
    """Return ``[start, end)`` of period ``k`` counted from ``anchor`` (``k`` may be negative).

    Both bounds are computed from the anchor itself, never from the previous period, so a
    month-end anchor stays on month ends: Jan 31 monthly gives Feb 28, Mar 31, Apr 30.
    """
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
    # A first guess from the month difference, then walk to the period holding start_date.
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


# --------------------------------------------------------------------------- pricing models


@dataclass(frozen=True)
class Tier:
    """One row of a tier table: the bracket ``(previous up_to, up_to]`` at ``unit_price``."""

    up_to: Decimal | None
    unit_price: Decimal


def parse_tiers(tiers: Iterable[Mapping[str, Any]], product_id: str = "?") -> list[Tier]:
    """Read and check a tier table (DOMAIN.md §1).

    Bounds must be strictly increasing and the last one must be ``None`` (no bound); anything
    else is a configuration error naming the product.
    """
    rows = [
        Tier(to_decimal(t.get("up_to")), to_decimal(t.get("unit_price")) or ZERO) for t in tiers
    ]
    if not rows:
        raise ValueError(f"product {product_id}: the tier table is empty")
    if rows[-1].up_to is not None:
        raise ValueError(f"product {product_id}: the last tier must have up_to: null")
    previous: Decimal | None = None
    for i, row in enumerate(rows[:-1], start=1):
        if row.up_to is None:
            raise ValueError(f"product {product_id}: only the last tier may have up_to: null")
        if row.up_to < 0 or (previous is not None and row.up_to <= previous):
            raise ValueError(
                f"product {product_id}: tier bounds must be strictly increasing and not "
                f"negative (tier {i} has up_to {row.up_to} after {previous})"
            )
        previous = row.up_to
    return rows


def _graduated(tiers: Sequence[Tier], q: Decimal) -> Decimal:
    """Sum over tiers of the units inside each tier times its price."""
    total = ZERO
    lower = ZERO
    for tier in tiers:
        upper = q if tier.up_to is None else min(q, tier.up_to)
        if upper > lower:
            total += (upper - lower) * tier.unit_price
        if tier.up_to is None or q <= tier.up_to:
            break
        lower = tier.up_to
    return total


def _bracket(tiers: Sequence[Tier], q: Decimal) -> Tier:
    """The first tier with ``q <= up_to`` (q = 0 is in the first tier)."""
    for tier in tiers:
        if tier.up_to is None or q <= tier.up_to:
            return tier
    raise AssertionError("unreachable: the last tier has no bound")


def model_amount(
    model: str, pricing: Mapping[str, Any], q: Decimal, product_id: str = "?"
) -> Decimal:
    """The unrounded price of ``q`` billable units under one pricing model (DOMAIN.md §2).

    For ``flat_fee``, ``q`` is the line's quantity (a multiplier of ``amount``); proration is
    applied by :func:`rate_line`, not here.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if model == "flat_fee":
            return (to_decimal(pricing.get("amount")) or ZERO) * q
        if model == "per_unit":
            unit_size = to_decimal(pricing.get("unit_size")) or Decimal(1)
            unit_price = to_decimal(pricing.get("unit_price")) or ZERO
            # Multiply first: q * price / size is exact whenever q / size * price is.
            return q * unit_price / unit_size
        if model == "package":
            size = to_decimal(pricing.get("package_size"))
            if not size or size <= 0:
                raise ValueError(f"product {product_id}: package_size must be positive")
            price = to_decimal(pricing.get("package_price")) or ZERO
            packages = (q / size).to_integral_value(rounding=ROUND_CEILING)
            return packages * price
        if model == "tiered":
            return _graduated(parse_tiers(pricing.get("tiers") or [], product_id), q)
        if model == "volume":
            return q * _bracket(parse_tiers(pricing.get("tiers") or [], product_id), q).unit_price
    raise NotImplementedError(
        f"product {product_id}: pricing model {model!r} is not supported by the reference "
        f"biller (supported: {', '.join(MODELS)})"
    )


def billable_quantity(model: str, q: Decimal, free_units: Decimal | None) -> Decimal:
    """Step 1 of DOMAIN.md §3: ``max(q - free_units, 0)``; flat fees ignore free units."""
    if model == "flat_fee" or not free_units:
        return q
    return max(q - free_units, ZERO)


def rate_line(
    model: str,
    pricing: Mapping[str, Any],
    q: Decimal | int | str,
    *,
    currency: str = "USD",
    free_units: Decimal | None = None,
    discount_percent: Decimal | None = None,
    discount_amount: Decimal | None = None,
    minimum_commitment: Decimal | None = None,
    skip_zero: bool = False,
    active_days: int | None = None,
    days_in_period: int | None = None,
    product_id: str = "?",
) -> Decimal:
    """Price one product line for one period and round it (DOMAIN.md §3 steps 1-5).

    ``q`` is the period's quantity: the metric value for a metered line, the contract line's
    quantity for a flat fee. A flat fee is prorated by ``active_days / days_in_period`` when
    both are given and the period is partial. With ``skip_zero`` a zero quantity costs nothing,
    minimum included. Returns the amount rounded half-up to the currency's minor unit.
    """
    q_dec = to_decimal(q) or ZERO
    if skip_zero and q_dec == 0:
        return round_half_up(ZERO, currency)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        bq = billable_quantity(model, q_dec, to_decimal(free_units))
        amount = model_amount(model, pricing, bq, product_id)
        if (
            model == "flat_fee"
            and active_days is not None
            and days_in_period
            and active_days < days_in_period
        ):
            amount = amount * active_days / days_in_period
        p = to_decimal(discount_percent)
        if p:
            amount = amount * (1 - p / HUNDRED)
        d = to_decimal(discount_amount)
        if d:
            amount = max(amount - d, ZERO)
        minimum = to_decimal(minimum_commitment)
        if minimum is not None:
            amount = max(amount, minimum)
        return round_half_up(amount, currency)


# --------------------------------------------------------------------------- contracts


@dataclass(frozen=True)
class Product:
    """A catalogue product: its pricing model and, when metered, the metric it bills."""

    product_id: str
    model: str
    pricing: Mapping[str, Any]
    metric: str | None = None

    @classmethod
    def from_plan(cls, entry: Mapping[str, Any]) -> Product:
        """Build from one ``products`` entry of plan.yaml."""
        pricing = dict(entry["pricing"])
        return cls(entry["id"], pricing.pop("model"), pricing, entry.get("metric"))


@dataclass(frozen=True)
class ContractLine:
    """One row of contract_lines.csv (empty CSV cells as ``None``)."""

    product_id: str
    quantity: Decimal | None = None
    billing_timing: str | None = None
    free_units: Decimal | None = None
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    minimum_commitment: Decimal | None = None
    skip_zero: bool = False


@dataclass(frozen=True)
class Contract:
    """One row of contracts.csv (empty CSV cells as ``None``)."""

    contract_id: str
    customer_id: str
    currency: str
    start_date: date
    billing_period: str = "P1M"
    end_date: date | None = None
    billing_anchor_date: date | None = None
    discount_percent: Decimal | None = None
    minimum_commitment: Decimal | None = None
    prepaid_credit: Decimal | None = None
    tax_rate_percent: Decimal | None = None


@dataclass(frozen=True)
class InvoiceLine:
    """A line of an invoice: a product line, or one of the contract-level pseudo lines.

    ``quantity`` is the period's quantity before free units (``None`` on pseudo lines);
    ``account`` is where a product line's revenue is credited.
    """

    line_no: int
    product_id: str
    quantity: Decimal | None
    billable_quantity: Decimal | None
    amount: Decimal
    account: str | None = None

    @property
    def is_product(self) -> bool:
        """True for a line that comes from a contract line."""
        return self.product_id not in (CONTRACT_DISCOUNT, MINIMUM_TRUE_UP, PREPAID_APPLIED)


@dataclass(frozen=True)
class JournalEntry:
    """One side of a double entry; exactly one of ``debit``/``credit`` is non-zero."""

    account: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class Settlement:
    """The invoice-level amounts of DOMAIN.md §3 steps 6-10."""

    discount: Decimal
    true_up: Decimal
    subtotal: Decimal
    credits_applied: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class Invoice:
    """One invoice: one contract, one billing period."""

    contract_id: str
    customer_id: str
    currency: str
    period: Period
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    credits_applied: Decimal
    tax: Decimal
    total: Decimal
    tax_rate_percent: Decimal
    journal: tuple[JournalEntry, ...] = field(default=())

    @property
    def period_start(self) -> date:
        """First day of the billing period."""
        return self.period.start

    @property
    def period_end(self) -> date:
        """Day after the last day of the billing period (exclusive bound)."""
        return self.period.end


def settle_invoice(
    line_amounts: Sequence[Decimal],
    currency: str,
    *,
    discount_percent: Decimal | None = None,
    minimum_commitment: Decimal | None = None,
    prepaid_available: Decimal = ZERO,
    tax_rate_percent: Decimal | None = None,
) -> Settlement:
    """Apply the invoice-level steps to rounded line amounts (DOMAIN.md §3 steps 6-10).

    ``prepaid_available`` is the prepaid balance left before this invoice; the credit applied
    is ``min(subtotal, prepaid_available)``, which equals the README's
    ``min(cum_k, P) - min(cum_(k-1), P)`` for the non-negative subtotals billing produces.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        zero = round_half_up(ZERO, currency)
        line_sum = sum(line_amounts, zero)
        p = to_decimal(discount_percent)
        discount = -round_half_up(line_sum * p / HUNDRED, currency) if p and p > 0 else zero
        minimum = to_decimal(minimum_commitment)
        shortfall = (minimum - (line_sum + discount)) if minimum is not None else zero
        true_up = round_half_up(shortfall, currency) if shortfall > 0 else zero
        subtotal = line_sum + discount + true_up
        credits = round_half_up(max(min(subtotal, prepaid_available), ZERO), currency)
        rate = to_decimal(tax_rate_percent) or ZERO
        tax = round_half_up((subtotal - credits) * rate / HUNDRED, currency)
        return Settlement(discount, true_up, subtotal, credits, tax, subtotal - credits + tax)


def journal_entries(invoice: Invoice) -> list[JournalEntry]:
    """The double entry of one invoice (DOMAIN.md §8; README, "Billing decisions").

    Dr accounts receivable the total; Cr revenue or deferred revenue per product line; Dr
    revenue the contract discount; Cr revenue the minimum true-up; Cr sales tax payable; Dr
    customer prepaid balance the credit applied. Rows with a zero amount are left out.
    """
    zero = round_half_up(ZERO, invoice.currency)
    rows = [JournalEntry(ACCOUNTS_RECEIVABLE, invoice.total, zero)]
    for line in invoice.lines:
        if line.is_product:
            rows.append(JournalEntry(line.account or REVENUE, zero, line.amount))
        elif line.product_id == CONTRACT_DISCOUNT:
            rows.append(JournalEntry(REVENUE, -line.amount, zero))
        elif line.product_id == MINIMUM_TRUE_UP:
            rows.append(JournalEntry(REVENUE, zero, line.amount))
    rows.append(JournalEntry(SALES_TAX_PAYABLE, zero, invoice.tax))
    rows.append(JournalEntry(CUSTOMER_PREPAID_BALANCE, invoice.credits_applied, zero))
    return [r for r in rows if r.debit != 0 or r.credit != 0]


def line_account(model: str, billing_timing: str | None) -> str:
    """Revenue account of a product line: deferred when billed in advance.

    ``billing_timing`` defaults to ``advance`` for flat fees and ``arrears`` otherwise.
    """
    timing = billing_timing or ("advance" if model == "flat_fee" else "arrears")
    return DEFERRED_REVENUE if timing == "advance" else REVENUE


def build_invoice(
    contract: Contract,
    period: Period,
    product_lines: Sequence[InvoiceLine],
    *,
    prepaid_available: Decimal = ZERO,
    tax_rate_percent: Decimal | None = None,
) -> Invoice:
    """Settle rated product lines into an invoice with its pseudo lines and journal."""
    s = settle_invoice(
        [line.amount for line in product_lines],
        contract.currency,
        discount_percent=contract.discount_percent,
        minimum_commitment=contract.minimum_commitment,
        prepaid_available=prepaid_available,
        tax_rate_percent=tax_rate_percent,
    )
    lines = list(product_lines)
    for product_id, amount in (
        (CONTRACT_DISCOUNT, s.discount),
        (MINIMUM_TRUE_UP, s.true_up),
        (PREPAID_APPLIED, -s.credits_applied),
    ):
        if amount != 0:
            lines.append(InvoiceLine(len(lines) + 1, product_id, None, None, amount))
    invoice = Invoice(
        contract_id=contract.contract_id,
        customer_id=contract.customer_id,
        currency=contract.currency,
        period=period,
        lines=tuple(lines),
        subtotal=s.subtotal,
        credits_applied=s.credits_applied,
        tax=s.tax,
        total=s.total,
        tax_rate_percent=to_decimal(tax_rate_percent) or ZERO,
    )
    return _with_journal(invoice)


def _with_journal(invoice: Invoice) -> Invoice:
    return replace(invoice, journal=tuple(journal_entries(invoice)))


def bill_contract(
    contract: Contract,
    lines: Sequence[ContractLine],
    products: Mapping[str, Product],
    usage: Mapping[tuple[date, str], Decimal],
    *,
    as_of: date,
    customer_tax_rate_percent: Decimal | None = None,
    since: date | None = None,
) -> list[Invoice]:
    """Bill one contract: one invoice per invoiced period, with lines and journal entries.

    ``usage`` maps ``(period_start, metric_id)`` to the metric's value in that period; a
    missing key is 0. Lines keep the order of ``lines`` (line_no 1..n). The tax rate is the
    contract's, else ``customer_tax_rate_percent``, else 0. The prepaid credit is drawn down
    over the periods in order and carries over from one invoice to the next.

    ``since`` returns only the invoices whose period ends after it; earlier periods are still
    billed internally when the contract has a prepaid balance, because they consume it.
    """
    prepaid = to_decimal(contract.prepaid_credit) or ZERO
    tax_rate = contract.tax_rate_percent
    if tax_rate is None:
        tax_rate = customer_tax_rate_percent
    cumulative = ZERO
    invoices: list[Invoice] = []
    for period in periods(
        contract.start_date,
        contract.end_date,
        contract.billing_anchor_date,
        contract.billing_period,
        as_of,
    ):
        wanted = since is None or period.end > since
        if not wanted and prepaid == 0:
            continue
        rated = [
            rate_contract_line(contract, line, products[line.product_id], period, usage, i)
            for i, line in enumerate(lines, start=1)
        ]
        available = max(prepaid - cumulative, ZERO)
        invoice = build_invoice(
            contract, period, rated, prepaid_available=available, tax_rate_percent=tax_rate
        )
        cumulative += invoice.subtotal
        if wanted:
            invoices.append(invoice)
    return invoices


def line_quantity(
    line: ContractLine,
    product: Product,
    period: Period,
    usage: Mapping[tuple[date, str], Decimal],
) -> Decimal:
    """q of a line: the metric's value in the period, or the line's fixed quantity (default 1)."""
    if product.metric:
        return to_decimal(usage.get((period.start, product.metric))) or ZERO
    return to_decimal(line.quantity) or Decimal(1)


def rate_contract_line(
    contract: Contract,
    line: ContractLine,
    product: Product,
    period: Period,
    usage: Mapping[tuple[date, str], Decimal],
    line_no: int,
    *,
    quantity: Decimal | None = None,
) -> InvoiceLine:
    """Rate one contract line for one period; ``quantity`` overrides the looked-up q."""
    q = quantity if quantity is not None else line_quantity(line, product, period, usage)
    amount = rate_line(
        product.model,
        product.pricing,
        q,
        currency=contract.currency,
        free_units=line.free_units,
        discount_percent=line.discount_percent,
        discount_amount=line.discount_amount,
        minimum_commitment=line.minimum_commitment,
        skip_zero=line.skip_zero,
        active_days=period.active_days,
        days_in_period=period.days_in_period,
        product_id=product.product_id,
    )
    return InvoiceLine(
        line_no=line_no,
        product_id=product.product_id,
        quantity=q,
        billable_quantity=billable_quantity(product.model, q, to_decimal(line.free_units)),
        amount=amount,
        account=line_account(product.model, line.billing_timing),
    )
