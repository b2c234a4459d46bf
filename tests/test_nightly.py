"""The nightly usage aggregation: incremental, and always equal to a full rebuild.

Three nights in a row bring new events, late ones (into a closed period), repeats of events
loaded on an earlier night and conflicting copies of them. After every night the aggregates, the
counts and the quarantine equal those of a full rebuild from the same raw events (on DuckDB, so
the two warehouses are held to each other too), and after the last night, billed, the invoices
and lines too, to the cent; the counts reconcile per night and in total. A backfill of a range
of days changes nothing, and re-running one day is idempotent.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from connectors.warehouse import warehouse_from_url
from orchestration.runner import run_stages, run_usage

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"
HEADER = ["seq", "event_id", "customer_id", "event_name", "timestamp", "n"]

pytestmark = pytest.mark.slow

# what each night brings: (event_id, customer, event, timestamp, n); the fixture's own events
# are e1.. and call events c1..; C13 is K_ORDER's customer (calls), C02 K_PU's (units)
NIGHTS = [
    [
        ("n1-a", "C13", "call", "2026-09-25T10:00:00Z", ""),  # late: September is closed
        ("n1-b", "C02", "use", "2026-10-02T10:00:00Z", "400"),  # new, in October
        ("e1", "C02", "use", "2026-09-15T12:00:00Z", "2000000"),  # a repeat of a loaded event
    ],
    [
        ("e2", "C03", "use", "2026-09-15T12:00:00Z", "999"),  # conflicts with a loaded event
        ("n1-b", "C02", "use", "2026-10-02T10:00:00Z", "400"),  # a repeat of last night's
        ("n2-a", "C13", "call", "2026-09-30T23:59:59Z", ""),  # late, the period's last second
    ],
    [
        ("n1-a", "C13", "call", "2026-09-25T11:00:00Z", ""),  # conflicts with night 1's
        ("n3-a", "C02", "use", "2026-10-20T00:00:00Z", "100"),
        ("n3-a", "C02", "use", "2026-10-20T00:00:00Z", "100"),  # twice in one night
        ("e1", "C02", "use", "2026-09-15T12:00:00Z", "2000001"),  # conflicts with a repeated one
    ],
    [
        ("n4-a", "C14", "use", "2026-10-05T10:00:00Z", "7"),  # a customer not accepted yet
    ],
]


def _company(tmp_path: Path) -> Path:
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    plan = root / "plan.yaml"
    plan.write_text(
        plan.read_text().replace(
            'usage_events:   {connector: csv, path: "data/usage_*.csv"}',
            'usage_events:   {connector: csv, path: "data/usage_*.csv", incremental_column: seq}',
        )
    )
    source = root / "data" / "usage_2026_09.csv"
    rows = list(csv.DictReader(source.open()))
    with source.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for seq, r in enumerate(rows, start=1):
            w.writerow(
                [seq, r["event_id"], r["customer_id"], r["event_name"], r["timestamp"], r["n"]]
            )
    return plan


def _add_night(plan: Path, night: int) -> None:
    with (plan.parent / "data" / f"usage_night_{night}.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i, row in enumerate(NIGHTS[night - 1]):
            w.writerow([10_000 * night + i, *row])


def _state(url: str, billed: bool = True) -> dict:
    """What a night changes (aggregates, counts, quarantine) and, when ``billed``, the invoices
    and lines built on them."""
    wh = warehouse_from_url(url)
    state = {
        "aggregates": sorted(
            (c, m, str(g), str(p), str(v))
            for c, m, g, p, v in wh.query(
                "select contract_id, metric_id, group_value, period_start, value "
                "from sandbox.usage_aggregates"
            )
        ),
        "totals": tuple(
            int(total)  # a Decimal on PostgreSQL
            for total in wh.query(
                "select sum(received), sum(loaded), sum(duplicates), sum(quarantined) "
                "from sandbox.usage_event_counts"
            )[0]
        ),
        "quarantined": sorted(wh.query("select event_id, reason from quarantine.usage_events")),
    }
    if billed:
        state["invoices"] = sorted(
            (i, f"{t:.2f}") for i, t in wh.query("select invoice_id, total from sandbox.invoices")
        )
        state["lines"] = sorted(
            (i, p, f"{a:.2f}")
            for i, p, a in wh.query(
                "select invoice_id, product_id, amount from sandbox.invoice_lines"
            )
        )
    return state


#: the nights after which the tests compare invoices too (the others compare the usage)
BILLED_NIGHTS = (3, 4, 5)


def _full_rebuild(plan: Path, tmp_path: Path, night: int) -> dict:
    url = f"duckdb:///{tmp_path}/full_{night}.duckdb"
    billed = night in BILLED_NIGHTS
    run = run_stages(plan, url, through="billing" if billed else "metering")
    assert run.success, [s.error for s in run.stages]
    return _state(url, billed)


@pytest.fixture(scope="session")
def rebuilt(tmp_path_factory, worker_id):
    """``rebuilt(plan, tmp_path, night)``: the state of a full rebuild after a night, computed
    once per test session and shared (through a file) by every test and worker that asks for
    the same night after it was written: the same raw events give the same rebuild, whichever
    warehouse the nightly run under test used. States compare as JSON (tuples as lists)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent

    def get(plan: Path, tmp_path: Path, night: int) -> object:
        path = shared / f"nightly-full-rebuild-{night}.json"
        if path.exists():
            return json.loads(path.read_text())
        try:
            # never wait for another worker's rebuild (a waiting worker is an idle core)
            with FileLock(f"{path}.lock", timeout=0):
                state = _as_json(_full_rebuild(plan, tmp_path, night))
                written = path.with_suffix(".partial")
                written.write_text(json.dumps(state))
                written.replace(path)  # whole, or not there
                return state
        except Timeout:
            return _as_json(_full_rebuild(plan, tmp_path, night))

    return get


def _as_json(state: dict) -> object:
    return json.loads(json.dumps(state))


def test_three_nights_equal_a_full_rebuild_every_night(warehouse_url, tmp_path, rebuilt):
    plan = _company(tmp_path)
    run = run_stages(plan, warehouse_url, through="billing")
    assert run.success, [s.error for s in run.stages]
    wh = warehouse_from_url(warehouse_url)
    for night in (1, 2, 3):
        _add_night(plan, night)
        outcome = run_usage(plan, warehouse_url)
        assert outcome.success, outcome.error
        # the night's batch: what it read and loaded
        batch = outcome.metadata["raw/usage_events"]
        rows = len(NIGHTS[night - 1])
        assert (batch["rows_read"], batch["rows_loaded"], batch["rows_skipped"]) == (rows, rows, 0)
        billed = night in BILLED_NIGHTS
        if billed:  # billing on top of the nights (the nightly job itself bills nothing)
            run = run_stages(plan, warehouse_url, through="billing")
            assert run.success, [s.error for s in run.stages]
        # every batch reconciles, and all of them cover every row received
        for received, loaded, duplicates, quarantined in wh.query(
            "select received, loaded, duplicates, quarantined from sandbox.usage_event_counts"
        ):
            assert received == loaded + duplicates + quarantined
        state = _state(warehouse_url, billed)
        assert state["totals"][0] == wh.scalar("select count(*) from raw.usage_events")
        assert _as_json(state) == rebuilt(plan, tmp_path, night), f"night {night}"

    state = _state(warehouse_url)
    # e1's repeat of night 1 was a duplicate until night 3's conflicting copy: all three of e1's
    # copies are quarantined now, and the repeats of n1-b and n3-a are the duplicates
    assert state["totals"] == (1410 + 10, 1410 + 10 - 2 - 7, 2, 7)
    assert ("e2", "conflicting_event_id") in state["quarantined"]
    assert ("n1-a", "conflicting_event_id") in state["quarantined"]
    assert state["quarantined"].count(("e1", "conflicting_event_id")) == 3
    # the late call of night 2 (the period's last second) is billed in September
    order = wh.scalar("select total from sandbox.invoices where invoice_id = 'K_ORDER-20260901'")
    assert f"{order:.2f}" == "27.50"  # a minimum of 25 covers two more calls, plus 10 % tax

    # a backfill of September changes nothing; re-running one day neither
    before = _state(warehouse_url)
    outcome = run_usage(plan, warehouse_url, first_day="2026-09-01", last_day="2026-09-30")
    assert outcome.success, outcome.error
    assert _state(warehouse_url)["aggregates"] == before["aggregates"]
    assert run_usage(plan, warehouse_url, first_day="2026-09-15").success
    assert run_usage(plan, warehouse_url, first_day="2026-09-15").success
    assert _state(warehouse_url)["aggregates"] == before["aggregates"]
    assert _state(warehouse_url)["totals"] == before["totals"]

    # a night with an event of a customer not accepted yet; then the customers change: C14 is
    # accepted, C04 removed. The next run classifies again the rows of those two customers,
    # only, and equals a rebuild
    _add_night(plan, 4)
    assert run_usage(plan, warehouse_url).success
    assert ("n4-a", "unknown_customer") in _state(warehouse_url, billed=False)["quarantined"]
    customers = plan.parent / "data" / "customers.csv"
    lines = [x for x in customers.read_text().splitlines() if not x.startswith("C04,")]
    customers.write_text("\n".join([*lines, "C14,Customer late,,,USD,"]) + "\n")
    run = run_stages(plan, warehouse_url, through="billing")
    assert run.success, [s.error for s in run.stages]
    state = _state(warehouse_url)
    assert _as_json(state) == rebuilt(plan, tmp_path, 5)
    assert ("n4-a", "unknown_customer") not in state["quarantined"]
    assert ("e3", "unknown_customer") in state["quarantined"]
    assert state["totals"] == (1410 + 11, 1410 + 11 - 2 - 8, 2, 8)


def _drop_seq(path: Path) -> None:
    rows = list(csv.DictReader(path.open()))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEADER[1:], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def test_nights_as_new_files_append_only_them_and_a_changed_file_reloads_all(tmp_path, rebuilt):
    """Without an incremental column, a glob of files is read whole the first time; a night's
    new file beside the ones read before, all unchanged, is the only one read (and appended,
    so the usage models run incrementally); an old file rewritten reloads every file."""
    plan = _company(tmp_path)
    plan.write_text(plan.read_text().replace(", incremental_column: seq", ""))
    _drop_seq(plan.parent / "data" / "usage_2026_09.csv")  # else seq would be a property
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    assert run_stages(plan, url, through="billing").success
    wh = warehouse_from_url(url)
    for night in (1, 2, 3):
        _add_night(plan, night)
        _drop_seq(plan.parent / "data" / f"usage_night_{night}.csv")
        outcome = run_usage(plan, url)
        assert outcome.success, outcome.error
        batch = outcome.metadata["raw/usage_events"]
        rows = len(NIGHTS[night - 1])
        assert (batch["mode"], batch["rows_read"], batch["rows_loaded"]) == ("append", rows, rows)
    # after the three nights (each night is held to a rebuild by the test above): the same
    # state as a rebuild after the incremental-column test's third night, which read the same
    # events through a sequence column
    assert run_stages(plan, url, through="billing").success
    assert _as_json(_state(url)) == rebuilt(plan, tmp_path, 3)
    assert _state(url)["totals"] == (1410 + 10, 1410 + 10 - 2 - 7, 2, 7)

    # night 2's file corrected in place: every file is read again, and the batch replaces all
    night_2 = plan.parent / "data" / "usage_night_2.csv"
    night_2.write_text(night_2.read_text().replace("999", "998"))
    outcome = run_usage(plan, url)
    assert outcome.success, outcome.error
    batch = outcome.metadata["raw/usage_events"]
    assert (batch["mode"], batch["rows_read"]) == ("full", 1410 + 10)
    assert wh.scalar("select count(*) from raw.usage_events") == 1410 + 10
    assert run_stages(plan, url, through="billing").success
    assert _state(url) == _full_rebuild(plan, tmp_path, 4)


def test_a_duplicate_left_by_a_failed_run_fails_the_next_night(tmp_path):
    """The usage models' uniqueness tests check the rows a nightly run can have touched (past
    the last classified arrival number): a duplicate event id that an interrupted run left
    behind, past that number, fails the next night by name, beside the copy loaded before
    (e3: no copy of it arrives that night, which would count its copies again into one row)."""
    plan = _company(tmp_path)
    url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    assert run_stages(plan, url, through="metering").success
    wh = warehouse_from_url(url)
    classified = wh.scalar("select max(received_no) from staging.int_usage_events_classified")
    wh.execute(
        "insert into staging.int_usage_event_ids select event_id, first_received_no, "
        f"{classified + 5}, copies, is_conflict from staging.int_usage_event_ids "
        "where event_id = 'e3'"
    )
    _add_night(plan, 1)
    outcome = run_usage(plan, url)
    assert not outcome.success
    assert "Failure in test unique_arrived_int_usage_event_ids_" in outcome.error
    assert "Got 1 result" in outcome.error  # e3, twice


def test_a_metering_interrupted_before_its_record_adds_nothing_twice(
    warehouse_url, tmp_path, rebuilt, monkeypatch
):
    """A night whose metering built the usage models but stopped before noting it (the process
    killed between the two): the next run re-aggregates the same days again, counts nothing
    twice, and equals a rebuild; so does the night after."""
    import golive.usage

    plan = _company(tmp_path)
    assert run_stages(plan, warehouse_url, through="billing").success
    wh = warehouse_from_url(warehouse_url)
    metered = "select seq from raw.usage_build_state where model_set = 'metering'"
    before = wh.scalar(metered)

    def interrupted(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(golive.usage, "record_metering", interrupted)
    _add_night(plan, 1)
    assert not run_usage(plan, warehouse_url).success
    assert wh.scalar(metered) == before  # the aggregates hold night 1; the record does not
    monkeypatch.undo()

    assert run_usage(plan, warehouse_url).success
    assert wh.scalar(metered) > before
    assert _as_json(_state(warehouse_url, billed=False)) == rebuilt(plan, tmp_path, 1)
    _add_night(plan, 2)
    assert run_usage(plan, warehouse_url).success
    assert _as_json(_state(warehouse_url, billed=False)) == rebuilt(plan, tmp_path, 2)


def test_two_nights_on_snowflake_equal_a_full_rebuild(snowflake_url_for, tmp_path, rebuilt):
    """The incremental usage models on Snowflake (a fakesnow server): two nights with late,
    repeated and conflicting events end where a full rebuild on DuckDB does."""
    plan = _company(tmp_path)
    run = run_stages(plan, snowflake_url_for, through="billing")
    assert run.success, [s.error for s in run.stages]
    for night in (1, 2):
        _add_night(plan, night)
        outcome = run_usage(plan, snowflake_url_for)
        assert outcome.success, outcome.error
        state = _state(snowflake_url_for, billed=False)
        assert _as_json(state) == rebuilt(plan, tmp_path, night), f"night {night}"
    assert state["totals"][0] == 1410 + 6


def test_a_release_that_reads_events_otherwise_rebuilds_the_usage_models(tmp_path, monkeypatch):
    """A warehouse classified under earlier reading rules is rebuilt once (golive/usage.py,
    READING_RULES), not added to: stored events would otherwise keep what the old rules said."""
    from golive import usage
    from golive.plan import load_plan

    plan = _company(tmp_path)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    assert run_stages(plan, url, through="sandbox_load").success
    wh = warehouse_from_url(url)
    assert not usage.plan_classification(wh, load_plan(plan)).rebuild
    monkeypatch.setattr(usage, "READING_RULES", usage.READING_RULES + 1)
    step = usage.plan_classification(wh, load_plan(plan))
    assert step.rebuild and "reading rules" in step.reason
