"""The pipeline against the reference biller on companies Hypothesis draws (strategies.py).

Each example is written as an onboarding bundle, read and billed from its files by the
reference biller, and run through the pipeline up to billing on DuckDB and on PostgreSQL: the
same invoices must exist on both sides, every total and line must agree to the cent, and both
must accept, count and quarantine the same rows for the same reasons.

A pipeline run costs about 20 s, so one example is one company with many contracts, examples
are few and derandomized, and shrinking is off: a failing example is reported whole (with the
folder of its bundle) and becomes an explicit regression test.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from .harness import compare_with_pipeline, explain, pipeline_examples, write_bundle
from .strategies import companies


@pytest.mark.slow
@pipeline_examples(3)
@given(company=companies())
def test_pipeline_agrees_with_the_reference_biller(company, new_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("company")
    plan_path = write_bundle(company, folder)
    problems = compare_with_pipeline(plan_path, new_warehouse())
    assert not problems, explain(problems, folder) + f"\n  {company!r}"
