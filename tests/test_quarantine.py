"""Bad rows get their quarantine reason and lose nothing; counts reconcile (docs/billing-rules.md
§7, §11). Also: offsets in timestamps are converted, and usage outside the contract is reported."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from connectors.warehouse import warehouse_from_url
from orchestration.runner import run_stages

FIXTURE = Path(__file__).parent / "fixtures" / "worked_examples"

BAD_EVENTS = [
    # event_id, customer_id, event_name, timestamp, n, properties -> expected status/reason
    ("e1", "C02", "use", "2026-09-15T12:00:00Z", "2000000", None, "duplicate"),  # e1 again
    ("x1", "C02", "use", "2026-09-10T00:00:00Z", "5", None, "conflicting_event_id"),
    ("x1", "C02", "use", "2026-09-10T00:00:00Z", "6", None, "conflicting_event_id"),
    ("u1", "C404", "use", "2026-09-10T00:00:00Z", "5", None, "unknown_customer"),
    ("t1", "C02", "use", "yesterday", "5", None, "unparseable_timestamp"),
    ("t2", "C02", "use", "2026-02-30T10:00:00Z", "5", None, "unparseable_timestamp"),
    ("n1", "C02", "use", "2026-09-10T00:00:00Z", "lots", None, "non_numeric_value"),
    ("m1", "C02", "use", "2026-09-10T00:00:00Z", "", None, "missing_numeric_property"),
    ("j1", "C02", "use", "2026-09-10T00:00:00Z", "", "not json", "properties_not_a_json_object"),
    # n both as a column and in the JSON: which value is meant cannot be told
    ("j2", "C02", "use", "2026-09-10T00:00:00Z", "5", '{"n": 6}', "properties_not_a_json_object"),
    # an array is not an object, whatever the columns add to it
    ("j3", "C02", "use", "2026-09-10T00:00:00Z", "5", "[1, 2]", "properties_not_a_json_object"),
    ("", "C02", "use", "2026-09-10T00:00:00Z", "5", None, "missing_event_id"),
    # accepted: an offset timestamp that is 2026-09-01T00:30Z, in September for C50's contract
    ("tz1", "C50", "use", "2026-08-31T23:30:00-01:00", "7", None, "loaded"),
    # accepted but before C50's contract starts: reported as unbilled
    ("early", "C50", "use", "2026-08-15T12:00:00Z", "3", None, "loaded"),
]


def _company(tmp_path: Path) -> Path:
    root = tmp_path / "company"
    shutil.copytree(FIXTURE, root)
    with open(root / "data" / "usage_bad.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["event_id", "customer_id", "event_name", "timestamp", "n", "properties"])
        for event_id, cust, name, ts, n, props, _ in BAD_EVENTS:
            w.writerow([event_id, cust, name, ts, n, props or ""])
    with open(root / "data" / "customers.csv", "a", newline="") as f:
        csv.writer(f).writerow(["C50", "Zone customer", "", "", "USD", ""])
    with open(root / "data" / "contracts.csv", "a", newline="") as f:
        w = csv.writer(f)
        w.writerow(["K_TZ", "C50", "2026-09-01", "", "USD", "P1M", "", "", "", "", ""])
        w.writerow(["K_BADCUST", "C404", "2026-09-01", "", "USD", "P1M", "", "", "", "", ""])
        w.writerow(["K_BADPERIOD", "C50", "2026-09-01", "", "USD", "P2W", "", "", "", "", ""])
        w.writerow(["K_BADDATE", "C50", "2026-09-31", "", "USD", "P1M", "", "", "", "", ""])
    with open(root / "data" / "contract_lines.csv", "a", newline="") as f:
        w = csv.writer(f)
        w.writerow(["K_TZ", "requests", "", "", "", "", "", ""])
        w.writerow(["K_TZ", "no_such_product", "", "", "", "", "", ""])
    return root / "plan.yaml"


def test_bad_rows_are_quarantined_with_their_reason(tmp_path, warehouse_url):
    plan = _company(tmp_path)
    run = run_stages(plan, warehouse_url, through="metering")
    assert run.success, [s.error for s in run.stages]
    sandbox_load = next(s for s in run.stages if s.stage == "sandbox_load")
    assert sandbox_load.checks["sandbox/usage_event_counts/counts_reconcile"] is True
    wh = warehouse_from_url(warehouse_url)

    quarantined = {}
    for event_id, reason in wh.query("select event_id, reason from quarantine.usage_events"):
        quarantined.setdefault(event_id or "", []).append(reason)
    expected = {}
    for event_id, *_, status in BAD_EVENTS:
        if status not in ("loaded", "duplicate"):
            expected.setdefault(event_id, []).append(status)
    assert {k: sorted(v) for k, v in quarantined.items()} == {
        k: sorted(v) for k, v in expected.items()
    }

    # nothing lost: received = loaded + duplicates + quarantined
    counts = dict(
        wh.query("select status, count(*) from staging.int_usage_events_classified group by 1")
    )
    received = wh.scalar("select count(*) from raw.usage_events")
    assert received == 1410 + len(BAD_EVENTS)
    assert counts == {"loaded": 1410 + 2, "duplicate": 1, "quarantined": len(BAD_EVENTS) - 3}
    # the counts table (it outlives any Dagster instance) says the same, per batch
    table = wh.query(
        "select batch_no, received, loaded, duplicates, quarantined from sandbox.usage_event_counts"
    )
    assert table == [(1, received, 1412, 1, len(BAD_EVENTS) - 3)]

    # -01:00 converted: the event is on 1 September UTC, billed in K_TZ's first period
    assert [
        tuple(map(str, r))
        for r in wh.query(
            "select period_start, value from sandbox.usage_aggregates where contract_id = 'K_TZ'"
        )
    ] == [("2026-09-01", "7.0000000000")]
    # usage before the contract starts is reported, never billed
    assert wh.query("select event_id, reason from sandbox.usage_unbilled") == [
        ("early", "outside_contract_dates")
    ]

    # bad contracts and lines are quarantined too, each with its reason
    records = set(wh.query("select dataset, record_key, reason from quarantine.records"))
    assert records == {
        ("contracts", "K_BADCUST", "unknown_customer"),
        ("contracts", "K_BADPERIOD", "unknown_billing_period"),
        ("contracts", "K_BADDATE", "unparseable_start_date"),
        ("contract_lines", "K_TZ/no_such_product", "unknown_product"),
    }
