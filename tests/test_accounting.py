"""Accounting (docs/accounting.md): deferred revenue recognised over its service period, the
recognition compared with the legacy schedule, and the journal exported for NetSuite,
QuickBooks Online and Xero.

The pipeline tests run the real stages (Dagster + dbt) on the accounting fixture, once per
warehouse (DuckDB and PostgreSQL), and check what an accountant would: the amounts of each
month end to the cent, the entries balancing one by one, the export files re-read with pandas.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.warehouse import warehouse_from_url
from golive.cli import EXIT_BAD_INPUT, main
from golive.export import ExportError, JournalLine, write_journal
from golive.plan import PlanError, load_plan
from golive.reference.recognition import recognition_dates, schedule_amount
from orchestration.runner import RunResult, run_stages

FIXTURE = Path(__file__).parent / "fixtures" / "accounting"

#: the ERP accounts of the fixture's plan
ERP = {
    "accounts_receivable": "1200",
    "deferred_revenue": "2400",
    "revenue": "4000 Subscription revenue",
    "sales_tax_payable": "2200",
    "customer_prepaid_balance": "2300",
}

#: the annual $1,000 fee from 1 October 2025, one amount per month end (docs/accounting.md)
ANNUAL = {
    "2025-10-31": "84.93",
    "2025-11-30": "82.19",
    "2025-12-31": "84.93",
    "2026-01-31": "84.94",
    "2026-02-28": "76.71",
    "2026-03-31": "84.93",
    "2026-04-30": "82.19",
    "2026-05-31": "84.93",
    "2026-06-30": "82.20",
    "2026-07-31": "84.93",
    "2026-08-31": "84.93",
    "2026-09-30": "82.19",
}

#: invoice -> {recognition date: amount}
SCHEDULES = {
    # $3,000 in advance for 10 July - 10 August: 22/31 at the July month end, the rest in August
    "K_JUL10-20260710": {"2026-07-31": "2129.03", "2026-08-31": "870.97"},
    "K_JUL10-20260810": {"2026-08-31": "2129.03", "2026-09-30": "870.97"},
    "K_ANNUAL-20251001": ANNUAL,
    # a first period prorated to 15 of 30 days ($1,500.00): only its 6 + 9 active days
    "K_PARTIAL-20260610": {"2026-06-30": "600.00", "2026-07-31": "900.00"},
    "K_PARTIAL-20260710": {"2026-07-31": "2129.03", "2026-08-31": "870.97"},
    "K_PARTIAL-20260810": {"2026-08-31": "2129.03", "2026-09-30": "870.97"},
    "K_EUR-20260801": {"2026-08-31": "500.00"},
    "K_EUR-20260901": {"2026-09-30": "500.00"},
}


# ------------------------------------------------------------------------- the rule itself


def test_the_worked_examples_by_the_reference_rule():
    july = schedule_amount(
        D("3000.00"), "USD", dt.date(2026, 7, 10), dt.date(2026, 8, 9), "month_end"
    )
    assert july == [
        (dt.date(2026, 7, 31), 22, D("2129.03")),
        (dt.date(2026, 8, 31), 9, D("870.97")),
    ]
    annual = schedule_amount(
        D("1000.00"), "USD", dt.date(2025, 10, 1), dt.date(2026, 9, 30), "month_end"
    )
    assert {d.isoformat(): f"{a:.2f}" for d, _, a in annual} == ANNUAL
    assert sum(a for _, _, a in annual) == D("1000.00")
    partial = schedule_amount(
        D("1500.00"), "USD", dt.date(2026, 6, 25), dt.date(2026, 7, 9), "month_end"
    )
    assert partial == [
        (dt.date(2026, 6, 30), 6, D("600.00")),
        (dt.date(2026, 7, 31), 9, D("900.00")),
    ]
    # daily: 31 entries of 96.77 or 96.78 whose July ones add up to the July month end's amount
    daily = schedule_amount(D("3000.00"), "USD", dt.date(2026, 7, 10), dt.date(2026, 8, 9), "daily")
    assert len(daily) == 31 and {a for _, _, a in daily} == {D("96.77"), D("96.78")}
    assert sum(a for d, _, a in daily if d.month == 7) == D("2129.03")
    assert sum(a for _, _, a in daily) == D("3000.00")
    # a small amount over many days is spread, not left to the last day
    small = schedule_amount(D("1.80"), "USD", dt.date(2025, 10, 1), dt.date(2026, 9, 30), "daily")
    assert sum(1 for *_, a in small if a) == 180 and max(a for *_, a in small) == D("0.01")
    # JPY has no minor unit
    yen = schedule_amount(D("1000"), "JPY", dt.date(2026, 7, 10), dt.date(2026, 8, 9), "month_end")
    assert [a for *_, a in yen] == [D("710"), D("290")]


@settings(max_examples=200, deadline=None)
@given(
    cents=st.integers(0, 10**9),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
    first=st.dates(dt.date(2023, 1, 1), dt.date(2026, 12, 31)),
    length=st.integers(1, 366),
    schedule=st.sampled_from(["month_end", "daily"]),
)
def test_every_schedule_sums_exactly_and_stays_within_a_minor_unit(
    cents, currency, first, length, schedule
):
    """For any amount and service period: the amounts sum to the deferred amount, none is
    negative, and each is within one minor unit of its exact share of the days."""
    places = {"USD": 2, "JPY": 0, "KWD": 3}[currency]
    amount = D(cents).scaleb(-places)
    last = first + dt.timedelta(days=length - 1)
    rows = schedule_amount(amount, currency, first, last, schedule)
    assert sum(a for *_, a in rows) == amount
    assert sum(days for _, days, _ in rows) == length
    unit = D(1).scaleb(-places)
    for _, days, a in rows:
        assert a >= 0 and abs(a - amount * days / length) < unit


def test_recognition_dates_are_month_ends_or_days():
    assert recognition_dates(dt.date(2024, 1, 31), dt.date(2024, 3, 1), "month_end") == [
        (dt.date(2024, 1, 31), 1),
        (dt.date(2024, 2, 29), 29),
        (dt.date(2024, 3, 31), 1),
    ]
    assert recognition_dates(dt.date(2026, 12, 30), dt.date(2027, 1, 1), "daily") == [
        (dt.date(2026, 12, 30), 1),
        (dt.date(2026, 12, 31), 1),
        (dt.date(2027, 1, 1), 1),
    ]


# ------------------------------------------------------------------------------- the plan


def _plan(tmp_path: Path, edit) -> Path:
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    plan = yaml.safe_load((root / "plan.yaml").read_text())
    edit(plan)
    (root / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return root / "plan.yaml"


def test_the_plan_reads_accounts_and_the_schedule(tmp_path):
    plan = load_plan(FIXTURE / "plan.yaml")
    assert plan.accounts == ERP and plan.revenue_recognition.schedule == "month_end"
    unset = load_plan(_plan(tmp_path, lambda p: (p.pop("accounts"), p.pop("revenue_recognition"))))
    assert unset.accounts == {} and unset.revenue_recognition.schedule == "month_end"


@pytest.mark.parametrize(
    ("edit", "problems"),
    [
        (
            lambda p: p["accounts"].pop("sales_tax_payable"),
            [
                "accounts: accounts maps 4 of the 5 accounts golive posts to; sales_tax_payable "
                "missing. Fix: add sales_tax_payable: <ERP account>"
            ],
        ),
        (
            lambda p: p["accounts"].update({"receivables": 1100}),
            [
                "accounts.receivables: 'receivables' is not an account golive posts to. Fix: use "
                "one of: accounts_receivable, revenue, deferred_revenue, sales_tax_payable, "
                "customer_prepaid_balance"
            ],
        ),
        (
            lambda p: p["accounts"].update({"revenue": "  "}),
            ["accounts.revenue: '  ' is not an account: one line of at most 200 characters"],
        ),
        (
            lambda p: p.update({"revenue_recognition": {"schedule": "weekly"}}),
            ["revenue_recognition.schedule: Input should be 'month_end' or 'daily'"],
        ),
        (
            lambda p: p["sources"].pop("legacy_revenue_schedule"),
            [
                "signoff.max_abs_revenue_schedule_delta: this criterion compares recognised "
                "revenue with the legacy process's schedule, and the plan has no "
                "legacy_revenue_schedule source. Fix: add sources.legacy_revenue_schedule, or "
                "remove the criterion"
            ],
        ),
    ],
)
def test_plan_errors_name_the_key_and_the_fix(tmp_path, edit, problems):
    with pytest.raises(PlanError) as err:
        load_plan(_plan(tmp_path, edit))
    for problem in problems:
        assert problem in str(err.value)


# ------------------------------------------------------------------ the pipeline, promoted


@dataclass
class Promoted:
    url: str
    run: RunResult
    folder: Path


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def promoted(request, tmp_path_factory):
    """The fixture company run through production migration (approved), once per warehouse;
    its working folder holds what the Dagster export asset wrote."""
    folder = tmp_path_factory.mktemp("accounting")
    created = None
    if request.param == "duckdb":
        url = f"duckdb:///{folder}/warehouse.duckdb"
    else:
        import psycopg

        server = request.getfixturevalue("postgres_server_url")
        created = f"golive_acct_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as con:
            con.execute(f'create database "{created}"')
        url = _with_database(server, created)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOLIVE_WORKDIR", str(folder))
        run = run_stages(FIXTURE / "plan.yaml", url, approved_by="Grace Hopper")
    yield Promoted(url, run, folder)
    if created:
        import psycopg

        with psycopg.connect(server, autocommit=True) as con:
            con.execute(f'drop database if exists "{created}" with (force)')


def _schedules(url: str, schema: str) -> dict[str, dict[str, str]]:
    rows = warehouse_from_url(url).query(
        f"select invoice_id, recognition_date, amount from {schema}.revenue_recognition"
    )
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for invoice_id, day, amount in rows:
        out[invoice_id][str(day)] = f"{amount:.2f}"
    return dict(out)


@pytest.mark.slow
def test_recognition_schedules_to_the_cent_and_promoted(promoted):
    assert promoted.run.success, [s.error for s in promoted.run.stages]
    assert _schedules(promoted.url, "sandbox") == SCHEDULES
    assert _schedules(promoted.url, "production") == SCHEDULES
    wh = warehouse_from_url(promoted.url)
    # each schedule sums to its deferred amount exactly and covers every service day once
    sums = wh.query(
        "select invoice_id, sum(amount), max(deferred_amount), sum(days), max(service_days) "
        "from production.revenue_recognition group by invoice_id"
    )
    assert all(total == deferred and days == service for _, total, deferred, days, service in sums)
    assert {i: f"{t:.2f}" for i, t, *_ in sums}["K_ANNUAL-20251001"] == "1000.00"
    # the usage line and the fee billed in arrears are revenue at once: no schedule
    assert not [k for k in _schedules(promoted.url, "sandbox") if k.startswith("K_USAGE")]
    assert wh.query("select account, erp_account from production.accounts order by account") == (
        sorted(ERP.items())
    )


@pytest.mark.slow
def test_recognition_entries_post_to_the_journal_and_balance_one_by_one(promoted):
    wh = warehouse_from_url(promoted.url)
    rows = wh.query(
        "select journal_id, entry_id, entry_date, account, debit, credit, posting "
        "from production.journal_entries where invoice_id = 'K_JUL10-20260710' order by entry_id"
    )
    got = [(j, str(d), a, f"{dr:.2f}", f"{cr:.2f}", p) for j, _, d, a, dr, cr, p in rows]
    assert got == [
        ("K_JUL10-20260710", "2026-08-10", "accounts_receivable", "3300.00", "0.00", "invoice"),
        ("K_JUL10-20260710", "2026-08-10", "deferred_revenue", "0.00", "3000.00", "invoice"),
        ("K_JUL10-20260710", "2026-08-10", "sales_tax_payable", "0.00", "300.00", "invoice"),
        # fmt: off
        (
            "K_JUL10-20260710-R20260731",
            "2026-07-31",
            "deferred_revenue",
            "2129.03",
            "0.00",
            "revenue_recognition",
        ),  # noqa: E501
        (
            "K_JUL10-20260710-R20260731",
            "2026-07-31",
            "revenue",
            "0.00",
            "2129.03",
            "revenue_recognition",
        ),  # noqa: E501
        (
            "K_JUL10-20260710-R20260831",
            "2026-08-31",
            "deferred_revenue",
            "870.97",
            "0.00",
            "revenue_recognition",
        ),  # noqa: E501
        (
            "K_JUL10-20260710-R20260831",
            "2026-08-31",
            "revenue",
            "0.00",
            "870.97",
            "revenue_recognition",
        ),  # noqa: E501
        # fmt: on
    ]
    # every entry balances on its own, and deferred revenue is fully released
    assert (
        wh.scalar(
            "select count(*) from (select journal_id from production.journal_entries "
            "group by journal_id having sum(debit) <> sum(credit)) as u"
        )
        == 0
    )
    assert (
        wh.scalar(
            "select count(*) from (select invoice_id from production.journal_entries "
            "where account = 'deferred_revenue' group by invoice_id "
            "having sum(debit) <> sum(credit)) as u"
        )
        == 0
    )
    # the legacy schedule matches month by month; the criterion passed at 0
    statuses = dict(
        wh.query(
            "select status, count(*) from production.reconciliation_revenue_schedule "
            "group by status"
        )
    )
    assert statuses == {"matched": 24}
    signoff = {c["criterion"]: c for c in promoted.run.signoff}
    assert signoff["max_abs_revenue_schedule_delta"] == {
        "criterion": "max_abs_revenue_schedule_delta",
        "threshold": "<= 0",
        "observed": "0",
        "passed": True,
    }


def _journal(url: str, first: str, last: str) -> dict[tuple[str, str], tuple[D, D]]:
    """(currency, account) -> (debits, credits) of production's journal in the range."""
    rows = warehouse_from_url(url).query(
        "select currency, account, sum(debit), sum(credit) from production.journal_entries "
        f"where entry_date between '{first}' and '{last}' group by currency, account"
    )
    return {(c, a): (D(d), D(k)) for c, a, d, k in rows}


def _money(text: str) -> D:
    return D(text) if text else D(0)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _export(promoted: Promoted, tmp_path: Path, fmt: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [
            "export",
            "journal",
            "--format",
            fmt,
            "--from",
            "2026-07-01",
            "--to",
            "2026-08-31",
            "--warehouse",
            promoted.url,
            "--output",
            str(tmp_path / f"{fmt}.csv"),
            *extra,
        ],
    )
    return result.exit_code, result.output


@pytest.mark.slow
def test_netsuite_export_balances_per_entry_and_equals_the_journal(promoted, tmp_path):
    code, output = _export(promoted, tmp_path, "netsuite")
    assert code == 0, output
    frame = _read(tmp_path / "netsuite.csv")
    assert list(frame.columns) == [
        "External ID",
        "Date",
        "Currency",
        "Memo",
        "Account",
        "Debit",
        "Credit",
        "Line Memo",
        "Name",
    ]
    debit, credit = frame["Debit"].map(_money), frame["Credit"].map(_money)
    per_entry = (debit - credit).groupby(frame["External ID"]).sum()
    assert (per_entry == 0).all()
    assert set(frame["Account"]) <= set(ERP.values())
    # the totals are the warehouse's journal for the range, per currency and account
    back = {v: k for k, v in ERP.items()}
    got: dict = defaultdict(lambda: (D(0), D(0)))
    for cur, account, d, k in zip(frame["Currency"], frame["Account"], debit, credit, strict=True):
        got[(cur, back[account])] = (
            got[(cur, back[account])][0] + d,
            got[(cur, back[account])][1] + k,
        )
    assert dict(got) == _journal(promoted.url, "2026-07-01", "2026-08-31")
    # the July month end of the worked example, as NetSuite reads it
    july = frame[frame["External ID"] == "K_JUL10-20260710-R20260731"]
    assert july[["Date", "Account", "Debit", "Credit", "Name"]].values.tolist() == [
        ["07/31/2026", "2400", "2129.03", "", "Northwind, Inc."],
        ["07/31/2026", "4000 Subscription revenue", "", "2129.03", "Northwind, Inc."],
    ]
    assert "entries" in output and "(debits = credits: EUR 500.00; USD " in output
    assert f"Wrote {tmp_path / 'netsuite.csv'}" in output


@pytest.mark.slow
def test_quickbooks_export_one_file_per_currency(promoted, tmp_path):
    code, output = _export(promoted, tmp_path, "quickbooks")
    assert code == 0, output
    usd, eur = _read(tmp_path / "quickbooks-USD.csv"), _read(tmp_path / "quickbooks-EUR.csv")
    assert not (tmp_path / "quickbooks.csv").exists()
    journal = _journal(promoted.url, "2026-07-01", "2026-08-31")
    for frame, currency in ((usd, "USD"), (eur, "EUR")):
        assert list(frame.columns) == [
            "Journal No.",
            "Journal Date",
            "Account Name",
            "Debits",
            "Credits",
            "Description",
            "Name",
        ]
        debit, credit = frame["Debits"].map(_money), frame["Credits"].map(_money)
        assert ((debit - credit).groupby(frame["Journal No."]).sum() == 0).all()
        assert frame["Journal No."].str.len().max() <= 21  # QuickBooks' journal number
        assert set(frame["Account Name"]) <= set(ERP.values())
        assert debit.sum() == sum(d for (c, _), (d, _) in journal.items() if c == currency)
        assert credit.sum() == sum(k for (c, _), (_, k) in journal.items() if c == currency)
    # in the range, the EUR contract's August month end (its invoice posts on 1 September); its
    # journal id is longer than QuickBooks takes, so the number is a digest of it
    assert eur[["Journal Date", "Debits", "Credits"]].values.tolist() == [
        ["08/31/2026", "500.00", ""],
        ["08/31/2026", "", "500.00"],
    ]
    assert set(eur["Journal No."]) == {"GL-1683319bb01a2757d5"}
    assert eur["Description"][0] == (
        "Revenue recognised 2026-08-31, invoice K_EUR-20260801: deferred_revenue "
        "(K_EUR-20260801-R20260831)"
    )


@pytest.mark.slow
def test_xero_export_signed_amounts_per_narration(promoted, tmp_path):
    code, output = _export(promoted, tmp_path, "xero", "--currency", "usd", "--tax-rate", "No GST")
    assert code == 0, output
    frame = _read(tmp_path / "xero.csv")
    assert list(frame.columns) == [
        "Narration",
        "Date",
        "Description",
        "AccountCode",
        "TaxRate",
        "Amount",
    ]
    amounts = frame["Amount"].map(D)
    assert (amounts.groupby([frame["Narration"], frame["Date"]]).sum() == 0).all()
    assert set(frame["TaxRate"]) == {"No GST"} and set(frame["AccountCode"]) <= set(ERP.values())
    journal = _journal(promoted.url, "2026-07-01", "2026-08-31")
    assert amounts[amounts > 0].sum() == sum(d for (c, _), (d, _) in journal.items() if c == "USD")
    assert "31 Jul 2026" in set(frame["Date"])


@pytest.mark.slow
def test_the_dagster_asset_exported_production_after_the_migration(promoted, tmp_path):
    folder = promoted.folder / "journal-export"
    assert sorted(p.name for p in folder.iterdir()) == [
        "journal-netsuite.csv",
        "journal-quickbooks-EUR.csv",
        "journal-quickbooks-USD.csv",
        "journal-xero-EUR.csv",
        "journal-xero-USD.csv",
    ]
    metadata = promoted.run.stages[-1].metadata["production/journal_export"]
    assert metadata["from"] == "2025-10-31" and metadata["to"] == "2026-10-01"
    # the whole journal: the same file as the command line writes for that range
    result = CliRunner().invoke(
        main,
        [
            "export",
            "journal",
            "--format",
            "netsuite",
            "--from",
            "2025-10-31",
            "--to",
            "2026-10-01",
            "--warehouse",
            promoted.url,
            "--output",
            str(tmp_path / "all.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "all.csv").read_text() == (folder / "journal-netsuite.csv").read_text()
    wh = warehouse_from_url(promoted.url)
    assert metadata["dagster/row_count"] == wh.scalar(
        "select count(*) from production.journal_entries"
    )


# ------------------------------------------------------------------------------- refusals


def _line(journal_id: str, account: str, debit: str, credit: str, currency: str = "USD"):
    return JournalLine(
        journal_id=journal_id,
        entry_id=f"{journal_id}-1",
        entry_date=dt.date(2026, 7, 31),
        posting="invoice",
        invoice_id=journal_id,
        customer_name="C",
        account=account,
        erp_account=ERP.get(account),
        debit=D(debit),
        credit=D(credit),
        currency=currency,
    )


def test_the_export_refuses_what_an_erp_would(tmp_path):
    unbalanced = [
        _line("I1", "accounts_receivable", "10.00", "0"),
        _line("I1", "revenue", "0", "9.99"),
    ]
    with pytest.raises(ExportError, match="1 entries do not balance \\(e.g. I1\\)"):
        write_journal(unbalanced, "netsuite", tmp_path / "a.csv")
    unmapped = [
        _line("I1", "accounts_receivable", "10.00", "0"),
        _line("I1", "misc", "0", "10.00"),
    ]
    with pytest.raises(ExportError, match="no ERP account for misc"):
        write_journal(unmapped, "xero", tmp_path / "b.csv")
    nothing_mapped = [_line("I1", "receivable", "10.00", "0"), _line("I1", "sales", "0", "10.00")]
    with pytest.raises(ExportError, match="the plan has no accounts section"):
        write_journal(nothing_mapped, "quickbooks", tmp_path / "b.csv")
    kwd = [
        _line("I1", "accounts_receivable", "10.125", "0", "KWD"),
        _line("I1", "revenue", "0", "10.125", "KWD"),
    ]
    with pytest.raises(ExportError, match="netsuite takes at most 2 decimal places and KWD has 3"):
        write_journal(kwd, "netsuite", tmp_path / "c.csv")
    assert not list(tmp_path.iterdir())  # a refused export writes nothing
    write_journal(kwd, "quickbooks", tmp_path / "d.csv")
    assert _read(tmp_path / "d.csv")["Debits"].tolist() == ["10.125", ""]


def test_the_date_format_option_leaves_xero_dates_alone(tmp_path):
    """--date-format is NetSuite's and QuickBooks' account preference; Xero reads its own
    unambiguous dd mmm yyyy whatever it says (07/31/2026 would be refused, 08/01 misread)."""
    lines = [_line("I1", "accounts_receivable", "10.00", "0"), _line("I1", "revenue", "0", "10.00")]
    write_journal(lines, "xero", tmp_path / "x.csv", date_format="%m/%d/%Y")
    assert set(_read(tmp_path / "x.csv")["Date"]) == {"31 Jul 2026"}
    write_journal(lines, "quickbooks", tmp_path / "q.csv", date_format="%d/%m/%Y")
    assert set(_read(tmp_path / "q.csv")["Journal Date"]) == {"31/07/2026"}


def test_xero_files_hold_at_most_300_lines_and_whole_entries(tmp_path):
    lines = []
    for n in range(160):  # 160 entries of 2 lines: 320 lines
        lines += [
            _line(f"I{n:03d}", "accounts_receivable", "1.00", "0"),
            _line(f"I{n:03d}", "revenue", "0", "1.00"),
        ]
    result = write_journal(lines, "xero", tmp_path / "x.csv")
    assert [p.name for p in result.files] == ["x-USD-001.csv", "x-USD-002.csv"]
    first, second = (_read(p) for p in result.files)
    assert (len(first), len(second)) == (300, 20)
    assert set(first["Narration"]).isdisjoint(second["Narration"])


def test_export_before_go_live_says_what_to_do(tmp_path):
    url = f"duckdb:///{tmp_path}/empty.duckdb"
    warehouse_from_url(url).execute("create schema if not exists sandbox")
    result = CliRunner().invoke(
        main,
        ["export", "journal", "--format", "xero", "--from", "2026-07-01", "--to", "2026-07-31",
         "--warehouse", url],
    )  # fmt: skip
    assert result.exit_code == EXIT_BAD_INPUT
    assert "production is not live yet" in result.output and "--sandbox" in result.output


def test_export_of_a_currency_the_journal_has_none_in_names_the_ones_it_has(tmp_path):
    url = f"duckdb:///{tmp_path}/live.duckdb"
    warehouse = warehouse_from_url(url)
    warehouse.execute("create schema if not exists production")
    for table in ("invoices", "customers", "accounts"):
        warehouse.execute(f"create table production.{table} (x text)")
    warehouse.execute(
        "create table production.journal_entries as select * from (values ('USD'), ('EUR')) "
        "as t(currency)"
    )
    output = tmp_path / "xyz.csv"
    result = CliRunner().invoke(
        main,
        ["export", "journal", "--format", "xero", "--from", "2026-07-01", "--to", "2026-07-31",
         "--warehouse", url, "--currency", "xyz", "--output", str(output)],
    )  # fmt: skip
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert (
        "--currency xyz: production.journal_entries has no entry in XYZ (its currencies are "
        "EUR, USD). Fix: --currency EUR or USD, or no --currency"
    ) in result.output
    assert not list(tmp_path.glob("xyz*.csv"))  # nothing written


# ---------------------------------------------------------------- daily, and a legacy error


@pytest.mark.slow
def test_a_daily_schedule_recognises_each_day_and_agrees_by_month(warehouse_url, tmp_path):
    plan = _plan(tmp_path, lambda p: p.update({"revenue_recognition": {"schedule": "daily"}}))
    run = run_stages(plan, warehouse_url, through="parallel_test")
    assert run.success, [s.error for s in run.stages]
    wh = warehouse_from_url(warehouse_url)
    rows = wh.query(
        "select recognition_date, days, amount from sandbox.revenue_recognition "
        "where invoice_id = 'K_JUL10-20260710' order by recognition_date"
    )
    assert len(rows) == 31 and {d for _, d, _ in rows} == {1}
    assert (rows[0][0], rows[-1][0]) == (dt.date(2026, 7, 10), dt.date(2026, 8, 9))
    assert sum(a for day, _, a in rows if day.month == 7) == D("2129.03")
    assert sum(a for _, _, a in rows) == D("3000.00")
    assert (
        wh.scalar("select count(*) from sandbox.revenue_recognition")
        # K_JUL10 and K_PARTIAL: 31-day periods, and the 15 active days; annual: 365; EUR
        == 31 * 4 + 15 + 365 + 31 + 30
    )
    # one entry a day in the journal, each balanced
    assert (
        wh.scalar(
            "select count(distinct journal_id) from sandbox.journal_entries "
            "where posting = 'revenue_recognition' and invoice_id = 'K_ANNUAL-20251001'"
        )
        == 365
    )
    # the legacy process recognised at month ends: compared per month, they agree
    assert dict(
        wh.query(
            "select status, count(*) from sandbox.reconciliation_revenue_schedule group by status"
        )
    ) == {"matched": 24}
    assert all(c["passed"] for c in run.signoff)


@pytest.mark.slow
def test_a_legacy_schedule_that_recognised_on_invoicing_holds_the_signoff(tmp_path):
    plan = _plan(tmp_path, lambda p: None)
    schedule = plan.parent / "legacy" / "revenue_schedule.csv"
    rows = schedule.read_text().splitlines()
    rows = [r for r in rows if not r.startswith("L-K_JUL10-20260710,")]
    rows.append("L-K_JUL10-20260710,revenue,2026-07-31,3000.00,USD")  # all of it in July
    schedule.write_text("\n".join(rows) + "\n")
    url = f"duckdb:///{tmp_path}/w.duckdb"
    run = run_stages(plan, url, through="parallel_test")
    assert run.signoff_failed
    wh = warehouse_from_url(url)
    got = wh.query(
        "select recognition_month, legacy_amount, generated_amount, delta, status "
        "from sandbox.reconciliation_revenue_schedule "
        "where invoice_id = 'K_JUL10-20260710' order by recognition_month"
    )
    assert [(str(m), lg, f"{g:.2f}", f"{d:.2f}", s) for m, lg, g, d, s in got] == [
        ("2026-07-01", D("3000.00"), "2129.03", "-870.97", "amount_mismatch"),
        ("2026-08-01", None, "870.97", "870.97", "missing_in_legacy"),
    ]
    failing = [c for c in run.signoff if not c["passed"]]
    assert failing == [
        {
            "criterion": "max_abs_revenue_schedule_delta",
            "threshold": "<= 0",
            "observed": "870.97",
            "passed": False,
        }
    ]
