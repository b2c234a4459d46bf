"""The report as Markdown (``report.md``): for diffs, terminals and pull requests.

Every column has one number format (:mod:`golive.report.formats`): money at the row's
currency's minor unit, quantities as exact as they are, ratios as percentages with two places,
counts as whole numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from golive.report import formats as f
from golive.report.data import DELTA_BUCKETS, Group, ReportData

Cell = Callable[[Any], str]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table of already formatted cells ("None." when there are no rows)."""
    if not rows:
        return "None."
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        out.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(out)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def verdict(data: ReportData) -> str:
    """The report's first sentence: what the sign-off decided."""
    failing = [c for c in data.signoff if not c["passed"]]
    if data.signoff_stale:
        return (
            "**The sign-off describes an earlier sandbox**: "
            f"{', '.join(data.signoff_stale)} changed since it was checked, so its figures "
            "are not about these numbers; run the parallel test again before approving."
        )
    if data.signoff_held:
        named = "; ".join(
            f"{c['criterion']} (observed {c['observed']}, threshold {c['threshold']})"
            for c in failing
        )
        return f"**The sign-off held the migration back.** Failing: {named}."
    if data.held == "approval":
        return (
            "**The sign-off passed; the migration waits for a named approval** "
            "(`golive approve --by NAME`)."
        )
    if data.signoff:
        return "**The sign-off passed: every criterion of the plan holds.**"
    return "**No sign-off yet**: the parallel test has not run."


def _groups(rows: list[Group], key: str, with_model: bool = False) -> str:
    headers = [key, *(["pricing model"] if with_model else []), "currency"]
    headers += ["compared", "matched", "match rate", "net delta", "sum of |delta|"]
    return table(
        headers,
        [
            [
                g.key,
                *([g.model] if with_model else []),
                g.currency,
                f.count(g.compared),
                f.count(g.matched),
                f.percent(g.match_rate),
                f.money(g.net_delta, g.currency),
                f.money(g.abs_delta, g.currency),
            ]
            for g in rows
        ],
    )


def _invoice_rows(rows: list[dict]) -> list[list[str]]:
    return [
        [
            r["status"],
            f.text(r["customer_id"]),
            f.day(r["period_start"]),
            f.day(r["period_end"]),
            f.text(r["currency"]),
            f.text(r["legacy_invoice_id"]),
            f.text(r["invoice_id"]),
            f.money(r["legacy_total"], r["currency"]),
            f.money(r["generated_total"], r["currency"]),
            f.money(r["delta"], r["currency"]),
        ]
        for r in rows
    ]


INVOICE_HEADERS = [
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
]

LINE_HEADERS = [
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
]


def _line_rows(rows: list[dict]) -> list[list[str]]:
    return [
        [
            r["status"],
            f.text(r["cause"]),
            f.text(r["customer_id"]),
            f.day(r["period_start"]),
            f.text(r["currency"]),
            f.text(r["product_id"]),
            f.quantity(r["legacy_quantity"]),
            f.quantity(r["generated_quantity"]),
            f.money(r["legacy_amount"], r["currency"]),
            f.money(r["generated_amount"], r["currency"]),
            f.money(r["delta"], r["currency"]),
        ]
        for r in rows
    ]


def render(data: ReportData) -> str:
    """The whole report as Markdown text."""
    parts = [
        f"# Parallel test report: {data.company}",
        "",
        f"Generated {data.generated_at:%Y-%m-%d %H:%M} UTC. Warehouse: `{data.warehouse}`. "
        f"Parallel test window: {f.day(data.window[0])} to {f.day(data.window[1])}.",
        "",
        verdict(data),
    ]
    if data.stages:
        parts += [
            "",
            "## Stages",
            "",
            table(
                ["stage", "result", "seconds"],
                [[s, r, f.seconds(t)] for s, r, t in data.stages],
            ),
        ]
    parts += ["", "## Sign-off", ""]
    parts.append(
        table(
            ["criterion", "threshold", "observed", "passed"],
            [
                [c["criterion"], c["threshold"], c["observed"], "yes" if c["passed"] else "NO"]
                for c in data.signoff
            ],
        )
    )
    if data.approvals:
        parts += [
            "",
            "Approvals (latest first):",
            "",
            table(
                ["approved by", "approved at (UTC)", "note"],
                [
                    [f.text(a["approved_by"]), f.instant(a["approved_at"]), f.text(a["note"])]
                    for a in data.approvals
                ],
            ),
        ]
    s = data.summary
    if s:
        parts += [
            "",
            "## Compared",
            "",
            table(
                ["compared", "rows", "matched", "match rate"],
                [
                    [
                        "invoices",
                        f.count(s.get("invoices_compared")),
                        f.count(s.get("invoices_matched")),
                        f.percent(s.get("invoice_match_rate")),
                    ],
                    *(
                        [
                            [
                                "lines",
                                f.count(s.get("lines_compared")),
                                f.count(s.get("lines_matched")),
                                f.percent(s.get("line_match_rate")),
                            ],
                            [
                                "journal accounts",
                                f.count(s.get("journal_accounts_compared")),
                                f.count(s.get("journal_accounts_matched")),
                                f.percent(
                                    _rate(
                                        s.get("journal_accounts_matched"),
                                        s.get("journal_accounts_compared"),
                                    )
                                ),
                            ],
                        ]
                        if "lines_compared" in s
                        else []
                    ),
                ],
            ),
            "",
            table(
                [
                    "amount mismatch",
                    "missing in generated",
                    "missing in legacy",
                    "duplicate in legacy",
                    "unbalanced invoices",
                    "pricing errors",
                ],
                [
                    [
                        f.count(s.get("invoices_mismatched")),
                        f.count(s.get("invoices_missing_in_generated")),
                        f.count(s.get("invoices_missing_in_legacy")),
                        f.count(s.get("invoices_duplicate_in_legacy")),
                        f.count(s.get("unbalanced_invoices")),
                        f.count(s.get("pricing_errors")),
                    ]
                ],
            ),
        ]
    parts += [
        "",
        "## By currency",
        "",
        "Invoices. The net delta is the sign-off's total delta (Σ generated − Σ legacy); the sum "
        "of |delta| shows differences that cancel out.",
        "",
        _currency_table(data.by_currency),
        "",
        "## By pricing model",
        "",
        "Lines, by the pricing model of their product in the plan.",
        "",
        _groups(data.by_model, "pricing model"),
        "",
        "## By product",
        "",
        _groups(data.by_product, "product", with_model=True),
        "",
        "## Distribution of invoice deltas",
        "",
        "Generated − legacy, in the invoice's currency.",
        "",
        table(
            ["delta", "invoices"], [[DELTA_BUCKETS[k], f.count(n)] for k, n in data.delta_buckets]
        ),
        "",
        "## Causes",
        "",
        "`quantity`: the quantities differ (metering); `price`: only the amounts differ "
        "(pricing); `missing`: one side has no such line.",
        "",
        table(
            ["cause", "currency", "lines", "sum of |delta|"],
            [[c, cur, f.count(n), f.money(a, cur)] for c, cur, n, a in data.causes],
        ),
    ]
    parts += ["", "## Top discrepancies", ""]
    parts.append(
        table(
            ["#", *INVOICE_HEADERS],
            [
                [str(i + 1), *row]
                for i, row in enumerate(_invoice_rows([d.invoice for d in data.top]))
            ],
        )
    )
    top_lines = [(i + 1, line) for i, d in enumerate(data.top) for line in d.lines]
    if top_lines:
        parts += [
            "",
            "Their lines that do not match:",
            "",
            table(
                ["#", *LINE_HEADERS],
                [
                    [str(i), *row]
                    for (i, _), row in zip(
                        top_lines, _line_rows([line for _, line in top_lines]), strict=True
                    )
                ],
            ),
        ]
    for behind in data.usage_behind:
        line = behind.line
        parts += [
            "",
            f"Usage behind the quantity of `{line['product_id']}` for customer "
            f"`{line['customer_id']}`, {f.day(line['period_start'])} to "
            f"{f.day(line['period_end'])}: metric `{behind.metric_id}` (event "
            f"`{behind.event_name}`), {f.count(behind.events_total)} accepted events; "
            f"legacy quantity {f.quantity(line['legacy_quantity'])}, generated "
            f"{f.quantity(line['generated_quantity'])}. The first events:",
            "",
            table(
                ["event", "at (UTC)", "properties"],
                [
                    [f.text(e["event_id"]), f.instant(e["event_at"]), f.text(e["properties"])]
                    for e in behind.events
                ],
            ),
        ]
    parts += [
        "",
        "## Journal differences per account",
        "",
        _groups(data.journal_accounts, "account"),
        "",
        "## Quarantine",
        "",
        "Usage events:",
        "",
        table(["reason", "events"], [[r, f.count(n)] for r, n in data.quarantined_events]),
        "",
        "Master data:",
        "",
        table(
            ["dataset", "reason", "records"],
            [[d, r, f.count(n)] for d, r, n in data.quarantined_records],
        ),
        "",
        table(
            ["dataset", "received", "accepted (events: loaded)", "duplicates", "quarantined"],
            [[d, *map(f.count, rest)] for d, *rest in data.record_counts]
            + (
                [["usage_events", *map(f.count, data.event_counts)]]
                if data.event_counts is not None
                else []
            ),
        ),
        "",
        "## Invoices that do not match",
        "",
        table(INVOICE_HEADERS, _invoice_rows(data.invoice_exceptions)),
        "",
        "## Lines that do not match",
        "",
        table(LINE_HEADERS, _line_rows(data.line_exceptions)),
    ]
    if data.data_docs:
        parts += ["", f"Great Expectations Data Docs: `{data.data_docs}`"]
    return "\n".join(parts) + "\n"


def _currency_table(rows: list[Group]) -> str:
    return table(
        ["currency", "compared", "matched", "match rate", "net delta", "sum of |delta|"],
        [
            [
                g.currency,
                f.count(g.compared),
                f.count(g.matched),
                f.percent(g.match_rate),
                f.money(g.net_delta, g.currency),
                f.money(g.abs_delta, g.currency),
            ]
            for g in rows
        ],
    )


def _rate(matched: Any, compared: Any) -> Any:
    from decimal import Decimal

    if not compared:
        return Decimal(0)
    return Decimal(matched or 0) / Decimal(compared)


def render_summary(data: ReportData) -> str:
    """The short version (the verdict, the sign-off, currencies, causes, the top
    discrepancies) that the Dagster sign-off asset shows as its Markdown metadata."""
    return "\n".join(
        [
            verdict(data),
            "",
            table(
                ["criterion", "threshold", "observed", "passed"],
                [
                    [c["criterion"], c["threshold"], c["observed"], "yes" if c["passed"] else "NO"]
                    for c in data.signoff
                ],
            ),
            "",
            _currency_table(data.by_currency),
            "",
            table(
                ["cause", "currency", "lines", "sum of |delta|"],
                [[c, cur, f.count(n), f.money(a, cur)] for c, cur, n, a in data.causes],
            ),
            "",
            "Top discrepancies:",
            "",
            table(INVOICE_HEADERS, _invoice_rows([d.invoice for d in data.top])),
        ]
    )
