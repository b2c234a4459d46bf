"""report.md: one number format per column (money at the currency's minor unit, quantities as
exact as they are, ratios as percentages with two places), and a held migration is said to be
held back by the sign-off, not a failed stage. No pipeline: the report is rendered from data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from golive.report import formats, stage_rows
from golive.report.data import Discrepancy, Group, ReportData
from golive.report.markdown import render


def _invoice(status, customer, currency, legacy, generated, legacy_id="L-1", invoice_id="K-1"):
    delta = (generated or Decimal(0)) - (legacy or Decimal(0))
    return {
        "status": status,
        "customer_id": customer,
        "period_start": dt.date(2026, 9, 1),
        "period_end": dt.date(2026, 10, 1),
        "currency": currency,
        "legacy_invoice_id": legacy_id,
        "invoice_id": invoice_id,
        "contract_id": None,
        "legacy_total": legacy,
        "generated_total": generated,
        "delta": delta,
    }


def _line(cause, currency, lq, gq, la, ga, product="api"):
    return {
        "status": "amount_mismatch" if la is not None and ga is not None else "missing_in_legacy",
        "cause": cause,
        "customer_id": "C01",
        "period_start": dt.date(2026, 9, 1),
        "period_end": dt.date(2026, 10, 1),
        "currency": currency,
        "legacy_invoice_id": "L-1",
        "invoice_id": "K-1",
        "product_id": product,
        "legacy_quantity": lq,
        "generated_quantity": gq,
        "legacy_amount": la,
        "generated_amount": ga,
        "delta": (ga or Decimal(0)) - (la or Decimal(0)),
    }


D = Decimal


def _data(**changes) -> ReportData:
    data = ReportData(
        company="Acme",
        window=(dt.date(2026, 9, 1), dt.date(2026, 11, 1)),
        generated_at=dt.datetime(2026, 11, 2, 8, 0),
        warehouse="duckdb:///w.duckdb",
        signoff=[
            {
                "criterion": "max_abs_total_delta",
                "threshold": "<= 0",
                "observed": "5.8",
                "passed": False,
            },
            {
                "criterion": "min_invoice_match_rate",
                "threshold": ">= 1",
                "observed": "0.9375",
                "passed": False,
            },
        ],
        summary={
            "invoices_compared": 16,
            "invoices_matched": 15,
            "invoice_match_rate": D("0.9375000000"),
            "abs_total_delta": D("5.8000000000"),
            "lines_compared": 3,
            "lines_matched": 2,
            "line_match_rate": D("0.6666666667"),
            "journal_accounts_compared": 0,
            "journal_accounts_matched": 0,
        },
        by_currency=[
            Group("JPY", "JPY", 4, 4, D("0E-10"), D("0E-10")),
            Group("USD", "USD", 12, 11, D("5.8000000000"), D("5.8000000000")),
        ],
        invoice_exceptions=[
            _invoice("amount_mismatch", "C01", "USD", D("100.0000000000"), D("105.8000000000")),
            _invoice("amount_mismatch", "C02", "USD", D("12.9700000000"), D("2.0000000000")),
            _invoice("amount_mismatch", "C03", "JPY", D("1200.0000000000"), D("1190")),
            _invoice("missing_in_legacy", "C04", "USD", None, D("2"), legacy_id=None),
        ],
        line_exceptions=[
            _line(
                "quantity",
                "USD",
                D("2000000.0000000000"),
                D("1999999.5000000000"),
                D("100"),
                D("99.9999999999"),
            ),
            _line("price", "USD", D("1.5000000000"), D("1.5"), D("-10.97"), D("-2")),
            _line("missing", "JPY", None, D("3"), None, D("1200"), product="platform"),
        ],
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return data


def test_invoice_and_line_tables_have_one_format_per_column():
    text = render(_data())
    lines = text.splitlines()
    for expected in (
        "| amount_mismatch | C01 | 2026-09-01 | 2026-10-01 | USD | L-1 | K-1 | 100.00 | 105.80 "
        "| 5.80 |",
        "| amount_mismatch | C02 | 2026-09-01 | 2026-10-01 | USD | L-1 | K-1 | 12.97 | 2.00 "
        "| -10.97 |",
        "| amount_mismatch | C03 | 2026-09-01 | 2026-10-01 | JPY | L-1 | K-1 | 1200 | 1190 | -10 |",
        "| missing_in_legacy | C04 | 2026-09-01 | 2026-10-01 | USD |  | K-1 |  | 2.00 | 2.00 |",
        "| amount_mismatch | quantity | C01 | 2026-09-01 | USD | api | 2000000 | 1999999.5 "
        "| 100.00 | 100.00 | 0.00 |",
        "| amount_mismatch | price | C01 | 2026-09-01 | USD | api | 1.5 | 1.5 | -10.97 | -2.00 "
        "| 8.97 |",
        "| missing_in_legacy | missing | C01 | 2026-09-01 | JPY | platform |  | 3 |  | 1200 "
        "| 1200 |",
        "| invoices | 16 | 15 | 93.75 % |",
        "| lines | 3 | 2 | 66.66 % |",
        "| JPY | 4 | 4 | 100.00 % | 0 | 0 |",
        "| USD | 12 | 11 | 91.66 % | 5.80 | 5.80 |",
    ):
        assert expected in lines, expected
    # no raw 10-place decimals anywhere
    assert "0000000" not in text.replace("2000000", "")


def test_held_migration_is_said_to_be_held_by_the_signoff():
    text = render(_data())
    assert "The sign-off held the migration back." in text
    assert (
        "Failing: max_abs_total_delta (observed 5.8, threshold <= 0); min_invoice_match_rate "
        "(observed 0.9375, threshold >= 1)." in text
    )
    assert "FAILED" not in text
    run = SimpleNamespace(
        held="signoff",
        signoff_failed=True,
        stages=[
            SimpleNamespace(stage="parallel_test", success=True, seconds=1.23),
            SimpleNamespace(stage="production_migration", success=False, seconds=0.1),
        ],
    )
    assert stage_rows(run) == [
        ("parallel_test", "ok", 1.23),
        ("production_migration", "held back by the sign-off", 0.1),
    ]
    text = render(_data(stages=stage_rows(run)))
    assert "| production_migration | held back by the sign-off | 0.1 |" in text.splitlines()
    assert "| parallel_test | ok | 1.2 |" in text.splitlines()


def test_passed_and_waiting_for_approval():
    passed = [{**c, "passed": True} for c in _data().signoff]
    assert "The sign-off passed: every criterion of the plan holds." in render(
        _data(signoff=passed)
    )
    waiting = render(_data(signoff=passed, held="approval"))
    assert "the migration waits for a named approval" in waiting
    approved = render(
        _data(
            signoff=passed,
            approvals=[
                {
                    "approved_by": "Dana Lead",
                    "approved_at": dt.datetime(2026, 11, 3, 9, 30),
                    "note": "checked the 3 planted lines",
                }
            ],
        )
    )
    assert "| Dana Lead | 2026-11-03 09:30:00 | checked the 3 planted lines |" in approved


def test_top_discrepancies_list_their_lines():
    top = Discrepancy(
        invoice=_invoice("amount_mismatch", "C01", "USD", D("100"), D("105.8")),
        lines=[_line("quantity", "USD", D("4"), D("5"), D("100"), D("105.8"))],
    )
    text = render(_data(top=[top]))
    assert (
        "| 1 | amount_mismatch | C01 | 2026-09-01 | 2026-10-01 | USD | L-1 | K-1 | 100.00 "
        "| 105.80 | 5.80 |" in text.splitlines()
    )
    assert (
        "| 1 | amount_mismatch | quantity | C01 | 2026-09-01 | USD | api | 4 | 5 | 100.00 "
        "| 105.80 | 5.80 |" in text.splitlines()
    )


def test_formats():
    assert formats.money(D("5.8000000000"), "USD") == "5.80"
    assert formats.money(D("-0.0040000000"), "USD") == "0.00"
    assert formats.money(D("1234.5"), "KWD", grouped=True) == "1,234.500"
    assert formats.money(D("1190.5"), "JPY") == "1191"  # half away from zero
    assert formats.quantity(D("2000000.0000000000")) == "2000000"
    assert formats.quantity(D("0E-10")) == "0"
    assert formats.percent(D("0.99996")) == "99.99 %"  # 100.00 % only when all match
    assert formats.percent(D("1")) == "100.00 %"


def test_working_folder_precedence(monkeypatch, tmp_path):
    from expectations.evidence import working_folder, working_in

    monkeypatch.delenv("GOLIVE_WORKDIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert working_folder() == tmp_path.resolve()
    assert working_folder(tmp_path / "report") == (tmp_path / "report").resolve()
    with working_in(tmp_path / "demo"):
        assert working_folder(tmp_path / "report") == (tmp_path / "demo").resolve()
    monkeypatch.setenv("GOLIVE_WORKDIR", str(tmp_path / "env"))
    with working_in(tmp_path / "demo"):
        assert working_folder() == (tmp_path / "env").resolve()
