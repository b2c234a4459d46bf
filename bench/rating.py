"""Time the pricing SQL alone: the dbt model ``int_invoice_lines_priced`` over N line periods.

Usage (from the repository root)::

    .venv/bin/python bench/rating.py                        # both engines, the default sizes
    .venv/bin/python bench/rating.py --engines duckdb --sizes 100000 1000000 --json out.json

For every engine and size N the model's four inputs are created directly in a fresh warehouse,
with synthetic rows generated in SQL (DuckDB ``range()``, PostgreSQL ``generate_series``):

* ``staging.int_invoice_line_quantities``: N rows (contract line x period), spread evenly over
  the eleven pricing models, ``--pricings`` pricings each (default 4), with zero quantities,
  quantities on tier bounds, fractional quantities, free units, discounts, minimums and part
  periods;
* ``staging.int_invoice_line_groups``: 1-3 group values per matrix line (a few without a rate),
  1-3 bands per two_dim_tiered line, with free units allocated as the real model does;
* ``staging.stg_price_tiers``: 3-4 tiers per tier table, a rate table per matrix group value,
  three tiers per band of the two-dimensional tables;
* ``raw.currencies``: the ISO 4217 minor units the pipeline loads.

Then ``dbt run --select int_invoice_lines_priced`` prices them, with the project's profile.
The model's time is ``execution_time`` from dbt's ``run_results.json``, so dbt's start-up and
parsing are left out (they show in the ``dbt wall`` column). The output is checked: N rows,
no null ``line_amount``.

Only figures go to stdout (a plain text table); progress goes to stderr. This is not a test and
is not collected by pytest. See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from golive.currencies import MINOR_UNITS  # noqa: E402
from golive.plan_tables import SUPPORTED_MODELS, TIER_COLUMNS  # noqa: E402

MODEL = "int_invoice_lines_priced"
NODE_ID = f"model.golive.{MODEL}"
DEFAULT_SIZES = (100_000, 250_000, 500_000, 1_000_000)
ENGINES = ("duckdb", "postgres")
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_PG_DATABASE = "golive_rating_bench"
DEC = "decimal(38, 10)"

# -- the synthetic price book ------------------------------------------------------------------
# P pricings per model (--pricings, default 4). Line l uses model l % 11 and pricing
# (l // 11) % P. Pricing v takes the parameters below at index v % 4 (prices scaled by v // 4).
DEFAULT_PRICINGS = 4
TIER_MODELS = ("tiered", "tiered_flat_fee", "volume", "volume_flat_fee", "step")
# Upper bounds of the tier tables: even variants have four tiers, odd ones three.
TIER_BOUNDS = {0: (100, 1000, 10000, None), 1: (500, 5000, None)}
TIER_BASE_PRICE = ("0.10", "0.25", "1.00", "0.05")
TIER_PRICE_FACTOR = ("1", "0.8", "0.6", "0.4")
TIER_FLAT_FEES = {"tiered_flat_fee": (10, 20, 40, 80), "volume_flat_fee": (10, 20, 40, 80)}
STEP_FEES = (50, 150, 400, 900)
MATRIX_GROUPS = ("APAC", "EU-West", "SA-East", "US-East")
MATRIX_BASE_PRICE = ("0.09", "0.05", "0.11", "0.04")
UNRATED_GROUP = "ZZ-unknown"
GROUP_TIER_BOUNDS = (1000, 5000, None)
BANDS = ((1, 0, 100), (2, 100, 1000), (3, 1000, None))
BAND_BASE_PRICE = ("0.02", "0.015", "0.01")
LINE_PARAMETERS = {
    "flat_fee": {"amount": ("49", "99", "499", "1250.50")},
    "per_unit": {"unit_price": ("0.01", "0.5", "12", "3.5"), "unit_size": ("1", "1000", "1", "10")},
    "percent": {"rate_percent": ("2.9", "1.5", "0.75", "5")},
    "package": {
        "package_size": ("100", "500", "1000", "2500"),
        "package_price": ("10", "45", "80", "150"),
    },
}
# Contract currencies, by contract number % 8: mostly two decimals, some zero and three.
CONTRACT_CURRENCIES = ("USD", "USD", "USD", "EUR", "EUR", "GBP", "JPY", "KWD")
# Three monthly periods per line: (k, start, end, days).
PERIODS = (
    (0, "2026-01-01", "2026-02-01", 31),
    (1, "2026-02-01", "2026-03-01", 28),
    (2, "2026-03-01", "2026-04-01", 31),
)
LINES_PER_CONTRACT = 12


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- SQL literals ------------------------------------------------------------------------------
def text(value: str | None) -> str:
    return "cast(null as varchar)" if value is None else "'" + value.replace("'", "''") + "'"


def dec(value) -> str:
    return f"cast({'null' if value is None else Decimal(value)} as {DEC})"


def bigint(value: int | None) -> str:
    return f"cast({'null' if value is None else int(value)} as bigint)"


def values(rows: list[tuple[str, ...]], alias: str, columns: tuple[str, ...]) -> str:
    body = ",\n        ".join("(" + ", ".join(row) + ")" for row in rows)
    return f"(values\n        {body}\n    ) as {alias}({', '.join(columns)})"


@dataclass(frozen=True)
class Dialect:
    name: str

    def series(self, n: int) -> str:
        """Rows ``i`` = 0 .. n - 1 (bigint)."""
        if self.name == "duckdb":
            return f"range(0, {n}) as seq(i)"
        return f"generate_series(cast(0 as bigint), {n - 1}) as seq(i)"

    def idiv(self, a: str, b: int) -> str:
        """Integer division (DuckDB's ``/`` returns a double)."""
        return f"({a} // {b})" if self.name == "duckdb" else f"({a} / {b})"


# -- the input tables --------------------------------------------------------------------------
def pricing_rows(pricings: int) -> list[tuple[str, ...]]:
    """One row per (model, variant): the price book columns of int_invoice_line_quantities."""
    rows = []
    for model_no, model in enumerate(SUPPORTED_MODELS):
        for variant in range(pricings):
            params = {k: v[variant % 4] for k, v in LINE_PARAMETERS.get(model, {}).items()}
            pricing_id = f"{model}_{variant}"
            rows.append(
                (
                    bigint(model_no),
                    bigint(variant),
                    text(pricing_id),
                    text(model),
                    text(model.replace("_", " ").title()),
                    text(None if model == "flat_fee" else f"metric_{model}"),
                    text(None if model == "flat_fee" else "units"),
                    text(model),
                    *(
                        dec(params.get(c))
                        for c in (
                            "amount",
                            "unit_price",
                            "unit_size",
                            "rate_percent",
                            "package_size",
                            "package_price",
                        )
                    ),
                    "true" if variant % 4 == 3 and model != "flat_fee" else "false",
                )
            )
    return rows


PRICING_COLUMNS = (
    "model_no",
    "variant",
    "pricing_id",
    "product_id",
    "product_name",
    "metric_id",
    "unit_label",
    "model",
    "amount",
    "unit_price",
    "unit_size",
    "rate_percent",
    "package_size",
    "package_price",
    "skip_zero",
)


def _table(pricing_id, bounds, prices, fees, group_value=None, band=None) -> list[tuple]:
    rows, lower = [], 0
    band_no, band_lower, band_up_to = band or (None, None, None)
    for tier_no, (up_to, price, fee) in enumerate(zip(bounds, prices, fees, strict=True), 1):
        rows.append(
            (
                text(pricing_id),
                text(group_value),
                bigint(band_no),
                dec(band_lower),
                dec(band_up_to),
                bigint(tier_no),
                dec(lower),
                dec(up_to),
                dec(price),
                dec(fee),
            )
        )
        lower = up_to if up_to is not None else lower
    return rows


def tier_rows(pricings: int) -> list[tuple[str, ...]]:
    """stg_price_tiers: tier tables, matrix rate tables per group value, 2-D bands."""
    rows = []
    for variant in range(pricings):
        bounds = TIER_BOUNDS[variant % 2]
        base = Decimal(TIER_BASE_PRICE[variant % 4]) * (1 + variant // 4)
        prices = [base * Decimal(f) for f in TIER_PRICE_FACTOR[: len(bounds)]]
        for model in TIER_MODELS:
            fees = (STEP_FEES if model == "step" else TIER_FLAT_FEES.get(model, (0,) * 4))[
                : len(bounds)
            ]
            model_prices = [Decimal(0)] * len(bounds) if model == "step" else prices
            rows += _table(f"{model}_{variant}", bounds, model_prices, fees)
        scale = 1 + Decimal(variant % 4) / 2 + variant // 4
        for group, group_base in zip(MATRIX_GROUPS, MATRIX_BASE_PRICE, strict=True):
            group_prices = [Decimal(group_base) * scale * Decimal(f) for f in ("1", "0.8", "0.6")]
            rows += _table(
                f"matrix_{variant}", GROUP_TIER_BOUNDS, group_prices, (0, 0, 0), group_value=group
            )
        for band, band_base in zip(BANDS, BAND_BASE_PRICE, strict=True):
            band_prices = [Decimal(band_base) * scale * Decimal(f) for f in ("1", "0.8", "0.6")]
            rows += _table(
                f"two_dim_tiered_{variant}", GROUP_TIER_BOUNDS, band_prices, (0, 0, 0), band=band
            )
    return rows


def input_statements(d: Dialect, n: int, pricings: int) -> list[tuple[str, str]]:
    """(label, SQL) creating the four input tables: n line periods, P pricings per model."""
    flat_fee_no = SUPPORTED_MODELS.index("flat_fee")
    percent_no = SUPPORTED_MODELS.index("percent")
    price_book = values(pricing_rows(pricings), "p", PRICING_COLUMNS)
    periods = values(
        [(bigint(k), f"date '{s}'", f"date '{e}'", bigint(days)) for k, s, e, days in PERIODS],
        "pr",
        ("k", "period_start", "period_end", "days_in_period"),
    )
    currencies = values(
        [(bigint(i), text(c)) for i, c in enumerate(CONTRACT_CURRENCIES)],
        "cur",
        ("n", "currency"),
    )
    # i: the line period; l = i // 3: the contract line; k = i % 3: the period; r: a spread
    # 0 .. 1,000,002 that decides the quantity.
    lines = f"""
create table staging.int_invoice_line_quantities as
with seq as (
    select i, {d.idiv("i", len(PERIODS))} as l, i % {len(PERIODS)} as k from {d.series(n)}
),
keyed as (
    select
        i, l, k,
        {d.idiv("l", LINES_PER_CONTRACT)} as c,
        l % {LINES_PER_CONTRACT} + 1 as line_no,
        l % {len(SUPPORTED_MODELS)} as model_no,
        {d.idiv("l", len(SUPPORTED_MODELS))} % {pricings} as variant,
        (i * 7919 + 17) % 1000003 as r
    from seq
)
select
    'K' || cast(keyed.c as varchar) as contract_id,
    'C' || cast({d.idiv("keyed.c", 2)} as varchar) as customer_id,
    cur.currency,
    pr.period_start,
    pr.period_end,
    cast(case when keyed.c % 5 = 0 and keyed.k = 0
        then pr.days_in_period - 1 - keyed.c % 27 else pr.days_in_period end as bigint)
        as active_days,
    pr.days_in_period,
    cast(keyed.line_no as bigint) as line_no,
    p.product_id,
    p.product_name,
    p.unit_label,
    p.pricing_id,
    p.model,
    p.metric_id,
    p.amount,
    p.unit_price,
    p.unit_size,
    p.rate_percent,
    p.package_size,
    p.package_price,
    p.skip_zero or keyed.l % 8 = 0 as skip_zero,
    case when keyed.model_no = {flat_fee_no} then 'advance' else 'arrears' end as billing_timing,
    cast(case when keyed.l % 7 = 0 and keyed.model_no <> {flat_fee_no} then 100 else 0 end
        as {DEC}) as free_units,
    cast(case when keyed.l % 9 = 0 then 10 else 0 end as {DEC}) as discount_percent,
    cast(case when keyed.l % 13 = 0 then 5 else 0 end as {DEC}) as discount_amount,
    cast(case when keyed.l % 10 = 0 then 250 else 0 end as {DEC}) as minimum_commitment,
    keyed.l % 20 = 0 as prorate_commitment,
    cast(case
        when keyed.model_no = {flat_fee_no} then 1 + keyed.l % 3
        when keyed.i % 23 = 0 then 0
        when keyed.i % 23 = 1 then case keyed.r % 5
            when 0 then 100 when 1 then 500 when 2 then 1000 when 3 then 5000 else 10000 end
        when keyed.model_no = {percent_no} then keyed.r * 0.37
        else keyed.r * 0.015
    end as {DEC}) as quantity
from keyed
inner join {price_book}
    on p.model_no = keyed.model_no and p.variant = keyed.variant
inner join {periods} on pr.k = keyed.k
inner join {currencies} on cur.n = keyed.c % {len(CONTRACT_CURRENCIES)}
"""
    splits = values(
        [
            (bigint(g), bigint(j), dec(share))
            for g, j, share in (
                (1, 1, "1"),
                (2, 1, "0.5"),
                (2, 2, "0.5"),
                (3, 1, "0.5"),
                (3, 2, "0.25"),
                (3, 3, "0.25"),
            )
        ],
        "s",
        ("group_count", "j", "share"),
    )
    matrix_group = "case (s.j + lines.line_no) % 4 " + " ".join(
        f"when {i} then {text(g)}" for i, g in enumerate(MATRIX_GROUPS[:-1])
    )
    matrix_group += f" else {text(MATRIX_GROUPS[-1])} end"
    unrated = "(lines.model = 'matrix' and s.j = 3 and lines.line_no % 5 = 0)"
    band = "((s.j + lines.line_no) % 3 + 1)"
    # A line's group quantities add up to its quantity; a line without usage has no groups.
    groups = f"""
create table staging.int_invoice_line_groups as
with lines as (
    select
        contract_id, line_no, period_start, pricing_id, model, free_units, quantity,
        1 + cast(floor(quantity) as bigint) % 3 as group_count
    from staging.int_invoice_line_quantities
    where model in ('matrix', 'two_dim_tiered') and quantity > 0
),
grouped as (
    select
        lines.contract_id,
        lines.line_no,
        lines.period_start,
        lines.pricing_id,
        lines.model,
        lines.free_units,
        case
            when {unrated} then {text(UNRATED_GROUP)}
            when lines.model = 'matrix' then {matrix_group}
            else cast({band} as varchar)
        end as group_value,
        cast(lines.quantity * s.share as {DEC}) as quantity,
        case when lines.model = 'two_dim_tiered' then cast({band} as bigint) end as band_no,
        {unrated} as no_rate
    from lines
    inner join {splits} on s.group_count = lines.group_count
),
allocated as (
    select
        grouped.*,
        cast(coalesce(sum(quantity) over (
            partition by contract_id, line_no, period_start
            order by band_no nulls last, group_value
            rows between unbounded preceding and 1 preceding
        ), 0) as {DEC}) as quantity_before
    from grouped
)
select
    allocated.*,
    cast(greatest(quantity - greatest(free_units - quantity_before, 0), 0) as {DEC})
        as billable_quantity
from allocated
"""
    tiers = "create table staging.stg_price_tiers as select * from " + values(
        tier_rows(pricings), "t", TIER_COLUMNS
    )
    currency_rows = ",\n    ".join(
        f"({text(code)}, {minor})" for code, minor in sorted(MINOR_UNITS.items())
    )
    return [
        ("schemas", "create schema if not exists raw; create schema if not exists staging"),
        (
            "raw.currencies",
            "create table raw.currencies (currency varchar, minor_unit integer);\n"
            f"insert into raw.currencies values\n    {currency_rows}",
        ),
        ("staging.stg_price_tiers", tiers),
        ("staging.int_invoice_line_quantities", lines),
        ("staging.int_invoice_line_groups", groups),
    ]


# -- warehouses --------------------------------------------------------------------------------
def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def pg_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {
        "GOLIVE_DBT_TARGET": "postgres",
        "GOLIVE_PG_HOST": parts.hostname or "127.0.0.1",
        "GOLIVE_PG_PORT": str(parts.port or 5432),
        "GOLIVE_PG_USER": parts.username or "postgres",
        "GOLIVE_PG_PASSWORD": parts.password or "",
        "GOLIVE_PG_DATABASE": parts.path.lstrip("/"),
        # dbt-postgres has no session options: libpq reads the zone from here
        "PGTZ": "UTC",
    }


class DuckDBTarget:
    engine = "duckdb"

    def __init__(self, path: Path):
        self.path = path

    def dbt_env(self) -> dict[str, str]:
        return {"GOLIVE_DBT_TARGET": "duckdb", "GOLIVE_DUCKDB_PATH": str(self.path)}

    @contextlib.contextmanager
    def connect(self):
        import duckdb

        con = duckdb.connect(str(self.path))
        try:
            con.execute("set TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    def execute(self, con, sql: str) -> None:
        con.execute(sql)

    def fetch(self, con, sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    def analyze(self, con) -> None:
        """DuckDB keeps its statistics up to date by itself."""

    def reset(self) -> None:
        for suffix in ("", ".wal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


class PostgresTarget:
    engine = "postgres"

    def __init__(self, url: str):
        self.url = url

    def dbt_env(self) -> dict[str, str]:
        return pg_env(self.url)

    @contextlib.contextmanager
    def connect(self):
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute("set timezone = 'UTC'")
            yield con

    def execute(self, con, sql: str) -> None:
        con.execute(sql)

    def fetch(self, con, sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    def analyze(self, con) -> None:
        con.execute("analyze")

    def reset(self) -> None:
        with self.connect() as con:
            con.execute("drop schema if exists staging cascade")
            con.execute("drop schema if exists raw cascade")


def create_inputs(target, n: int, pricings: int, analyze: bool) -> dict:
    d = Dialect(target.engine)
    out: dict = {}
    started = time.perf_counter()
    with target.connect() as con:
        for label, sql in input_statements(d, n, pricings):
            step = time.perf_counter()
            target.execute(con, sql)
            log(f"  created {label} in {time.perf_counter() - step:.1f} s")
        if analyze:
            target.analyze(con)
        for table in (
            "staging.int_invoice_line_quantities",
            "staging.int_invoice_line_groups",
            "staging.stg_price_tiers",
        ):
            out[table] = target.fetch(con, f"select count(*) from {table}")[0][0]
    out["seconds"] = time.perf_counter() - started
    return out


# -- dbt ---------------------------------------------------------------------------------------
def dbt_executable() -> str:
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def run_model(target, project_dir: Path, workdir: Path, label: str, partial: bool) -> dict:
    """One ``dbt run --select`` of the model; its execution_time and the process's wall time."""
    target_path = workdir / "target"
    cmd = [
        dbt_executable(),
        "run",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target_path),
        "--log-path",
        str(workdir / "logs"),
        "--select",
        MODEL,
    ]
    if not partial:
        cmd.append("--no-partial-parse")
    env = {**os.environ, **target.dbt_env()}
    results_file = target_path / "run_results.json"
    results_file.unlink(missing_ok=True)  # never read an earlier run's figures
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    (workdir / f"dbt_{label}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not results_file.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"dbt run failed (exit {proc.returncode}):\n{tail}")
    results = json.loads(results_file.read_text())["results"]
    node = next((r for r in results if r["unique_id"] == NODE_ID), None)
    if node is None or node["status"] != "success":
        raise RuntimeError(f"{NODE_ID} did not succeed: {node and node.get('message')}")
    return {"seconds": node["execution_time"], "wall": wall}


def verify(target, n: int) -> dict:
    with target.connect() as con:
        rows, nulls, total, models = target.fetch(
            con,
            "select count(*), sum(case when line_amount is null then 1 else 0 end), "
            f"sum(line_amount), count(distinct model) from staging.{MODEL}",
        )[0]
    problems = []
    if rows != n:
        problems.append(f"{rows:,} rows, expected {n:,}")
    if nulls:
        problems.append(f"{nulls:,} null line_amount")
    if models != len(SUPPORTED_MODELS):
        problems.append(f"{models} pricing models, expected {len(SUPPORTED_MODELS)}")
    return {
        "rows": rows,
        "null_line_amounts": nulls,
        "sum_line_amount": str(total),
        "problems": problems,
    }


def bench_one(target, n: int, project_dir: Path, workdir: Path, args) -> dict:
    label = f"{target.engine}_{n}"
    out: dict = {"engine": target.engine, "n": n}
    try:
        target.reset()
        log(f"[{target.engine} {n:,}] creating the inputs …")
        out["inputs"] = create_inputs(target, n, args.pricings, analyze=not args.no_analyze)
        runs = []
        for attempt in range(1, args.repeat + 1):
            log(f"[{target.engine} {n:,}] dbt run {attempt}/{args.repeat} …")
            run = run_model(target, project_dir, workdir, f"{label}_{attempt}", args.partial_parse)
            log(f"[{target.engine} {n:,}] model {run['seconds']:.2f} s, dbt {run['wall']:.1f} s")
            runs.append(run)
        best = min(runs, key=lambda r: r["seconds"])
        out.update(seconds=best["seconds"], wall=best["wall"], runs=runs)
        out["check"] = verify(target, n)
        if out["check"]["problems"]:
            out["error"] = "; ".join(out["check"]["problems"])
            log(f"[{target.engine} {n:,}] CHECK FAILED: {out['error']}")
    except Exception as exc:  # report the failure as a row, go on with the next size
        out["error"] = f"{type(exc).__name__}: {exc}"
        log(f"[{target.engine} {n:,}] FAILED: {out['error']}")
    return out


# -- report ------------------------------------------------------------------------------------
def fit_line(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """Least-squares ``seconds = fixed + per_row * n``."""
    if len(points) < 2:
        return None
    count = len(points)
    mean_n = sum(n for n, _ in points) / count
    mean_s = sum(s for _, s in points) / count
    var = sum((n - mean_n) ** 2 for n, _ in points)
    if not var:
        return None
    per_row = sum((n - mean_n) * (s - mean_s) for n, s in points) / var
    return mean_s - per_row * mean_n, per_row


def render_table(rows: list[dict], pricings: int) -> str:
    headers = ["engine", "N", "seconds", "rows/s", "s per 100k", "dbt wall"]
    lines = []
    for r in rows:
        ok = "seconds" in r and "error" not in r
        secs = r.get("seconds")
        lines.append(
            [
                r["engine"],
                f"{r['n']:,}",
                f"{secs:.2f}" if ok else "-",
                f"{r['n'] / secs:,.0f}" if ok and secs else "-",
                f"{secs / r['n'] * 100_000:.3f}" if ok else "-",
                f"{r['wall']:.1f}" if ok else "-",
            ]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [fmt(headers), "  ".join("-" * w for w in widths), *(fmt(line) for line in lines)]
    tier_counts = {r["inputs"]["staging.stg_price_tiers"] for r in rows if "inputs" in r}
    notes = [f"{pricings} pricings per model, {', '.join(map(str, tier_counts))} tier rows"]
    for engine in dict.fromkeys(r["engine"] for r in rows):
        points = [
            (r["n"], r["seconds"])
            for r in rows
            if r["engine"] == engine and "seconds" in r and "error" not in r
        ]
        fit = fit_line(points)
        if fit:
            fixed, per_row = fit
            smallest, largest = min(points), max(points)
            growth = (largest[1] / smallest[1]) / (largest[0] / smallest[0])
            notes.append(
                f"{engine}: least-squares line {fixed:.2f} s + {per_row * 100_000:.3f} s per "
                f"100k rows; {largest[0] / smallest[0]:g}x the rows took "
                f"{largest[1] / smallest[1]:.1f}x the time ({growth:.2f} of proportional)"
            )
    totals: dict[int, dict[str, str]] = {}
    for r in rows:
        if "check" in r:
            totals.setdefault(r["n"], {})[r["engine"]] = r["check"]["sum_line_amount"]
    for n, by_engine in totals.items():
        if len(set(map(Decimal, by_engine.values()))) > 1:
            shown = ", ".join(f"{e} {t}" for e, t in by_engine.items())
            notes.append(f"N={n:,}: the engines' sum(line_amount) differ: {shown}")
    for r in rows:
        if "error" in r:
            notes.append(f"{r['engine']} N={r['n']:,} failed: {r['error'].splitlines()[0][:300]}")
    out += ["", *notes]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Seconds the dbt model {MODEL} takes to price N line periods."
    )
    parser.add_argument(
        "--engines", nargs="+", choices=ENGINES, default=list(ENGINES), help="default: both"
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=list(DEFAULT_SIZES),
        metavar="N",
        help="line periods to price (default: " + " ".join(map(str, DEFAULT_SIZES)) + ")",
    )
    parser.add_argument(
        "--pricings",
        type=int,
        default=DEFAULT_PRICINGS,
        metavar="P",
        help=f"pricings per pricing model, each with its own tier table "
        f"(default {DEFAULT_PRICINGS}: 154 tier rows)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="dbt runs per size; the fastest model time is kept"
    )
    parser.add_argument(
        "--pg-admin-url",
        default=DEFAULT_PG_ADMIN_URL,
        help="PostgreSQL server on which the benchmark database is created",
    )
    parser.add_argument(
        "--pg-database",
        default=DEFAULT_PG_DATABASE,
        help=f"name of the benchmark database, created and dropped (default {DEFAULT_PG_DATABASE})",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=ROOT / "dbt_project",
        help="dbt project to run (default: the repository's dbt_project)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the DuckDB files, dbt target folder and dbt logs go "
        "(default: a temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="do not ANALYZE the PostgreSQL inputs before the run",
    )
    parser.add_argument(
        "--partial-parse",
        action="store_true",
        help="let dbt reuse its parse between runs (default: --no-partial-parse)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the DuckDB files and the PostgreSQL database"
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON"
    )
    args = parser.parse_args(argv)
    if args.pricings < 1:
        parser.error("--pricings must be at least 1")
    smallest = len(SUPPORTED_MODELS) * args.pricings * len(PERIODS)
    if any(n < smallest for n in args.sizes):
        parser.error(f"with --pricings {args.pricings}, every size must be at least {smallest}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    temp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="golive-rating-")) if temp else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    project_dir = args.project_dir.resolve()
    log(f"workdir: {workdir}")
    rows: list[dict] = []
    try:
        for engine in args.engines:
            if engine == "duckdb":
                for n in args.sizes:
                    target = DuckDBTarget(workdir / f"rating_{n}.duckdb")
                    rows.append(bench_one(target, n, project_dir, workdir, args))
                    if not args.keep:
                        target.reset()
                continue
            import psycopg

            try:
                with psycopg.connect(args.pg_admin_url, autocommit=True) as con:
                    con.execute(f'create database "{args.pg_database}"')
            except psycopg.errors.DuplicateDatabase:
                log(
                    f"database {args.pg_database} already exists (left by an earlier run?): "
                    "drop it, or choose another name with --pg-database"
                )
                rows += [
                    {"engine": engine, "n": n, "error": "benchmark database already exists"}
                    for n in args.sizes
                ]
                continue
            log(f"created database {args.pg_database}")
            try:
                target = PostgresTarget(_with_database(args.pg_admin_url, args.pg_database))
                for n in args.sizes:
                    rows.append(bench_one(target, n, project_dir, workdir, args))
            finally:
                if not args.keep:
                    with psycopg.connect(args.pg_admin_url, autocommit=True) as con:
                        con.execute(f'drop database if exists "{args.pg_database}" with (force)')
                    log(f"dropped database {args.pg_database}")
    finally:
        if temp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(render_table(rows, args.pricings))
    if args.json:
        meta = {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "repeat": args.repeat,
            "pricings": args.pricings,
        }
        args.json.write_text(json.dumps({"meta": meta, "results": rows}, indent=2, default=str))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
