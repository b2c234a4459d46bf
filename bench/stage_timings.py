"""Time every roadmap stage of the demo pipeline, next to a hand-written GROUP BY floor.

Usage (from the repository root)::

    .venv/bin/python bench/stage_timings.py                      # the default configurations
    .venv/bin/python bench/stage_timings.py duckdb:1000000 postgres:1000000 --json out.json

A configuration is ``ENGINE:EVENTS`` with ENGINE ``duckdb`` or ``postgres``. The sample company
is generated once per event count and reused by every engine. Each configuration runs all stages
through Dagster exactly as ``golive demo`` does (``orchestration.runner.run_stages``), on a
fresh warehouse:
a new DuckDB file, or a new PostgreSQL database that is dropped afterwards.

Then two floors are measured in the same engine, best of ``--repeat`` runs:

* ``floor``: one GROUP BY over the typed events (``staging.stg_usage_events``), what the
  metering stage must at least do;
* ``raw_floor``: the same GROUP BY straight over the raw text events (``raw.usage_events``) with
  the engine's own timestamp cast, so the cost of parsing the text shows.

Only figures go to stdout (a plain text table); progress goes to stderr. This is not a test and
is not collected by pytest (it lives outside ``tests/`` and its name does not start with test).
See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from connectors.warehouse import warehouse_from_url  # noqa: E402
from orchestration.runner import StageResult, run_stages  # noqa: E402
from orchestration.stages import STAGES  # noqa: E402

DEFAULT_CONFIGS = ["duckdb:1000000", "duckdb:10000000", "postgres:1000000"]
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ENGINES = ("duckdb", "postgres")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

FLOOR_SQL = (
    "select customer_id, event_name, date_trunc('month', event_at) as month, "
    "count(*) as n, count(distinct event_id) as ids "
    "from staging.stg_usage_events group by 1, 2, 3"
)
# The raw events are all text. The bad rows in the demo data (unparseable timestamps) would make
# a plain cast fail, so each engine uses a "try" cast: DuckDB's built-in try_cast; PostgreSQL has
# none, so a plpgsql one the benchmark installs (bench_try_timestamptz).
RAW_TS = {
    "duckdb": 'try_cast(trim("timestamp") as timestamptz)',
    "postgres": 'bench_try_timestamptz(trim("timestamp"))',
}
PG_TRY_CAST = """
create or replace function bench_try_timestamptz(value text) returns timestamptz
language plpgsql immutable as $$
begin
    return value::timestamptz;
exception when others then
    return null;
end $$;
"""
RAW_FLOOR_SQL = (
    "select customer_id, event_name, date_trunc('month', {ts}) as month, "
    "count(*) as n, count(distinct event_id) as ids "
    "from raw.usage_events group by 1, 2, 3"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_config(text: str) -> tuple[str, int]:
    engine, _, events = text.partition(":")
    engine = engine.strip().lower()
    if engine == "postgresql":
        engine = "postgres"
    if engine not in ENGINES or not events:
        raise argparse.ArgumentTypeError(
            f"'{text}': use ENGINE:EVENTS with ENGINE one of {', '.join(ENGINES)}"
        )
    try:
        n = int(float(events)) if "e" in events.lower() else int(events)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': EVENTS must be a whole number") from None
    if n < 1000:
        raise argparse.ArgumentTypeError(f"'{text}': EVENTS must be at least 1000")
    return engine, n


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory so far (Linux reports KiB) of this process and of its children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self": round(own, 1), "children": round(children, 1)}


@contextlib.contextmanager
def connect_when_free(url: str, wait: float = 120.0):
    """A connection; waits for a DuckDB file lock still held by a dbt process that is ending."""
    wh = warehouse_from_url(url)
    deadline = time.monotonic() + wait
    while True:
        stack = contextlib.ExitStack()
        try:
            con = stack.enter_context(wh.connect())
            break
        except Exception as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(1)
    with stack:
        yield wh, con


def best_of(url: str, sql: str, repeat: int) -> tuple[float, int]:
    """Best wall time of ``repeat`` runs of ``sql`` (rows fetched), on one open connection."""
    best = float("inf")
    rows = 0
    with connect_when_free(url) as (wh, con):
        for _ in range(repeat):
            started = time.perf_counter()
            rows = len(wh.fetch_in(con, sql, None))
            best = min(best, time.perf_counter() - started)
    return best, rows


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create_pg_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    return _with_database(admin_url, name)


def drop_pg_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f'drop database if exists "{name}" with (force)')


def run_config(engine: str, events: int, plan: str, workdir: Path, args) -> dict:
    label = f"{engine}:{events}"
    out: dict = {"config": label, "engine": engine, "events_requested": events}
    pg_name = None
    db_file = None
    if engine == "duckdb":
        db_file = workdir / f"warehouse_{events}.duckdb"
        db_file.unlink(missing_ok=True)
        Path(f"{db_file}.wal").unlink(missing_ok=True)
        url = f"duckdb:///{db_file}"
    else:
        pg_name = f"golive_bench_{events}_{uuid.uuid4().hex[:8]}"
        url = create_pg_database(args.pg_admin_url, pg_name)
        log(f"[{label}] created database {pg_name}")

    def on_stage(stage: str, result: StageResult | None) -> None:
        if result is None:
            log(f"[{label}] {stage} …")
        else:
            status = "ok" if result.success else f"FAILED: {result.error[:300]}"
            log(f"[{label}] {stage} {result.seconds:.1f} s {status}")

    try:
        started = time.perf_counter()
        result = run_stages(
            plan,
            url,
            on_stage=on_stage,
            log_path=workdir / f"run_{engine}_{events}.log",
            approved_by="bench/stage_timings.py",
        )
        out["wall_seconds"] = time.perf_counter() - started
        out["stages"] = {s.stage: s.seconds for s in result.stages}
        out["success"] = result.success
        out["errors"] = {s.stage: s.error for s in result.stages if not s.success}
        out["signoff_failed"] = [c for c in result.signoff if not c["passed"]]
        if out["signoff_failed"] and "parallel_test" in out["errors"]:
            failed = "; ".join(
                f"{c['criterion']} observed {c['observed']} vs {c['threshold']}"
                for c in out["signoff_failed"]
            )
            out["errors"]["parallel_test"] = f"sign-off failed: {failed}"
        out["total"] = sum(s.seconds for s in result.stages)
        with connect_when_free(url) as (wh, con):
            exists = wh.fetch_in(
                con,
                "select count(*) from information_schema.tables where table_schema = "
                "'staging' and table_name = 'stg_usage_events'",
                None,
            )[0][0]
            if exists and engine == "postgres":
                wh.run_in(con, PG_TRY_CAST)
            if exists:
                count = "select count(*) from {}"
                out["accepted_events"] = wh.fetch_in(
                    con, count.format("sandbox.usage_events"), None
                )[0][0]
                out["raw_events"] = wh.fetch_in(con, count.format("raw.usage_events"), None)[0][0]
        if exists:
            log(f"[{label}] floor: GROUP BY over staging.stg_usage_events, best of {args.repeat} …")
            out["floor"], out["floor_rows"] = best_of(url, FLOOR_SQL, args.repeat)
            log(f"[{label}] raw floor: GROUP BY over raw.usage_events with a timestamp cast …")
            raw_sql = RAW_FLOOR_SQL.format(ts=RAW_TS[engine])
            out["raw_floor"], out["raw_floor_rows"] = best_of(url, raw_sql, args.repeat)
        # only for a complete run: a partial total would flatter the rate
        out["events_per_second"] = (
            out.get("raw_events", events) / out["total"] if result.success else None
        )
    except Exception as exc:  # report the failure as a row, go on with the next configuration
        out["success"] = False
        out["errors"] = {"benchmark": f"{type(exc).__name__}: {exc}"}
        log(f"[{label}] FAILED: {type(exc).__name__}: {exc}")
    finally:
        out["peak_rss_mb"] = peak_rss_mb()
        if pg_name and not args.keep:
            drop_pg_database(args.pg_admin_url, pg_name)
            log(f"[{label}] dropped database {pg_name}")
        if db_file and not args.keep:
            db_file.unlink(missing_ok=True)
            Path(f"{db_file}.wal").unlink(missing_ok=True)
    return out


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _first_reason(error: str) -> str:
    """The line of an error that names what failed (dbt's "Failure in ..."), else the first."""
    lines = [ANSI.sub("", line).strip() for line in error.splitlines()]
    lines = [line for line in lines if line]
    named = [line for line in lines if line.startswith(("Failure in", "Database Error"))]
    return ((named or lines or ["?"])[0])[:200]


def render_table(rows: list[dict]) -> str:
    headers = [
        "config",
        "generate",
        "discovery",
        "sandbox_load",
        "metering",
        "floor",
        "raw_floor",
        "billing",
        "parallel_test",
        "production_migration",
        "total",
        "events/s",
    ]
    lines = []
    for r in rows:
        stages = r.get("stages", {})
        eps = r.get("events_per_second")
        lines.append(
            [
                r["config"],
                _fmt(r.get("generation_seconds")),
                *[_fmt(stages.get(s)) for s in STAGES[:3]],
                _fmt(r.get("floor"), 2),
                _fmt(r.get("raw_floor"), 2),
                *[_fmt(stages.get(s)) for s in STAGES[3:]],
                _fmt(r.get("total")),
                f"{eps:,.0f}" if eps else "-",
            ]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    notes = []
    for r in rows:
        for stage, error in (r.get("errors") or {}).items():
            notes.append(f"{r['config']}: {stage} failed: {_first_reason(error)}")
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Seconds per roadmap stage of the demo pipeline, with a GROUP BY floor."
    )
    parser.add_argument(
        "configs",
        nargs="*",
        type=parse_config,
        metavar="ENGINE:EVENTS",
        help=f"default: {' '.join(DEFAULT_CONFIGS)}",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where companies, DuckDB files and run logs go "
        "(default: a temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use a company an earlier run left in --workdir (company_<events>/plan.yaml) "
        "instead of generating it, so the peak memory is the run's alone",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the sample company")
    parser.add_argument("--repeat", type=int, default=3, help="runs per floor query (best kept)")
    parser.add_argument(
        "--pg-admin-url",
        default=DEFAULT_PG_ADMIN_URL,
        help="PostgreSQL server on which a fresh database is created and dropped",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the DuckDB files and PostgreSQL databases"
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON"
    )
    args = parser.parse_args(argv)
    configs = args.configs or [parse_config(c) for c in DEFAULT_CONFIGS]

    from golive.demo import generate_company

    temp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="golive-bench-")) if temp else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir: {workdir}")
    companies: dict[int, dict] = {}
    rows: list[dict] = []
    try:
        for engine, events in configs:
            kept = workdir / f"company_{events}" / "plan.yaml"
            if events not in companies and args.reuse and kept.is_file():
                log(f"reusing the company in {kept.parent} (not generated: no generate column)")
                companies[events] = {
                    "summary": {"plan": str(kept)},
                    "seconds": None,
                    "peak_rss_mb": None,
                }
            if events not in companies:
                log(f"generating a company with {events:,} events …")
                started = time.perf_counter()
                try:
                    summary = generate_company(
                        workdir / f"company_{events}", events=events, seed=args.seed
                    )
                    companies[events] = {
                        "summary": summary,
                        "seconds": time.perf_counter() - started,
                        "peak_rss_mb": peak_rss_mb(),
                    }
                    log(
                        f"generated in {companies[events]['seconds']:.1f} s, "
                        f"peak RSS {companies[events]['peak_rss_mb']['self']:,.0f} MB"
                    )
                except Exception as exc:  # e.g. MemoryError: report it, go on
                    companies[events] = {"error": f"{type(exc).__name__}: {exc}"}
                    log(f"generation failed: {companies[events]['error']}")
            company = companies[events]
            if "error" in company:
                rows.append(
                    {
                        "config": f"{engine}:{events}",
                        "success": False,
                        "errors": {"generate": company["error"]},
                    }
                )
                continue
            row = run_config(engine, events, company["summary"]["plan"], workdir, args)
            row["generation_seconds"] = company["seconds"]
            row["generation_peak_rss_mb"] = company["peak_rss_mb"]
            rows.append(row)
    finally:
        if temp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(render_table(rows))
    if args.json:
        meta = {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "seed": args.seed,
            "repeat": args.repeat,
        }
        args.json.write_text(json.dumps({"meta": meta, "results": rows}, indent=2, default=str))
    return 0 if all(r.get("success") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
