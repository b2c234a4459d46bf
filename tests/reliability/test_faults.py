"""Faults: the golive process killed (SIGKILL) while raw data loads, inside a dbt stage and during
the promotion leaves nothing running and production as it was, and the next run succeeds and
equals a clean one; a second run on a warehouse in use is refused, naming who holds it (DuckDB
and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.warehouse import warehouse_from_url
from golive.cli import EXIT_WAREHOUSE_BUSY
from orchestration.runner import run_stages

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "worked_examples"

pytestmark = pytest.mark.slow


def _company(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "company")
    return tmp_path / "company" / "plan.yaml"


def _golive(*args: str, cwd: Path) -> subprocess.Popen:
    """``golive`` in its own process group, its output read line by line."""
    return subprocess.Popen(
        [sys.executable, "-m", "golive.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "GOLIVE_ALERT_URLS": ""},
    )


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 240) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; the process printed:\n{''.join(seen)}")


def _living_in_group(pgid: int) -> list[str]:
    """The processes of a process group that still run (a zombie, dead but not yet reaped by
    the machine's init, does not count)."""
    living = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name_end = text.rindex(")")
        state, _ppid, group = text[name_end + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            living.append(f"{stat.parent.name} {text[: name_end + 1]}")
    return living


def _state(url: str) -> dict:
    wh = warehouse_from_url(url)
    out = {}
    for schema, table in (("sandbox", "invoices"), ("production", "invoices")):
        if wh.table_exists(schema, table):
            out[f"{schema}.{table}"] = sorted(
                (i, str(t)) for i, t in wh.query(f"select invoice_id, total from {schema}.{table}")
            )
    if wh.table_exists("sandbox", "usage_aggregates"):
        out["aggregates"] = sorted(
            tuple(map(str, r))
            for r in wh.query(
                "select contract_id, metric_id, period_start, value from sandbox.usage_aggregates"
            )
        )
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean run of the company: what every run after a crash must equal."""
    folder = tmp_path_factory.mktemp("clean")
    plan = _company(folder)
    url = f"duckdb:///{folder}/w.duckdb"
    assert run_stages(plan, url, approved_by="Ada Lovelace").success
    return _state(url)


# a kill while raw data loads, in the middle of a dbt stage, and during the promotion: the
# other stages are killed the same way (a Dagster step running dbt), at a run's full cost each
@pytest.mark.parametrize("stage", ["sandbox_load", "billing", "production_migration"])
def test_kill_during_a_stage_leaves_nothing_running_and_production_unchanged(
    stage, tmp_path, clean
):
    plan = _company(tmp_path)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    assert run_stages(plan, url, approved_by="Ada Lovelace").success
    production = _state(url)["production.invoices"]

    process = _golive("run", str(plan), "--warehouse", url, "--approved-by", "Ada", cwd=tmp_path)
    _wait_for(process, f"▶ {stage}")
    time.sleep(0.3)  # into the stage
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(0.5)
    assert not _living_in_group(process.pid), "a process of the killed run is still running"

    # production is exactly what it was: the killed run promoted all of it or none of it
    assert _state(url)["production.invoices"] == production
    # the warehouse is free again, and the next run equals a clean one
    again = run_stages(plan, url, approved_by="Ada Lovelace")
    assert again.success, [s.error for s in again.stages]
    assert _state(url) == clean


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_second_run_on_a_warehouse_in_use_is_refused(engine, tmp_path, request):
    plan = _company(tmp_path)
    url = (
        f"duckdb:///{tmp_path}/w.duckdb"
        if engine == "duckdb"
        else request.getfixturevalue("postgres_url")
    )
    first = _golive("run", str(plan), "--warehouse", url, cwd=tmp_path)
    try:
        _wait_for(first, "▶ sandbox_load")
        second = subprocess.run(
            [sys.executable, "-m", "golive.cli", "run", str(plan), "--warehouse", url],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "GOLIVE_ALERT_URLS": ""},
        )
    finally:
        rest, _ = first.communicate(timeout=300)
    assert second.returncode == EXIT_WAREHOUSE_BUSY, second.stdout + second.stderr
    assert "another run is using this warehouse" in second.stdout
    assert f"golive run {plan}" in second.stdout.replace("\n", "")  # who holds it
    # the first run was not disturbed: it ran to its end (waiting for an approval)
    assert first.returncode == 4, rest


def test_a_refused_run_names_the_holder_of_its_own_database(postgres_url, postgres_server_url):
    """pg_locks is the whole server's: with golive holding two databases of one server, a run
    refused on one names that one's holder, never the other's."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    from connectors.warehouse import WarehouseBusyError

    other = f"golive_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as con:
        con.execute(f'create database "{other}"')
    other_url = urlunsplit(urlsplit(postgres_url)._replace(path=f"/{other}"))
    try:
        with (
            warehouse_from_url(other_url).exclusive("golive run of the other plan"),
            warehouse_from_url(postgres_url).exclusive("golive run of this plan"),
        ):
            # another process asks (a nested holder in this one would share the lock)
            here = warehouse_from_url(postgres_url)
            with pytest.raises(WarehouseBusyError) as refused:
                here._acquire("golive run of a second plan")
            assert "golive run of this plan" in str(refused.value)
            assert "other plan" not in str(refused.value)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as con:
            con.execute(f'drop database if exists "{other}" with (force)')
