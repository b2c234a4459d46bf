"""Generate a realistic onboarding bundle: a demo company with its legacy billing output.

``generate_company`` writes everything a real onboarding would hand over
(docs/plan-and-datasets.md): the plan, customers, contracts, contract lines, a few hundred thousand
to millions of usage events in Parquet, and the legacy process's invoices, invoice lines and journal
entries for the parallel-test window. The parts, one module each:

- :mod:`golive.demo.catalogue`: metrics, products, overrides, dates and plan.yaml;
- :mod:`golive.demo.masterdata`: customers, contracts, contract lines, and the problem rows;
- :mod:`golive.demo.usage`: the events, column-wise, with a small share of bad rows;
- :mod:`golive.demo.legacy`: the legacy invoices, billed by the reference biller from the
  clean events, with the planted discrepancies the parallel test must find;
- :mod:`golive.demo.writing`: the files.

Everything depends on the seed only (never on today's date), so the same arguments write the
same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from golive.demo.catalogue import PRODUCTS
from golive.demo.legacy import bill_window, plant_discrepancies, total_delta
from golive.demo.masterdata import Company, make_company, plant_master_data_problems
from golive.demo.usage import make_usage
from golive.demo.writing import (
    write_events,
    write_expected_quarantine,
    write_legacy,
    write_master_data,
    write_plan,
)
from golive.reference.contracts import Product

MAX_CUSTOMERS = 2_500
#: Events per customer by default: enough customers that the parallel test compares about 800
#: invoices at 100,000 events, so one discrepancy of each kind keeps the match rate >= 99.5 %.
EVENTS_PER_CUSTOMER = 200


def generate_company(
    out_dir: Path,
    events: int = 1_000_000,
    customers: int | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """Write a complete onboarding bundle for a demo company into ``out_dir``.

    ``events`` is the number of usage rows written, bad rows included; ``customers`` defaults
    to ``max(40, events // 200)`` capped at 2,500. The same ``seed`` writes the same files.

    Returns a summary: ``plan`` (path of plan.yaml), ``customers`` and ``contracts`` (the
    accepted ones; the files also carry a repeated customer row and a conflicting contract),
    ``events`` (rows written), ``bad_rows`` (rows written per kind of defect),
    ``quarantine_expected`` (events the pipeline must quarantine: every row of a conflicting
    event id counts), ``duplicates_expected``, ``expected_quarantine`` (per dataset: received,
    accepted, duplicates, quarantined per reason, as written to
    legacy/expected_quarantine.json), ``invoices_in_window`` (correct invoices in the parallel
    test), ``legacy_invoices``, ``total_delta`` (per currency, correct minus legacy totals over
    the window) and ``injected`` (the discrepancies planted in the legacy output, as written to
    legacy/injected_discrepancies.csv).
    """
    if events < 100:
        raise ValueError("events must be at least 100")
    n_customers = customers or min(MAX_CUSTOMERS, max(40, events // EVENTS_PER_CUSTOMER))
    if not 1 <= n_customers < 90_000:
        raise ValueError("customers must be between 1 and 89,999")
    out = Path(out_dir)
    for sub in ("data/usage", "legacy"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    products = {p["id"]: Product.from_plan(p) for p in PRODUCTS}
    company = make_company(rng, n_customers)
    company.problems = plant_master_data_problems(company)
    generated = make_usage(rng, company, events)
    invoices = bill_window(company, products, generated.usage)
    legacy, injected = plant_discrepancies(rng, company, products, invoices)
    expected = _expected_quarantine(company, generated.expected_counts())

    plan_path = out / "plan.yaml"
    write_plan(plan_path)
    write_master_data(out / "data", company)
    write_events(out / "data/usage", generated.table)
    write_legacy(out / "legacy", legacy, injected)
    write_expected_quarantine(out / "legacy/expected_quarantine.json", expected)

    event_counts = expected["usage_events"]
    return {
        "plan": str(plan_path),
        "customers": len(company.customers),
        "contracts": len(company.contracts),
        "events": event_counts["received"],
        "bad_rows": generated.bad_rows,
        "quarantine_expected": sum(event_counts["quarantined"].values()),
        "duplicates_expected": event_counts["duplicates"],
        "expected_quarantine": expected,
        "invoices_in_window": len(invoices),
        "legacy_invoices": len(legacy),
        "total_delta": total_delta(invoices, legacy),
        "injected": injected,
    }


def _expected_quarantine(company: Company, events: dict[str, Any]) -> dict[str, Any]:
    """Per dataset: received, accepted, duplicates, quarantined per reason (and, for master
    data, the quarantined records' keys)."""
    problems = company.problems.expected
    received = {
        "customers": len(company.customers) + len(company.problems.customers),
        "contracts": len(company.contracts) + len(company.problems.contracts),
        "contract_lines": sum(len(lines) for lines in company.lines) + len(company.problems.lines),
    }
    result: dict[str, Any] = {}
    for dataset, n in received.items():
        found = problems[dataset]
        result[dataset] = {
            "received": n,
            "accepted": n - found["duplicates"] - sum(found["quarantined"].values()),
            **found,
        }
    result["usage_events"] = events
    return result
