"""The sign-off gate as a Great Expectations suite, thresholds from the plan's ``signoff``.

GX validates the parallel test's one-row summary (``sandbox.parallel_test_summary``), a table
bounded whatever the data size, fetched as a pandas frame: the same suite runs for every
warehouse (GX cannot validate DuckDB tables through SQL, STACK.md). Each expectation carries
its criterion's name, threshold and observed value, which become the rows of ``signoff``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from golive.plan import Signoff


@dataclass(frozen=True)
class Criterion:
    """One sign-off criterion, checked."""

    criterion: str
    threshold: str
    observed: str
    passed: bool


def observed_measures(summary: dict[str, Any]) -> dict[str, Decimal]:
    """The measures the criteria look at, from the parallel test summary row."""
    compared = Decimal(summary["invoices_compared"] or 0)
    matched = Decimal(summary["invoices_matched"] or 0)
    received = Decimal(summary["events_received"] or 0)
    quarantined = Decimal(summary["events_quarantined"] or 0)
    return {
        "invoice_match_rate": (matched / compared) if compared else Decimal(0),
        "abs_total_delta": Decimal(summary["abs_total_delta"] or 0),
        "unbalanced_invoices": Decimal(summary["unbalanced_invoices"] or 0),
        "quarantined_event_ratio": (quarantined / received) if received else Decimal(0),
        "pricing_errors": Decimal(summary.get("pricing_errors") or 0),
    }


def _sqlalchemy_url(url: str) -> str:
    """The warehouse URL with the psycopg2 driver named, as GX's SQLAlchemy engine needs."""
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def _suite(thresholds: Signoff) -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="golive_signoff")
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="invoice_match_rate",
            min_value=float(thresholds.min_invoice_match_rate),
            meta={
                "criterion": "min_invoice_match_rate",
                "threshold": f">= {thresholds.min_invoice_match_rate}",
            },
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="abs_total_delta",
            max_value=float(thresholds.max_abs_total_delta),
            meta={
                "criterion": "max_abs_total_delta",
                "threshold": f"<= {thresholds.max_abs_total_delta}",
            },
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="quarantined_event_ratio",
            max_value=float(thresholds.max_quarantined_event_ratio),
            meta={
                "criterion": "max_quarantined_event_ratio",
                "threshold": f"<= {thresholds.max_quarantined_event_ratio}",
            },
        )
    )
    # usage that could not be priced is never signed off (DOMAIN.md §2)
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="pricing_errors",
            value_set=[0],
            meta={"criterion": "no_pricing_errors", "threshold": "0 unpriced usage groups"},
        )
    )
    if thresholds.journal_must_balance:
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(
                column="unbalanced_invoices",
                value_set=[0],
                meta={"criterion": "journal_must_balance", "threshold": "0 unbalanced invoices"},
            )
        )
    return suite


def validate_signoff(
    summary: dict[str, Any], thresholds: Signoff, postgres_url: str | None = None
) -> list[Criterion]:
    """Run the sign-off suite; one :class:`Criterion` per rule.

    On a PostgreSQL warehouse (``postgres_url``) GX validates ``sandbox.parallel_test_summary``
    through SQL, where it lives; elsewhere it validates the same row as a pandas frame (GX
    cannot read DuckDB through SQL). Either way the thresholds are also checked exactly.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    measures = observed_measures(summary)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if postgres_url:
        # the generic SQL source: it also takes socket URLs (?host=/dir), the PostgreSQL one not
        source = context.data_sources.add_sql(
            "golive_warehouse", connection_string=_sqlalchemy_url(postgres_url)
        )
        batch = (
            source.add_table_asset(
                "parallel_test_summary", table_name="parallel_test_summary", schema_name="sandbox"
            )
            .add_batch_definition_whole_table("summary")
            .get_batch()
        )
    else:
        # the comparison runs on floats inside GX; the thresholds are checked exactly below
        frame = pd.DataFrame({k: [float(v)] for k, v in measures.items()})
        batch = (
            context.data_sources.add_pandas("golive")
            .add_dataframe_asset("parallel_test_summary")
            .add_batch_definition_whole_dataframe("summary")
            .get_batch(batch_parameters={"dataframe": frame})
        )
    result = batch.validate(_suite(thresholds))
    column_measure = {
        "invoice_match_rate": "invoice_match_rate",
        "abs_total_delta": "abs_total_delta",
        "quarantined_event_ratio": "quarantined_event_ratio",
        "unbalanced_invoices": "unbalanced_invoices",
        "pricing_errors": "pricing_errors",
    }
    exact = {
        "min_invoice_match_rate": measures["invoice_match_rate"]
        >= thresholds.min_invoice_match_rate,
        "max_abs_total_delta": measures["abs_total_delta"] <= thresholds.max_abs_total_delta,
        "max_quarantined_event_ratio": measures["quarantined_event_ratio"]
        <= thresholds.max_quarantined_event_ratio,
        "journal_must_balance": measures["unbalanced_invoices"] == 0,
        "no_pricing_errors": measures["pricing_errors"] == 0,
    }
    criteria = []
    for r in result.results:
        meta = r.expectation_config.meta or {}
        name = meta["criterion"]
        observed = measures[column_measure[r.expectation_config.kwargs["column"]]]
        counted = name in ("journal_must_balance", "no_pricing_errors")
        shown = f"{observed:.0f}" if counted else f"{observed:.6f}"
        criteria.append(
            Criterion(
                criterion=name,
                threshold=meta["threshold"],
                observed=shown.rstrip("0").rstrip(".") if "." in shown else shown,
                passed=bool(r.success) and exact[name],
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
