"""Where the incremental usage models stand: what was classified and metered, and when a run
must rebuild them instead of adding to them.

The usage models (dbt, tag ``daily``) are incremental: each run classifies the events that
arrived and re-aggregates the days they touched. They are rebuilt from all history when that
would give a different answer otherwise: on the first run, after a full reload of a source
without a watermark, and when the plan changed how events are read (its metrics, their
filters, the time zone) or a release changed the reading rules (``READING_RULES``).
``raw.usage_build_state`` keeps one row per build of each model set:

* ``classification_seq``: the number the last classification stamped on the rows it
  (re)classified; metering re-aggregates the days of every row stamped after the number it
  last metered through, so a classification that metering has not seen yet is never lost;
* ``generation``: bumped by a rebuild of the classification; metering rebuilds too when its
  generation differs;
* ``fingerprint``: of the plan's settings that change how events are read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from connectors.warehouse import Warehouse
from golive.plan import Plan

STATE = "usage_build_state"

#: The version of golive's own rules for reading and classifying events: bumped when a release
#: reads stored events otherwise (2: latest never quarantines, an empty filter selects a
#: missing property, DuckDB reads a number as written beside a nested repeat of its key,
#: a removed customer's quarantined events are classified again; text ties in byte order), so
#: that a warehouse built by an earlier release is rebuilt once instead of mixing both.
READING_RULES = 2


def usage_fingerprint(plan: Plan) -> str:
    """What, in the plan, changes how an event is read or which day it falls on, and the
    version of the reading rules themselves."""
    parts = {
        "timezone": plan.timezone,
        "metrics": [m.model_dump(mode="json") for m in plan.metrics],
        "reading_rules": READING_RULES,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class UsageState:
    """The last builds of the two usage model sets (zeros before the first)."""

    classification_seq: int = 0
    classification_generation: int = 0
    fingerprint: str | None = None
    metered_seq: int = 0
    metered_generation: int = 0


def _ensure(warehouse: Warehouse) -> None:
    warehouse.execute(
        "create schema if not exists raw; "
        f"create table if not exists raw.{STATE} (model_set varchar, seq bigint, "
        "generation bigint, fingerprint varchar, built_at timestamp)"
    )


def read_state(warehouse: Warehouse) -> UsageState:
    """The state of the usage models in this warehouse."""
    if not warehouse.table_exists("raw", STATE):
        return UsageState()
    rows = {
        model_set: (int(seq), int(generation), fingerprint)
        for model_set, seq, generation, fingerprint in warehouse.query(
            f"select model_set, seq, generation, fingerprint from raw.{STATE}"
        )
    }
    seq, generation, fingerprint = rows.get("classification", (0, 0, None))
    metered_seq, metered_generation, _ = rows.get("metering", (0, 0, None))
    return UsageState(seq, generation, fingerprint, metered_seq, metered_generation)


def _write(warehouse: Warehouse, model_set: str, seq: int, generation: int, fingerprint: str):
    _ensure(warehouse)
    p = warehouse.param
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with warehouse.connect() as con:
        warehouse.run_in(con, f"delete from raw.{STATE} where model_set = {p}", [model_set])
        warehouse.run_in(
            con,
            f"insert into raw.{STATE} values ({p}, {p}, {p}, {p}, {p})",
            [model_set, seq, generation, fingerprint, now],
        )


@dataclass(frozen=True)
class ClassificationPlan:
    """How the next classification runs: rebuild or add, and the number it stamps."""

    rebuild: bool
    reason: str
    seq: int
    generation: int
    #: the last arrival number classified before (0 on a rebuild): the uniqueness tests of
    #: the usage models look at the rows past it (dbt_project/tests/generic/unique_arrived.sql)
    received_after: int = 0


def plan_classification(warehouse: Warehouse, plan: Plan) -> ClassificationPlan:
    """Decide the next classification from the state and the newest usage batch."""
    state = read_state(warehouse)
    seq = state.classification_seq + 1
    fingerprint = usage_fingerprint(plan)
    reason = ""
    if not warehouse.table_exists("staging", "int_usage_events_classified"):
        reason = "first build"
    elif state.fingerprint != fingerprint:
        reason = (
            "the plan (metrics, filters or time zone) or golive's reading rules changed "
            "how events are read"
        )
    else:
        newest = warehouse.query(
            "select mode, batch_no from raw.usage_batches order by batch_no desc limit 1"
        )
        built = warehouse.scalar("select max(batch_no) from staging.stg_usage_events")
        if newest and newest[0][0] == "full" and (built is None or built != newest[0][1]):
            reason = "the source was read whole again (no incremental_column)"
    generation = state.classification_generation + (1 if reason else 0)
    received_after = 0
    if not reason:
        # the classified table, not the typed one: rows a failed run typed are tested again
        received_after = int(
            warehouse.scalar(
                "select coalesce(max(received_no), 0) from staging.int_usage_events_classified"
            )
        )
    return ClassificationPlan(
        bool(reason), reason or "incremental", seq, generation, received_after
    )


def record_classification(warehouse: Warehouse, plan: Plan, done: ClassificationPlan) -> None:
    """Note a classification that succeeded."""
    _write(warehouse, "classification", done.seq, done.generation, usage_fingerprint(plan))


@dataclass(frozen=True)
class MeteringPlan:
    """How the next metering runs: rebuild or re-aggregate the days classified after
    ``after_seq`` (through ``through_seq``)."""

    rebuild: bool
    after_seq: int
    through_seq: int
    generation: int


def plan_metering(warehouse: Warehouse) -> MeteringPlan:
    """Decide the next metering from the state."""
    state = read_state(warehouse)
    rebuild = (
        state.metered_generation != state.classification_generation
        or not warehouse.table_exists("sandbox", "usage_aggregates")
    )
    return MeteringPlan(
        rebuild, state.metered_seq, state.classification_seq, state.classification_generation
    )


def record_metering(warehouse: Warehouse, done: MeteringPlan) -> None:
    """Note a metering that succeeded."""
    _write(warehouse, "metering", done.through_seq, done.generation, "")


# -- what billing, the parallel test and the sign-off were built on ----------------------------


def newest_usage_batch(warehouse: Warehouse) -> int:
    """The newest usage batch that brought events (0 before any)."""
    if not warehouse.table_exists("raw", "usage_batches"):
        return 0
    return int(
        warehouse.scalar(
            "select coalesce(max(batch_no), 0) from raw.usage_batches where rows_loaded > 0"
        )
    )


def record_built_on(warehouse: Warehouse, stage: str) -> None:
    """Note that ``stage`` (billing, parallel_test, signoff) was just built on the usage
    loaded so far (``raw.usage_build_state``, its batch as ``seq``)."""
    _write(warehouse, stage, newest_usage_batch(warehouse), 0, "")


@dataclass(frozen=True)
class UsageSince:
    """The usage batch a stage was built on (None: never), the newest, and the events the
    batches in between loaded."""

    built_on: int | None
    newest: int
    events: int

    @property
    def current(self) -> bool:
        return self.built_on is not None and self.built_on >= self.newest


def usage_since(warehouse: Warehouse, stage: str) -> UsageSince:
    """What usage arrived after ``stage`` was last built."""
    newest = newest_usage_batch(warehouse)
    built_on = None
    if warehouse.table_exists("raw", STATE):
        rows = warehouse.query(
            f"select seq from raw.{STATE} where model_set = {warehouse.param}", [stage]
        )
        built_on = int(rows[0][0]) if rows else None
    events = 0
    if newest and (built_on or 0) < newest:
        events = int(
            warehouse.scalar(
                "select coalesce(sum(rows_loaded), 0) from raw.usage_batches "
                f"where batch_no > {warehouse.param}",
                [built_on or 0],
            )
        )
    return UsageSince(built_on, newest, events)
