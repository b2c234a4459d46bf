"""Sandbox load: every dataset of the plan into ``raw``, as received (all text).

Plain Python over :mod:`connectors`; the Dagster assets in ``orchestration.stages`` call it.

Master data and the legacy datasets are replaced whole on every load (one transaction each).
Usage events arrive in **batches**: ``raw.usage_events`` keeps every row ever received, each
with the batch that brought it (``_batch``) and its place in arrival order (``_received_no``,
only growing), so that staging can classify exactly what is new and an event id seen on an
earlier day is recognised when it arrives again. A source without ``incremental_column`` is
read whole each time: its batch replaces everything (a full reload, and a full rebuild of the
usage models), except for files (a glob of CSV or Parquet files, where events arrive as new
files beside the old ones): when every file an earlier pull read is still there unchanged (size
and modification time, ``raw.source_files``), only the new files are read and appended; one
changed or removed file reloads them all. A source with ``incremental_column`` appends what is
new since the watermark (``raw.source_watermarks``), compared in the column's real type.
``raw.usage_batches`` says, per batch, what the pull read, loaded and skipped.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pyarrow as pa

from connectors.snowflake import IN_PLACE_LABEL, InPlaceRead, in_place_read
from connectors.sources import (
    DATASET_COLUMNS,
    SourceError,
    SourceSpec,
    Watermark,
    WatermarkTracker,
    file_list,
    nul_refused,
    open_source,
)
from connectors.warehouse import Warehouse, quote_ident
from golive.plan import Plan
from golive.plan_tables import plan_tables

USAGE = "usage_events"
WATERMARKS = "source_watermarks"
BATCHES = "usage_batches"
FILES = "source_files"


@dataclass(frozen=True)
class LoadResult:
    """What one dataset load did: rows now in ``raw``, and for a usage batch what the pull
    read, loaded (appended) and skipped (rows already loaded at the watermark). ``path``
    says how the rows came: ``in place`` (a Snowflake source copied by a Snowflake warehouse
    in its account) or ``through golive`` (with the reason when in place was possible in
    principle)."""

    dataset: str
    rows: int
    connector: str | None
    location: str | None
    batch: int | None = None
    mode: str | None = None
    read: int | None = None
    loaded: int | None = None
    skipped: int | None = None
    path: str = "through golive"


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


def load_dataset(plan: Plan, warehouse: Warehouse, dataset: str) -> LoadResult:
    """Load one dataset into ``raw``: usage events as a batch (:func:`load_usage_events`),
    any other dataset replaced whole (an empty table when the plan has no source for it)."""
    if dataset == USAGE:
        return load_usage_events(plan, warehouse)
    spec = source_spec(plan, dataset)
    if spec is None:
        rows = warehouse.load_arrow("raw", dataset, empty_dataset(dataset))
        return LoadResult(dataset, rows, None, None)
    in_place = _in_place(spec, warehouse)
    if isinstance(in_place, InPlaceRead):
        rows = warehouse.load_select(
            "raw", dataset, in_place.select(spec), check=_refuse_nul_in(warehouse, spec)
        )
        return LoadResult(dataset, rows, spec.connector, spec.location, path="in place")
    with open_source(spec) as reader:
        rows = warehouse.load_arrow("raw", dataset, reader)
    return LoadResult(dataset, rows, spec.connector, spec.location, path=_through(in_place))


# ------------------------------------------------------------------------- reading in place


def _in_place(spec: SourceSpec, warehouse: Warehouse) -> InPlaceRead | str | None:
    """How a Snowflake warehouse reads a Snowflake source of its own account in place, or
    why it does not (None: not a Snowflake source on a Snowflake warehouse)."""
    if spec.connector != "snowflake" or warehouse.dialect != "snowflake":
        return None
    return in_place_read(spec, warehouse)


def _through(reason: str | None) -> str:
    return "through golive" + (f" ({reason})" if reason else "")


def _refuse_nul_in(warehouse: Warehouse, spec: SourceSpec):
    """A check of rows copied in place: refuse a NUL character (``\\x00``), as
    :func:`connectors.sources.refuse_nul` does for the rows that go through golive."""
    required, optional = DATASET_COLUMNS[spec.dataset]

    def check(con, table: str) -> None:
        found = [
            f"case when contains({quote_ident(c)}, char(0)) then '{c}' end"
            for c in required + optional
        ]
        rows = warehouse.fetch_in(
            con,
            f"select coalesce({', '.join(found)}) from {table} "
            f"where coalesce({', '.join(found)}) is not null limit 1",
            None,
        )
        if rows:
            raise nul_refused(spec.dataset, f"column {rows[0][0]}")

    return check


# ------------------------------------------------------------------------------ usage batches


def _state_tables(warehouse: Warehouse) -> None:
    warehouse.execute(
        "create schema if not exists raw; "
        f"create table if not exists raw.{BATCHES} (batch_no bigint, loaded_at timestamp, "
        "mode varchar, connector varchar, location varchar, rows_read bigint, "
        "rows_loaded bigint, rows_skipped bigint, watermark_before varchar, "
        "watermark_after varchar, files_read bigint); "
        f"create table if not exists raw.{WATERMARKS} (dataset varchar, column_name varchar, "
        "kind varchar, watermark varchar); "
        f"create table if not exists raw.{FILES} (dataset varchar, path varchar, "
        "size_bytes bigint, modified_ns bigint, batch_no bigint)"
    )


def _previous_watermark(warehouse: Warehouse, column: str) -> Watermark | None:
    rows = warehouse.query(
        f"select kind, watermark, column_name from raw.{WATERMARKS} "
        f"where dataset = {warehouse.param}",
        [USAGE],
    )
    if not rows or not warehouse.table_exists("raw", USAGE):
        return None
    kind, value, previous_column = rows[0]
    if previous_column != column:
        return None  # another column now: pull everything again
    return Watermark(kind, value)


def _file_state(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _known_files(warehouse: Warehouse) -> dict[str, tuple[int, int]]:
    rows = warehouse.query(
        f"select path, size_bytes, modified_ns from raw.{FILES} where dataset = {warehouse.param}",
        [USAGE],
    )
    return {path: (size, modified) for path, size, modified in rows}


def _stamped(
    reader: pa.RecordBatchReader,
    batch_no: int,
    first_no: int,
    tracker: WatermarkTracker | None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The rows with their batch and arrival number, in the order the source gave them; the
    tracker sees the watermark column go by."""
    required, optional = DATASET_COLUMNS[USAGE]
    contract = list(required + optional)
    fields = [pa.field(c, pa.string()) for c in contract] + [
        pa.field("_watermark", pa.string()),
        pa.field("_batch", pa.int64()),
        pa.field("_received_no", pa.int64()),
    ]
    schema = pa.schema(fields)

    def batches() -> Iterator[pa.RecordBatch]:
        next_no = first_no
        for batch in reader:
            n = batch.num_rows
            if n == 0:
                continue
            names = batch.schema.names
            if "_watermark" in names:
                watermark = batch.column(names.index("_watermark"))
                if tracker is not None:
                    tracker.observe(watermark)
                watermark = watermark.cast(pa.string())
            else:
                watermark = pa.nulls(n, pa.string())
            columns = [batch.column(names.index(c)) for c in contract]
            columns += [
                watermark,
                pa.array([batch_no] * n, pa.int64()),
                pa.array(range(next_no, next_no + n), pa.int64()),
            ]
            next_no += n
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return schema, batches()


def load_usage_events(plan: Plan, warehouse: Warehouse) -> LoadResult:
    """Pull the usage events as the next batch of ``raw.usage_events``.

    Without ``incremental_column`` a database source is read whole and its batch replaces
    every row (the usage models are then rebuilt); so are files, unless every file read before
    is unchanged, when only the new files are read and appended. With it, only rows at or past
    the watermark are read (in the column's type), files of a glob that earlier pulls read whole
    and that have not changed are not opened again, rows identical to ones already loaded at the
    watermark are skipped, and the rest are appended. All of it lands in one transaction.
    """
    spec = source_spec(plan, USAGE)
    if spec is None:  # required by the plan model; kept for direct calls
        raise SourceError("usage_events: the plan has no source for usage events")
    _state_tables(warehouse)
    column = spec.settings.incremental_column
    batch_no = int(warehouse.scalar(f"select coalesce(max(batch_no), 0) from raw.{BATCHES}")) + 1
    in_place = _in_place(spec, warehouse)
    label = IN_PLACE_LABEL if isinstance(in_place, InPlaceRead) else spec.connector
    exists = warehouse.table_exists("raw", USAGE)
    # a source now read another way (another connector, or in place instead of through golive)
    # writes its values' text another way: everything is read again, never mixed
    same_path = exists and _last_connector(warehouse) == label
    appending = bool(column) and same_path
    previous = _previous_watermark(warehouse, column) if appending else None
    appending = appending and previous is not None
    files: list[str] = []
    if spec.connector in ("csv", "parquet"):
        present = file_list(spec)
        known = _known_files(warehouse) if exists else {}
        unchanged = {path for path in present if known.get(path) == _file_state(path)}
        if not column:
            # new files beside ones read before, all of them as they were: append the new ones
            appending = same_path and bool(known) and unchanged == set(known)
        if appending:
            spec = replace(spec, skip_files=frozenset(unchanged))
        files = file_list(spec)
    spec = replace(spec, watermark=previous)
    tracker = WatermarkTracker(USAGE, column, previous) if column else None
    first_no = 1
    if appending:
        first_no = (
            int(warehouse.scalar("select coalesce(max(_received_no), 0) from raw.usage_events")) + 1
        )
    incoming = "_incoming_usage_events"
    if isinstance(in_place, InPlaceRead):
        read = _usage_in_place(warehouse, spec, in_place, incoming, batch_no, first_no, tracker)
    else:
        with open_source(spec) as reader:
            schema, batches = _stamped(reader, batch_no, first_no, tracker)
            read = warehouse.load_arrow(
                "raw", incoming, pa.RecordBatchReader.from_batches(schema, batches)
            )
    after = tracker.watermark() if tracker else None
    if previous is not None and (after is None or _less(after, previous)):
        after = previous
    run, fetch, p = warehouse.run_in, warehouse.fetch_in, warehouse.param
    target = f"raw.{quote_ident(USAGE)}"
    with warehouse.connect() as con:
        skipped = 0
        if appending and not column:
            run(con, f"insert into {target} select * from raw.{incoming}")
            run(con, f"drop table raw.{incoming}")
        elif appending:
            # rows at the watermark were read again (ties); those already loaded are skipped
            contract = list(DATASET_COLUMNS[USAGE][0] + DATASET_COLUMNS[USAGE][1])
            same = " and ".join(
                f"r.{quote_ident(c)} is not distinct from i.{quote_ident(c)}"
                for c in [*contract, "_watermark"]
            )
            tie = f"r._watermark = i._watermark and {same}"
            skipped = int(
                fetch(
                    con,
                    f"select count(*) from raw.{incoming} as i "
                    f"where exists (select 1 from {target} as r where {tie})",
                    None,
                )[0][0]
            )
            run(
                con,
                f"delete from raw.{incoming} as i where exists "
                f"(select 1 from {target} as r where {tie})",
            )
            run(con, f"insert into {target} select * from raw.{incoming}")
            run(con, f"drop table raw.{incoming}")
        else:
            run(con, f"drop table if exists {target}")
            run(con, f"alter table raw.{incoming} rename to {quote_ident(USAGE)}")
            run(con, f"delete from raw.{FILES} where dataset = {p}", [USAGE])
        loaded = read - skipped
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        run(
            con,
            f"insert into raw.{BATCHES} values ({', '.join([p] * 11)})",
            [
                batch_no,
                now,
                "append" if appending else "full",
                label,
                spec.location,
                read,
                loaded,
                skipped,
                previous.value if previous else None,
                after.value if after else None,
                len(files) if files else None,
            ],
        )
        if column:
            run(con, f"delete from raw.{WATERMARKS} where dataset = {p}", [USAGE])
            if after is not None:
                run(
                    con,
                    f"insert into raw.{WATERMARKS} values ({p}, {p}, {p}, {p})",
                    [USAGE, column, after.kind, after.value],
                )
        for path in files:
            size, modified = _file_state(path)
            run(con, f"delete from raw.{FILES} where dataset = {p} and path = {p}", [USAGE, path])
            run(
                con,
                f"insert into raw.{FILES} values ({p}, {p}, {p}, {p}, {p})",
                [USAGE, path, size, modified, batch_no],
            )
        rows = int(fetch(con, f"select count(*) from {target}", None)[0][0])
    return LoadResult(
        USAGE,
        rows,
        spec.connector,
        spec.location,
        batch=batch_no,
        mode="append" if appending else "full",
        read=read,
        loaded=loaded,
        skipped=skipped,
        path="in place" if isinstance(in_place, InPlaceRead) else _through(in_place),
    )


def _last_connector(warehouse: Warehouse) -> str | None:
    """How the latest usage batch was read (its connector, or ``snowflake (in place)``)."""
    rows = warehouse.query(
        f"select connector from raw.{BATCHES} where batch_no = "
        f"(select max(batch_no) from raw.{BATCHES})"
    )
    return rows[0][0] if rows else None


def _usage_in_place(
    warehouse: Warehouse,
    spec: SourceSpec,
    read: InPlaceRead,
    incoming: str,
    batch_no: int,
    first_no: int,
    tracker: WatermarkTracker | None,
) -> int:
    """The batch copied in place into ``raw.<incoming>``, with its batch and arrival numbers
    (in a deterministic order: by the incremental column, then the values); the tracker sees
    the greatest value of the incremental column among the rows copied, in its own type."""
    required, optional = DATASET_COLUMNS[USAGE]
    watermark = '"_watermark"' if tracker else 'cast(null as varchar) as "_watermark"'
    value = ', "_watermark_value"' if tracker else ""
    select = (
        f"select {', '.join(quote_ident(c) for c in required + optional)}, {watermark}, "
        f'cast({batch_no} as bigint) as "_batch", '
        f"cast({first_no - 1} + row_number() over (order by {read.order}) as bigint) "
        f'as "_received_no"{value} '
        f"from ({read.select(spec)}) as golive_rows"
    )
    rows = warehouse.load_select("raw", incoming, select, check=_refuse_nul_in(warehouse, spec))
    if tracker:
        tracker.refuse_missing(
            int(
                warehouse.scalar(
                    f'select count(*) from raw.{incoming} where "_watermark_value" is null'
                )
            )
        )
        tracker.observe(
            warehouse.query_arrow(f'select max("_watermark_value") from raw.{incoming}').column(0)
        )
        warehouse.execute(f'alter table raw.{incoming} drop column "_watermark_value"')
    return rows


def _less(a: Watermark, b: Watermark) -> bool:
    from decimal import Decimal

    if a.kind == "timestamp" or b.kind == "timestamp":
        return dt.datetime.fromisoformat(a.value) < dt.datetime.fromisoformat(b.value)
    return Decimal(a.value) < Decimal(b.value)


def usage_batches(warehouse: Warehouse) -> list[dict]:
    """Every usage batch, oldest first: what each pull read, loaded and skipped."""
    if not warehouse.table_exists("raw", BATCHES):
        return []
    table = warehouse.query_arrow(f"select * from raw.{BATCHES} order by batch_no")
    return table.to_pylist()


def write_plan_tables(plan: Plan, warehouse: Warehouse) -> dict[str, int]:
    """Write the price book and settings to ``raw.plan_*``; return row counts per table."""
    return {name: warehouse.load_arrow("raw", name, t) for name, t in plan_tables(plan).items()}


def event_counts(warehouse: Warehouse) -> dict[str, int]:
    """received / loaded / duplicates / quarantined usage events over every batch."""
    row = warehouse.query(
        "select coalesce(sum(received), 0), coalesce(sum(loaded), 0), "
        "coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0) "
        "from sandbox.usage_event_counts"
    )[0]
    return dict(
        zip(("received", "loaded", "duplicates", "quarantined"), map(int, row), strict=True)
    )


def quarantine_reasons(warehouse: Warehouse) -> dict[str, int]:
    """Quarantined events per reason."""
    rows = warehouse.query(
        "select reason, count(*) from quarantine.usage_events group by reason order by 2 desc"
    )
    return {reason: int(n) for reason, n in rows}
