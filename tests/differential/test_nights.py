"""Usage that arrives over several nights, in any order, ends where one run over all of it does.

A company Hypothesis draws (strategies.py: every aggregation, events at the instants where
rules meet, repeats and conflicting copies) gets its events in an order unrelated to their
timestamps, split over a first load and three nights, each night a new file beside the ones
read before. After the nights and a billing run, the aggregates, the counts, the quarantine,
the invoices and their lines equal those of one run over the same files on a new DuckDB
warehouse: whatever each night re-aggregated (docs/billing-rules.md §13.3), nothing is
counted twice or lost. Run on DuckDB and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.warehouse import warehouse_from_url
from orchestration.runner import run_stages, run_usage

from .harness import company_of, pipeline_examples, write_bundle, write_events
from .strategies import companies

#: the share of the events each arrival brings (the first load, then three nights)
SHARES = (0.4, 0.2, 0.2, 0.2)


def _state(url: str) -> dict:
    wh = warehouse_from_url(url)
    return {
        "aggregates": sorted(
            (c, m, str(g), str(p), f"{v}")
            for c, m, g, p, v in wh.query(
                "select contract_id, metric_id, group_value, period_start, value "
                "from sandbox.usage_aggregates"
            )
        ),
        "totals": [
            int(t)
            for t in wh.query(
                "select sum(received), sum(loaded), sum(duplicates), sum(quarantined) "
                "from sandbox.usage_event_counts"
            )[0]
        ],
        "quarantined": sorted(
            (str(i), r) for i, r in wh.query("select event_id, reason from quarantine.usage_events")
        ),
        "invoices": sorted(
            (i, f"{t:.2f}") for i, t in wh.query("select invoice_id, total from sandbox.invoices")
        ),
        "lines": sorted(
            (i, p, f"{a:.2f}")
            for i, p, a in wh.query(
                "select invoice_id, product_id, amount from sandbox.invoice_lines"
            )
        ),
    }


@pytest.mark.slow
@pipeline_examples(2)
@given(company=companies(min_contracts=10, max_contracts=20), arrival=st.randoms())
def test_nights_in_any_order_equal_one_run_over_all_events(
    company, arrival, new_warehouse, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("company")
    plan = write_bundle(company, folder)
    data = folder / "data"
    (data / "usage.parquet").unlink()
    plan.write_text(plan.read_text().replace("data/usage.parquet", "data/usage_*.parquet"))
    events = list(company.events)
    arrival.shuffle(events)
    bounds = [0]
    for share in SHARES:
        bounds.append(min(len(events), bounds[-1] + round(share * len(events))))
    bounds[-1] = len(events)
    arrivals = [events[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]

    url = new_warehouse()
    write_events(arrivals[0], data / "usage_0.parquet")
    run = run_stages(plan, url, through="billing")
    assert run.success, [(s.stage, s.error) for s in run.stages if not s.success]
    for night, arrived in enumerate(arrivals[1:], start=1):
        write_events(arrived, data / f"usage_{night}.parquet")
        outcome = run_usage(plan, url)
        assert outcome.success, outcome.error
        assert outcome.metadata["raw/usage_events"]["rows_loaded"] == len(arrived)
    run = run_stages(plan, url, through="billing")
    assert run.success, [(s.stage, s.error) for s in run.stages if not s.success]

    whole = f"duckdb:///{tmp_path_factory.mktemp('whole')}/warehouse.duckdb"
    run = run_stages(plan, whole, through="billing")
    assert run.success, [(s.stage, s.error) for s in run.stages if not s.success]
    nightly, once = _state(url), _state(whole)
    assert nightly["totals"][0] == len(events)
    for part in once:
        assert nightly[part] == once[part], f"{part} differ (bundle in {folder})"


def _product(metric: str) -> dict:
    return {
        "id": f"p_{metric}",
        "metric": metric,
        "pricing": {"model": "per_unit", "unit_price": "1"},
    }


#: one day per way a night's events can meet the ones stored before (docs/billing-rules.md §13.3)
AFTER, BEFORE, BETWEEN, CHANGED = "2024-05-10", "2024-05-12", "2024-05-14", "2024-05-16"


def _events(day: str, *items: tuple[str, str, dict]) -> list[tuple[str, str, str, dict]]:
    return [("K", name, f"{day}T{time}Z", props) for time, name, props in items]


#: what the first load brings on every day, then each night: (name of an event, ...)
FIRST = [
    e
    for day in (AFTER, BEFORE, BETWEEN, CHANGED)
    for e in _events(
        day,
        ("10:00:00", "gauge", {"level": 4}),
        ("10:00:00", "usage", {"qty": 5}),
        ("10:00:00", "login", {"user": "a"}),
    )
]
NIGHTS = [
    # after the stored events of the day
    _events(
        AFTER,
        ("14:00:00", "gauge", {"level": 6}),
        ("14:00:00", "usage", {"qty": 1}),
        ("15:00:00", "usage", {"qty": 9}),
        ("14:00:00", "login", {"user": "b"}),
        ("15:00:00", "login", {"user": "a"}),
    )
    + _events(CHANGED, ("14:00:00", "gauge", {"level": 6}), ("14:00:00", "usage", {"qty": 3})),
    # before them
    _events(
        BEFORE,
        ("06:00:00", "gauge", {"level": 3}),
        ("06:00:00", "usage", {"qty": 7}),
        ("06:00:00", "login", {"user": "c"}),
    ),
    # between them (a level held from 10:00 changes at 12:00); and after again on the first day
    _events(BETWEEN, ("12:00:00", "gauge", {"level": 8}), ("12:00:00", "usage", {"qty": 2}))
    + _events(AFTER, ("16:00:00", "gauge", {"level": 1})),
    # a copy of night 1's level on the last day that conflicts with it: both are quarantined
    _events(CHANGED, ("14:00:00", "gauge", {"level": 7}))
    + _events(AFTER, ("17:00:00", "login", {"user": "a"})),
]


@pytest.mark.slow
def test_each_way_a_night_updates_a_day_equals_one_run(new_warehouse, tmp_path):
    """Events after a day's stored ones, before them, between them (weighted_sum), and a
    conflicting copy of one loaded before: after four nights, the same aggregates and invoices
    as one run over all the events."""
    products = [_product(m) for m in ("level", "level_time", "qty_min", "qty_max", "qty_sum")]
    products.append(_product("users"))
    contracts = [{"contract_id": "K", "currency": "USD", "start_date": "2024-05-01"}]
    lines = [{"contract_id": "K", "product_id": p["id"]} for p in products]
    company = company_of(products, contracts, lines, FIRST + [e for n in NIGHTS for e in n])
    # the conflicting copy has the id of the level it conflicts with
    conflicting = company.events[-2]
    assert conflicting["event_name"] == "gauge" and CHANGED in conflicting["timestamp"]
    original = next(
        e
        for e in company.events[len(FIRST) :]
        if e["event_name"] == "gauge" and e["timestamp"] == f"{CHANGED}T14:00:00Z"
    )
    conflicting["event_id"] = original["event_id"]

    plan = write_bundle(company, tmp_path)
    data = tmp_path / "data"
    (data / "usage.parquet").unlink()
    plan.write_text(plan.read_text().replace("data/usage.parquet", "data/usage_*.parquet"))
    arrivals, at = [], 0
    for size in [len(FIRST)] + [len(n) for n in NIGHTS]:
        arrivals.append(company.events[at : at + size])
        at += size

    url = new_warehouse()
    write_events(arrivals[0], data / "usage_0.parquet")
    assert run_stages(plan, url, through="billing").success
    for night, arrived in enumerate(arrivals[1:], start=1):
        write_events(arrived, data / f"usage_{night}.parquet")
        outcome = run_usage(plan, url)
        assert outcome.success, outcome.error
    assert run_stages(plan, url, through="billing").success
    whole = f"duckdb:///{tmp_path}/whole.duckdb"
    assert run_stages(plan, whole, through="billing").success
    nightly, once = _state(url), _state(whole)
    for part in once:
        assert nightly[part] == once[part], part
    assert nightly["totals"] == [len(company.events), len(company.events) - 2, 0, 2]
    # May's level time: 4 from the 10th 10:00, then 6, 1, ... held until the next level
    values = {m: v for _, m, _, _, v in nightly["aggregates"]}
    assert values["qty_sum"] == f"{Decimal(5 * 4 + 1 + 9 + 3 + 7 + 2):.10f}"
    assert values["qty_min"] == f"{Decimal(1):.10f}"
    assert values["qty_max"] == f"{Decimal(9):.10f}"
    assert values["users"] == f"{Decimal(3):.10f}"  # a, b, c
    assert values["level"] == f"{Decimal(4):.10f}"  # the 16th's 10:00 level, the last one


def _reasons(url: str) -> list[tuple[str, str]]:
    wh = warehouse_from_url(url)
    return sorted(
        (str(i), r) for i, r in wh.query("select event_id, reason from quarantine.usage_events")
    )


@pytest.mark.slow
def test_a_removed_customer_is_classified_again_whatever_its_reason(warehouse_url, tmp_path):
    """docs/billing-rules.md §7.3, §13.2: when a customer is removed, every event of theirs is
    unknown_customer, the ones quarantined for a later reason too (an unparseable timestamp,
    a non-numeric value), as one run over the same files says; when the customer comes back,
    each gets its own reason again. A reason before unknown_customer (missing_event_name)
    stays, and another customer's events are not touched."""
    products = [_product("qty_sum"), _product("calls")]
    contracts = [
        {"contract_id": "K", "currency": "USD", "start_date": "2024-05-01"},
        {"contract_id": "L", "currency": "USD", "start_date": "2024-05-01"},
    ]
    lines = [
        {"contract_id": "K", "product_id": "p_qty_sum"},
        {"contract_id": "L", "product_id": "p_calls"},
    ]
    events = [
        ("K", "usage", "yesterday", {"qty": 1}),
        ("K", "usage", "2024-05-11T10:00:00Z", {"qty": "abc"}),
        ("K", "usage", "2024-05-12T10:00:00Z", {"qty": 3}),
        ("K", "", "2024-05-12T11:00:00Z", {}),
        ("L", "call", "2024-05-12T10:00:00Z", {"qty": "abc"}),
    ]
    plan = write_bundle(company_of(products, contracts, lines, events), tmp_path)
    assert run_stages(plan, warehouse_url, through="metering").success
    own = [
        ("evt_000000", "unparseable_timestamp"),
        ("evt_000001", "non_numeric_value"),
        ("evt_000003", "missing_event_name"),
    ]
    assert _reasons(warehouse_url) == own

    customers = plan.parent / "data" / "customers.csv"
    kept = customers.read_text()
    customers.write_text(
        "".join(x for x in kept.splitlines(keepends=True) if not x.startswith("C-K,"))
    )
    assert run_stages(plan, warehouse_url, through="metering").success
    whole = f"duckdb:///{tmp_path}/whole.duckdb"
    assert run_stages(plan, whole, through="metering").success
    assert (
        _reasons(warehouse_url)
        == _reasons(whole)
        == [
            ("evt_000000", "unknown_customer"),
            ("evt_000001", "unknown_customer"),
            ("evt_000002", "unknown_customer"),
            ("evt_000003", "missing_event_name"),
        ]
    )
    counts = warehouse_from_url(warehouse_url).query(
        "select sum(received), sum(loaded), sum(duplicates), sum(quarantined)"
        " from sandbox.usage_event_counts"
    )
    assert [int(n) for n in counts[0]] == [5, 1, 0, 4]

    customers.write_text(kept)
    assert run_stages(plan, warehouse_url, through="metering").success
    assert _reasons(warehouse_url) == own
    values = warehouse_from_url(warehouse_url).query(
        "select contract_id, value from sandbox.usage_aggregates"
        " where metric_id in ('qty_sum', 'calls')"
    )
    assert sorted((str(k), Decimal(str(v))) for k, v in values) == [("K", 3), ("L", 1)]
