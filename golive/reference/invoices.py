"""Invoices (docs/billing-rules.md §3-4, §8): rated lines, invoice settlement and the journal.

:func:`bill_contract` bills one contract over its invoiced periods: every active line is rated
(:mod:`golive.reference.pricing`), then the invoice-level steps apply in order (contract
discount, minimum true-up, prepaid credit drawdown carried from period to period, tax), and
the invoice's double entry is derived from its lines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, localcontext
from typing import Any

from golive.reference.contracts import Contract, ContractLine, Coupon, Product
from golive.reference.numbers import (
    HUNDRED,
    PRECISION,
    ZERO,
    keep_ten_places,
    round_half_up,
    to_decimal,
)
from golive.reference.periods import Period, periods
from golive.reference.pricing import PricingError, Quantity, check_pricing, price_line

# Ids of the invoice lines that come from no contract line (README, "Billing decisions").
CONTRACT_DISCOUNT = "contract_discount"
MINIMUM_TRUE_UP = "minimum_commitment_true_up"
MAXIMUM_CAP = "maximum_commitment_cap"
COUPON = "coupon"
PREPAID_APPLIED = "prepaid_credit_applied"
PSEUDO_LINES = (CONTRACT_DISCOUNT, MINIMUM_TRUE_UP, MAXIMUM_CAP, COUPON, PREPAID_APPLIED)

# Journal accounts (README, "Billing decisions").
ACCOUNTS_RECEIVABLE = "accounts_receivable"
REVENUE = "revenue"
DEFERRED_REVENUE = "deferred_revenue"
SALES_TAX_PAYABLE = "sales_tax_payable"
CUSTOMER_PREPAID_BALANCE = "customer_prepaid_balance"


@dataclass(frozen=True)
class InvoiceLine:
    """A line of an invoice: a product line, or one of the contract-level pseudo lines.

    ``quantity`` is the period's quantity before free units (``None`` on pseudo lines);
    ``account`` is where a product line's revenue is credited; ``errors`` lists the usage of
    the line that no rate priced.
    """

    line_no: int
    product_id: str
    quantity: Decimal | None
    billable_quantity: Decimal | None
    amount: Decimal
    account: str | None = None
    errors: tuple[PricingError, ...] = ()
    #: a product line's own tax rate (the contract line's, else the product's); None: the
    #: invoice's rate
    tax_rate_percent: Decimal | None = None
    #: a product line's service period: the first and last day (inclusive) it is active in
    #: the billing period (None on pseudo lines)
    service_start: date | None = None
    service_end: date | None = None

    @property
    def is_product(self) -> bool:
        """True for a line that comes from a contract line."""
        return self.product_id not in PSEUDO_LINES


@dataclass(frozen=True)
class JournalEntry:
    """One side of a double entry; exactly one of ``debit``/``credit`` is non-zero."""

    account: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class Settlement:
    """The invoice-level amounts of docs/billing-rules.md §3.2; ``taxes`` is one
    ``(rate, taxable amount, tax)`` per rate."""

    discount: Decimal
    true_up: Decimal
    subtotal: Decimal
    credits_applied: Decimal
    tax: Decimal
    total: Decimal
    cap: Decimal = ZERO
    coupon: Decimal = ZERO
    taxes: tuple[tuple[Decimal, Decimal, Decimal], ...] = ()


@dataclass(frozen=True)
class CouponUse:
    """A contract's coupon in one period: the coupon, the period's number (1 for the
    contract's first period) and, for a fixed amount used once, what earlier periods'
    eligible amounts add up to (the balance drawn so far is min(that, amount_off))."""

    coupon: Coupon
    period_ordinal: int
    eligible_before: Decimal = ZERO

    @property
    def active(self) -> bool:
        """Whether the coupon applies in this period."""
        c = self.coupon
        if c.frequency == "forever":
            return True
        if c.frequency == "recurring":
            return self.period_ordinal <= (c.duration_periods or 0)
        return c.percent_off is None or self.period_ordinal == 1


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
    #: tax per rate: ``(rate, taxable amount, tax)``
    taxes: tuple[tuple[Decimal, Decimal, Decimal], ...] = ()
    #: what the coupon could take off this invoice (for a coupon used once: its draw)
    coupon_eligible: Decimal = ZERO

    @property
    def period_start(self) -> date:
        """First day of the billing period."""
        return self.period.start

    @property
    def period_end(self) -> date:
        """Day after the last day of the billing period (exclusive bound)."""
        return self.period.end

    @property
    def pricing_errors(self) -> tuple[PricingError, ...]:
        """Usage on this invoice that no rate priced (to report; it is not billed)."""
        return tuple(e for line in self.lines for e in line.errors)


def settle_invoice(
    line_amounts: Sequence[Decimal],
    currency: str,
    *,
    discount_percent: Decimal | None = None,
    minimum_commitment: Decimal | None = None,
    prepaid_available: Decimal = ZERO,
    tax_rate_percent: Decimal | None = None,
    maximum_commitment: Decimal | None = None,
    coupon: CouponUse | None = None,
    coupon_lines: Decimal = ZERO,
    line_rates: Sequence[Decimal | None] | None = None,
) -> Settlement:
    """Apply the invoice-level steps to rounded line amounts (docs/billing-rules.md §3.2).

    In order: contract discount, minimum true-up, maximum commitment cap, coupon (on the
    invoice so far, or on ``coupon_lines``, the amount of the lines it is limited to), prepaid
    credit, tax per rate. ``prepaid_available`` is the prepaid balance left before this
    invoice; the credit applied is ``min(subtotal, prepaid_available)``, which equals
    ``min(cum_k, P) - min(cum_(k-1), P)`` for the non-negative subtotals billing produces.
    ``line_rates`` gives each line's own tax rate (None: ``tax_rate_percent``, the invoice's).
    """
    with localcontext() as ctx:
        ctx.prec = PRECISION
        zero = round_half_up(ZERO, currency)
        line_sum = sum(line_amounts, zero)
        p = to_decimal(discount_percent)
        discount = -round_half_up(line_sum * p / HUNDRED, currency) if p and p > 0 else zero
        minimum = to_decimal(minimum_commitment)
        shortfall = (minimum - (line_sum + discount)) if minimum is not None else zero
        true_up = round_half_up(shortfall, currency) if shortfall > 0 else zero
        maximum = to_decimal(maximum_commitment)
        excess = line_sum + discount + true_up - maximum if maximum is not None else zero
        cap = -round_half_up(excess, currency) if excess > 0 else zero
        so_far = line_sum + discount + true_up + cap
        coupon_amount = zero
        if coupon is not None and coupon.active:
            c = coupon.coupon
            base = max(min(coupon_lines, so_far) if c.products is not None else so_far, ZERO)
            if c.percent_off is not None:
                coupon_amount = -round_half_up(
                    keep_ten_places(base * c.percent_off / HUNDRED), currency
                )
            elif c.frequency == "once":
                before = coupon.eligible_before
                coupon_amount = -(min(before + base, c.amount_off) - min(before, c.amount_off))
            else:
                coupon_amount = -min(base, c.amount_off)
        subtotal = so_far + coupon_amount
        credits = round_half_up(max(min(subtotal, prepaid_available), ZERO), currency)
        rate = to_decimal(tax_rate_percent) or ZERO
        taxes = tax_per_rate(
            line_amounts, line_rates or [None] * len(line_amounts), rate, subtotal - credits
        )
        tax = sum((round_half_up(t, currency) for _, _, t in taxes), zero)
        taxes = tuple((r, b, round_half_up(t, currency)) for r, b, t in taxes)
        return Settlement(
            discount,
            true_up,
            subtotal,
            credits,
            tax,
            subtotal - credits + tax,
            cap,
            coupon_amount,
            taxes,
        )


def tax_per_rate(
    line_amounts: Sequence[Decimal],
    line_rates: Sequence[Decimal | None],
    invoice_rate: Decimal,
    taxable: Decimal,
) -> list[tuple[Decimal, Decimal, Decimal]]:
    """``(rate, taxable amount, unrounded tax)`` per rate (docs/billing-rules.md §3.2 step 9).

    The taxable amount is shared among the rates in proportion to their lines' amounts (each
    share kept to 10 decimals); with no line amount it is all at the invoice's rate. The tax
    of a share is its amount times the rate, kept to 10 decimals (rounded by the caller)."""
    line_sum = sum(line_amounts, ZERO)
    if line_sum == 0:
        shares = [(invoice_rate, taxable)]
    else:
        per_rate: dict[Decimal, Decimal] = {}
        for amount, own in zip(line_amounts, line_rates, strict=True):
            key = invoice_rate if own is None else own
            per_rate[key] = per_rate.get(key, ZERO) + amount
        shares = [(r, keep_ten_places(taxable * a / line_sum)) for r, a in per_rate.items()]
    return [(r, base, keep_ten_places(base * r / HUNDRED)) for r, base in shares]


def journal_entries(invoice: Invoice) -> list[JournalEntry]:
    """The double entry of one invoice (docs/billing-rules.md §8).

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
        elif line.product_id in (MAXIMUM_CAP, COUPON):
            # a negative line: a debit to revenue, as the contract discount
            rows.append(JournalEntry(REVENUE, -line.amount, zero))
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
    coupon: CouponUse | None = None,
) -> Invoice:
    """Settle rated product lines into an invoice with its pseudo lines and journal.

    The contract minimum is prorated by the contract's active days in a partial period when
    the contract says ``prorate_commitment``."""
    minimum = contract.minimum_commitment
    if minimum is not None and contract.prorate_commitment and period.is_partial:
        with localcontext() as ctx:
            ctx.prec = PRECISION
            minimum = keep_ten_places(minimum * period.active_days / period.days_in_period)
    coupon_lines = ZERO
    if coupon is not None and coupon.coupon.products is not None:
        coupon_lines = sum(
            (line.amount for line in product_lines if line.product_id in coupon.coupon.products),
            ZERO,
        )
    s = settle_invoice(
        [line.amount for line in product_lines],
        contract.currency,
        discount_percent=contract.discount_percent,
        minimum_commitment=minimum,
        prepaid_available=prepaid_available,
        tax_rate_percent=tax_rate_percent,
        maximum_commitment=contract.maximum_commitment,
        coupon=coupon,
        coupon_lines=coupon_lines,
        line_rates=[line.tax_rate_percent for line in product_lines],
    )
    lines = list(product_lines)
    for product_id, amount in (
        (CONTRACT_DISCOUNT, s.discount),
        (MINIMUM_TRUE_UP, s.true_up),
        (MAXIMUM_CAP, s.cap),
        (COUPON, s.coupon),
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
        taxes=s.taxes,
        coupon_eligible=_coupon_eligible(s, coupon, coupon_lines),
    )
    return _with_journal(invoice)


def _coupon_eligible(s: Settlement, coupon: CouponUse | None, coupon_lines: Decimal) -> Decimal:
    """What the coupon could take off this invoice (0 when it does not apply)."""
    if coupon is None or not coupon.active:
        return ZERO
    so_far = s.subtotal - s.coupon
    limited = coupon.coupon.products is not None
    return max(min(coupon_lines, so_far) if limited else so_far, ZERO)


def _with_journal(invoice: Invoice) -> Invoice:
    return replace(invoice, journal=tuple(journal_entries(invoice)))


def line_pricing(line: ContractLine, product: Product) -> tuple[str, Mapping[str, Any]]:
    """The model and pricing a contract line is billed with: its override, else the product's.

    An override that is not a JSON object or not a valid pricing raises ``ValueError`` (the
    pipeline quarantines such a line).
    """
    override = line.price_override
    if override is None or (isinstance(override, str) and not override.strip()):
        return product.model, product.pricing
    if isinstance(override, str):
        try:
            override = json.loads(override, parse_float=Decimal)
        except ValueError as exc:
            raise ValueError(
                f"product {product.product_id}: price_override is not valid JSON ({exc})"
            ) from None
    if not isinstance(override, Mapping) or "model" not in override:
        raise ValueError(
            f"product {product.product_id}: price_override must be a JSON object with a model"
        )
    pricing = {k: v for k, v in override.items() if k != "model"}
    check_pricing(override["model"], pricing, product.product_id)
    return override["model"], pricing


def line_active(line: ContractLine, period: Period) -> tuple[date, date] | None:
    """The first and last day (inclusive) the line is active in the period, or ``None``.

    That is the contract's active days in the period cut to the line's own dates.
    """
    first = max(period.active_start, line.start_date or period.active_start)
    last = min(period.active_end, line.end_date or period.active_end)
    return (first, last) if first <= last else None


def bill_contract(
    contract: Contract,
    lines: Sequence[ContractLine],
    products: Mapping[str, Product],
    usage: Mapping[tuple[date, str], Quantity],
    *,
    as_of: date,
    customer_tax_rate_percent: Decimal | None = None,
    since: date | None = None,
    coupons: Mapping[str, Coupon] | None = None,
) -> list[Invoice]:
    """Bill one contract: one invoice per invoiced period, with lines and journal entries.

    ``usage`` maps ``(period_start, metric_id)`` to the metric's value in that period, or for
    a grouped metric to its value per group value; a missing key is 0. A line appears on the
    invoice of every period in which it is active (its own dates cut the contract's), in the
    order of ``lines`` (line_no 1..n); a line whose price override is not valid is left out.
    The tax rate is the contract's, else ``customer_tax_rate_percent``, else 0. The prepaid
    credit is drawn down over the periods in order and carries over from one invoice to the
    next.

    ``since`` returns only the invoices whose period ends after it; earlier periods are still
    billed internally when the contract has a prepaid balance or a coupon, because they
    consume it. ``coupons`` are the plan's, by id (the contract's ``coupon_id``).
    """
    coupon = (coupons or {}).get(contract.coupon_id) if contract.coupon_id else None
    eligible_before = ZERO
    prepaid = to_decimal(contract.prepaid_credit) or ZERO
    tax_rate = contract.tax_rate_percent
    if tax_rate is None:
        tax_rate = customer_tax_rate_percent
    billable_lines = []
    for line in lines:
        try:
            line_pricing(line, products[line.product_id])
        except ValueError:
            continue
        billable_lines.append(line)
    cumulative = ZERO
    invoices: list[Invoice] = []
    for ordinal, period in enumerate(
        periods(
            contract.start_date,
            contract.end_date,
            contract.billing_anchor_date,
            contract.billing_period,
            as_of,
        ),
        start=1,
    ):
        wanted = since is None or period.end > since
        if not wanted and prepaid == 0 and coupon is None:
            continue
        active = [line for line in billable_lines if line_active(line, period)]
        rated = [
            rate_contract_line(contract, line, products[line.product_id], period, usage, i)
            for i, line in enumerate(active, start=1)
        ]
        available = max(prepaid - cumulative, ZERO)
        use = CouponUse(coupon, ordinal, eligible_before) if coupon is not None else None
        invoice = build_invoice(
            contract,
            period,
            rated,
            prepaid_available=available,
            tax_rate_percent=tax_rate,
            coupon=use,
        )
        cumulative += invoice.subtotal
        eligible_before += invoice.coupon_eligible
        if wanted:
            invoices.append(invoice)
    return invoices


def line_quantity(
    line: ContractLine,
    product: Product,
    period: Period,
    usage: Mapping[tuple[date, str], Quantity],
    model: str | None = None,
) -> Quantity:
    """q of a line: the metric's value in the period (per group value for a grouped metric),
    or the line's fixed quantity (default 1). A flat fee (``model``, the line's override's or
    its product's) always takes the line's quantity, metered product or not (§2.1)."""
    if model is None:
        model = line_pricing(line, product)[0]
    if product.metric and model != "flat_fee":
        value = usage.get((period.start, product.metric))
        if isinstance(value, Mapping):
            return dict(value)
        return to_decimal(value) or ZERO
    return to_decimal(line.quantity) or Decimal(1)


def rate_contract_line(
    contract: Contract,
    line: ContractLine,
    product: Product,
    period: Period,
    usage: Mapping[tuple[date, str], Quantity],
    line_no: int,
    *,
    quantity: Quantity | None = None,
) -> InvoiceLine:
    """Rate one contract line for one period; ``quantity`` overrides the looked-up q.

    The line is priced with its override when it has one; a flat fee (and, with
    ``prorate_commitment``, the minimum) is prorated by the days the line is active.
    """
    model, pricing = line_pricing(line, product)
    q = quantity if quantity is not None else line_quantity(line, product, period, usage, model)
    active = line_active(line, period)
    if active is None:
        raise ValueError(
            f"contract {contract.contract_id}, product {product.product_id}: the line is not "
            f"active in the period starting {period.start}"
        )
    rated = price_line(
        model,
        pricing,
        q,
        currency=contract.currency,
        free_units=line.free_units,
        discount_percent=line.discount_percent,
        discount_amount=line.discount_amount,
        minimum_commitment=line.minimum_commitment,
        skip_zero=line.skip_zero,
        prorate_commitment=line.prorate_commitment,
        active_days=(active[1] - active[0]).days + 1,
        days_in_period=period.days_in_period,
        product_id=product.product_id,
        maximum_amount=line.maximum_amount,
    )
    return InvoiceLine(
        line_no=line_no,
        product_id=product.product_id,
        quantity=rated.quantity,
        billable_quantity=rated.billable_quantity,
        amount=rated.amount,
        account=line_account(model, line.billing_timing),
        errors=rated.errors,
        tax_rate_percent=(
            line.tax_rate_percent if line.tax_rate_percent is not None else product.tax_rate_percent
        ),
        service_start=active[0],
        service_end=active[1],
    )
