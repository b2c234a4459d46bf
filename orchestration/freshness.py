"""Whether billing, the parallel test and the sign-off describe the usage there is now.

The nightly job refreshes the usage models only; billing, the parallel test and the sign-off
are rebuilt by the next ``golive run`` (or a materialization in the UI). Until then they
describe older usage. Each of the three notes the usage it was built on (golive/usage.py,
:func:`~golive.usage.record_built_on`), and an asset check, ``built_on_current_usage``, on
``sandbox/invoices``, ``sandbox/parallel_test_summary`` and ``sandbox/signoff`` says whether
usage has arrived since. The checks run with their stage (they pass then) and at the end of
every nightly run, after the usage models (they warn then, naming what arrived and what to
run), so that nobody signs off on yesterday's usage without knowing it.
"""

from __future__ import annotations

import dagster as dg

from golive.usage import usage_since
from orchestration.checks import SIGNOFF_KEY
from orchestration.resources import WarehouseResource

CHECK = "built_on_current_usage"

#: the stage that builds each checked asset, and the asset
CHECKED = {
    "billing": dg.AssetKey(["sandbox", "invoices"]),
    "parallel_test": dg.AssetKey(["sandbox", "parallel_test_summary"]),
    "signoff": SIGNOFF_KEY,
}
#: after these in a run that has them (the nightly job): the usage they compare with is final
AFTER = [dg.AssetKey(["sandbox", "usage_aggregates"])]

_WHAT = {
    "billing": "the invoices",
    "parallel_test": "the parallel test",
    "signoff": "the sign-off",
}


def _check(stage: str, key: dg.AssetKey) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name=CHECK,
        additional_deps=AFTER,
        blocking=False,
        description=f"Warns when usage events arrived after {_WHAT[stage]} were built (a "
        "nightly run refreshes usage only): run billing, the parallel test and the sign-off "
        "again before signing off.",
    )
    def _built_on_current_usage(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        since = usage_since(warehouse.get(), stage)
        metadata = {
            "built_on_batch": since.built_on,
            "newest_batch": since.newest,
            "events_since": since.events,
        }
        if since.current:
            return dg.AssetCheckResult(passed=True, metadata=metadata)
        if since.built_on is None:
            text = f"{_WHAT[stage]} were never built in this warehouse"
        else:
            text = (
                f"{_WHAT[stage]} were built on usage up to batch {since.built_on}; "
                f"{since.events:,} events arrived since (through batch {since.newest})"
            )
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{text[0].upper()}{text[1:]}: run billing, the parallel test and "
            "the sign-off again (golive run PLAN) before signing off.",
            metadata=metadata,
        )

    return _built_on_current_usage


CHECKS = [_check(stage, key) for stage, key in CHECKED.items()]


def checks_selection() -> dg.AssetSelection:
    """The three checks, for the nightly job."""
    return dg.AssetSelection.checks(*CHECKS)
