"""The demo company's usage events: millions of rows, column-wise, with a few bad ones.

Events are generated with numpy and formatted with pyarrow compute functions: there is no
Python loop per event. Each customer emits events from a few days before its contract starts
to a few days after it ends, weighted towards the products it subscribes to; timestamps are
written mostly in UTC, some in local offsets, a third of the storage snapshots exactly on a
midnight. A small share of rows carries exactly one defect each (a repeat, a conflicting id,
an unknown customer, a timestamp that breaks the timestamp rule, a non-numeric or an
out-of-range value), and some carry a non-numeric value that no metric reads because a filter
excludes the event, which must be loaded, not quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from golive.demo.catalogue import (
    API,
    CHANNELS,
    COMPUTE,
    DAY_MS,
    DEVICE,
    EGRESS,
    ENDPOINTS,
    EPOCH,
    EVENT_NAMES,
    LOGIN,
    MESSAGE,
    PAYMENT,
    PAYMENT_STATUSES,
    PRICE_POINTS,
    PRODUCT_EVENT,
    REGIONS,
    SALE,
    STORAGE,
    USAGE_END,
    USAGE_START,
    day_number,
)
from golive.demo.masterdata import Company

_BASE_EVENT_WEIGHT = np.array([1.0, 0.1, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.03])
_SUBSCRIBED_EVENT_WEIGHT = np.array([4.0, 0.5, 2.0, 2.5, 1.5, 1.0, 2.0, 1.0, 1.5, 0.3])

_PAYMENT_STATUS_P = [0.9, 0.07, 0.03]
# Written offsets: most events in UTC ("Z"), some from systems that log local time.
_OFFSETS = [("Z", 0), ("+02:00", 120), ("-05:00", -300), ("+05:30", 330), ("+09:00", 540)]
_OFFSET_P = [0.88, 0.04, 0.04, 0.02, 0.02]

#: Share of the rows per kind of bad row (at least one each); seven kinds, about 0.03 % of the
#: rows in all, far below the sign-off's ``max_quarantined_event_ratio`` of 0.1 %.
BAD_ROW_SHARE = 0.00004
#: The kinds of bad rows. ``non_numeric_property`` is quarantined as ``non_numeric_value``;
#: ``filtered_non_numeric`` rows are loaded (no metric reads their value).
BAD_ROW_KINDS = (
    "duplicate",
    "conflicting_event_id",
    "unknown_customer",
    "unparseable_timestamp",
    "non_numeric_property",
    "value_out_of_range",
    "filtered_non_numeric",
)

# Timestamps that break the timestamp rule: words, impossible dates, a leap second, hour 24,
# an offset of 24 hours, a one-digit month, ten fraction digits, a lower-case "t".
BAD_TIMESTAMPS = [
    "2026-13-45T99:00:00Z",
    "yesterday",
    "2026-02-30T10:00:00Z",
    "not-a-timestamp",
    "2026-09-10T10:00:60Z",
    "2026-09-10T24:00:00Z",
    "2026-09-10T10:00:00+24:00",
    "2026-9-10T10:00:00Z",
    "2026-09-10T10:00:00.1234567890Z",
    "2026-09-10t10:00:00Z",
]
# (event name, properties) with a non-numeric value where a sum/min/max/avg/weighted_sum metric
# reads.
NON_NUMERIC = [
    ("compute", '{"seconds": "lots", "region": "eu-west-1"}'),
    ("storage", '{"gb": "n/a"}'),
    ("api_call", '{"endpoint": "/v1/orders", "ms": "fast"}'),
    ("message", '{"count": "many", "channel": "sms"}'),
    ("device_report", '{"devices": 12, "pct": "unknown"}'),
    ("payment", '{"amount": "12,50", "status": "succeeded"}'),
    ("egress", '{"gb": "1.2 GB", "region": "us-east-1"}'),
    ("sale", '{"units": "three", "unit_price": 19.99}'),
    ("capacity", '{"vcpus": "eight"}'),
]
# (event name, properties) with a value a numeric metric reads at or beyond 10^15 in size.
OUT_OF_RANGE = [
    ("compute", '{"seconds": 1000000000000000, "region": "eu-west-1"}'),
    ("storage", '{"gb": "2e15"}'),
    ("payment", '{"amount": -1e16, "status": "succeeded"}'),
    ("capacity", '{"vcpus": "999999999999999999"}'),
]
# Payments that did not succeed, with an amount nobody could read: payment_volume's filter
# (status succeeded) leaves them out and no other numeric metric reads payments, so they are
# loaded, not quarantined.
FILTERED_NON_NUMERIC = [
    ("payment", '{"amount": "pending", "status": "failed"}'),
    ("payment", '{"amount": "12,50", "status": "refunded"}'),
]


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: Any) -> pa.Array:
    """Concatenate string arrays and constants element-wise."""
    return pc.binary_join_element_wise(*parts, "")


def _decimal_text(values: np.ndarray, scale: int) -> pa.Array:
    """Exact decimal text of ``values / 10**scale`` with no trailing zeros ("12.5", "7")."""
    unit = 10**scale
    whole = _str(values // unit)
    frac = values % unit
    digits = pc.utf8_rtrim(pc.utf8_lpad(_str(frac), scale, "0"), characters="0")
    dot = pa.array(np.where(frac != 0, ".", ""))
    return _join(whole, dot, digits)


def _scatter(n: int, pieces: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """Assemble one array of length ``n`` from (row indices, values) pieces."""
    order = np.concatenate([idx for idx, _ in pieces])
    values = pa.concat_arrays([arr for _, arr in pieces])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n, dtype=np.int64)
    return values.take(pa.array(inverse))


class _Timestamps:
    """Formats epoch milliseconds as ISO 8601 through lookup tables (fast for millions)."""

    def __init__(self) -> None:
        self.day0 = day_number(USAGE_START) - 2
        days = range(self.day0, day_number(USAGE_END) + 2)
        self.dates = pa.array([(EPOCH + timedelta(days=d)).isoformat() + "T" for d in days])
        self.times = pa.array(
            [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
        )
        self.millis = pa.array([f".{m:03d}" for m in range(1000)] + [""])
        self.suffixes = pa.array([suffix for suffix, _ in _OFFSETS])
        self.offsets_ms = np.array([minutes * 60_000 for _, minutes in _OFFSETS])

    def format(self, ts_ms: np.ndarray, with_ms: np.ndarray, offset: np.ndarray) -> pa.Array:
        local = ts_ms + self.offsets_ms[offset]
        ms = np.where(with_ms, local % 1000, 1000)
        return _join(
            self.dates.take(pa.array(local // DAY_MS - self.day0)),
            self.times.take(pa.array(local % DAY_MS // 1000)),
            self.millis.take(pa.array(ms)),
            self.suffixes.take(pa.array(offset)),
        )


def _properties(etype: np.ndarray, v: np.ndarray, v2: np.ndarray, quoted: np.ndarray) -> pa.Array:
    """The JSON ``properties`` of each event, built per event type with string kernels."""
    pieces = []
    endpoints, regions, channels = pa.array(ENDPOINTS), pa.array(REGIONS), pa.array(CHANNELS)
    statuses, prices = pa.array(PAYMENT_STATUSES), pa.array(PRICE_POINTS)
    for t in range(len(EVENT_NAMES)):
        idx = np.flatnonzero(etype == t)
        if idx.size == 0:
            continue
        a, b = v[idx], v2[idx]
        q = pa.array(np.where(quoted[idx], '"', ""))
        if t == API:
            s = _join(
                '{"endpoint": "', endpoints.take(pa.array(b)), '", "ms": ', _decimal_text(a, 1), "}"
            )
        elif t == STORAGE:
            s = _join('{"gb": ', q, _decimal_text(a, 3), q, "}")
        elif t == COMPUTE:
            s = _join(
                '{"seconds": ',
                q,
                _decimal_text(a, 3),
                q,
                ', "region": "',
                regions.take(pa.array(b)),
                '"}',
            )
        elif t == LOGIN:
            s = _join('{"user_id": "usr_', pc.utf8_lpad(_str(a), 4, "0"), '"}')
        elif t == MESSAGE:
            s = _join('{"count": ', _str(a), ', "channel": "', channels.take(pa.array(b)), '"}')
        elif t == DEVICE:
            s = _join('{"devices": ', _str(a), ', "pct": ', _str(b), "}")
        elif t == PAYMENT:
            s = _join(
                '{"amount": ',
                q,
                _decimal_text(a, 2),
                q,
                ', "currency_hint": "card", "status": "',
                statuses.take(pa.array(b)),
                '"}',
            )
        elif t == EGRESS:
            s = _join(
                '{"region": "', regions.take(pa.array(b)), '", "gb": ', _decimal_text(a, 3), "}"
            )
        elif t == SALE:
            s = _join('{"units": ', _str(a), ', "unit_price": ', prices.take(pa.array(b)), "}")
        else:
            s = _join('{"vcpus": ', _str(a), "}")
        pieces.append((idx, s))
    return _scatter(len(etype), pieces)


@dataclass
class Usage:
    """Clean events as numbers (the billed truth), aligned by row."""

    cust: np.ndarray
    etype: np.ndarray
    ts: np.ndarray
    v: np.ndarray
    v2: np.ndarray
    ids: np.ndarray
    billed: np.ndarray  # False for events quarantined by a conflicting duplicate id


@dataclass
class GeneratedEvents:
    """The events as written (``table``, bad rows included) and the clean ones as numbers."""

    usage: Usage
    table: pa.Table
    #: rows written per kind of bad row (BAD_ROW_KINDS)
    bad_rows: dict[str, int]

    def expected_counts(self) -> dict[str, Any]:
        """What the event rules (docs/billing-rules.md §7) make of ``table``: received, accepted,
        duplicates, quarantined per reason (every row of a conflicting id counts)."""
        b = self.bad_rows
        quarantined = {
            "conflicting_event_id": 2 * b["conflicting_event_id"],
            "unknown_customer": b["unknown_customer"],
            "unparseable_timestamp": b["unparseable_timestamp"],
            "non_numeric_value": b["non_numeric_property"],
            "value_out_of_range": b["value_out_of_range"],
        }
        received = self.table.num_rows
        return {
            "received": received,
            "accepted": received - b["duplicate"] - sum(quarantined.values()),
            "duplicates": b["duplicate"],
            "quarantined": quarantined,
        }


def make_usage(rng: np.random.Generator, company: Company, events: int) -> GeneratedEvents:
    """Generate ``events`` rows of usage (bad rows included) for the company's contracts."""
    n_cust = len(company.contracts)
    per_kind = max(1, round(events * BAD_ROW_SHARE))
    n_clean = events - len(BAD_ROW_KINDS) * per_kind

    # Each customer emits events from a few days before its contract starts until a few days
    # after it ends, so that some usage falls outside the contract and is reported, not billed.
    start_ms = np.array([day_number(c.start_date) for c in company.contracts]) * DAY_MS
    end_ms = (
        np.array(
            [
                day_number(c.end_date) + 1 if c.end_date else day_number(date(2100, 1, 1))
                for c in company.contracts
            ]
        )
        * DAY_MS
    )
    lo = np.maximum(start_ms - 5 * DAY_MS, day_number(USAGE_START) * DAY_MS)
    hi = np.minimum(end_ms + 10 * DAY_MS, day_number(USAGE_END) * DAY_MS)
    span = np.maximum(hi - lo, 0)
    weight = rng.lognormal(0.0, 0.9, n_cust) * span
    if weight.sum() == 0:
        weight = np.ones(n_cust)
        lo, span = np.full(n_cust, day_number(USAGE_START) * DAY_MS), np.full(n_cust, 30 * DAY_MS)
    mix = np.tile(_BASE_EVENT_WEIGHT, (n_cust, 1))
    for i, lines in enumerate(company.lines):
        for line in lines:
            if line.product_id in PRODUCT_EVENT:
                t = PRODUCT_EVENT[line.product_id]
                mix[i, t] = _SUBSCRIBED_EVENT_WEIGHT[t]
    cum_mix = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    storage_base = rng.lognormal(np.log(150.0), 1.0, n_cust)
    storage_growth = rng.uniform(-0.1, 0.6, n_cust)
    compute_scale = rng.lognormal(np.log(200.0), 0.6, n_cust)
    user_pool = np.maximum(1, np.round(rng.lognormal(np.log(12.0), 0.9, n_cust))).astype(int)
    device_base = np.maximum(1, np.round(rng.lognormal(np.log(30.0), 1.0, n_cust))).astype(int)
    vcpu_base = np.maximum(1, np.round(rng.lognormal(np.log(6.0), 0.8, n_cust)))
    home_region = rng.integers(0, len(REGIONS), n_cust)

    cust = rng.choice(n_cust, size=n_clean, p=weight / weight.sum())
    etype = (rng.random(n_clean)[:, None] > cum_mix[cust][:, :-1]).sum(axis=1).astype(np.int8)
    ts = lo[cust] + (rng.random(n_clean) * span[cust]).astype(np.int64)
    with_ms = rng.random(n_clean) < 0.2
    ts = np.where(with_ms, ts, ts // 1000 * 1000)
    # A third of the storage snapshots run at midnight UTC: events exactly on a period
    # boundary, some of them written in a local offset ("2026-09-30T19:00:00-05:00").
    midnight = (etype == STORAGE) & (rng.random(n_clean) < 0.3)
    ts = np.where(midnight, ts // DAY_MS * DAY_MS, ts)
    with_ms &= ~midnight
    order = np.argsort(ts, kind="stable")
    cust, etype, ts, with_ms = cust[order], etype[order], ts[order], with_ms[order]
    offset = rng.choice(len(_OFFSETS), size=n_clean, p=_OFFSET_P)

    # Main value (v) and secondary value (v2) of every type, then the one of each event's type.
    window_frac = (ts - day_number(USAGE_START) * DAY_MS) / (
        (day_number(USAGE_END) - day_number(USAGE_START)) * DAY_MS
    )
    ms_tenths = np.round(rng.lognormal(np.log(120.0), 0.7, n_clean) * 10).astype(np.int64)
    ms_tenths = np.where(rng.random(n_clean) < 0.7, ms_tenths // 10 * 10, ms_tenths)
    gb_milli = (
        storage_base[cust]
        * (1 + storage_growth[cust] * window_frac)
        * rng.uniform(0.97, 1.03, n_clean)
        * 1000
    ).astype(np.int64)
    gb_milli = np.where(rng.random(n_clean) < 0.5, gb_milli // 100 * 100, gb_milli)
    sec_milli = (rng.lognormal(np.log(compute_scale[cust]), 0.8) * 1000).astype(np.int64) + 1
    sec_milli = np.where(rng.random(n_clean) < 0.3, sec_milli // 1000 * 1000 + 1000, sec_milli)
    user = (rng.random(n_clean) * user_pool[cust]).astype(np.int64)
    count = np.minimum(1 + rng.geometric(1 / 30, n_clean), 500).astype(np.int64)
    devices = np.maximum(0, device_base[cust] + rng.integers(-2, 3, n_clean)).astype(np.int64)
    cents = np.maximum(50, rng.lognormal(np.log(8000.0), 1.0, n_clean)).astype(np.int64)
    egress_milli = (rng.lognormal(np.log(40.0), 1.0, n_clean) * 1000).astype(np.int64) + 1
    egress_milli = np.where(
        rng.random(n_clean) < 0.5, egress_milli // 1000 * 1000 + 1000, egress_milli
    )
    units = np.minimum(rng.geometric(1 / 8, n_clean), 200).astype(np.int64)
    vcpus = np.maximum(1, np.round(vcpu_base[cust] * rng.choice([0.5, 1, 1, 1.5, 2], n_clean)))
    v = np.select(
        [
            etype == API,
            etype == STORAGE,
            etype == COMPUTE,
            etype == LOGIN,
            etype == MESSAGE,
            etype == DEVICE,
            etype == PAYMENT,
            etype == EGRESS,
            etype == SALE,
        ],
        [ms_tenths, gb_milli, sec_milli, user, count, devices, cents, egress_milli, units],
        vcpus.astype(np.int64),
    ).astype(np.int64)
    pick = rng.integers(0, 100, n_clean)
    status = np.searchsorted(np.cumsum(_PAYMENT_STATUS_P), rng.random(n_clean), "right")
    v2 = np.select(
        [
            etype == API,
            etype == COMPUTE,
            etype == MESSAGE,
            etype == DEVICE,
            etype == PAYMENT,
            etype == EGRESS,
            etype == SALE,
        ],
        [
            pick % len(ENDPOINTS),
            pick % len(REGIONS),
            pick % len(CHANNELS),
            pick + 1,
            np.minimum(status, len(PAYMENT_STATUSES) - 1),
            (home_region[cust] + (pick < 25) * pick) % len(REGIONS),
            pick % len(PRICE_POINTS),
        ],
        0,
    ).astype(np.int64)
    quoted = rng.random(n_clean) < 0.5

    n_fresh = (len(BAD_ROW_KINDS) - 2) * per_kind  # every kind but repeats and conflicts
    ids = rng.permutation(n_clean + n_fresh).astype(np.int64)
    stamps = _Timestamps()
    customer_ids = pa.array([c["customer_id"] for c in company.customers])
    event_names = pa.array(EVENT_NAMES)

    def event_ids(numbers: np.ndarray) -> pa.Array:
        return _join("evt_", pc.utf8_lpad(_str(numbers), 10, "0"))

    clean = pa.table(
        {
            "event_id": event_ids(ids[:n_clean]),
            "customer_id": customer_ids.take(pa.array(cust)),
            "event_name": event_names.take(pa.array(etype)),
            "timestamp": stamps.format(ts, with_ms, offset),
            "properties": _properties(etype, v, v2, quoted),
        }
    )

    # Bad rows, each with exactly one defect, built from randomly chosen clean rows.
    chosen = rng.choice(n_clean, size=len(BAD_ROW_KINDS) * per_kind, replace=False)
    dup, conflict, unknown, bad_ts, non_numeric, out_of_range, filtered = np.split(
        chosen, len(BAD_ROW_KINDS)
    )
    fresh = event_ids(ids[n_clean:])

    def with_fresh_ids(rows: np.ndarray, k: int) -> pa.Table:
        return clean.take(pa.array(rows)).set_column(
            0, "event_id", fresh[k * per_kind : (k + 1) * per_kind]
        )

    def with_properties(rows: np.ndarray, k: int, pairs: list[tuple[str, str]]) -> pa.Table:
        chosen_pairs = [pairs[i % len(pairs)] for i in range(per_kind)]
        return (
            with_fresh_ids(rows, k)
            .set_column(2, "event_name", pa.array([name for name, _ in chosen_pairs]))
            .set_column(4, "properties", pa.array([props for _, props in chosen_pairs]))
        )

    conflicting = clean.take(pa.array(conflict)).set_column(
        4,
        "properties",
        _properties(
            etype[conflict],
            v[conflict] + np.where(etype[conflict] == API, 10, 1),
            v2[conflict],
            quoted[conflict],
        ),
    )
    unknown_rows = with_fresh_ids(unknown, 0).set_column(
        1,
        "customer_id",
        pa.array([f"C9{int(x):04d}" for x in rng.integers(0, 10_000, per_kind)]),
    )
    bad_ts_rows = with_fresh_ids(bad_ts, 1).set_column(
        3,
        "timestamp",
        pa.array([BAD_TIMESTAMPS[i % len(BAD_TIMESTAMPS)] for i in range(per_kind)]),
    )
    bad = pa.concat_tables(
        [
            clean.take(pa.array(dup)),
            conflicting,
            unknown_rows,
            bad_ts_rows,
            with_properties(non_numeric, 2, NON_NUMERIC),
            with_properties(out_of_range, 3, OUT_OF_RANGE),
            with_properties(filtered, 4, FILTERED_NON_NUMERIC),
        ]
    )

    # Bad rows land at random places among the time-ordered clean rows.
    position = np.concatenate(
        [np.arange(n_clean) * 2, rng.integers(0, n_clean + 1, bad.num_rows) * 2 - 1]
    )
    table = pa.concat_tables([clean, bad]).take(pa.array(np.argsort(position, kind="stable")))

    billed = np.ones(n_clean, dtype=bool)
    billed[conflict] = False
    usage = Usage(cust, etype, ts, v, v2, ids[:n_clean], billed)
    return GeneratedEvents(usage, table, dict.fromkeys(BAD_ROW_KINDS, per_kind))
