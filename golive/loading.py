"""Sandbox load: every dataset of the plan into ``raw``, as received (all text).

Plain Python over :mod:`connectors`; the Dagster assets in ``orchestration.stages`` call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from connectors.sources import DATASET_COLUMNS, SourceSpec, open_source
from connectors.warehouse import Warehouse
from golive.plan import Plan
from golive.plan_tables import plan_tables


@dataclass(frozen=True)
class LoadResult:
    """What one dataset load did."""

    dataset: str
    rows: int
    connector: str | None
    location: str | None


def source_spec(plan: Plan, dataset: str) -> SourceSpec | None:
    """The connector settings of one dataset, or None when the plan has no source for it."""
    src = plan.sources.get(dataset)
    if src is None:
        return None
    location = plan.source_path(dataset) if src.connector in ("csv", "parquet") else src.table
    return SourceSpec(
        dataset=dataset,
        connector=src.connector,
        location=location or src.query or "",
        columns=dict(src.columns),
    )


def empty_dataset(dataset: str) -> pa.Table:
    """A dataset with the contract's columns and no rows (an optional source left out)."""
    required, optional = DATASET_COLUMNS[dataset]
    return pa.table({c: pa.array([], pa.string()) for c in required + optional})


def load_dataset(plan: Plan, warehouse: Warehouse, dataset: str) -> LoadResult:
    """Replace ``raw.<dataset>`` with the source's rows (an empty table when there is none)."""
    spec = source_spec(plan, dataset)
    if spec is None:
        rows = warehouse.load_arrow("raw", dataset, empty_dataset(dataset))
        return LoadResult(dataset, rows, None, None)
    with open_source(spec) as reader:
        rows = warehouse.load_arrow("raw", dataset, reader)
    return LoadResult(dataset, rows, spec.connector, spec.location)


def write_plan_tables(plan: Plan, warehouse: Warehouse) -> dict[str, int]:
    """Write the price book and settings to ``raw.plan_*``; return row counts per table."""
    return {name: warehouse.load_arrow("raw", name, t) for name, t in plan_tables(plan).items()}


def event_counts(warehouse: Warehouse) -> dict[str, int]:
    """received / loaded / duplicates / quarantined usage events, from the staging model."""
    rows = warehouse.query(
        "select status, count(*) from staging.int_usage_events_classified group by status"
    )
    by_status = {status: int(n) for status, n in rows}
    received = int(warehouse.scalar("select count(*) from raw.usage_events"))
    return {
        "received": received,
        "loaded": by_status.get("loaded", 0),
        "duplicates": by_status.get("duplicate", 0),
        "quarantined": by_status.get("quarantined", 0),
    }


def quarantine_reasons(warehouse: Warehouse) -> dict[str, int]:
    """Quarantined events per reason."""
    rows = warehouse.query(
        "select reason, count(*) from quarantine.usage_events group by reason order by 2 desc"
    )
    return {reason: int(n) for reason, n in rows}
