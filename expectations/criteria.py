"""The sign-off criteria as one table: what each one reads, how it compares, where its threshold
comes from and how it is shown (docs/billing-rules.md §9.7).

Everything the sign-off does with a criterion is derived from its row in :data:`CRITERIA`: the
Great Expectations expectation (expectations/signoff.py), the exact decimal comparison that
decides the verdict, the threshold shown in ``sandbox.signoff`` and the observed value shown
beside it. The measures themselves are computed once, in SQL, in
``sandbox.parallel_test_summary`` (at 10 decimal places); nothing here recomputes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from golive.plan import Signoff

#: How a criterion compares the observed measure with its threshold.
Comparison = Literal[">=", "<=", "=="]
#: How its values are shown: a ratio or an amount (at most 6 places, more only where rounding
#: would hide the verdict), or a count.
Display = Literal["ratio", "amount", "count"]

_SHOWN_PLACES = 6


@dataclass(frozen=True)
class CriterionSpec:
    """One row of the criteria table."""

    #: the criterion's name, as in ``sandbox.signoff`` and the plan's ``signoff`` keys
    name: str
    #: the column of ``sandbox.parallel_test_summary`` it reads
    column: str
    comparison: Comparison
    #: the ``Signoff`` field that holds its threshold (a number; ``None`` leaves it out), or
    #: its switch (a bool: ``true`` requires it against ``fixed``); ``None``: always required
    plan_field: str | None
    display: Display
    #: the threshold of a criterion whose plan field is a switch, or that has none
    fixed: Decimal | None = None
    #: what a count criterion counts, shown with its threshold ("0 unbalanced invoices")
    unit: str = ""

    def threshold(self, signoff: Signoff) -> Decimal | None:
        """The threshold the plan sets, or ``None`` when the criterion is not required."""
        if self.plan_field is None:
            return self.fixed
        value = getattr(signoff, self.plan_field)
        if isinstance(value, bool):
            return self.fixed if value else None
        return None if value is None else Decimal(value)

    def passes(self, observed: Decimal, threshold: Decimal) -> bool:
        """The verdict: the observed measure against the threshold, exactly, in decimals."""
        if self.comparison == ">=":
            return observed >= threshold
        if self.comparison == "<=":
            return observed <= threshold
        return observed == threshold

    def shown_threshold(self, threshold: Decimal) -> str:
        """The threshold as ``sandbox.signoff`` shows it: ``>= 0.995``, ``0 unpriced usage
        groups``; a number as the plan wrote it."""
        if self.comparison == "==":
            return f"{_plain(threshold)} {self.unit}".strip()
        return f"{self.comparison} {_plain(threshold)}"

    def shown_observed(self, observed: Decimal, threshold: Decimal | None = None) -> str:
        """The observed measure as ``sandbox.signoff`` shows it: a count as a whole number, a
        ratio or an amount at most 6 decimal places without trailing zeros, and every place
        there is when 6 would look like a different verdict than the exact one."""
        if self.display == "count":
            return f"{observed:.0f}"
        shown = _trimmed(observed.quantize(Decimal(1).scaleb(-_SHOWN_PLACES), ROUND_HALF_EVEN))
        if threshold is not None and self.passes(Decimal(shown), threshold) != self.passes(
            observed, threshold
        ):
            return _trimmed(observed)
        return shown

    def margin(self, observed: Decimal, threshold: Decimal) -> Decimal:
        """``observed - threshold``, exactly: what GX checks against 0 (>= 0, <= 0 or = 0)."""
        return observed - threshold

    def expectation(self, threshold: Decimal) -> Any:
        """The Great Expectations expectation of this criterion at ``threshold``.

        GX compares with its bounds as floats, and 0.9 as a float is above 0.9: compared with
        the threshold itself, a rate hit exactly would fail. So GX checks the criterion's
        margin (``observed - threshold``, computed exactly in decimals, a column named after
        the criterion) against 0, which floats hold exactly: GX's verdict is the exact one."""
        import great_expectations.expectations as gxe

        bounds = {
            ">=": {"min_value": 0},
            "<=": {"max_value": 0},
            "==": {"min_value": 0, "max_value": 0},
        }[self.comparison]
        return gxe.ExpectColumnValuesToBeBetween(
            column=self.name,
            **bounds,
            meta={
                "criterion": self.name,
                "measure": self.column,
                "threshold": self.shown_threshold(threshold),
                "plan_field": self.plan_field or "(always checked)",
            },
            description=f"{self.name}: {self.column} {self.comparison} {_plain(threshold)} "
            f"(the margin, {self.column} - {_plain(threshold)}, {self.comparison} 0)",
        )


#: The sign-off criteria (docs/billing-rules.md §9.7, docs/plan-and-datasets.md "signoff").
CRITERIA: tuple[CriterionSpec, ...] = (
    CriterionSpec(
        "journal_must_balance",
        "unbalanced_invoices",
        "==",
        "journal_must_balance",
        "count",
        fixed=Decimal(0),
        unit="unbalanced invoices",
    ),
    CriterionSpec(
        "max_abs_journal_delta", "abs_journal_delta", "<=", "max_abs_journal_delta", "amount"
    ),
    # recognised revenue per currency, month and account (docs/accounting.md)
    CriterionSpec(
        "max_abs_revenue_schedule_delta",
        "abs_revenue_schedule_delta",
        "<=",
        "max_abs_revenue_schedule_delta",
        "amount",
    ),
    CriterionSpec("max_abs_total_delta", "abs_total_delta", "<=", "max_abs_total_delta", "amount"),
    CriterionSpec(
        "max_quarantined_event_ratio",
        "quarantined_event_ratio",
        "<=",
        "max_quarantined_event_ratio",
        "ratio",
    ),
    CriterionSpec(
        "min_invoice_match_rate", "invoice_match_rate", ">=", "min_invoice_match_rate", "ratio"
    ),
    CriterionSpec("min_line_match_rate", "line_match_rate", ">=", "min_line_match_rate", "ratio"),
    # usage that could not be priced is never signed off (docs/billing-rules.md §2.13)
    CriterionSpec(
        "no_pricing_errors",
        "pricing_errors",
        "==",
        None,
        "count",
        fixed=Decimal(0),
        unit="unpriced usage groups",
    ),
)

BY_NAME = {c.name: c for c in CRITERIA}


def required(signoff: Signoff) -> list[tuple[CriterionSpec, Decimal]]:
    """The criteria the plan requires, each with its threshold, in table order."""
    out = []
    for spec in CRITERIA:
        threshold = spec.threshold(signoff)
        if threshold is not None:
            out.append((spec, threshold))
    return out


def observed(summary: dict[str, Any], spec: CriterionSpec) -> Decimal:
    """The measure ``spec`` reads from the parallel test summary row (a missing value is 0)."""
    value = summary.get(spec.column)
    return Decimal(0) if value is None else Decimal(value)


def _plain(value: Decimal) -> str:
    """A decimal in positional notation, as written (``100.00``, ``0.995``, never ``1E-7``)."""
    return f"{value:f}"


def _trimmed(value: Decimal) -> str:
    """A decimal in positional notation without trailing zeros (``5.8``, ``0``)."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
