"""Production migration: promote the signed-off sandbox tables, atomically, with an audit trail.

All tables are replaced in one transaction: a failure leaves ``production`` exactly as it was.
Invoices are promoted as ``approved`` (approval is what posts their journal entries). Every
attempt writes one row to ``audit.migration_runs`` with per-table row counts and checksums and
the sign-off snapshot it promoted.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

from connectors.warehouse import Warehouse, quote_ident

#: (table, key columns for the checksum's row order)
PROMOTED_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("usage_aggregates", ("contract_id", "metric_id", "period_start", "group_value")),
    ("invoices", ("invoice_id",)),
    ("invoice_lines", ("invoice_id", "line_no")),
    ("journal_entries", ("entry_id",)),
    ("reconciliation_invoices", ("customer_id", "period_start", "currency")),
    ("reconciliation_lines", ("customer_id", "period_start", "currency", "product_id")),
    ("signoff", ("criterion",)),
)


class SignoffNotPassedError(RuntimeError):
    """Raised when the sign-off table has a failing criterion: nothing is promoted."""


@dataclass
class MigrationResult:
    """What one migration did."""

    run_id: str
    status: str
    row_counts: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    signoff: list[dict] = field(default_factory=list)


def _checksum_sql(schema: str, table: str, columns: list[str], keys: tuple[str, ...]) -> str:
    # md5 over the rows in key order, each row as text: the same on DuckDB and PostgreSQL
    row = " || '|' || ".join(f"coalesce(cast({quote_ident(c)} as varchar), '')" for c in columns)
    order = ", ".join(quote_ident(k) for k in keys)
    return (
        f"select md5(coalesce(string_agg(md5({row}), '' order by {order}), '')) "
        f"from {quote_ident(schema)}.{quote_ident(table)}"
    )


def _create_audit_table(con, warehouse: Warehouse) -> None:
    run = warehouse.run_in
    run(con, "create schema if not exists audit")
    run(
        con,
        "create table if not exists audit.migration_runs ("
        "run_id varchar primary key, started_at timestamp, finished_at timestamp, "
        "status varchar, row_counts varchar, checksums varchar, signoff varchar, error varchar)",
    )


def migrate(warehouse: Warehouse, run_id: str | None = None) -> MigrationResult:
    """Promote sandbox to production in one transaction and record it in the audit table."""
    run_id = run_id or uuid.uuid4().hex
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    result = MigrationResult(run_id=run_id, status="failed")
    p = warehouse.param
    try:
        with warehouse.connect() as con:
            run = warehouse.run_in
            fetch = warehouse.fetch_in
            signoff = fetch(
                con,
                "select criterion, threshold, observed, passed from sandbox.signoff "
                "order by criterion",
                None,
            )
            result.signoff = [
                {"criterion": c, "threshold": t, "observed": o, "passed": bool(ok)}
                for c, t, o, ok in signoff
            ]
            failing = [s["criterion"] for s in result.signoff if not s["passed"]]
            if not signoff or failing:
                raise SignoffNotPassedError(
                    "sign-off has not passed"
                    + (f": failing criteria {', '.join(failing)}" if failing else ": no sign-off")
                )
            run(con, "create schema if not exists production")
            for table, _keys in PROMOTED_TABLES:
                target = f"production.{quote_ident(table)}"
                run(con, f"drop table if exists {target}")
                run(con, f"create table {target} as select * from sandbox.{quote_ident(table)}")
            run(con, "update production.invoices set status = 'approved'")
            for table, keys in PROMOTED_TABLES:
                cols = [
                    r[0]
                    for r in fetch(
                        con,
                        "select column_name from information_schema.columns where "
                        f"table_schema = 'production' and table_name = {p} "
                        "order by ordinal_position",
                        [table],
                    )
                ]
                result.row_counts[table] = int(
                    fetch(con, f"select count(*) from production.{quote_ident(table)}", None)[0][0]
                )
                result.checksums[table] = fetch(
                    con, _checksum_sql("production", table, cols, keys), None
                )[0][0]
            result.status = "succeeded"
            _create_audit_table(con, warehouse)
            run(
                con,
                f"insert into audit.migration_runs values ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
                [
                    run_id,
                    started,
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    "succeeded",
                    json.dumps(result.row_counts, sort_keys=True),
                    json.dumps(result.checksums, sort_keys=True),
                    json.dumps(result.signoff),
                    None,
                ],
            )
        return result
    except Exception as exc:
        # the promotion rolled back; record the failed attempt in its own transaction
        with warehouse.connect() as con:
            _create_audit_table(con, warehouse)
            warehouse.run_in(
                con,
                f"insert into audit.migration_runs values ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
                [
                    run_id,
                    started,
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    "failed",
                    "{}",
                    "{}",
                    json.dumps(result.signoff),
                    str(exc)[:2000],
                ],
            )
        raise
