"""Time one night's usage increment on top of a history, next to a full rebuild of it.

Usage (from the repository root)::

    .venv/bin/python bench/nightly.py                               # the default configurations
    .venv/bin/python bench/nightly.py duckdb:0 duckdb:10000000 --night 100000 --json out.json

A configuration is ``ENGINE:HISTORY``: ENGINE ``duckdb`` or ``postgres``, HISTORY the usage
events already loaded (0: a company that has sent almost none, the generator's minimum of 100,
since a run without any usage is refused). For each configuration the
demo company (``golive.demo.generate_company``, 2,500 customers whatever the history) is
generated with that history; then:

1. ``history``: the roadmap through metering on a fresh warehouse (``run_stages``), what the
   first run of a company costs;
2. the night's events are written beside the history as one more Parquet file
   (``data/usage/night-001.parquet``): ``--night`` events, 90 % on the day after the history's
   last day, 10 % late (up to 45 days earlier, into closed periods), 0.5 % exact repeats of
   events loaded before and 0.5 % copies of old event ids with another payload (conflicts);
3. ``increment``: the nightly job (``run_usage``): only the new file is read and appended,
   the usage models run incrementally;
4. ``rebuild``: the same roadmap through metering on another fresh warehouse over history and
   night together, what a nightly job that rebuilt everything would cost; its aggregates and
   event counts must equal the increment's, row for row (``same`` says so).

``ratio`` is the increment's time over the increment's on an empty history (the first ``:0``
configuration of the same engine, when one ran): the goal is at most 1.2 at 10M events of
history. ``floor`` is one GROUP BY over the night's raw events in the same engine, best of
three: what reading the night costs at least.

Only figures go to stdout (a text table); progress goes to stderr. Not a test: pytest only
collects ``tests/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from stage_timings import (  # noqa: E402
    DEFAULT_PG_ADMIN_URL,
    best_of,
    create_pg_database,
    drop_pg_database,
    log,
    peak_rss_mb,
)

from connectors.warehouse import warehouse_from_url  # noqa: E402
from orchestration.runner import run_stages, run_usage  # noqa: E402

DEFAULT_CONFIGS = ["duckdb:0", "duckdb:1000000", "postgres:0", "postgres:1000000"]
ENGINES = ("duckdb", "postgres")
CUSTOMERS = 2_500
#: what the increment and the rebuild must agree on, row for row
COMPARED = {
    "sandbox.usage_aggregates": "customer_id, contract_id, metric_id, period_start, group_value",
    "sandbox.usage_event_counts": None,
}
NIGHT_FLOOR_SQL = (
    "select customer_id, event_name, count(*) as n, count(distinct event_id) as ids "
    "from raw.usage_events where _batch = (select max(_batch) from raw.usage_events) "
    "group by 1, 2"
)


def parse_config(text: str) -> tuple[str, int]:
    engine, _, history = text.partition(":")
    engine = "postgres" if engine.strip().lower() == "postgresql" else engine.strip().lower()
    if engine not in ENGINES or not history:
        raise argparse.ArgumentTypeError(
            f"'{text}': use ENGINE:HISTORY with ENGINE one of {', '.join(ENGINES)}"
        )
    try:
        n = int(float(history)) if "e" in history.lower() else int(history)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': HISTORY must be a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{text}': HISTORY must be 0 or more")
    return engine, n


def _day(text: str) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def night_events(template: pa.Table, history: pa.Table, n: int, seed: int) -> pa.Table:
    """``n`` events for the night after ``history``'s last day: rows of ``template`` (events
    of the same company) with new ids and timestamps, plus repeats and conflicts of
    ``history``'s events."""
    rng = np.random.default_rng(seed)
    days = [d for d in (_day(t) for t in history.column("timestamp").to_pylist()) if d]
    night = max(days) + dt.timedelta(days=1)
    n_old = n // 100
    fresh = template.take(rng.integers(0, template.num_rows, n - n_old))
    late = rng.random(fresh.num_rows) < 0.10
    back = rng.integers(1, 46, fresh.num_rows)
    seconds = rng.integers(0, 86_400, fresh.num_rows)
    stamps = [
        (
            dt.datetime.combine(night - dt.timedelta(days=int(b) if is_late else 0), dt.time())
            + dt.timedelta(seconds=int(s))
        ).strftime("%Y-%m-%dT%H:%M:%SZ")
        for is_late, b, s in zip(late, back, seconds, strict=True)
    ]
    fresh = fresh.set_column(
        fresh.schema.get_field_index("event_id"),
        "event_id",
        pa.array([f"night-{i:09d}" for i in range(fresh.num_rows)], pa.string()),
    )
    fresh = fresh.set_column(
        fresh.schema.get_field_index("timestamp"), "timestamp", pa.array(stamps, pa.string())
    )
    parts = [fresh]
    if n_old:  # half exact repeats of loaded events, half conflicting copies
        old = history.take(rng.integers(0, history.num_rows, n_old))
        repeats, conflicts = old.slice(0, n_old // 2), old.slice(n_old // 2)
        # a conflict: the same id, another customer
        customers = pc.binary_join_element_wise(conflicts.column("customer_id"), "-x", "")
        conflicts = conflicts.set_column(
            conflicts.schema.get_field_index("customer_id"), "customer_id", customers
        )
        parts += [repeats, conflicts]
    return pa.concat_tables(parts).cast(template.schema)


def _rows(url: str, table: str, order: str | None) -> pa.Table:
    wh = warehouse_from_url(url)
    data = wh.query_arrow(f"select * from {table}")
    if order:
        data = data.sort_by([(c.strip(), "ascending") for c in order.split(",")])
    else:
        data = data.sort_by([(c, "ascending") for c in data.column_names])
    return data


def same_results(incremental: str, rebuilt: str) -> bool:
    for table, order in COMPARED.items():
        a, b = _rows(incremental, table, order), _rows(rebuilt, table, order)
        if table.endswith("usage_event_counts"):  # per batch there; the totals must agree
            cols = ["received", "loaded", "duplicates", "quarantined"]
            a = [pc.sum(a.column(c)).as_py() for c in cols]
            b = [pc.sum(b.column(c)).as_py() for c in cols]
            if a != b:
                log(f"  event counts differ: increment {a}, rebuild {b}")
                return False
            continue
        if a.num_rows != b.num_rows or a.to_pylist() != b.to_pylist():
            log(f"  {table} differs: increment {a.num_rows} rows, rebuild {b.num_rows}")
            return False
    return True


class Warehouses:
    """Fresh warehouses for one configuration, removed at the end unless kept."""

    def __init__(self, engine: str, workdir: Path, args) -> None:
        self.engine, self.workdir, self.args = engine, workdir, args
        self.databases: list[str] = []

    def new(self, name: str) -> str:
        if self.engine == "duckdb":
            path = self.workdir / f"{name}.duckdb"
            path.unlink(missing_ok=True)
            return f"duckdb:///{path}"
        database = f"golive_bench_{name}_{uuid.uuid4().hex[:8]}"
        self.databases.append(database)
        return create_pg_database(self.args.pg_admin_url, database)

    def close(self) -> None:
        if self.args.keep:
            return
        for database in self.databases:
            drop_pg_database(self.args.pg_admin_url, database)


def run_config(engine: str, history: int, args, workdir: Path) -> dict:
    from golive.demo import generate_company

    label = f"{engine}:{history}"
    out: dict = {"config": label, "engine": engine, "history": history, "night": args.night}
    folder = workdir / label.replace(":", "_")
    shutil.rmtree(folder, ignore_errors=True)
    warehouses = Warehouses(engine, folder, args)
    try:
        # the company with its history (the generator writes at least 100 events: an "empty"
        # history is those, since a run without any usage is refused by its input contract)
        log(f"[{label}] generating the company …")
        summary = generate_company(
            folder / "company", events=max(history, 100), customers=CUSTOMERS, seed=args.seed
        )
        plan = Path(summary["plan"])
        usage = plan.parent / "data" / "usage"
        # the night's events: the same company's (same seed and customers), ids and days new
        template = generate_company(
            folder / "template", events=max(args.night, 100), customers=CUSTOMERS, seed=args.seed
        )
        template = pq.read_table(Path(template["plan"]).parent / "data" / "usage")
        past = pq.read_table(usage)
        out["history_rows"] = past.num_rows
        night = night_events(template, past, args.night, args.seed)

        url = warehouses.new("increment")
        log(f"[{label}] history: the roadmap through metering …")
        started = time.perf_counter()
        first = run_stages(plan, url, through="metering")
        out["history_seconds"] = time.perf_counter() - started
        if not first.success:
            raise RuntimeError(f"history run failed: {[s.error for s in first.stages][-1]}")

        pq.write_table(night, usage / "night-001.parquet")
        log(f"[{label}] increment: the nightly job over {night.num_rows:,} new events …")
        started = time.perf_counter()
        nightly = run_usage(plan, url)
        out["increment_seconds"] = time.perf_counter() - started
        if not nightly.success:
            raise RuntimeError(f"nightly run failed: {nightly.error}")
        batch = nightly.metadata.get("raw/usage_events", {})
        out["batch"] = {k: batch.get(k) for k in ("mode", "rows_read", "rows_loaded")}
        if batch.get("mode") != "append":
            log(f"[{label}] warning: the night was not appended ({batch.get('mode')})")
        out["floor"], _ = best_of(url, NIGHT_FLOOR_SQL, 3)

        rebuilt = warehouses.new("rebuild")
        log(f"[{label}] rebuild: the roadmap through metering over history and night …")
        started = time.perf_counter()
        again = run_stages(plan, rebuilt, through="metering")
        out["rebuild_seconds"] = time.perf_counter() - started
        if not again.success:
            raise RuntimeError(f"rebuild failed: {[s.error for s in again.stages][-1]}")
        out["same"] = same_results(url, rebuilt)
        out["success"] = out["same"]
    except Exception as exc:  # a row that says so; the next configuration goes on
        out["success"] = False
        out["error"] = f"{type(exc).__name__}: {exc}"
        log(f"[{label}] FAILED: {out['error']}")
    finally:
        warehouses.close()
        out["peak_rss_mb"] = peak_rss_mb()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def render_table(rows: list[dict]) -> str:
    baseline = {
        r["engine"]: r["increment_seconds"]
        for r in rows
        if r["history"] == 0 and r.get("increment_seconds")
    }
    headers = ["config", "events", "history", "increment", "floor", "rebuild", "ratio", "same"]
    lines = []
    for r in rows:
        inc = r.get("increment_seconds")
        base = baseline.get(r["engine"])
        lines.append(
            [
                r["config"],
                f"{r['history_rows']:,}" if r.get("history_rows") is not None else "-",
                f"{r['history_seconds']:.1f}" if r.get("history_seconds") else "-",
                f"{inc:.1f}" if inc else "-",
                f"{r['floor']:.2f}" if r.get("floor") is not None else "-",
                f"{r['rebuild_seconds']:.1f}" if r.get("rebuild_seconds") else "-",
                f"{inc / base:.2f}" if inc and base else "-",
                {True: "yes", False: "NO"}.get(r.get("same"), "-"),
            ]
        )
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(headers)]
    text = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    text.append("  ".join("-" * w for w in widths))
    text += ["  ".join(c.rjust(w) for c, w in zip(x, widths, strict=True)) for x in lines]
    text += [f"{r['config']}: {r['error']}" for r in rows if r.get("error")]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Seconds of one night's usage increment, next to a full rebuild."
    )
    parser.add_argument(
        "configs",
        nargs="*",
        type=parse_config,
        metavar="ENGINE:HISTORY",
        help=f"default: {' '.join(DEFAULT_CONFIGS)}",
    )
    parser.add_argument("--night", type=int, default=100_000, help="events of the night")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--keep", action="store_true", help="keep companies and warehouses")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    configs = args.configs or [parse_config(c) for c in DEFAULT_CONFIGS]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="golive-nightly-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # GX evidence and dbt step folders in the work folder, not in the checkout
    os.environ.setdefault("GOLIVE_WORKDIR", str(workdir / "evidence"))
    os.environ.setdefault("GOLIVE_DBT_RUNS_DIR", str(workdir / "dbt-runs"))
    rows = [run_config(engine, history, args, workdir) for engine, history in configs]
    print(render_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    if not args.workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r.get("success") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
