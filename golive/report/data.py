"""What the parallel test report shows, read from the warehouse with bounded queries.

Every query here either groups in the warehouse (a handful of rows per currency, product,
account, reason) or is limited (the top discrepancies, the exception lists, the events behind
a quantity mismatch). Raw events are never read whole. The Markdown and HTML renderings
(:mod:`golive.report.markdown`, :mod:`golive.report.html`) take the :class:`ReportData` this
module builds and nothing else, so they can be tested without a warehouse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.warehouse import Warehouse
from golive.currencies import MINOR_UNITS
from golive.plan import RESERVED_PRODUCT_IDS, Plan

#: rows of each exception list (invoices, lines that do not match)
MAX_ROWS = 200
#: invoices in "top discrepancies"
TOP_INVOICES = 10
#: quantity mismatches whose usage is shown, and events shown for each
EVENT_LINES = 3
EVENTS_PER_LINE = 10
#: daily usage rows shown per quantity mismatch (a period has at most 366 days)
MAX_DAILY_ROWS = 400

#: invoice delta buckets (key -> label), in the invoice's currency
DELTA_BUCKETS = {
    -5: "below -1000",
    -4: "-1000 to -100",
    -3: "-100 to -10",
    -2: "-10 to -1",
    -1: "-1 to 0",
    0: "matched",
    1: "0 to 1",
    2: "1 to 10",
    3: "10 to 100",
    4: "100 to 1000",
    5: "above 1000",
}


@dataclass
class Group:
    """Compared rows of one group (a currency, a product, a pricing model, an account)."""

    key: str
    currency: str
    compared: int
    matched: int
    net_delta: Decimal
    abs_delta: Decimal
    model: str = ""

    @property
    def match_rate(self) -> Decimal:
        return Decimal(self.matched) / Decimal(self.compared) if self.compared else Decimal(0)


@dataclass
class Discrepancy:
    """One of the top invoices that do not match, with its lines and the usage behind them."""

    invoice: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UsageBehind:
    """The usage behind a quantity mismatch: the line, its metric, the daily pieces metering
    summed, and the first events (bounded)."""

    line: dict[str, Any]
    metric_id: str
    event_name: str
    events_total: int
    daily: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReportData:
    """Everything the report shows."""

    company: str
    window: tuple[dt.date, dt.date]
    generated_at: dt.datetime
    warehouse: str
    #: (stage, result, seconds) when a run is reported
    stages: list[tuple[str, str, float]] = field(default_factory=list)
    #: why the migration was held back: "signoff", "approval" or None
    held: str | None = None
    signoff: list[dict[str, Any]] = field(default_factory=list)
    #: the tables that changed since the sign-off was checked (it describes another sandbox)
    signoff_stale: list[str] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    by_currency: list[Group] = field(default_factory=list)
    by_product: list[Group] = field(default_factory=list)
    by_model: list[Group] = field(default_factory=list)
    #: (bucket key, invoices)
    delta_buckets: list[tuple[int, int]] = field(default_factory=list)
    #: (cause, currency, lines, Σ|delta|)
    causes: list[tuple[str, str, int, Decimal]] = field(default_factory=list)
    top: list[Discrepancy] = field(default_factory=list)
    usage_behind: list[UsageBehind] = field(default_factory=list)
    journal_accounts: list[Group] = field(default_factory=list)
    #: (reason, events)
    quarantined_events: list[tuple[str, int]] = field(default_factory=list)
    #: (dataset, reason, records)
    quarantined_records: list[tuple[str, str, int]] = field(default_factory=list)
    #: dataset -> received, accepted, duplicates, quarantined
    record_counts: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    #: received, loaded, duplicates, quarantined (None when not counted)
    event_counts: tuple[int, int, int, int] | None = None
    invoice_exceptions: list[dict[str, Any]] = field(default_factory=list)
    line_exceptions: list[dict[str, Any]] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def signoff_held(self) -> bool:
        """The sign-off held the migration back (a criterion failed)."""
        return self.held == "signoff" or any(not c["passed"] for c in self.signoff)


def minor_unit(currency: str | None) -> int:
    """Decimal places of a currency's amounts (2 for one golive does not know)."""
    return MINOR_UNITS.get((currency or "").upper(), 2)


def _groups(rows: list[tuple], with_model: bool = False) -> list[Group]:
    out = []
    for row in rows:
        if with_model:
            key, model, currency, compared, matched, net, absolute = row
        else:
            key, currency, compared, matched, net, absolute = row
            model = ""
        out.append(
            Group(
                key=str(key),
                currency=str(currency or ""),
                compared=int(compared),
                matched=int(matched or 0),
                net_delta=Decimal(net or 0),
                abs_delta=Decimal(absolute or 0),
                model=str(model or ""),
            )
        )
    return out


def _model_expr(alias: str) -> str:
    reserved = ", ".join(f"'{p}'" for p in RESERVED_PRODUCT_IDS)
    return (
        f"case when {alias}.product_id in ({reserved}) then 'adjustment lines' "
        "else coalesce(products.model, 'not in the price book') end"
    )


_PRODUCTS = (
    "left join (select product_id, max(model) as model from raw.plan_products "
    "where contract_id is null group by product_id) as products "
    "on lines.product_id = products.product_id"
)

_COUNTED = (
    "count(*), sum(case when {t}.status = 'matched' then 1 else 0 end), sum({t}.delta), "
    "sum(abs({t}.delta))"
)


def read_report_data(
    wh: Warehouse,
    plan: Plan,
    *,
    stages: list[tuple[str, str, float]] | None = None,
    held: str | None = None,
    data_docs: str | None = None,
) -> ReportData:
    """Read what the report shows from the warehouse (any table not there yet is left out)."""
    data = ReportData(
        company=plan.company,
        window=(plan.parallel_test.periods.from_, plan.parallel_test.periods.to),
        generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        warehouse=wh.display_url,
        stages=list(stages or []),
        held=held,
        data_docs=data_docs,
    )
    has = wh.table_exists
    if has("sandbox", "signoff"):
        data.signoff = [
            {"criterion": c, "threshold": t, "observed": o, "passed": bool(p)}
            for c, t, o, p in wh.query(
                "select criterion, threshold, observed, passed from sandbox.signoff "
                "order by criterion"
            )
        ]
    if has("audit", "approvals"):
        data.approvals = [
            {"approved_by": b, "approved_at": a, "note": n}
            for b, a, n in wh.query(
                "select approved_by, approved_at, note from audit.approvals "
                "order by approved_at desc limit 5"
            )
        ]
    if has("sandbox", "parallel_test_summary"):
        rows = wh.query_arrow("select * from sandbox.parallel_test_summary").to_pylist()
        data.summary = rows[0] if rows else {}
    if has("sandbox", "reconciliation_invoices"):
        _read_invoices(wh, data)
    if has("sandbox", "reconciliation_lines"):
        _read_lines(wh, data)
    if has("sandbox", "reconciliation_journal"):
        data.journal_accounts = _groups(
            wh.query(
                f"select journal.account, journal.currency, {_COUNTED.format(t='journal')} "
                "from sandbox.reconciliation_journal as journal "
                "group by journal.account, journal.currency order by journal.currency, "
                "journal.account"
            )
        )
    _read_quarantine(wh, data)
    return data


def _read_invoices(wh: Warehouse, data: ReportData) -> None:
    data.by_currency = _groups(
        wh.query(
            f"select invoices.currency, invoices.currency, {_COUNTED.format(t='invoices')} "
            "from sandbox.reconciliation_invoices as invoices "
            "group by invoices.currency order by invoices.currency"
        )
    )
    buckets = " ".join(
        f"when delta {op} {edge} then {key}"
        for key, op, edge in (
            (-5, "<", -1000),
            (-4, "<", -100),
            (-3, "<", -10),
            (-2, "<", -1),
            (-1, "<", 0),
            (1, "<=", 1),
            (2, "<=", 10),
            (3, "<=", 100),
            (4, "<=", 1000),
        )
    )
    data.delta_buckets = [
        (int(k), int(n))
        for k, n in wh.query(
            "select bucket, count(*) from (select case when status = 'matched' then 0 "
            f"{buckets} else 5 end as bucket from sandbox.reconciliation_invoices) as buckets "
            "group by bucket order by bucket"
        )
    ]
    columns = (
        "status, customer_id, period_start, period_end, currency, legacy_invoice_id, "
        "invoice_id, contract_id, legacy_total, generated_total, delta"
    )
    data.top = [
        Discrepancy(invoice=row)
        for row in wh.query_arrow(
            f"select {columns} from sandbox.reconciliation_invoices where status <> 'matched' "
            "order by abs(delta) desc, customer_id, period_start, coalesce(invoice_id, ''), "
            f"coalesce(legacy_invoice_id, '') limit {TOP_INVOICES}"
        ).to_pylist()
    ]
    data.invoice_exceptions = wh.query_arrow(
        f"select {columns} from sandbox.reconciliation_invoices where status <> 'matched' "
        "order by status, customer_id, period_start, coalesce(invoice_id, ''), "
        f"coalesce(legacy_invoice_id, '') limit {MAX_ROWS}"
    ).to_pylist()


_LINE_COLUMNS = (
    "status, cause, customer_id, period_start, period_end, currency, legacy_invoice_id, "
    "invoice_id, product_id, legacy_quantity, generated_quantity, legacy_amount, "
    "generated_amount, delta"
)


def _read_lines(wh: Warehouse, data: ReportData) -> None:
    data.by_product = _groups(
        wh.query(
            f"select lines.product_id, {_model_expr('lines')}, lines.currency, "
            f"{_COUNTED.format(t='lines')} from sandbox.reconciliation_lines as lines "
            f"{_PRODUCTS} group by lines.product_id, {_model_expr('lines')}, lines.currency "
            "order by lines.product_id, lines.currency"
        ),
        with_model=True,
    )
    data.by_model = _groups(
        wh.query(
            f"select {_model_expr('lines')}, lines.currency, {_COUNTED.format(t='lines')} "
            f"from sandbox.reconciliation_lines as lines {_PRODUCTS} "
            f"group by {_model_expr('lines')}, lines.currency order by 1, 2"
        )
    )
    data.causes = [
        (str(c), str(cur), int(n), Decimal(a or 0))
        for c, cur, n, a in wh.query(
            "select cause, currency, count(*), sum(abs(delta)) from sandbox.reconciliation_lines "
            "where status <> 'matched' group by cause, currency order by cause, currency"
        )
    ]
    data.line_exceptions = wh.query_arrow(
        f"select {_LINE_COLUMNS} from sandbox.reconciliation_lines where status <> 'matched' "
        f"order by cause, customer_id, period_start, product_id limit {MAX_ROWS}"
    ).to_pylist()
    p = wh.param
    for item in data.top:
        inv = item.invoice
        item.lines = [
            dict(zip([c.strip() for c in _LINE_COLUMNS.split(",")], r, strict=True))
            for r in wh.query(
                f"select {_LINE_COLUMNS} from sandbox.reconciliation_lines "
                f"where coalesce(invoice_id, '') = {p} and coalesce(legacy_invoice_id, '') = {p} "
                "and status <> 'matched' order by product_id",
                [inv["invoice_id"] or "", inv["legacy_invoice_id"] or ""],
            )
        ]
    quantity_lines = [
        (item, line) for item in data.top for line in item.lines if line["cause"] == "quantity"
    ][:EVENT_LINES]
    for item, line in quantity_lines:
        behind = _usage_behind(wh, item.invoice, line)
        if behind is not None:
            data.usage_behind.append(behind)


def _usage_behind(wh: Warehouse, invoice: dict, line: dict) -> UsageBehind | None:
    """The daily usage and the first events of the line's metric for its customer and period."""
    p = wh.param
    found = wh.query(
        "select metrics.metric_id, metrics.event_name from raw.plan_products as products "
        "inner join raw.plan_metrics as metrics on products.metric_id = metrics.metric_id "
        f"where products.product_id = {p} and products.contract_id is null",
        [line["product_id"]],
    )
    if not found:
        return None
    metric_id, event_name = found[0]
    window = [invoice["customer_id"], line["period_start"], line["period_end"]]
    behind = UsageBehind(line=line, metric_id=metric_id, event_name=event_name, events_total=0)
    if wh.table_exists("staging", "int_usage_daily"):
        behind.daily = [
            {"day": d, "group_value": g, "events": int(n), "value_sum": s}
            for d, g, n, s in wh.query(
                "select event_day, group_value, event_count, value_sum "
                f"from staging.int_usage_daily where customer_id = {p} and metric_id = {p} "
                f"and event_day >= {p} and event_day < {p} order by event_day, group_value "
                f"limit {MAX_DAILY_ROWS}",
                [window[0], metric_id, *window[1:]],
            )
        ]
    if wh.table_exists("sandbox", "usage_events"):
        where = (
            f"where customer_id = {p} and event_name = {p} and event_day >= {p} and event_day < {p}"
        )
        params = [window[0], event_name, *window[1:]]
        # the daily pieces count the events already; the view is counted only without them
        behind.events_total = (
            sum(d["events"] for d in behind.daily)
            if behind.daily
            else int(wh.scalar(f"select count(*) from sandbox.usage_events {where}", params) or 0)
        )
        behind.events = [
            {"event_id": e, "event_at": a, "properties": props}
            for e, a, props in wh.query(
                "select event_id, event_at, properties from sandbox.usage_events "
                f"{where} order by event_at, event_id limit {EVENTS_PER_LINE}",
                params,
            )
        ]
    return behind


def _read_quarantine(wh: Warehouse, data: ReportData) -> None:
    if wh.table_exists("quarantine", "usage_events"):
        data.quarantined_events = [
            (str(r), int(n))
            for r, n in wh.query(
                "select reason, count(*) from quarantine.usage_events group by reason "
                "order by 2 desc, 1"
            )
        ]
    if wh.table_exists("quarantine", "records"):
        data.quarantined_records = [
            (str(d), str(r), int(n))
            for d, r, n in wh.query(
                "select dataset, reason, count(*) from quarantine.records "
                "group by dataset, reason order by dataset, 3 desc, reason"
            )
        ]
    if wh.table_exists("sandbox", "record_counts"):
        data.record_counts = [
            (str(d), int(r), int(a), int(du), int(q))
            for d, r, a, du, q in wh.query(
                "select dataset, received, accepted, duplicates, quarantined "
                "from sandbox.record_counts order by dataset"
            )
        ]
    if wh.table_exists("sandbox", "usage_event_counts"):
        row = wh.query(
            "select coalesce(sum(received), 0), coalesce(sum(loaded), 0), "
            "coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0) "
            "from sandbox.usage_event_counts"
        )[0]
        data.event_counts = tuple(int(v) for v in row)  # type: ignore[assignment]
