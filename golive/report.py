"""The parallel test report: a Markdown file an implementation lead can read and forward."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from connectors.warehouse import warehouse_from_url
from orchestration.runner import RunResult

MAX_ROWS = 200


def _table(headers: list[str], rows: list[tuple]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        out.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    return "\n".join(out)


def write_report(run: RunResult, path: Path) -> Path:
    """Write stage timings, event counts, sign-off and every reconciliation exception."""
    wh = warehouse_from_url(run.warehouse_url)
    parts = [
        f"# Parallel test report: {run.plan.company}",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Warehouse: "
        f"`{wh.display_url}`. Parallel test window: {run.plan.parallel_test.periods.from_} to "
        f"{run.plan.parallel_test.periods.to}.",
        "",
        "## Stages",
        "",
        _table(
            ["stage", "result", "seconds"],
            [(s.stage, "ok" if s.success else "FAILED", f"{s.seconds:.1f}") for s in run.stages],
        ),
    ]
    if run.signoff:
        parts += [
            "",
            "## Sign-off",
            "",
            _table(
                ["criterion", "threshold", "observed", "passed"],
                [
                    (c["criterion"], c["threshold"], c["observed"], "yes" if c["passed"] else "NO")
                    for c in run.signoff
                ],
            ),
        ]
    if wh.table_exists("sandbox", "parallel_test_summary"):
        t = wh.query_arrow("select * from sandbox.parallel_test_summary").to_pylist()[0]
        parts += [
            "",
            "## Counts",
            "",
            _table(["measure", "value"], [(k, v) for k, v in t.items()]),
        ]
    if wh.table_exists("sandbox", "reconciliation_invoices"):
        rows = wh.query(
            "select status, customer_id, period_start, period_end, currency, legacy_invoice_id, "
            "invoice_id, legacy_total, generated_total, delta from sandbox.reconciliation_invoices "
            f"where status <> 'matched' order by status, customer_id, period_start limit {MAX_ROWS}"
        )
        parts += [
            "",
            "## Invoices that do not match",
            "",
            _table(
                [
                    "status",
                    "customer",
                    "period start",
                    "period end",
                    "currency",
                    "legacy invoice",
                    "invoice",
                    "legacy total",
                    "generated total",
                    "delta",
                ],
                [tuple(_money(v) for v in r) for r in rows],
            )
            if rows
            else "None.",
        ]
        rows = wh.query(
            "select status, cause, customer_id, period_start, currency, product_id, "
            "legacy_quantity, generated_quantity, legacy_amount, generated_amount, delta "
            "from sandbox.reconciliation_lines where status <> 'matched' "
            f"order by cause, customer_id, period_start, product_id limit {MAX_ROWS}"
        )
        parts += [
            "",
            "## Lines that do not match",
            "",
            "`quantity`: the quantities differ (a metering cause); `price`: only the amounts "
            "differ (a pricing cause); `missing`: one side has no such line.",
            "",
            _table(
                [
                    "status",
                    "cause",
                    "customer",
                    "period start",
                    "currency",
                    "product",
                    "legacy qty",
                    "generated qty",
                    "legacy amount",
                    "generated amount",
                    "delta",
                ],
                [tuple(_money(v) for v in r) for r in rows],
            )
            if rows
            else "None.",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _money(value):
    """Decimals without trailing zeros beyond the cent (amounts are stored with 10 places)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        text = f"{value.normalize():f}"
        if "." in text and len(text.split(".")[1]) < 2:
            text = f"{value:.2f}"
        return text
    return value
