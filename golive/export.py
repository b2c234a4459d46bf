"""The journal as an ERP imports it (docs/accounting.md "Export for the ERP").

:func:`export_journal` reads the journal of a date range (the invoices' postings and the
release of deferred revenue, ``journal_entries``) from production (or, for a trial import
before go-live, from the sandbox) and writes it in one ERP's documented journal-import CSV
layout (:data:`LAYOUTS`): NetSuite's CSV import of journal entries, QuickBooks Online's journal
entry import, Xero's manual journal import. golive's accounts become the ERP's through the
plan's ``accounts`` section (``production.accounts``, ``raw.plan_accounts`` in the sandbox).

Every ERP entry is one ``journal_id`` of the journal (an invoice's posting, or one recognition
date of it); before anything is written, every entry must balance, every account must be mapped
and every amount must fit the layout. Amounts stay in the invoice currency, written with exactly
the currency's decimals; a layout without a currency column gets one file per currency, and
Xero's at most 300 lines a file, an entry never split across files.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from connectors.warehouse import Warehouse
from golive.currencies import minor_unit
from golive.plan import JOURNAL_ACCOUNTS

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ExportError(ValueError):
    """Nothing was written: the message says what is wrong and what to do."""


@dataclass(frozen=True)
class JournalLine:
    """One row of the journal, with what the layouts need beside it."""

    journal_id: str
    entry_id: str
    entry_date: dt.date
    posting: str
    invoice_id: str
    customer_name: str
    account: str
    erp_account: str | None
    debit: Decimal
    credit: Decimal
    currency: str

    @property
    def memo(self) -> str:
        """What the entry is, for the ERP's memo: its invoice, and the date it recognises."""
        if self.posting == "revenue_recognition":
            return f"Revenue recognised {self.entry_date.isoformat()}, invoice {self.invoice_id}"
        return f"Invoice {self.invoice_id}"


def _entry_number(line: JournalLine, limit: int) -> str:
    """The journal id when it fits the ERP's field, else ``GL-`` and a digest of it (the
    same id always gives the same number)."""
    if len(line.journal_id) <= limit:
        return line.journal_id
    return "GL-" + hashlib.sha256(line.journal_id.encode()).hexdigest()[: limit - 3]


def _xero_date(day: dt.date) -> str:
    # "31 Jul 2026": Xero's documented "dd mmm yyyy", never ambiguous (no locale involved)
    return f"{day.day:02d} {_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Layout:
    """One ERP's journal-import CSV: its columns, and a row of them from a journal line."""

    name: str
    columns: tuple[str, ...]
    row: Callable[[JournalLine, Callable[[dt.date], str], dict[str, str]], list[str]]
    #: the date as the ERP reads it by default (``--date-format`` overrides a strftime one)
    default_date: str | None
    #: a column for the currency: else one file per currency
    has_currency: bool
    #: most lines in one file (an entry is never split), None: no limit
    max_lines: int | None = None
    #: most decimal places an amount may have
    max_places: int | None = None


def money(value: Decimal, currency: str) -> str:
    """An amount with exactly its currency's decimals (``2129.03``, ``710``)."""
    return f"{value.quantize(Decimal(1).scaleb(-minor_unit(currency))):f}"


def _amount(value: Decimal, currency: str) -> str:
    return "" if value == 0 else money(value, currency)


def _netsuite(line: JournalLine, date: Callable[[dt.date], str], _: dict[str, str]) -> list[str]:
    return [
        line.journal_id,
        date(line.entry_date),
        line.currency,
        line.memo,
        line.erp_account or "",
        _amount(line.debit, line.currency),
        _amount(line.credit, line.currency),
        line.account,
        line.customer_name,
    ]


def _quickbooks(line: JournalLine, date: Callable[[dt.date], str], _: dict[str, str]) -> list[str]:
    number = _entry_number(line, 21)
    shortened = f" ({line.journal_id})" if number != line.journal_id else ""
    return [
        number,
        date(line.entry_date),
        line.erp_account or "",
        _amount(line.debit, line.currency),
        _amount(line.credit, line.currency),
        f"{line.memo}: {line.account}{shortened}",
        line.customer_name,
    ]


def _xero(line: JournalLine, date: Callable[[dt.date], str], options: dict[str, str]) -> list[str]:
    return [
        f"{line.memo} ({line.journal_id})",
        date(line.entry_date),
        f"{line.account}, {line.customer_name}",
        line.erp_account or "",
        options.get("tax_rate") or "Tax Exempt",
        # Xero: a debit is positive, a credit negative
        money(line.debit - line.credit, line.currency),
    ]


#: The layouts, each as its ERP documents its journal import (docs/accounting.md).
LAYOUTS: dict[str, Layout] = {
    "netsuite": Layout(
        "netsuite",
        (
            "External ID",
            "Date",
            "Currency",
            "Memo",
            "Account",
            "Debit",
            "Credit",
            "Line Memo",
            "Name",
        ),
        _netsuite,
        "%m/%d/%Y",
        has_currency=True,
        max_places=2,
    ),
    "quickbooks": Layout(
        "quickbooks",
        (
            "Journal No.",
            "Journal Date",
            "Account Name",
            "Debits",
            "Credits",
            "Description",
            "Name",
        ),
        _quickbooks,
        "%m/%d/%Y",
        has_currency=False,
    ),
    "xero": Layout(
        "xero",
        ("Narration", "Date", "Description", "AccountCode", "TaxRate", "Amount"),
        _xero,
        None,
        has_currency=False,
        max_lines=300,
    ),
}
FORMATS = tuple(LAYOUTS)


@dataclass
class ExportResult:
    """What an export wrote: its files, entries and lines, and per currency the debits and
    credits written (equal: every entry balances)."""

    files: list[Path] = field(default_factory=list)
    entries: int = 0
    lines: int = 0
    totals: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)


def _tables(source: str) -> dict[str, str]:
    if source == "production":
        return {
            "journal": "production.journal_entries",
            "invoices": "production.invoices",
            "customers": "production.customers",
            "accounts": "production.accounts",
        }
    if source == "sandbox":
        return {
            "journal": "sandbox.journal_entries",
            "invoices": "sandbox.invoices",
            "customers": "staging.stg_customers",
            "accounts": "raw.plan_accounts",
        }
    raise ValueError(f"unknown source {source!r}: production or sandbox")


def read_journal(
    warehouse: Warehouse,
    first: dt.date,
    last: dt.date,
    *,
    source: str = "production",
    currency: str | None = None,
) -> list[JournalLine]:
    """The journal's rows dated ``first`` to ``last`` (inclusive), entry by entry in date
    order, each with its customer's name and its ERP account (None: not mapped)."""
    t = _tables(source)
    for relation in t.values():
        schema, table = relation.split(".")
        if not warehouse.table_exists(schema, table):
            if source == "production":
                raise ExportError(
                    f"{relation} does not exist: production is not live yet. Promote the "
                    "sandbox first (golive run PLAN --approved-by NAME), or export the "
                    "sandbox's journal for a trial import (--sandbox)"
                )
            raise ExportError(f"{relation} does not exist: run golive run PLAN first")
    p = warehouse.param
    if currency:
        # a currency the journal never posted in would write an empty file: say which it has
        known = sorted(
            str(c) for (c,) in warehouse.query(f"select distinct currency from {t['journal']}")
        )
        if currency.upper() not in known:
            has = f"its currencies are {', '.join(known)}" if known else "it has no entry yet"
            fix = f"--currency {' or '.join(known)}, or no --currency" if known else "no --currency"
            raise ExportError(
                f"--currency {currency}: {t['journal']} has no entry in {currency.upper()} "
                f"({has}). Fix: {fix}"
            )
    accepted = " and customers.status = 'accepted'" if source == "sandbox" else ""
    rows = warehouse.query(
        "select journal.journal_id, journal.entry_id, journal.entry_date, journal.posting, "
        "journal.invoice_id, coalesce(customers.name, invoices.customer_id), journal.account, "
        "accounts.erp_account, journal.debit, journal.credit, journal.currency "
        f"from {t['journal']} as journal "
        f"inner join {t['invoices']} as invoices on journal.invoice_id = invoices.invoice_id "
        f"left join {t['customers']} as customers "
        f"on invoices.customer_id = customers.customer_id{accepted} "
        f"left join {t['accounts']} as accounts on journal.account = accounts.account "
        f"where journal.entry_date >= {p} and journal.entry_date <= {p}"
        + (f" and journal.currency = {p}" if currency else ""),
        [first, last, *([currency.upper()] if currency else [])],
    )
    lines = [
        JournalLine(
            journal_id=r[0],
            entry_id=r[1],
            entry_date=r[2] if isinstance(r[2], dt.date) else dt.date.fromisoformat(str(r[2])),
            posting=r[3],
            invoice_id=r[4],
            customer_name=r[5],
            account=r[6],
            erp_account=r[7],
            debit=Decimal(r[8]),
            credit=Decimal(r[9]),
            currency=r[10],
        )
        for r in rows
    ]
    # the rows of an entry together, in the journal's own order (receivable first)
    return sorted(lines, key=lambda x: (x.entry_date, x.journal_id, _row_number(x.entry_id)))


def _row_number(entry_id: str) -> int:
    tail = entry_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _check(lines: list[JournalLine], layout: Layout) -> None:
    """Refuse, before writing anything, an unmapped account, an unbalanced entry or an amount
    the layout cannot hold."""
    unmapped = sorted({x.account for x in lines if x.erp_account is None})
    if unmapped and all(x.erp_account is None for x in lines):
        raise ExportError(
            "no account is mapped to the ERP's: the plan has no accounts section (docs/"
            "accounting.md §7). Add one, e.g. accounts: {accounts_receivable: 1200, revenue: "
            "4000, ...}, and run golive run PLAN again: the export uses the map production was "
            "promoted with"
        )
    if unmapped:
        raise ExportError(
            f"no ERP account for {', '.join(unmapped)}: the plan's accounts section maps "
            "every account golive posts to (" + ", ".join(JOURNAL_ACCOUNTS) + "), e.g. "
            "accounts: {revenue: 4000, ...}; add it and run golive run PLAN again"
        )
    balance: dict[str, Decimal] = defaultdict(Decimal)
    for x in lines:
        balance[x.journal_id] += x.debit - x.credit
    unbalanced = sorted(j for j, b in balance.items() if b != 0)
    if unbalanced:
        raise ExportError(
            f"{len(unbalanced)} entries do not balance (e.g. {', '.join(unbalanced[:3])}): "
            "an ERP refuses them; nothing was written"
        )
    for x in lines:
        places = minor_unit(x.currency)
        step = Decimal(1).scaleb(-places)
        for value in (x.debit, x.credit):
            if value != value.quantize(step):
                raise ExportError(
                    f"entry {x.entry_id}: {value} has more decimals than {x.currency} has"
                )
        if layout.max_places is not None and places > layout.max_places:
            raise ExportError(
                f"{layout.name} takes at most {layout.max_places} decimal places and "
                f"{x.currency} has {places}: export the other currencies with --currency"
            )


def _files(lines: list[JournalLine], layout: Layout, path: Path) -> list[tuple[Path, list]]:
    """The files to write and their lines: per currency when the layout has no currency
    column, then in parts of at most ``max_lines`` (entries kept whole)."""
    groups: dict[str, list[JournalLine]] = defaultdict(list)
    for x in lines:
        groups["" if layout.has_currency else x.currency].append(x)
    out: list[tuple[str, list[JournalLine]]] = []
    for key in sorted(groups):
        parts: list[list[JournalLine]] = [[]]
        by_entry: dict[str, list[JournalLine]] = defaultdict(list)
        for x in groups[key]:
            by_entry[x.journal_id].append(x)
        for entry in by_entry.values():
            limit = layout.max_lines
            if limit is not None and parts[-1] and len(parts[-1]) + len(entry) > limit:
                parts.append([])
            parts[-1].extend(entry)
        for n, part in enumerate(parts, start=1):
            suffix = "-".join(s for s in (key, f"{n:03d}" if len(parts) > 1 else "") if s)
            out.append((suffix, part))
    if len(out) == 1:
        return [(path, out[0][1])]
    return [(path.with_name(f"{path.stem}-{suffix}{path.suffix}"), part) for suffix, part in out]


def write_journal(
    lines: list[JournalLine],
    fmt: str,
    path: str | Path,
    *,
    date_format: str | None = None,
    tax_rate: str | None = None,
) -> ExportResult:
    """Write ``lines`` in the layout ``fmt`` to ``path`` (or to files beside it named after
    their currency and part); checked first (:func:`_check`), so a refused export writes
    nothing."""
    if fmt not in LAYOUTS:
        raise ExportError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    layout = LAYOUTS[fmt]
    _check(lines, layout)
    # --date-format is NetSuite's and QuickBooks' account preference; Xero's date is fixed
    pattern = (date_format or layout.default_date) if layout.default_date else None
    date = (lambda d: d.strftime(pattern)) if pattern else _xero_date
    options = {"tax_rate": tax_rate or ""}
    path = Path(path)
    result = ExportResult(entries=len({x.journal_id for x in lines}), lines=len(lines))
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for x in lines:
        totals[x.currency][0] += x.debit
        totals[x.currency][1] += x.credit
    result.totals = {c: (d, k) for c, (d, k) in sorted(totals.items())}
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, part in _files(lines, layout, path) if lines else [(path, [])]:
        with target.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\r\n")
            writer.writerow(layout.columns)
            writer.writerows(layout.row(x, date, options) for x in part)
        result.files.append(target)
    return result


def export_journal(
    warehouse: Warehouse,
    fmt: str,
    first: dt.date,
    last: dt.date,
    path: str | Path,
    *,
    source: str = "production",
    currency: str | None = None,
    date_format: str | None = None,
    tax_rate: str | None = None,
) -> ExportResult:
    """Read the journal of ``first``..``last`` and write it for the ERP ``fmt``."""
    if last < first:
        raise ExportError(f"--to {last} is before --from {first}")
    lines = read_journal(warehouse, first, last, source=source, currency=currency)
    return write_journal(lines, fmt, path, date_format=date_format, tax_rate=tax_rate)


def journal_range(warehouse: Warehouse, source: str = "production") -> tuple[dt.date, dt.date]:
    """The first and last date of the journal (today twice when it is empty)."""
    first, last = warehouse.query(
        f"select min(entry_date), max(entry_date) from {_tables(source)['journal']}"
    )[0]
    today = dt.date.today()
    return first or today, last or today
