"""The sign-off gate as a Great Expectations suite built from the criteria table.

The measures come from the parallel test's one-row summary (``sandbox.parallel_test_summary``,
computed once in SQL). GX validates each required criterion's margin (observed - threshold,
exact) against 0: through SQL on PostgreSQL, as a pandas frame elsewhere (GX cannot validate
DuckDB tables through SQL, docs/stack.md). The suite, the exact decimal verdict and what
``sandbox.signoff`` shows all come from one row per criterion in :mod:`expectations.criteria`;
the result is kept in the working folder's GX project with its Data Docs
(:mod:`expectations.evidence`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.warehouse import Warehouse
from expectations.criteria import BY_NAME, observed, required
from expectations.evidence import reads_sql, validate
from golive.plan import Signoff

DECIMAL = pa.decimal128(38, 10)

SUITE_NAME = "golive_signoff"


@dataclass(frozen=True)
class Criterion:
    """One sign-off criterion, checked."""

    criterion: str
    threshold: str
    observed: str
    passed: bool
    #: the measure and the threshold as numbers (for metadata and reports)
    observed_value: Decimal | None = None
    threshold_value: Decimal | None = None


class SignoffDisagreement(RuntimeError):
    """GX and the exact decimal comparison disagree on a criterion: a defect, never a verdict."""


def expectations(thresholds: Signoff) -> list[Any]:
    """The sign-off suite: one expectation per criterion the plan requires."""
    return [spec.expectation(threshold) for spec, threshold in required(thresholds)]


#: where the margins GX validates are written on PostgreSQL and Snowflake (GX reads them
#: through SQL)
MARGINS_TABLE = ("staging", "signoff_margins")


def margins(summary: dict[str, Any], thresholds: Signoff) -> pa.Table:
    """One row: per required criterion, its margin (observed - threshold), exactly."""
    columns = {}
    for spec, threshold in required(thresholds):
        columns[spec.name] = pa.array([spec.margin(observed(summary, spec), threshold)], DECIMAL)
    return pa.table(columns)


def validate_signoff(
    summary: dict[str, Any],
    thresholds: Signoff,
    warehouse: Warehouse | None = None,
    folder: str | Path | None = None,
) -> list[Criterion]:
    """Run the sign-off suite on the summary row; one :class:`Criterion` per required rule.

    The verdict is the exact decimal comparison of the criteria table. GX checks the same
    comparison, as a margin against 0 (exact in floats too), and keeps the evidence: on a
    PostgreSQL or Snowflake ``warehouse`` through SQL on ``staging.signoff_margins``, elsewhere
    as a pandas frame. Should GX and the exact comparison ever disagree,
    :class:`SignoffDisagreement` is raised rather than a verdict given.
    """
    table = margins(summary, thresholds)
    sql = reads_sql(warehouse)
    if sql:
        warehouse.load_arrow(*MARGINS_TABLE, table)
    validation = validate(
        SUITE_NAME,
        expectations(thresholds),
        frame=None if sql else table.to_pandas(),
        table=MARGINS_TABLE,
        warehouse=warehouse,
        folder=folder,
    )
    criteria = []
    for result in validation.results:
        spec = BY_NAME[result.expectation_config.meta["criterion"]]
        threshold = spec.threshold(thresholds)
        assert threshold is not None  # only required criteria are in the suite
        value = observed(summary, spec)
        passed = spec.passes(value, threshold)
        if bool(result.success) != passed:
            raise SignoffDisagreement(
                f"{spec.name}: GX says {'pass' if result.success else 'fail'}, the exact "
                f"comparison {value} {spec.comparison} {threshold} says the opposite"
            )
        criteria.append(
            Criterion(
                criterion=spec.name,
                threshold=spec.shown_threshold(threshold),
                observed=spec.shown_observed(value, threshold),
                passed=passed,
                observed_value=value,
                threshold_value=threshold,
            )
        )
    return criteria


def signoff_rows(criteria: list[Criterion], checked_at: dt.datetime) -> dict[str, list]:
    """The ``signoff`` table's columns for a list of checked criteria."""
    return {
        "criterion": [c.criterion for c in criteria],
        "threshold": [c.threshold for c in criteria],
        "observed": [c.observed for c in criteria],
        "passed": [c.passed for c in criteria],
        "checked_at": [checked_at for _ in criteria],
    }
