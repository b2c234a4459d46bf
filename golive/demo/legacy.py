"""The demo company's legacy process: the correct invoices, then the planted discrepancies.

The legacy invoices of the parallel-test window are billed by the independent reference biller
(:mod:`golive.reference`) from the clean events as numbers, then a few known discrepancies are
planted in them: invoices the legacy process forgot, lines it metered wrong (a quantity
mismatch) and lines it priced wrong (an amount mismatch). Their number grows with the number
of invoices compared, so that the demo's own sign-off passes at any size, and the list is
written to ``legacy/injected_discrepancies.csv``: exactly what the parallel test must find.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd

from golive.demo.catalogue import (
    API,
    AS_OF,
    CAPACITY,
    CHANNELS,
    COMPUTE,
    DAY_MS,
    DEVICE,
    EGRESS,
    EVENT_NAMES,
    LOGIN,
    MESSAGE,
    METRICS,
    PAYMENT,
    PAYMENT_STATUSES,
    PRICE_POINTS,
    REGIONS,
    SALE,
    STORAGE,
    USAGE_START,
    WINDOW_FROM,
    WINDOW_TO,
    day_number,
)
from golive.demo.masterdata import Company
from golive.demo.usage import Usage
from golive.reference.contracts import Product
from golive.reference.invoices import (
    Invoice,
    InvoiceLine,
    bill_contract,
    build_invoice,
    rate_contract_line,
)
from golive.reference.numbers import format_amount, format_quantity
from golive.reference.periods import periods
from golive.reference.pricing import Quantity


def aggregate(company: Company, usage: Usage) -> list[dict[tuple[date, str], Quantity]]:
    """Per contract, each priced metric's value per invoiced period (README: billing decisions);
    a grouped metric's value is a mapping of group value to value."""
    starts: list[int] = []
    ends: list[int] = []
    owner: list[int] = []
    period_start: list[date] = []
    for i, c in enumerate(company.contracts):
        for p in periods(c.start_date, c.end_date, c.billing_anchor_date, c.billing_period, AS_OF):
            if p.end > USAGE_START:
                starts.append(day_number(p.start) * DAY_MS)
                ends.append(day_number(p.end) * DAY_MS)
                owner.append(i)
                period_start.append(p.start)
    result: list[dict[tuple[date, str], Quantity]] = [{} for _ in company.contracts]
    if not owner:
        return result
    shift = np.int64(1) << np.int64(42)  # > any epoch millisecond of this century
    p_owner = np.array(owner, dtype=np.int64)
    p_key = p_owner * shift + np.array(starts, dtype=np.int64)
    p_end = np.array(ends, dtype=np.int64)

    # An event counts when its UTC date lies within the contract's dates and its instant
    # within an invoiced period of that contract (one contract per customer here).
    c_start = np.array([day_number(c.start_date) for c in company.contracts])
    c_end = np.array([day_number(c.end_date) if c.end_date else 10**6 for c in company.contracts])
    day = usage.ts // DAY_MS
    covered = (day >= c_start[usage.cust]) & (day <= c_end[usage.cust]) & usage.billed
    pos = np.searchsorted(p_key, usage.cust.astype(np.int64) * shift + usage.ts, "right") - 1
    ok = np.flatnonzero(covered & (pos >= 0))
    ok = ok[(p_owner[pos[ok]] == usage.cust[ok]) & (usage.ts[ok] < p_end[pos[ok]])]

    df = pd.DataFrame(
        {
            "pid": pos[ok],
            "etype": usage.etype[ok],
            "v": usage.v[ok],
            "v2": usage.v2[ok],
            "ts": usage.ts[ok],
            "id": usage.ids[ok],
        }
    )
    by_type = {t: df[df["etype"] == t] for t in range(len(EVENT_NAMES))}
    messages, payments = by_type[MESSAGE], by_type[PAYMENT]
    values: dict[str, pd.Series] = {
        "api_calls": by_type[API].groupby("pid").size(),
        "storage_gb": by_type[STORAGE].groupby("pid")["v"].max(),
        "compute_seconds": by_type[COMPUTE].groupby("pid")["v"].sum(),
        "active_users": by_type[LOGIN].drop_duplicates(["pid", "v"]).groupby("pid").size(),
        "messages": messages.groupby("pid")["v"].sum(),
        "push_messages": messages[messages["v2"] == CHANNELS.index("push")]
        .groupby("pid")["v"]
        .sum(),
        # latest: greatest timestamp, ties broken by the greatest event_id; the ids are
        # zero-padded numbers, so their numeric order is their text order.
        "devices": by_type[DEVICE].sort_values(["pid", "ts", "id"]).groupby("pid")["v"].last(),
        "payment_volume": payments[payments["v2"] == PAYMENT_STATUSES.index("succeeded")]
        .groupby("pid")["v"]
        .sum(),
    }
    scale = {"storage_gb": -3, "compute_seconds": -3, "payment_volume": -2}
    for metric, series in values.items():
        for pid, value in zip(series.index.tolist(), series.tolist(), strict=True):
            amount = Decimal(int(value)).scaleb(scale.get(metric, 0))
            result[owner[pid]][(period_start[pid], metric)] = amount

    # Grouped metrics: a value per group value (the text of the property, as in the events).
    grouped = (("egress_gb", EGRESS, REGIONS, -3), ("units_by_price", SALE, PRICE_POINTS, 0))
    for metric, etype, labels, exponent in grouped:
        sums = by_type[etype].groupby(["pid", "v2"])["v"].sum()
        for (pid, group), value in zip(sums.index.tolist(), sums.tolist(), strict=True):
            per_group = result[owner[pid]].setdefault((period_start[pid], metric), {})
            per_group[labels[group]] = Decimal(int(value)).scaleb(exponent)

    # weighted_sum: each event holds its level until the next one of the period (ties in
    # event id order) or the period end; level x milliseconds, over the period's milliseconds.
    levels = by_type[CAPACITY].sort_values(["pid", "ts", "id"])
    pid = levels["pid"].to_numpy()
    ts = levels["ts"].to_numpy()
    following = np.append(ts[1:], 0)
    last = np.append(pid[1:] != pid[:-1], True)
    until = np.where(last, p_end[pid], following)
    held = pd.Series(levels["v"].to_numpy() * (until - ts)).groupby(pid).sum()
    with localcontext() as ctx:
        ctx.prec = 60
        for p, value in zip(held.index.tolist(), held.tolist(), strict=True):
            span = int(p_end[p]) - starts[p]
            result[owner[p]][(period_start[p], "reserved_vcpus")] = Decimal(int(value)) / span
    return result


def bill_window(company: Company, products: dict[str, Product], usage: Usage) -> list[Invoice]:
    """The correct invoices of the parallel-test window, ordered for numbering."""
    quantities = aggregate(company, usage)
    invoices: list[Invoice] = []
    for i, contract in enumerate(company.contracts):
        for invoice in bill_contract(
            contract,
            company.lines[i],
            products,
            quantities[i],
            as_of=AS_OF,
            customer_tax_rate_percent=company.customer_tax[i],
            since=WINDOW_FROM,
        ):
            if WINDOW_FROM < invoice.period_end <= WINDOW_TO:
                invoices.append(invoice)
    invoices.sort(key=lambda inv: (inv.period_end, inv.period_start, inv.customer_id))
    return invoices


# Metrics whose lines may carry a planted discrepancy: one number per period with a short
# exact decimal, so that the legacy line differs from the correct one in that number only.
_PLAIN_METRICS = {
    m["id"]
    for m in METRICS
    if not m.get("group_by") and m["aggregation"] not in ("avg", "weighted_sum")
}


#: Planted discrepancies of each kind per invoice compared, at least one of each kind: three
#: kinds at 0.1 % each keep the demo's match rate near 99.7 %, above its sign-off's 99.5 %.
DISCREPANCY_SHARE = 0.001
# How far a mispriced legacy line is off; the sign is chosen to keep the USD delta near zero.
_PRICE_ERRORS = [Decimal(x) for x in ("7.13", "3.49", "2.18", "4.62", "1.37")]


def discrepancies_per_kind(invoices_compared: int) -> int:
    """How many discrepancies of each kind the legacy invoices get (at least one)."""
    return max(1, int(invoices_compared * DISCREPANCY_SHARE))


def plant_discrepancies(
    rng: np.random.Generator,
    company: Company,
    products: dict[str, Product],
    invoices: list[Invoice],
) -> tuple[list[tuple[str, Invoice]], list[dict[str, str]]]:
    """Number the legacy invoices and plant the known discrepancies.

    Returns ``(invoice_id, invoice)`` pairs as the legacy process would have written them and
    the list of planted discrepancies: :func:`discrepancies_per_kind` invoices missing from the
    legacy output (small ones), lines with a wrong quantity (the legacy metering over-counts a
    few percent) and lines with a wrong amount. Line discrepancies go only on USD invoices of
    contracts without discount, minimum or prepaid credit, on a usage line with a non-zero
    quantity of an ungrouped metric with short exact values, so only that line and the invoice
    totals change, each invoice at most once. The wrong amounts go up or down so as to bring
    the net effect on the USD totals back towards zero, far below the sign-off's 100.00.
    """
    per_kind = discrepancies_per_kind(len(invoices))
    numbered = [(f"L-{inv.period_end.year}-{n:06d}", inv) for n, inv in enumerate(invoices, 1)]
    index_of = {c.contract_id: i for i, c in enumerate(company.contracts)}
    injected: list[dict[str, str]] = []
    order = rng.permutation(len(numbered)).tolist()
    net = Decimal(0)  # USD: correct totals minus legacy totals so far

    def record(kind: str, inv: Invoice, product_id: str, legacy: str, true: str) -> None:
        injected.append(
            {
                "kind": kind,
                "customer_id": inv.customer_id,
                "contract_id": inv.contract_id,
                "period_start": inv.period_start.isoformat(),
                "period_end": inv.period_end.isoformat(),
                "currency": inv.currency,
                "product_id": product_id,
                "legacy_value": legacy,
                "true_value": true,
            }
        )

    # missing_in_legacy: the smallest invoices (a partial last period), else prepaid-covered.
    usd = [i for i in order if numbered[i][1].currency == "USD"]
    small = sorted(
        (i for i in usd if 0 < numbered[i][1].total <= 30), key=lambda i: numbered[i][1].total
    )
    zero = [i for i in usd if numbered[i][1].total == 0]
    forgotten = (small + zero)[:per_kind]
    for i in forgotten:
        inv = numbered[i][1]
        net += inv.total
        record("missing_in_legacy", inv, "", "", format_amount(inv.total, inv.currency))

    def eligible_lines():
        """The first usage line with a non-zero quantity of each eligible invoice."""
        for i in usd:
            inv = numbered[i][1]
            c = company.contracts[index_of[inv.contract_id]]
            if i in forgotten or c.discount_percent or c.minimum_commitment or c.prepaid_credit:
                continue
            for line in inv.lines:
                metric = products[line.product_id].metric if line.is_product else None
                if metric in _PLAIN_METRICS and line.quantity:
                    yield i, line
                    break

    # Each candidate invoice is used at most once: both loops draw from the same iterator.
    candidates = eligible_lines()
    quantity_errors = 0
    for i, line in candidates:
        if quantity_errors == per_kind:
            break
        inv = numbered[i][1]
        contract_index = index_of[inv.contract_id]
        c_line = next(x for x in company.lines[contract_index] if x.product_id == line.product_id)
        q = line.quantity
        # The legacy metering over-counts a little: a few percent, at least one unit.
        bump = (q * Decimal("0.04")).quantize(Decimal("0.001") if q % 1 else Decimal(1))
        wrong = q + max(bump, Decimal(1))
        rated = rate_contract_line(
            company.contracts[contract_index],
            c_line,
            products[line.product_id],
            inv.period,
            {},
            line.line_no,
            quantity=wrong,
        )
        # Only a change the parallel test must see, and small enough to keep the totals close.
        if not Decimal("0.50") <= abs(rated.amount - line.amount) <= 12:
            continue
        numbered[i] = (numbered[i][0], _replace_line(company, inv, line, line=rated))
        net += inv.total - numbered[i][1].total
        quantity_errors += 1
        record("quantity", inv, line.product_id, format_quantity(wrong), format_quantity(q))

    for n in range(per_kind):
        magnitude = _PRICE_ERRORS[n % len(_PRICE_ERRORS)]
        delta = magnitude if net > 0 else -magnitude  # legacy too high lowers the net
        for i, line in candidates:
            if line.amount + delta >= 0:
                inv = numbered[i][1]
                numbered[i] = (
                    numbered[i][0],
                    _replace_line(company, inv, line, amount=line.amount + delta),
                )
                net += inv.total - numbered[i][1].total
                record(
                    "price",
                    inv,
                    line.product_id,
                    format_amount(line.amount + delta, "USD"),
                    format_amount(line.amount, "USD"),
                )
                break

    missing = {
        (x["contract_id"], x["period_start"]) for x in injected if x["kind"] == "missing_in_legacy"
    }
    legacy = [
        (n, inv)
        for n, inv in numbered
        if (inv.contract_id, inv.period_start.isoformat()) not in missing
    ]
    return legacy, injected


def _replace_line(
    company: Company,
    invoice: Invoice,
    old: InvoiceLine,
    *,
    amount: Decimal | None = None,
    line: InvoiceLine | None = None,
) -> Invoice:
    """The invoice with one product line changed and its totals and journal recomputed."""
    new = line or InvoiceLine(
        old.line_no, old.product_id, old.quantity, old.billable_quantity, amount, old.account
    )
    lines = [new if x.line_no == old.line_no else x for x in invoice.lines if x.is_product]
    contract = next(c for c in company.contracts if c.contract_id == invoice.contract_id)
    return build_invoice(contract, invoice.period, lines, tax_rate_percent=invoice.tax_rate_percent)


def total_delta(invoices: list[Invoice], legacy: list[tuple[str, Invoice]]) -> dict[str, str]:
    """Per currency, sum of correct totals minus sum of legacy totals over the window."""
    delta: dict[str, Decimal] = {}
    for inv in invoices:
        delta[inv.currency] = delta.get(inv.currency, Decimal(0)) + inv.total
    for _, inv in legacy:
        delta[inv.currency] -= inv.total
    return {cur: format_amount(value, cur) for cur, value in sorted(delta.items())}
