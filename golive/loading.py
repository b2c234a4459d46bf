"""Sandbox load: every dataset of the plan into ``raw``, as received (all text).

Plain Python over :mod:`connectors`; the Dagster assets in ``orchestration.stages`` call it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyarrow as pa

from connectors.sources import DATASET_COLUMNS, SourceSpec, open_source
from connectors.warehouse import Warehouse, quote_ident
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
    return SourceSpec(
        dataset=dataset,
        connector=src.connector,
        location=plan.source_path(dataset) or src.location,
        columns=dict(src.columns),
        settings=src,
    )


def empty_dataset(dataset: str) -> pa.Table:
    """A dataset with the contract's columns and no rows (an optional source left out)."""
    required, optional = DATASET_COLUMNS[dataset]
    return pa.table({c: pa.array([], pa.string()) for c in required + optional})


WATERMARKS = "source_watermarks"


def _watermark(warehouse: Warehouse, dataset: str) -> str | None:
    if not (warehouse.table_exists("raw", WATERMARKS) and warehouse.table_exists("raw", dataset)):
        return None
    return warehouse.scalar(
        f"select watermark from raw.{WATERMARKS} where dataset = {warehouse.param}", [dataset]
    )


def _load_incremental(warehouse: Warehouse, spec: SourceSpec) -> int:
    """Append what is new since the watermark; rows already in ``raw`` are not added again."""
    spec = replace(spec, watermark=_watermark(warehouse, spec.dataset))
    incoming = f"_incoming_{spec.dataset}"
    with open_source(spec) as reader:
        pulled = warehouse.load_arrow("raw", incoming, reader)
    required, optional = DATASET_COLUMNS[spec.dataset]
    columns = ", ".join(quote_ident(c) for c in required + optional)
    same = " and ".join(
        f"r.{quote_ident(c)} is not distinct from i.{quote_ident(c)}" for c in required + optional
    )
    with warehouse.connect() as con:
        run = warehouse.run_in
        if spec.watermark is None:  # first pull: the table is what was pulled
            run(con, f"drop table if exists raw.{quote_ident(spec.dataset)}")
            run(
                con,
                f"create table raw.{quote_ident(spec.dataset)} as select {columns} "
                f"from raw.{incoming} where false",
            )
        run(
            con,
            f"insert into raw.{quote_ident(spec.dataset)} ({columns}) select {columns} "
            f"from raw.{incoming} as i where not exists (select 1 from "
            f"raw.{quote_ident(spec.dataset)} as r where {same})",
        )
        run(
            con,
            f"create table if not exists raw.{WATERMARKS} (dataset varchar, "
            "column_name varchar, watermark varchar, pulled_rows bigint)",
        )
        if pulled:
            newest = warehouse.fetch_in(
                con, f"select cast(max(_watermark) as varchar) from raw.{incoming}", None
            )[0][0]
            run(
                con,
                f"delete from raw.{WATERMARKS} where dataset = {warehouse.param}",
                [spec.dataset],
            )
            run(
                con,
                f"insert into raw.{WATERMARKS} values ({', '.join([warehouse.param] * 4)})",
                [spec.dataset, spec.settings.incremental_column, newest, pulled],
            )
        run(con, f"drop table raw.{incoming}")
        return int(
            warehouse.fetch_in(con, f"select count(*) from raw.{quote_ident(spec.dataset)}", None)[
                0
            ][0]
        )


def load_dataset(plan: Plan, warehouse: Warehouse, dataset: str) -> LoadResult:
    """Replace ``raw.<dataset>`` with the source's rows (an empty table when there is none).

    A source with ``incremental_column`` is pulled incrementally: only rows past the stored
    watermark are read, and rows already loaded are not added again.
    """
    spec = source_spec(plan, dataset)
    if spec is not None and spec.settings.incremental_column:
        rows = _load_incremental(warehouse, spec)
        return LoadResult(dataset, rows, spec.connector, spec.location)
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
