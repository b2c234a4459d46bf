"""Connector throughput: usage events from each source into each warehouse, in rows per second,
next to the floor of a bare native load of the same data (DuckDB reading the file itself;
PostgreSQL's COPY of the same rows as CSV).

    .venv/bin/python bench/connector_throughput.py [--events 1000000] [--postgres URL] [--mysql URL]

Sources: the demo company's Parquet files (connector parquet), the same rows as CSV (csv), a
PostgreSQL table (postgres) and a MariaDB/MySQL table (mysql). Warehouses: a fresh DuckDB file
and a fresh PostgreSQL database. Prints a table; nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg
import pymysql

from connectors.warehouse import warehouse_from_url
from golive.demo import generate_company
from golive.loading import load_dataset
from golive.plan import load_plan

EVENT_COLUMNS = ("event_id", "customer_id", "event_name", "timestamp", "properties")


def _fresh_pg_database(server_url: str) -> tuple[str, str]:
    name = f"golive_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    return name, server_url.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(f'drop database if exists "{name}" with (force)')


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306/test")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="golive-bench-connectors-"))
    started = time.perf_counter()
    summary = generate_company(work / "company", events=args.events)
    print(f"generated {summary['events']:,} events in {time.perf_counter() - started:.1f} s")
    parquet_glob = str(work / "company" / "data" / "usage" / "*.parquet")
    csv_path = work / "events.csv"
    con = duckdb.connect()
    con.execute(f"copy (select * from read_parquet('{parquet_glob}')) to '{csv_path}' (header)")
    con.close()

    # the same events as database tables
    src_name, src_url = _fresh_pg_database(args.postgres)
    with psycopg.connect(src_url, autocommit=True) as pg:
        pg.execute(
            "create table events (event_id text, customer_id text, event_name text, "
            "timestamp text, properties text)"
        )
        with pg.cursor().copy("copy events from stdin with (format csv, header)") as copy:
            copy.write(csv_path.read_bytes())
    mysql_ok = True
    try:
        my = pymysql.connect(
            host="127.0.0.1",
            user="root",
            database=args.mysql.rsplit("/", 1)[1],
            local_infile=True,
            autocommit=True,
        )
        with my.cursor() as cur:
            cur.execute("drop table if exists golive_bench_events")
            cur.execute(
                "create table golive_bench_events (event_id text, customer_id text, "
                "event_name text, `timestamp` text, properties text)"
            )
            cur.execute(
                f"load data local infile '{csv_path}' into table golive_bench_events "
                "fields terminated by ',' optionally enclosed by '\"' escaped by '' "
                "lines terminated by '\\n' ignore 1 lines"
            )
        my.close()
    except Exception as exc:  # report and go on without MySQL
        print(f"MySQL source skipped: {exc}")
        mysql_ok = False

    os.environ["BENCH_PG_URL"] = src_url
    os.environ["BENCH_MYSQL_URL"] = args.mysql
    sources = {
        "parquet": {"connector": "parquet", "path": parquet_glob},
        "csv": {"connector": "csv", "path": str(csv_path)},
        "postgres": {"connector": "postgres", "url_env": "BENCH_PG_URL", "table": "public.events"},
    }
    if mysql_ok:
        sources["mysql"] = {
            "connector": "mysql",
            "url_env": "BENCH_MYSQL_URL",
            "table": f"{args.mysql.rsplit('/', 1)[1]}.golive_bench_events",
        }

    import yaml

    base = yaml.safe_load((work / "company" / "plan.yaml").read_text())
    rows_out = []
    wh_name, wh_pg_url = _fresh_pg_database(args.postgres)
    try:
        for warehouse_name, url in (
            ("duckdb", f"duckdb:///{work}/bench.duckdb"),
            ("postgres", wh_pg_url),
        ):
            wh = warehouse_from_url(url)
            for name, source in sources.items():
                plan_doc = {**base, "sources": {**base["sources"], "usage_events": source}}
                plan_path = work / "company" / f"plan-{name}.yaml"
                plan_path.write_text(yaml.safe_dump(plan_doc, sort_keys=False))
                plan = load_plan(plan_path)
                started = time.perf_counter()
                result = load_dataset(plan, wh, "usage_events")
                seconds = time.perf_counter() - started
                rows_out.append((name, warehouse_name, result.rows, seconds))
            # the floors: the engine loading the same data natively
            if warehouse_name == "duckdb":

                def native() -> int:
                    c = duckdb.connect(str(work / "floor.duckdb"))
                    c.execute(
                        f"create or replace table e as select * from read_parquet('{parquet_glob}')"
                    )
                    n = c.execute("select count(*) from e").fetchone()[0]
                    c.close()
                    return n

                seconds, n = _timed(native)
                rows_out.append(("floor: native parquet read", warehouse_name, n, seconds))
            else:

                def copy_floor() -> int:
                    with psycopg.connect(wh_pg_url, autocommit=True) as c:
                        c.execute(
                            "create table if not exists floor_events (event_id text, "
                            "customer_id text, event_name text, timestamp text, properties text)"
                        )
                        c.execute("truncate floor_events")
                        with c.cursor().copy(
                            "copy floor_events from stdin with (format csv, header)"
                        ) as copy:
                            copy.write(csv_path.read_bytes())
                        return c.execute("select count(*) from floor_events").fetchone()[0]

                seconds, n = _timed(copy_floor)
                rows_out.append(("floor: bare COPY of the CSV", warehouse_name, n, seconds))
    finally:
        _drop_pg_database(args.postgres, wh_name)
        _drop_pg_database(args.postgres, src_name)

    print(f"\n{'source':<30} {'warehouse':<10} {'rows':>10} {'seconds':>8} {'rows/s':>10}")
    for name, warehouse_name, rows, seconds in rows_out:
        print(
            f"{name:<30} {warehouse_name:<10} {rows:>10,} {seconds:>8.1f} {rows / seconds:>10,.0f}"
        )


if __name__ == "__main__":
    main()
