"""Writing a company as a bundle, running the pipeline on it, comparing with the reference.

:func:`compare_with_pipeline` runs the pipeline through billing and lists every disagreement
with the reference biller's reading of the same files (:func:`golive.reference.read_bundle`):

- invoices: the same ids on both sides, every total, and every line (product, amount,
  quantity) to the cent;
- usage events: received, loaded and duplicates, and quarantined rows per reason;
- master data: quarantined records per (dataset, reason) in ``quarantine.records``, their keys
  for customers and contracts, and per dataset received / accepted / duplicates /
  quarantined in ``sandbox.record_counts`` (docs/billing-rules.md §11.5);
- revenue recognition: every deferred line's schedule (date, days, amount) in
  ``sandbox.revenue_recognition``, and each recognition date's entry in ``journal_entries``
  (docs/accounting.md).
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from hypothesis import HealthCheck, Phase, settings

from connectors.warehouse import Warehouse, warehouse_from_url
from golive.reference import Bundle, Invoice, bill_bundle, read_bundle
from golive.reference.recognition import recognise, recognition_journal
from orchestration.runner import run_stages

from .strategies import (
    AS_OF,
    CONTRACT_COLUMNS,
    CUSTOMER_COLUMNS,
    EVENT_COLUMNS,
    LINE_COLUMNS,
    METRICS,
    Company,
)

MASTER_DATA = ("customers", "contracts", "contract_lines")


def _write_csv(path: Path, rows: list[dict[str, str]], header: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_bundle(company: Company, folder: Path) -> Path:
    """Write the company as an onboarding bundle (the generator's shape); return plan.yaml."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    plan = {
        "company": "Differential Test Co",
        "default_currency": "USD",
        "timezone": company.timezone,
        "as_of": AS_OF,
        "parallel_test": {"periods": {"from": date(2024, 5, 1), "to": AS_OF}},
        "sources": {
            "customers": {"connector": "csv", "path": "data/customers.csv"},
            "contracts": {"connector": "csv", "path": "data/contracts.csv"},
            "contract_lines": {"connector": "csv", "path": "data/contract_lines.csv"},
            "usage_events": {"connector": "parquet", "path": "data/usage.parquet"},
        },
        "metrics": METRICS,
        "products": company.products,
        "tax_codes": company.tax_codes,
        "coupons": company.coupons,
        "revenue_recognition": {"schedule": company.recognition},
        "signoff": {"min_invoice_match_rate": "0.5", "max_abs_total_delta": "1000000"},
    }
    plan_path = folder / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    _write_csv(folder / "data/customers.csv", company.customers, CUSTOMER_COLUMNS)
    _write_csv(folder / "data/contracts.csv", company.contracts, CONTRACT_COLUMNS)
    _write_csv(folder / "data/contract_lines.csv", company.lines, LINE_COLUMNS)
    write_events(company.events, folder / "data/usage.parquet")
    return plan_path


def write_events(events: list[dict[str, str]], path: Path) -> None:
    """Write usage events as the bundle's parquet file (every column text)."""
    table = pa.table({c: pa.array([e.get(c) for e in events], pa.string()) for c in EVENT_COLUMNS})
    pq.write_table(table, path)


def pipeline_examples(max_examples: int) -> settings:
    """Hypothesis settings for examples that are pipeline runs (seconds each): few and
    derandomized, no deadline, and no shrinking, so a failing example is reported whole."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def invoice_id(invoice: Invoice) -> str:
    """The pipeline's invoice id of a reference invoice: ``<contract>-<YYYYMMDD>``."""
    return f"{invoice.contract_id}-{invoice.period_start:%Y%m%d}"


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _lines_key(lines: list[tuple[str, Decimal, Decimal | None]]) -> list[tuple]:
    # a contract may buy one product twice: lines are compared as a sorted list
    return sorted(lines, key=lambda x: (x[0], x[1], x[2] is None, x[2] or 0))


def compare_invoices(bundle: Bundle, wh: Warehouse) -> list[str]:
    """Invoices and their lines, reference against ``sandbox.invoices``/``invoice_lines``."""
    expected = {invoice_id(i): i for i in bill_bundle(bundle)}
    got = {
        inv_id: _dec(total)
        for inv_id, total in wh.query("select invoice_id, total from sandbox.invoices")
    }
    got_lines: dict[str, list] = defaultdict(list)
    for inv_id, product_id, amount, quantity in wh.query(
        "select invoice_id, product_id, amount, quantity from sandbox.invoice_lines"
    ):
        got_lines[inv_id].append((product_id, _dec(amount), _dec(quantity)))

    problems = []
    for inv_id in sorted(expected.keys() - got.keys()):
        problems.append(
            f"{inv_id}: missing from the pipeline (reference total {expected[inv_id].total})"
        )
    for inv_id in sorted(got.keys() - expected.keys()):
        problems.append(f"{inv_id}: only in the pipeline (total {got[inv_id]})")
    for inv_id in sorted(expected.keys() & got.keys()):
        inv = expected[inv_id]
        want = [(line.product_id, line.amount, line.quantity) for line in inv.lines]
        if got[inv_id] != inv.total or _lines_key(got_lines[inv_id]) != _lines_key(want):
            problems.append(
                f"{inv_id}: total {got[inv_id]} (reference {inv.total}); lines "
                f"{_fmt(got_lines[inv_id])} (reference {_fmt(want)})"
            )
    return problems


def recognition_schedule(bundle: Bundle) -> str:
    """The plan's recognition schedule, as the reference reads the plan."""
    return str((bundle.plan.get("revenue_recognition") or {}).get("schedule") or "month_end")


def compare_recognition(bundle: Bundle, wh: Warehouse) -> list[str]:
    """Revenue recognition: per invoice and date, the deferred lines' (product, days, amount)
    against ``sandbox.revenue_recognition``, and the date's entry (Dr deferred revenue, Cr
    revenue) against ``journal_entries``."""
    schedule = recognition_schedule(bundle)
    want: dict[tuple[str, str], list] = defaultdict(list)
    want_entries: dict[tuple[str, str], tuple] = {}
    for invoice in bill_bundle(bundle):
        inv_id = invoice_id(invoice)
        for r in recognise(invoice, schedule):
            want[(inv_id, str(r.recognition_date))].append((r.product_id, r.days, r.amount))
        for day, (deferred, revenue) in recognition_journal(invoice, schedule).items():
            want_entries[(inv_id, str(day))] = (
                deferred.debit - deferred.credit,
                revenue.debit - revenue.credit,
            )
    got: dict[tuple[str, str], list] = defaultdict(list)
    for inv_id, day, product_id, days, amount in wh.query(
        "select invoice_id, recognition_date, product_id, days, amount "
        "from sandbox.revenue_recognition"
    ):
        got[(inv_id, str(day))].append((product_id, int(days), _dec(amount)))
    got_entries: dict[tuple[str, str], list] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for inv_id, day, account, net in wh.query(
        "select invoice_id, entry_date, account, sum(debit - credit) from "
        "sandbox.journal_entries where posting = 'revenue_recognition' "
        "group by invoice_id, entry_date, account"
    ):
        got_entries[(inv_id, str(day))][0 if account == "deferred_revenue" else 1] += _dec(net)
    problems = []
    for key in sorted(set(want) | set(got)):
        if sorted(want.get(key, [])) != sorted(got.get(key, [])):
            problems.append(
                f"revenue_recognition {key[0]} {key[1]}: {sorted(got.get(key, []))} "
                f"(reference {sorted(want.get(key, []))})"
            )
    for key in sorted(set(want_entries) | set(got_entries)):
        g = tuple(got_entries[key]) if key in got_entries else None
        if g != want_entries.get(key):
            problems.append(
                f"recognition entry {key[0]} {key[1]}: deferred/revenue net {g} "
                f"(reference {want_entries.get(key)})"
            )
    return problems


def compare_events(bundle: Bundle, wh: Warehouse) -> list[str]:
    """What happened to the usage events: counts per status and quarantined per reason."""
    want = bundle.counts["usage_events"]
    status = {s: int(n) for s, n in wh.query(_COUNT_BY_STATUS)}
    got = {
        "received": int(wh.scalar("select count(*) from raw.usage_events")),
        "loaded": status.get("loaded", 0),
        "duplicates": status.get("duplicate", 0),
    }
    expected = {"received": want.received, "loaded": want.accepted, "duplicates": want.duplicates}
    problems = [
        f"usage_events {k}: {got[k]} (reference {expected[k]})"
        for k in got
        if got[k] != expected[k]
    ]
    reasons = Counter({r: int(n) for r, n in wh.query(f"{_QUARANTINED_EVENTS} group by reason")})
    if reasons != want.quarantined:
        problems.append(
            f"usage_events quarantined per reason: {dict(sorted(reasons.items()))} "
            f"(reference {dict(sorted(want.quarantined.items()))})"
        )
        got_ids = defaultdict(list)
        for event_id, reason in wh.query("select event_id, reason from quarantine.usage_events"):
            got_ids[reason].append(event_id)
        want_ids = defaultdict(list)
        for event_id, reason in want.records:
            want_ids[reason].append(event_id)
        for reason in sorted(set(got_ids) | set(want_ids)):
            only_got = sorted(map(str, Counter(got_ids[reason]) - Counter(want_ids[reason])))
            only_want = sorted(map(str, Counter(want_ids[reason]) - Counter(got_ids[reason])))
            if only_got or only_want:
                problems.append(
                    f"  {reason}: pipeline only {only_got[:8]}, reference only {only_want[:8]}"
                )
    return problems


_COUNT_BY_STATUS = (
    "select status, count(*) from staging.int_usage_events_classified group by status"
)
_QUARANTINED_EVENTS = "select reason, count(*) from quarantine.usage_events"


def _reason(reason: str) -> str:
    # the pipeline writes an invalid override's validation message as its reason
    return "invalid_price_override" if reason.startswith("price_override") else reason


def compare_records(bundle: Bundle, wh: Warehouse) -> list[str]:
    """Master data: quarantined records per (dataset, reason) and their keys, and the counts
    per dataset in ``sandbox.record_counts``."""
    got: dict[tuple[str, str], list[str]] = defaultdict(list)
    for dataset, key, reason in wh.query(
        "select dataset, record_key, reason from quarantine.records"
    ):
        got[(dataset, _reason(reason))].append(key or "")
    want: dict[tuple[str, str], list[str]] = defaultdict(list)
    for dataset in MASTER_DATA:
        for key, reason in bundle.counts[dataset].records:
            want[(dataset, reason)].append(key or "")
    problems = []
    for dataset, reason in sorted(set(got) | set(want)):
        g, w = got[(dataset, reason)], want[(dataset, reason)]
        if len(g) != len(w) or (dataset != "contract_lines" and sorted(g) != sorted(w)):
            problems.append(
                f"quarantine.records {dataset}/{reason}: {len(g)} {sorted(g)[:8]} "
                f"(reference {len(w)} {sorted(w)[:8]})"
            )
    problems += _compare_record_counts(bundle, wh)
    return problems


def _compare_record_counts(bundle: Bundle, wh: Warehouse) -> list[str]:
    if not wh.table_exists("sandbox", "record_counts"):
        return [
            "sandbox.record_counts: no such table (docs/billing-rules.md §11.5 counts master-data "
            "duplicates there: received = accepted + duplicates + quarantined)"
        ]
    columns = wh.columns("sandbox", "record_counts")
    wanted = [c for c in ("received", "accepted", "duplicates", "quarantined") if c in columns]
    rows = wh.query(f"select dataset, {', '.join(wanted)} from sandbox.record_counts")
    got = {row[0]: dict(zip(wanted, (int(v) for v in row[1:]), strict=True)) for row in rows}
    problems = [] if "duplicates" in wanted else ["sandbox.record_counts: no duplicates column"]
    for dataset in MASTER_DATA:
        c = bundle.counts[dataset]
        reference = {
            "received": c.received,
            "accepted": c.accepted,
            "duplicates": c.duplicates,
            "quarantined": c.total_quarantined,
        }
        want = {k: reference[k] for k in wanted}
        if got.get(dataset) != want:
            problems.append(
                f"sandbox.record_counts {dataset}: {got.get(dataset)} (reference {want})"
            )
    return problems


def compare_with_pipeline(plan_path: Path, warehouse_url: str) -> list[str]:
    """Run the pipeline through billing; return every disagreement with the reference biller
    (an empty list when they agree on invoices, events, master data and recognition)."""
    bundle = read_bundle(plan_path)
    run = run_stages(
        plan_path, warehouse_url, through="billing", log_path=plan_path.parent / "golive-run.log"
    )
    if not run.success:
        return [f"the pipeline failed: {[(s.stage, s.error) for s in run.stages if not s.success]}"]
    wh = warehouse_from_url(warehouse_url)
    return (
        compare_invoices(bundle, wh)
        + compare_events(bundle, wh)
        + compare_records(bundle, wh)
        + compare_recognition(bundle, wh)
    )


def _fmt(lines: list[tuple[str, Decimal, Decimal | None]]) -> str:
    def one(p: str, a: Decimal, q: Decimal | None) -> str:
        quantity = "" if q is None else f" x {q.normalize():f}"
        return f"{p}: {a.normalize():f}{quantity}"

    return "{" + ", ".join(one(*x) for x in _lines_key(lines)) + "}"


def explain(problems: list[str], folder: Path) -> str:
    """The assertion message: how many disagreements, the first ones, where the bundle is."""
    shown = "\n  ".join(problems[:20])
    more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
    return f"{len(problems)} disagreement(s); the bundle is in {folder}\n  {shown}{more}"


def company_of(
    products: list[dict[str, Any]],
    contracts: list[dict[str, str]],
    lines: list[dict[str, str]],
    events: list[tuple[str, str, str, dict[str, Any] | str]] = (),
    *,
    timezone: str = "UTC",
) -> Company:
    """A hand-made company: contracts and lines give only their non-empty columns, each
    contract has its own customer ``C-<contract_id>``; events are ``(contract_id, event_name,
    timestamp, properties)`` with properties as a mapping (written as JSON) or as text."""
    company = Company(products, timezone=timezone)
    for c in contracts:
        row = {"customer_id": f"C-{c['contract_id']}", "billing_period": "P1M", **c}
        company.contracts.append({k: row.get(k, "") for k in CONTRACT_COLUMNS})
        known = any(x["customer_id"] == row["customer_id"] for x in company.customers)
        if row["customer_id"].strip() and not known:
            company.customers.append(
                {"customer_id": row["customer_id"], "name": row["customer_id"], "currency": ""}
            )
    company.lines = [{k: line.get(k, "") for k in LINE_COLUMNS} for line in lines]
    for n, (contract_id, name, timestamp, props) in enumerate(events):
        company.events.append(
            {
                "event_id": f"evt_{n:06d}",
                "customer_id": f"C-{contract_id}",
                "event_name": name,
                "timestamp": timestamp,
                "properties": props if isinstance(props, str) else json.dumps(props),
            }
        )
    return company
