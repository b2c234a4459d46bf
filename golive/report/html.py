"""The report as one self-contained HTML file (``report.html``), the one a lead forwards.

Charts are plotly figures; plotly's JavaScript is embedded once in the page, so the file opens
anywhere without a network. The tables use the same number formats as the Markdown report
(:mod:`golive.report.formats`). Every chart is a ``<div id="chart-…">``; its bars carry their
values as text labels.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from golive.report import formats as f
from golive.report.data import DELTA_BUCKETS, Group, ReportData
from golive.report.markdown import INVOICE_HEADERS, LINE_HEADERS, verdict

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1f2933; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #d9e2ec; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d9e2ec; padding: .25rem .55rem; text-align: left; }
th { background: #f0f4f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: .8rem 1rem; border-radius: 6px; font-weight: 600; }
.verdict.held { background: #ffe3e3; color: #8a1c1c; }
.verdict.waiting { background: #fff3c4; color: #7c5e10; }
.verdict.passed { background: #e3f9e5; color: #0e5e1b; }
.fail { color: #b42318; font-weight: 600; } .pass { color: #0e7a27; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.chart { flex: 0 0 auto; }
.meta { color: #52606d; font-size: .9rem; }
details { margin: .5rem 0 1rem; } summary { cursor: pointer; }
"""

CHART_WIDTH = 570
PAGE_WIDTH = 1160

#: chart ids, in page order (the test looks them up)
CHART_IDS = (
    "chart-currency-match",
    "chart-currency-delta",
    "chart-model-match",
    "chart-model-delta",
    "chart-product-match",
    "chart-product-delta",
    "chart-delta-distribution",
    "chart-cause-counts",
    "chart-cause-money",
    "chart-journal-accounts",
    "chart-quarantine-events",
    "chart-quarantine-records",
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()
) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            raw = value if isinstance(value, _Raw) else None
            shown = raw.text if raw is not None else _e(value)
            css = ' class="num"' if i in numeric else ""
            cells.append(f"<td{css}>{shown}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw:
    """HTML that is already escaped."""

    def __init__(self, text: str) -> None:
        self.text = text


def _bar_figure(
    chart_id: str,
    title: str,
    x_title: str,
    y_title: str,
    series: dict[str, tuple[list[str], list[float], list[str]]],
    horizontal: bool = False,
    value_range: tuple[float, float] | None = None,
    barmode: str = "group",
) -> str:
    """A bar chart: per series (legend entry) the categories, values and their labels."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, (categories, values, labels) in series.items():
        bar = {"y": categories, "x": values} if horizontal else {"x": categories, "y": values}
        figure.add_trace(
            go.Bar(
                name=name,
                orientation="h" if horizontal else "v",
                text=labels,
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{text}<extra>" + html.escape(name) + "</extra>",
                **bar,
            )
        )
    categories = {c for cats, _, _ in series.values() for c in cats}
    # wide enough for every bar's label: 58 px a category (bars of several series share one)
    width = (
        CHART_WIDTH if horizontal else min(PAGE_WIDTH, max(CHART_WIDTH, 58 * len(categories) + 150))
    )
    figure.update_layout(
        title={"text": html.escape(title), "x": 0.01},
        template="plotly_white",
        height=max(320, 28 * len(categories) + 140) if horizontal else 360,
        width=width,
        autosize=False,
        margin={"l": 70 if not horizontal else 200, "r": 50, "t": 60, "b": 110},
        showlegend=len(series) > 1,
        barmode=barmode,
        xaxis_title=x_title,
        yaxis_title=y_title,
        uniformtext={"mode": "show", "minsize": 9},
        font={"size": 11},
    )
    if horizontal:
        figure.update_yaxes(autorange="reversed")
    if value_range is not None:
        (figure.update_xaxes if horizontal else figure.update_yaxes)(range=list(value_range))
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=chart_id,
        default_width=f"{width}px",
        config={"displaylogo": False, "responsive": False},
    )


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{_e(summary)}</summary>{body}</details>"


def _chart(chart_id: str, figure_html: str) -> str:
    return f'<div class="chart" data-chart="{chart_id}">{figure_html}</div>'


def _match_rates(rows: list[Group]) -> dict[str, tuple[list[str], list, list]]:
    """One series: each group's match rate over all its currencies (a share of rows, so
    currencies add up)."""
    totals: dict[str, list[int]] = {}
    for g in rows:
        total = totals.setdefault(g.key, [0, 0])
        total[0] += g.compared
        total[1] += g.matched
    rates = {k: Decimal(m) / Decimal(c) if c else Decimal(0) for k, (c, m) in totals.items()}
    return {
        "match rate": (
            list(rates),
            [float(r * 100) for r in rates.values()],
            [f.percent(r) for r in rates.values()],
        )
    }


def _rate_range(rows: list[Group]) -> tuple[float, float]:
    """The value axis of a match-rate chart: from just below the lowest rate to 100 %, so that
    a rate of 99.2 % does not look like 100 %."""
    lowest = min((float(r) for r in _match_rates(rows)["match rate"][1]), default=100.0)
    return (max(0.0, math.floor(lowest - 0.5)), 100.0)


def _abs_deltas(rows: list[Group]) -> dict[str, tuple[list[str], list, list]]:
    """One series per currency (amounts of different currencies never add up) of each group's
    sum of |delta|; a zero is drawn without a label."""
    series: dict[str, tuple[list[str], list, list]] = {}
    for g in rows:
        cats, values, labels = series.setdefault(g.currency or "(none)", ([], [], []))
        cats.append(g.key)
        values.append(float(g.abs_delta))
        labels.append(f.money(g.abs_delta, g.currency, grouped=True) if g.abs_delta else "")
    return series


def _group_charts(prefix: str, label: str, rows: list[Group]) -> str:
    if not rows:
        return "<p>Nothing compared.</p>"
    return (
        '<div class="charts">'
        + _chart(
            f"chart-{prefix}-match",
            _bar_figure(
                f"chart-{prefix}-match",
                f"Match rate by {label}",
                label,
                "match rate (%)",
                _match_rates(rows),
                value_range=_rate_range(rows),
            ),
        )
        + _chart(
            f"chart-{prefix}-delta",
            _bar_figure(
                f"chart-{prefix}-delta",
                f"Sum of |delta| by {label}",
                label,
                "sum of |delta| (in the currency)",
                _abs_deltas(rows),
                # a currency's bar has that currency only: stacking adds nothing across them
                barmode="stack" if prefix == "currency" else "group",
            ),
        )
        + "</div>"
    )


def _group_table(
    rows: list[Group], key: str, with_model: bool = False, show_currency: bool = True
) -> str:
    headers = [key, *(["pricing model"] if with_model else [])]
    headers += [*(["currency"] if show_currency else []), "compared"]
    headers += ["matched", "match rate", "net delta", "sum of |delta|"]
    first = 1 + with_model + show_currency
    return _table(
        headers,
        [
            [
                g.key,
                *([g.model] if with_model else []),
                *([g.currency] if show_currency else []),
                f.count(g.compared),
                f.count(g.matched),
                f.percent(g.match_rate),
                f.money(g.net_delta, g.currency, grouped=True),
                f.money(g.abs_delta, g.currency, grouped=True),
            ]
            for g in rows
        ],
        numeric=range(first, first + 5),
    )


def _invoice_cells(r: dict) -> list[str]:
    cur = r["currency"]
    return [
        r["status"],
        f.text(r["customer_id"]),
        f.day(r["period_start"]),
        f.day(r["period_end"]),
        f.text(cur),
        f.text(r["legacy_invoice_id"]),
        f.text(r["invoice_id"]),
        f.money(r["legacy_total"], cur, grouped=True),
        f.money(r["generated_total"], cur, grouped=True),
        f.money(r["delta"], cur, grouped=True),
    ]


def _line_cells(r: dict) -> list[str]:
    cur = r["currency"]
    return [
        r["status"],
        f.text(r["cause"]),
        f.text(r["customer_id"]),
        f.day(r["period_start"]),
        f.text(cur),
        f.text(r["product_id"]),
        f.quantity(r["legacy_quantity"]),
        f.quantity(r["generated_quantity"]),
        f.money(r["legacy_amount"], cur, grouped=True),
        f.money(r["generated_amount"], cur, grouped=True),
        f.money(r["delta"], cur, grouped=True),
    ]


def _verdict_html(data: ReportData) -> str:
    kind = (
        "held"
        if data.signoff_held or data.signoff_stale
        else "waiting"
        if data.held == "approval"
        else "passed"
    )
    if not data.signoff:
        kind = "waiting"
    text = verdict(data).replace("**", "").replace("`", "")
    return f'<p class="verdict {kind}" id="verdict">{_e(text)}</p>'


def _top(data: ReportData) -> str:
    if not data.top:
        return "<p>None: every invoice matches.</p>"
    out = []
    for i, item in enumerate(data.top, start=1):
        inv = item.invoice
        out.append(
            f'<div class="discrepancy" id="discrepancy-{i}"><h3>{i}. {_e(inv["status"])}: '
            f"customer {_e(inv['customer_id'])}, {_e(f.day(inv['period_start']))} to "
            f"{_e(f.day(inv['period_end']))}, delta "
            f"{_e(f.money(inv['delta'], inv['currency'], grouped=True))} "
            f"{_e(inv['currency'])}</h3>"
        )
        out.append(_table(INVOICE_HEADERS, [_invoice_cells(inv)], numeric=(7, 8, 9)))
        if item.lines:
            out.append(
                _table(LINE_HEADERS, [_line_cells(r) for r in item.lines], numeric=range(6, 11))
            )
        for behind in data.usage_behind:
            line = behind.line
            if line not in item.lines:
                continue
            out.append(
                f"<p>Usage behind the quantity of <code>{_e(line['product_id'])}</code>: metric "
                f"<code>{_e(behind.metric_id)}</code> (event <code>{_e(behind.event_name)}"
                f"</code>), {_e(f.count(behind.events_total))} accepted events in the period; "
                f"legacy quantity {_e(f.quantity(line['legacy_quantity']))}, generated "
                f"{_e(f.quantity(line['generated_quantity']))}.</p>"
            )
            out.append(
                "<details><summary>Usage per day, as metering summed it</summary>"
                + _table(
                    ["day", "group", "events", "sum of values"],
                    [
                        [
                            f.day(d["day"]),
                            f.text(d["group_value"]),
                            f.count(d["events"]),
                            f.quantity(d["value_sum"]),
                        ]
                        for d in behind.daily
                    ],
                    numeric=(2, 3),
                )
                + "</details>"
            )
            out.append(
                f"<details open><summary>The first {len(behind.events)} events</summary>"
                + _table(
                    ["event", "at (UTC)", "properties"],
                    [
                        [f.text(e["event_id"]), f.instant(e["event_at"]), f.text(e["properties"])]
                        for e in behind.events
                    ],
                )
                + "</details>"
            )
        out.append("</div>")
    return "".join(out)


def render(data: ReportData) -> str:
    """The whole report as one HTML page, plotly's JavaScript included."""
    from plotly.offline import get_plotlyjs

    s = data.summary
    sections = [
        f"<h1>Parallel test report: {_e(data.company)}</h1>",
        f'<p class="meta">Generated {_e(f"{data.generated_at:%Y-%m-%d %H:%M}")} UTC. '
        f"Warehouse: <code>{_e(data.warehouse)}</code>. Parallel test window: "
        f"{_e(f.day(data.window[0]))} to {_e(f.day(data.window[1]))}.</p>",
        _verdict_html(data),
        '<h2 id="signoff">Sign-off</h2>',
        _table(
            ["criterion", "threshold", "observed", "passed"],
            [
                [
                    c["criterion"],
                    c["threshold"],
                    c["observed"],
                    _Raw('<span class="pass">yes</span>')
                    if c["passed"]
                    else _Raw('<span class="fail">NO</span>'),
                ]
                for c in data.signoff
            ],
            numeric=(2,),
        ),
    ]
    if data.approvals:
        sections += [
            "<p>Approvals (latest first):</p>",
            _table(
                ["approved by", "approved at (UTC)", "note"],
                [
                    [f.text(a["approved_by"]), f.instant(a["approved_at"]), f.text(a["note"])]
                    for a in data.approvals
                ],
            ),
        ]
    else:
        sections.append("<p>No approval recorded.</p>")
    if data.stages:
        sections += [
            "<h2>Stages</h2>",
            _table(
                ["stage", "result", "seconds"],
                [[st, r, f.seconds(t)] for st, r, t in data.stages],
                numeric=(2,),
            ),
        ]
    if s:
        sections += [
            "<h2>Compared</h2>",
            _table(
                [
                    "invoices compared",
                    "matched",
                    "match rate",
                    "amount mismatch",
                    "missing in generated",
                    "missing in legacy",
                    "duplicate in legacy",
                    "lines compared",
                    "lines matched",
                    "line match rate",
                ],
                [
                    [
                        f.count(s.get("invoices_compared")),
                        f.count(s.get("invoices_matched")),
                        f.percent(s.get("invoice_match_rate")),
                        f.count(s.get("invoices_mismatched")),
                        f.count(s.get("invoices_missing_in_generated")),
                        f.count(s.get("invoices_missing_in_legacy")),
                        f.count(s.get("invoices_duplicate_in_legacy")),
                        f.count(s.get("lines_compared")),
                        f.count(s.get("lines_matched")),
                        f.percent(s.get("line_match_rate")),
                    ]
                ],
                numeric=range(10),
            ),
        ]
    sections += [
        "<h2>By currency</h2>",
        "<p>Invoices. The net delta is the sign-off's total delta (Σ generated − Σ legacy); "
        "the sum of |delta| also shows differences that cancel out.</p>",
        _group_charts("currency", "currency", data.by_currency),
        _group_table(data.by_currency, "currency", show_currency=False),
        "<h2>By pricing model</h2>",
        "<p>Lines, by the pricing model of their product in the plan.</p>",
        _group_charts("model", "pricing model", data.by_model),
        _details(
            "Table: lines by pricing model and currency",
            _group_table(data.by_model, "pricing model"),
        ),
        "<h2>By product</h2>",
        _group_charts("product", "product", data.by_product),
        _details(
            "Table: lines by product and currency",
            _group_table(data.by_product, "product", with_model=True),
        ),
        "<h2>Distribution of invoice deltas</h2>",
        "<p>Generated − legacy, in the invoice's currency.</p>",
        _chart(
            "chart-delta-distribution",
            _bar_figure(
                "chart-delta-distribution",
                "Invoices by delta",
                "delta",
                "invoices",
                {
                    "invoices": (
                        [DELTA_BUCKETS[k] for k, _ in data.delta_buckets],
                        [n for _, n in data.delta_buckets],
                        [f.count(n) for _, n in data.delta_buckets],
                    )
                },
            ),
        ),
        "<h2>Causes</h2>",
        "<p><code>quantity</code>: the quantities differ (metering); <code>price</code>: only "
        "the amounts differ (pricing); <code>missing</code>: one side has no such line.</p>",
        _causes(data),
        '<h2 id="top">Top discrepancies</h2>',
        _top(data),
        "<h2>Journal differences per account</h2>",
        _chart(
            "chart-journal-accounts",
            _bar_figure(
                "chart-journal-accounts",
                "Sum of |delta| per account",
                "account",
                "sum of |delta| (in the currency)",
                _abs_deltas(data.journal_accounts),
            ),
        )
        if data.journal_accounts
        else "<p>No journal entries compared.</p>",
        _group_table(data.journal_accounts, "account"),
        "<h2>Quarantine</h2>",
        _quarantine(data),
        "<h2>Every invoice that does not match</h2>",
        f"<details><summary>{len(data.invoice_exceptions)} invoices</summary>"
        + _table(
            INVOICE_HEADERS,
            [_invoice_cells(r) for r in data.invoice_exceptions],
            numeric=(7, 8, 9),
        )
        + "</details>",
        "<h2>Every line that does not match</h2>",
        f"<details><summary>{len(data.line_exceptions)} lines</summary>"
        + _table(LINE_HEADERS, [_line_cells(r) for r in data.line_exceptions], numeric=range(6, 11))
        + "</details>",
    ]
    if data.data_docs:
        sections.append(
            f'<p class="meta">Great Expectations Data Docs (the validation results): '
            f'<a href="{_e(data.data_docs)}">{_e(data.data_docs)}</a></p>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Parallel test report: {_e(data.company)}</title>"
        f"<style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        "</head><body>" + "\n".join(sections) + "</body></html>\n"
    )


def _causes(data: ReportData) -> str:
    if not data.causes:
        return "<p>None: every line matches.</p>"
    counts: dict[str, int] = {}
    for cause, _, n, _ in data.causes:
        counts[cause] = counts.get(cause, 0) + n
    money: dict[str, tuple[list[str], list, list]] = {}
    for cause, cur, _, amount in data.causes:
        cats, values, labels = money.setdefault(cur, ([], [], []))
        cats.append(cause)
        values.append(float(amount))
        labels.append(f.money(amount, cur, grouped=True))
    return (
        '<div class="charts">'
        + _chart(
            "chart-cause-counts",
            _bar_figure(
                "chart-cause-counts",
                "Lines that do not match, by cause",
                "cause",
                "lines",
                {
                    "lines": (
                        list(counts),
                        list(counts.values()),
                        [f.count(n) for n in counts.values()],
                    )
                },
            ),
        )
        + _chart(
            "chart-cause-money",
            _bar_figure(
                "chart-cause-money",
                "Sum of |delta| by cause",
                "cause",
                "sum of |delta| (in the currency)",
                money,
            ),
        )
        + "</div>"
        + _table(
            ["cause", "currency", "lines", "sum of |delta|"],
            [[c, cur, f.count(n), f.money(a, cur, grouped=True)] for c, cur, n, a in data.causes],
            numeric=(2, 3),
        )
    )


def _quarantine(data: ReportData) -> str:
    out = ['<div class="charts">']
    if data.quarantined_events:
        out.append(
            _chart(
                "chart-quarantine-events",
                _bar_figure(
                    "chart-quarantine-events",
                    "Quarantined usage events by reason",
                    "events",
                    "",
                    {
                        "events": (
                            [r for r, _ in data.quarantined_events],
                            [n for _, n in data.quarantined_events],
                            [f.count(n) for _, n in data.quarantined_events],
                        )
                    },
                    horizontal=True,
                ),
            )
        )
    if data.quarantined_records:
        out.append(
            _chart(
                "chart-quarantine-records",
                _bar_figure(
                    "chart-quarantine-records",
                    "Quarantined master data by reason",
                    "records",
                    "",
                    {
                        dataset: (
                            [r for d, r, _ in data.quarantined_records if d == dataset],
                            [n for d, _, n in data.quarantined_records if d == dataset],
                            [f.count(n) for d, _, n in data.quarantined_records if d == dataset],
                        )
                        for dataset in dict.fromkeys(d for d, _, _ in data.quarantined_records)
                    },
                    horizontal=True,
                ),
            )
        )
    out.append("</div>")
    counts = [[d, *map(f.count, rest)] for d, *rest in data.record_counts]
    if data.event_counts is not None:
        counts.append(["usage_events", *map(f.count, data.event_counts)])
    out.append(
        _table(
            ["dataset", "received", "accepted (events: loaded)", "duplicates", "quarantined"],
            counts,
            numeric=(1, 2, 3, 4),
        )
    )
    out.append(
        _table(
            ["usage event reason", "events"],
            [[r, f.count(n)] for r, n in data.quarantined_events],
            numeric=(1,),
        )
    )
    out.append(
        _table(
            ["dataset", "reason", "records"],
            [[d, r, f.count(n)] for d, r, n in data.quarantined_records],
            numeric=(2,),
        )
    )
    return "".join(out)
