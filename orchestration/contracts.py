"""Input data contracts as asset checks on the raw datasets (expectations/contracts.py).

Per raw dataset, ``input_contract`` checks its rules (keys present and unique, required
fields, accepted values, known currencies, references) and warns: golive quarantines bad rows
itself, so a broken rule names the rows but does not stop the run. ``usable_rows`` (contracts,
legacy invoices) and ``events_received`` (usage) block, with severity ERROR, where a bad input
would make the parallel test meaningless. ``daily_volume`` warns about days without usage and
days far above the median, once the events are typed and deduplicated.

The checks are listed as assets of the stage's ``Definitions`` so that a run of the stage's
asset group (orchestration/runner.py materializes ``defs.assets``) runs them too.
"""

from collections.abc import Iterator

import dagster as dg

from expectations.contracts import (
    DATASETS,
    ContractResult,
    check_daily_volume,
    check_dataset,
    check_datasets,
    rules,
)
from expectations.evidence import working_folder
from orchestration.resources import WarehouseResource

MASTER_DATASETS = tuple(d for d in DATASETS if d != "usage_events")
USAGE_KEY = dg.AssetKey(["raw", "usage_events"])
WARN_CHECK = "input_contract"
BLOCKING_CHECK = "usable_rows"


def _summary(dataset: str, blocking: bool) -> str:
    chosen = [r for r in rules("duckdb")[dataset] if r.blocking == blocking]
    return "; ".join(r.summary for r in chosen)


def _specs() -> list[dg.AssetCheckSpec]:
    specs = []
    for dataset in MASTER_DATASETS:
        key = dg.AssetKey(["raw", dataset])
        specs.append(
            dg.AssetCheckSpec(
                WARN_CHECK,
                asset=key,
                description=f"The {dataset} contract (warns; golive quarantines bad rows): "
                + _summary(dataset, blocking=False),
            )
        )
        if any(r.blocking for r in rules("duckdb")[dataset]):
            specs.append(
                dg.AssetCheckSpec(
                    BLOCKING_CHECK,
                    asset=key,
                    blocking=True,
                    description="Blocks: without it the parallel test means nothing. "
                    + _summary(dataset, blocking=True),
                )
            )
    return specs


def _metadata(result: ContractResult, blocking: bool) -> dict[str, dg.MetadataValue]:
    chosen = [r for r in result.results if r.rule.blocking == blocking]
    metadata: dict[str, dg.MetadataValue] = {
        "received_rows": dg.MetadataValue.int(result.rows),
        **{r.rule.name: dg.MetadataValue.int(r.observed) for r in chosen},
    }
    failing = [r for r in chosen if not r.passed]
    if failing:
        lines = ["| rule | found | rows |", "|---|---|---|"]
        for r in failing:
            named = "; ".join(
                f"{label} ({n} row{'s' if n != 1 else ''}{', ' + detail if detail else ''})"
                for label, n, detail in r.examples
            )
            lines.append(f"| {r.rule.name} | {r.observed} | {named.replace('|', '/')} |")
        metadata["failing_rows"] = dg.MetadataValue.md("\n".join(lines))
    if result.docs is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(result.docs))
    return metadata


def _check_result(
    result: ContractResult, blocking: bool, name: str | None = None
) -> dg.AssetCheckResult:
    failing = result.failing(blocking)
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(["raw", result.dataset]),
        check_name=name or (BLOCKING_CHECK if blocking else WARN_CHECK),
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata=_metadata(result, blocking),
        description=(
            f"{result.dataset}: " + "; ".join(r.line() for r in failing)
            if failing
            else f"{result.dataset}: every rule holds ({result.rows} rows)"
        ),
    )


@dg.multi_asset_check(
    specs=_specs(),
    name="master_data_contracts",
    can_subset=True,
    description="Input data contracts of the master and legacy datasets (GX, on SQL profiles).",
    pool="warehouse",
)
def master_data_contracts(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    """Profile each raw dataset in the warehouse and validate its contract with GX."""
    wh = warehouse.get()
    selected = context.selected_asset_check_keys
    wanted = {
        dataset: [
            name
            for name in (WARN_CHECK, BLOCKING_CHECK)
            if dg.AssetCheckKey(dg.AssetKey(["raw", dataset]), name) in selected
        ]
        for dataset in MASTER_DATASETS
    }
    datasets = [d for d in MASTER_DATASETS if wanted[d]]
    for result in check_datasets(wh, datasets, working_folder()):
        for name in wanted[result.dataset]:
            yield _check_result(result, blocking=name == BLOCKING_CHECK)


@dg.asset_check(
    asset=USAGE_KEY,
    name="events_received",
    blocking=True,
    description="Blocks: at least one usage event was received (all batches together).",
    pool="warehouse",
)
def usage_events_received(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """No usage at all makes the parallel test meaningless: the run stops here."""
    result = check_dataset(warehouse.get(), "usage_events", working_folder())
    return _check_result(result, blocking=True, name="events_received")


@dg.asset_check(
    asset=USAGE_KEY,
    name="daily_volume",
    additional_deps=[dg.AssetKey(["sandbox", "usage_events"])],
    description="Warns: accepted events per day of the plan's zone, over the first to the last "
    "day with events: no day without events, no day above 10x the median day.",
    pool="warehouse",
)
def usage_daily_volume(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Per-day volumes of the accepted usage, counted in the warehouse."""
    volume = check_daily_volume(warehouse.get(), working_folder())
    lines = volume.lines()
    metadata: dict[str, dg.MetadataValue] = {
        "days": dg.MetadataValue.int(len(volume.days)),
        "median_events_per_day": dg.MetadataValue.float(float(volume.median)),
        "days_without_events": dg.MetadataValue.int(len(volume.zero_days)),
        "spike_days": dg.MetadataValue.int(len(volume.spike_days)),
    }
    if volume.days:
        metadata["first_day"] = dg.MetadataValue.text(str(volume.days[0][0]))
        metadata["last_day"] = dg.MetadataValue.text(str(volume.days[-1][0]))
    if volume.docs is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(volume.docs))
    return dg.AssetCheckResult(
        passed=volume.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description="; ".join(lines) if lines else f"{len(volume.days)} days, every one has events",
    )


def definitions() -> dg.Definitions:
    """The input contract checks (as assets: see the module's docstring)."""
    return dg.Definitions(assets=[master_data_contracts, usage_events_received, usage_daily_volume])
