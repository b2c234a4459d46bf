"""Data contracts on the inputs: Great Expectations suites on small profiles of the raw datasets.

Each dataset has a table of rules (keys present and unique, required fields, accepted values,
known currencies, references). SQL counts what breaks each rule with group-bys in the
warehouse, into a one-row profile per dataset (``staging.input_profile_<dataset>``); usage gets
a per-day profile (``staging.input_profile_usage_days``). GX validates those profiles (through
SQL on PostgreSQL, as pandas frames elsewhere) and keeps the results with the sign-off's in
the working folder's ``gx/``. Raw rows never leave the warehouse; a failing rule names the rows
it found with a bounded query (at most :data:`EXAMPLES` of them).

golive quarantines bad rows itself (docs/billing-rules.md §7, §11), so a broken rule is a
warning. A rule is ``blocking`` only where a bad input would make the parallel test
meaningless: no contract that could be accepted, no usage event received, a legacy invoice
file given whose every row is unusable.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.warehouse import Warehouse
from expectations.evidence import Evidence

#: the most rows a failing rule names
EXAMPLES = 10
#: a day with more accepted events than this many times the median day is flagged
SPIKE_FACTOR = 10
#: the most days the usage profile covers (the latest ones)
MAX_WINDOW_DAYS = 3660

PROFILE_SCHEMA = "staging"
BILLING_PERIODS = ("P1M", "P3M", "P6M", "P1Y", "P1W", "P1D")
BILLING_TIMINGS = ("advance", "arrears")
#: the accounts of docs/billing-rules.md §8
ACCOUNTS = (
    "accounts_receivable",
    "revenue",
    "deferred_revenue",
    "sales_tax_payable",
    "customer_prepaid_balance",
)
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_NUMBER = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,4})?$"


@dataclass(frozen=True)
class Rule:
    """One rule of a dataset's contract."""

    #: the profile column (and the expectation's meta name)
    name: str
    #: the rule in words
    summary: str
    #: a scalar SQL expression: how many rows (or keys) break the rule
    count_sql: str
    #: SQL naming what breaks it: (label, rows, detail) rows, the most rows first
    examples_sql: str | None = None
    #: a failure makes the parallel test meaningless: the check blocks (ERROR)
    blocking: bool = False
    #: the profile value must be at least this (else it must be 0)
    at_least: int | None = None


@dataclass
class RuleResult:
    """A rule, checked."""

    rule: Rule
    observed: int
    passed: bool
    #: (label, rows, detail) of what breaks it, at most EXAMPLES
    examples: list[tuple[str, int, str]] = field(default_factory=list)

    def line(self) -> str:
        """``duplicate_customer_ids: 1 (C0042: 2 rows, 2 versions)``."""
        shown = "; ".join(
            f"{label}: {rows} row{'s' if rows != 1 else ''}" + (f", {detail}" if detail else "")
            for label, rows, detail in self.examples
        )
        more = " …" if self.observed > len(self.examples) and self.examples else ""
        return f"{self.rule.name}: {self.observed}" + (f" ({shown}{more})" if shown else "")


@dataclass
class ContractResult:
    """A dataset's contract, checked."""

    dataset: str
    rows: int
    results: list[RuleResult]
    docs: Path | None = None

    def failing(self, blocking: bool) -> list[RuleResult]:
        return [r for r in self.results if not r.passed and r.rule.blocking == blocking]


# -- the rules ------------------------------------------------------------------------------


def _t(column: str) -> str:
    """A text column as staging reads it: trimmed, blank as null."""
    return f"nullif(trim({column}), '')"


def _matches(dialect: str, text: str, pattern: str) -> str:
    if dialect == "duckdb":
        return f"regexp_full_match({text}, '{pattern}')"
    if dialect == "snowflake":  # REGEXP_LIKE matches the whole text, as the patterns are anchored
        return f"regexp_like({text}, '{pattern}')"
    return f"({text} ~ '{pattern}')"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _missing_key(table: str, key: str, label: str) -> Rule:
    return Rule(
        f"missing_{key}",
        f"every row has a {key}",
        f"(select count(*) from {table} where {_t(key)} is null)",
        f"select '{label} ' || coalesce({_t(label)}, '(blank)'), count(*), '' "
        f"from {table} where {_t(key)} is null group by 1 order by 2 desc, 1",
    )


def _duplicate_key(table: str, key: str, columns: tuple[str, ...]) -> Rule:
    versions = "concat_ws('|', " + ", ".join(f"coalesce({_t(c)}, '')" for c in columns) + ")"
    return Rule(
        f"duplicate_{key}s",
        f"{key} is unique: each on one row",
        f"(select count(*) from (select {_t(key)} as k from {table} where {_t(key)} is not null "
        f"group by {_t(key)} having count(*) > 1) as repeated)",
        f"select {_t(key)}, count(*), case when count(distinct {versions}) = 1 "
        f"then 'identical copies' else cast(count(distinct {versions}) as varchar) "
        f"|| ' different versions' end "
        f"from {table} where {_t(key)} is not null group by {_t(key)} having count(*) > 1 "
        f"order by 2 desc, 1",
    )


def _required(table: str, key: str, fields: tuple[str, ...]) -> Rule:
    any_missing = " or ".join(f"{_t(f)} is null" for f in fields)
    per_field = " union all ".join(
        f"select '{f}' as field, count(*) as n, min({_t(key)}) as example from {table} "
        f"where {_t(f)} is null"
        for f in fields
    )
    return Rule(
        "missing_required_fields",
        f"every row has {', '.join(fields)}",
        f"(select count(*) from {table} where {any_missing})",
        f"select 'no ' || field, n, coalesce('e.g. ' || example, '') from ({per_field}) as fields "
        f"where n > 0 order by 2 desc, 1",
    )


def _accepted(
    name: str, summary: str, table: str, key: str, value_sql: str, condition: str
) -> Rule:
    """Rows whose ``value_sql`` (given) breaks ``condition``; named by value."""
    where = f"{value_sql} is not null and not ({condition})"
    return Rule(
        name,
        summary,
        f"(select count(*) from {table} where {where})",
        f"select {value_sql}, count(*), coalesce('e.g. ' || min({_t(key)}), '') from {table} "
        f"where {where} group by {value_sql} order by 2 desc, 1",
    )


def rules(dialect: str) -> dict[str, list[Rule]]:
    """Every dataset's contract rules, as SQL for the warehouse's ``dialect``."""
    customers, contracts, lines = "raw.customers", "raw.contracts", "raw.contract_lines"
    invoices, invoice_lines = "raw.legacy_invoices", "raw.legacy_invoice_lines"
    journal, usage = "raw.legacy_journal_entries", "raw.usage_events"
    schedule = "raw.legacy_revenue_schedule"
    known_currency = "upper({v}) in (select currency from raw.currencies)"

    def ids(table: str, key: str) -> str:
        return f"select {_t(key)} from {table} where {_t(key)} is not null"

    def currency_rule(table: str, key: str) -> Rule:
        return _accepted(
            "unknown_currencies",
            "the currency, when given, is one golive knows (ISO 4217)",
            table,
            key,
            _t("currency"),
            known_currency.format(v=_t("currency")),
        )

    def reference(name: str, table: str, key: str, column: str, target: str) -> Rule:
        source = target.split(" from ", 1)[1].split(" ", 1)[0]
        return _accepted(
            name,
            f"{column} names a row of {source}",
            table,
            key,
            _t(column),
            f"{_t(column)} in ({target})",
        )

    contract_fields = ("customer_id", "start_date", "currency", "billing_period")
    contract_ok = " and ".join(
        [f"{_t(f)} is not null" for f in ("contract_id", *contract_fields)]
        + [
            known_currency.format(v=_t("currency")),
            f"upper({_t('billing_period')}) in {_in(BILLING_PERIODS)}",
            _matches(dialect, _t("start_date"), _DATE),
            f"{_t('customer_id')} in ({ids(customers, 'customer_id')})",
        ]
    )
    contract_columns = (
        "customer_id",
        "start_date",
        "end_date",
        "currency",
        "billing_period",
        "billing_anchor_date",
        "discount_percent",
        "minimum_commitment",
        "prepaid_credit",
        "tax_rate_percent",
    )
    conflicting = (
        f"select {_t('contract_id')} from {contracts} where {_t('contract_id')} is not null "
        f"group by {_t('contract_id')} having count(distinct concat_ws('|', "
        + ", ".join(f"coalesce({_t(c)}, '')" for c in contract_columns)
        + ")) > 1"
    )
    invoice_fields = ("customer_id", "period_start", "period_end", "currency", "total")
    invoice_ok = " and ".join(
        [f"{_t(f)} is not null" for f in ("invoice_id", *invoice_fields)]
        + [
            _matches(dialect, _t("period_start"), _DATE),
            _matches(dialect, _t("period_end"), _DATE),
            _matches(dialect, _t("total"), _NUMBER),
        ]
    )
    return {
        "customers": [
            _missing_key(customers, "customer_id", "name"),
            _duplicate_key(
                customers,
                "customer_id",
                ("name", "email", "country", "currency", "tax_rate_percent", "parent_customer_id"),
            ),
            Rule(
                "missing_names",
                "every customer has a name",
                f"(select count(*) from {customers} where {_t('name')} is null)",
                f"select coalesce({_t('customer_id')}, '(no customer_id)'), count(*), '' "
                f"from {customers} where {_t('name')} is null group by 1 order by 2 desc, 1",
            ),
            currency_rule(customers, "customer_id"),
        ],
        "contracts": [
            _missing_key(contracts, "contract_id", "customer_id"),
            _duplicate_key(contracts, "contract_id", contract_columns),
            _required(contracts, "contract_id", contract_fields),
            _accepted(
                "unknown_billing_periods",
                f"billing_period is one of {', '.join(BILLING_PERIODS)}",
                contracts,
                "contract_id",
                _t("billing_period"),
                f"upper({_t('billing_period')}) in {_in(BILLING_PERIODS)}",
            ),
            currency_rule(contracts, "contract_id"),
            reference(
                "unknown_customers",
                contracts,
                "contract_id",
                "customer_id",
                ids(customers, "customer_id"),
            ),
            Rule(
                "usable_contracts",
                "at least one contract could be accepted: an id on no conflicting row, every "
                "required field, a known currency and billing period, a start date, a customer",
                f"(select count(distinct {_t('contract_id')}) from {contracts} where {contract_ok} "
                f"and {_t('contract_id')} not in ({conflicting}))",
                blocking=True,
                at_least=1,
            ),
        ],
        "contract_lines": [
            _required(lines, "contract_id", ("contract_id", "product_id")),
            reference(
                "unknown_contracts",
                lines,
                "product_id",
                "contract_id",
                ids(contracts, "contract_id"),
            ),
            reference(
                "unknown_products",
                lines,
                "contract_id",
                "product_id",
                "select product_id from raw.plan_products where contract_id is null",
            ),
            _accepted(
                "unknown_billing_timings",
                f"billing_timing, when given, is one of {', '.join(BILLING_TIMINGS)}",
                lines,
                "contract_id",
                _t("billing_timing"),
                f"lower({_t('billing_timing')}) in {_in(BILLING_TIMINGS)}",
            ),
        ],
        "legacy_invoices": [
            _missing_key(invoices, "invoice_id", "customer_id"),
            _duplicate_key(invoices, "invoice_id", ("customer_id", "contract_id", *invoice_fields)),
            _required(invoices, "invoice_id", invoice_fields),
            *(
                _accepted(
                    f"unreadable_{column}s",
                    f"{column} is a date (YYYY-MM-DD)",
                    invoices,
                    "invoice_id",
                    _t(column),
                    _matches(dialect, _t(column), _DATE),
                )
                for column in ("period_start", "period_end")
            ),
            _accepted(
                "unreadable_totals",
                "total is a number",
                invoices,
                "invoice_id",
                _t("total"),
                _matches(dialect, _t("total"), _NUMBER),
            ),
            currency_rule(invoices, "invoice_id"),
            Rule(
                "every_row_unusable",
                "a legacy invoice file that has rows has at least one usable row (every "
                "required field, readable dates and total)",
                f"(select case when count(*) > 0 and sum(case when {invoice_ok} then 1 else 0 "
                f"end) = 0 then 1 else 0 end from {invoices})",
                blocking=True,
            ),
        ],
        "legacy_invoice_lines": [
            _required(invoice_lines, "invoice_id", ("invoice_id", "product_id", "amount")),
            reference(
                "unknown_invoices",
                invoice_lines,
                "product_id",
                "invoice_id",
                ids(invoices, "invoice_id"),
            ),
        ],
        "legacy_journal_entries": [
            _missing_key(journal, "entry_id", "invoice_id"),
            _duplicate_key(journal, "entry_id", ("invoice_id", "account", "debit", "credit")),
            _required(journal, "entry_id", ("invoice_id", "account")),
            _accepted(
                "unknown_accounts",
                "account is one of the accounts of docs/billing-rules.md §8",
                journal,
                "entry_id",
                f"lower({_t('account')})",
                f"lower({_t('account')}) in {_in(ACCOUNTS)}",
            ),
            reference(
                "unknown_invoices",
                journal,
                "entry_id",
                "invoice_id",
                ids(invoices, "invoice_id"),
            ),
        ],
        "legacy_revenue_schedule": [
            _required(schedule, "invoice_id", ("invoice_id", "account", "recognition_date")),
            _accepted(
                "unreadable_recognition_dates",
                "recognition_date is a date (YYYY-MM-DD); a row without one is compared in no "
                "month",
                schedule,
                "invoice_id",
                _t("recognition_date"),
                _matches(dialect, _t("recognition_date"), _DATE),
            ),
            _accepted(
                "unreadable_amounts",
                "amount, when given, is a number (an unreadable one reads as 0)",
                schedule,
                "invoice_id",
                _t("amount"),
                _matches(dialect, _t("amount"), _NUMBER),
            ),
            _accepted(
                "unrecognised_accounts",
                "account is revenue, the one account golive recognises to (docs/accounting.md §6)",
                schedule,
                "invoice_id",
                f"lower({_t('account')})",
                f"lower({_t('account')}) = 'revenue'",
            ),
            currency_rule(schedule, "invoice_id"),
            reference(
                "unknown_invoices",
                schedule,
                "account",
                "invoice_id",
                ids(invoices, "invoice_id"),
            ),
        ],
        "usage_events": [
            Rule(
                "events_received",
                "at least one usage event was received",
                f"(select count(*) from {usage})",
                blocking=True,
                at_least=1,
            ),
        ],
    }


#: the datasets with a contract, in load order
DATASETS = tuple(rules("duckdb"))


# -- checking -------------------------------------------------------------------------------


def _expectation(dataset: str, rule: Rule) -> Any:
    import great_expectations.expectations as gxe

    bounds = {"min_value": rule.at_least} if rule.at_least is not None else {"max_value": 0}
    return gxe.ExpectColumnValuesToBeBetween(
        column=rule.name,
        **bounds,
        meta={"rule": rule.name, "dataset": dataset, "blocking": rule.blocking},
        description=f"{dataset}: {rule.summary}",
    )


def _validate_profile(
    name: str, table: pa.Table, expectations: list[Any], warehouse: Warehouse, evidence: Evidence
) -> Any:
    """Write the profile to ``staging.<name>`` and validate it with GX."""
    warehouse.load_arrow(PROFILE_SCHEMA, name, table)
    return evidence.validate(
        name,
        expectations,
        frame=None if evidence.reads_sql else table.to_pandas(),
        table=(PROFILE_SCHEMA, name),
    )


def _session(warehouse: Warehouse, folder: str | Path | None) -> Evidence:
    return Evidence(folder, warehouse)


def profile(warehouse: Warehouse, dataset: str) -> pa.Table:
    """The dataset's one-row profile: ``received_rows`` and, per rule, how many rows (or
    keys) break it."""
    table_rules = rules(warehouse.dialect)[dataset]
    columns = [f"(select count(*) from raw.{dataset}) as received_rows"] + [
        f"{r.count_sql} as {r.name}" for r in table_rules
    ]
    raw = warehouse.query_arrow("select " + ", ".join(columns))
    # counts as int64 on every warehouse (PostgreSQL's count is bigint, a sum numeric)
    return pa.table(
        {name: pa.array([int(raw.column(name)[0].as_py() or 0)]) for name in raw.column_names}
    )


def check_datasets(
    warehouse: Warehouse, datasets: list[str], folder: str | Path | None = None
) -> list[ContractResult]:
    """Profile each ``raw.<dataset>`` in the warehouse and validate its contract with GX (one
    GX session: the Data Docs are built once for all of them)."""
    with _session(warehouse, folder) as evidence:
        return [_check(warehouse, d, evidence) for d in datasets]


def check_dataset(
    warehouse: Warehouse, dataset: str, folder: str | Path | None = None
) -> ContractResult:
    """Profile ``raw.<dataset>`` in the warehouse and validate its contract with GX."""
    return check_datasets(warehouse, [dataset], folder)[0]


def _check(warehouse: Warehouse, dataset: str, evidence: Evidence) -> ContractResult:
    table_rules = rules(warehouse.dialect)[dataset]
    table = profile(warehouse, dataset)
    validation = _validate_profile(
        f"input_profile_{dataset}",
        table,
        [_expectation(dataset, r) for r in table_rules],
        warehouse,
        evidence,
    )
    by_rule = {r.expectation_config.meta["rule"]: bool(r.success) for r in validation.results}
    values = {name: table.column(name)[0].as_py() for name in table.column_names}
    results = []
    for rule in table_rules:
        passed = by_rule[rule.name]
        examples: list[tuple[str, int, str]] = []
        if not passed and rule.examples_sql:
            examples = [
                (str(label), int(n), str(detail or ""))
                for label, n, detail in warehouse.query(f"{rule.examples_sql} limit {EXAMPLES}")
            ]
        results.append(RuleResult(rule, int(values[rule.name]), passed, examples))
    return ContractResult(dataset, int(values["received_rows"]), results, validation.docs)


# -- usage per day --------------------------------------------------------------------------


@dataclass
class DailyVolume:
    """Accepted usage events per day of the plan's time zone, over the usage window (the first
    to the last day with events), checked."""

    days: list[tuple[dt.date, int]]
    median: Decimal
    zero_days: list[dt.date]
    spike_days: list[tuple[dt.date, int]]
    passed: bool
    docs: Path | None = None

    def lines(self) -> list[str]:
        out = []
        if self.zero_days:
            shown = ", ".join(str(d) for d in self.zero_days[:EXAMPLES])
            more = " …" if len(self.zero_days) > EXAMPLES else ""
            out.append(f"days_without_events: {len(self.zero_days)} ({shown}{more})")
        if self.spike_days:
            shown = ", ".join(f"{d}: {n} events" for d, n in self.spike_days[:EXAMPLES])
            more = " …" if len(self.spike_days) > EXAMPLES else ""
            out.append(
                f"days_above_{SPIKE_FACTOR}x_median: {len(self.spike_days)} "
                f"(median {self.median}; {shown}{more})"
            )
        return out


def check_daily_volume(warehouse: Warehouse, folder: str | Path | None = None) -> DailyVolume:
    """Count accepted events per day in the warehouse (those of ``sandbox.usage_events``), fill the
    window's days without events with 0, and validate: no day without events inside the
    window, no day above :data:`SPIKE_FACTOR` times the median day."""
    # sandbox.usage_events is the classified rows joined to the typed ones, one to one; the
    # classified rows alone hold the day and the status (no join: a nightly run counts all
    # history here)
    counted = {
        day: int(n)
        for day, n in warehouse.query(
            "select event_day, count(*) from staging.int_usage_events_classified "
            "where status = 'loaded' and event_day is not null group by event_day"
        )
    }
    days: list[tuple[dt.date, int]] = []
    if counted:
        first, last = min(counted), max(counted)
        first = max(first, last - dt.timedelta(days=MAX_WINDOW_DAYS - 1))
        days = [
            (first + dt.timedelta(days=i), counted.get(first + dt.timedelta(days=i), 0))
            for i in range((last - first).days + 1)
        ]
    median = Decimal(str(statistics.median([n for _, n in days]))) if days else Decimal(0)
    times = [
        (Decimal(n) / median).quantize(Decimal("0.01"), ROUND_HALF_UP) if median else Decimal(0)
        for _, n in days
    ]
    table = pa.table(
        {
            "day": pa.array([d for d, _ in days], pa.date32()),
            "events": pa.array([n for _, n in days], pa.int64()),
            "times_median": pa.array(times, pa.decimal128(38, 2)),
        }
    )
    import great_expectations.expectations as gxe

    with _session(warehouse, folder) as evidence:
        validation = _validate_profile(
            "input_profile_usage_days",
            table,
            [
                gxe.ExpectColumnValuesToBeBetween(
                    column="events",
                    min_value=1,
                    meta={"rule": "days_without_events"},
                    description="usage_events: every day of the usage window has events",
                ),
                gxe.ExpectColumnValuesToBeBetween(
                    column="times_median",
                    max_value=SPIKE_FACTOR,
                    meta={"rule": "spike_days"},
                    description=f"usage_events: no day above {SPIKE_FACTOR}x the median day",
                ),
            ],
            warehouse,
            evidence,
        )
    zero = [d for d, n in days if n == 0]
    spikes = [(d, n) for (d, n), t in zip(days, times, strict=True) if t > SPIKE_FACTOR]
    return DailyVolume(days, median, zero, spikes, bool(validation.success), validation.docs)
