"""Production migration: promote what passed sign-off and was approved, atomically, with an
audit trail; then keep production's usage current.

A promotion copies into ``production``, in ONE transaction (a crash leaves production exactly
as it was): the configuration the plan and the sandbox load defined (customers, contracts,
contract lines, the price book and its tiers, metrics and their filters), the usage
aggregates, the invoices (approved), their lines and journal entries, the reconciliation and
sign-off tables, and, when the plan says ``migration: {import_history: true}``, the legacy
invoices, lines and journal entries as historical records (``source = 'legacy'``).
``production.deployment`` says which plan (file and digest), which sandbox build, which
sign-off and which approval it came from.

A promotion needs both a passed sign-off and an **approval** by a named person
(``audit.approvals``), recorded with the checksums of the sandbox tables it approved: a sandbox
that changed since (a re-run with other data) needs a new approval. Every attempt, promoted or
held back, writes one row to ``audit.migration_runs`` with its reason, per-table row counts
and checksums, and the sign-off snapshot.

After go-live, :func:`sync_production_usage` brings ``production.usage_aggregates`` up to date
with the periods the nightly run re-aggregated, and touches nothing else in production.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

from connectors.warehouse import SnowflakeWarehouse, Warehouse, quote_ident
from golive.plan import Plan


@dataclass(frozen=True)
class Promoted:
    """One production table and the sandbox query it is promoted from."""

    table: str
    query: str
    history: bool = False

    @property
    def source(self) -> tuple[str, str]:
        """The ``(schema, table)`` the query reads (its lineage)."""
        relation = self.query.split(" from ", 1)[1].split()[0]
        schema, table = relation.split(".")
        return schema, table


PROMOTED: tuple[Promoted, ...] = (
    Promoted("customers", "select * from staging.stg_customers where status = 'accepted'"),
    Promoted("contracts", "select * from staging.stg_contracts where status = 'accepted'"),
    Promoted(
        "contract_lines", "select * from staging.stg_contract_lines where status = 'accepted'"
    ),
    Promoted("price_book", "select * from staging.stg_price_book"),
    Promoted("price_tiers", "select * from staging.stg_price_tiers"),
    Promoted("metrics", "select * from raw.plan_metrics"),
    Promoted("metric_filters", "select * from raw.plan_metric_filters"),
    Promoted("usage_aggregates", "select * from sandbox.usage_aggregates"),
    Promoted(
        "invoices",
        "select invoice_id, contract_id, customer_id, period_start, period_end, currency, "
        "subtotal, credits_applied, tax, total, 'approved' as status from sandbox.invoices",
    ),
    Promoted("invoice_lines", "select * from sandbox.invoice_lines"),
    Promoted("journal_entries", "select * from sandbox.journal_entries"),
    Promoted("reconciliation_invoices", "select * from sandbox.reconciliation_invoices"),
    Promoted("reconciliation_lines", "select * from sandbox.reconciliation_lines"),
    Promoted("reconciliation_journal", "select * from sandbox.reconciliation_journal"),
    Promoted("signoff", "select * from sandbox.signoff"),
    Promoted(
        "legacy_invoices",
        "select 'legacy' as source, * from staging.stg_legacy_invoices",
        history=True,
    ),
    Promoted(
        "legacy_invoice_lines",
        "select 'legacy' as source, * from staging.stg_legacy_invoice_lines",
        history=True,
    ),
    Promoted(
        "legacy_journal_entries",
        "select 'legacy' as source, * from staging.stg_legacy_journal_entries",
        history=True,
    ),
    # accounting (docs/accounting.md): the schedule behind the recognition entries of
    # journal_entries, its comparison with the legacy one, and the plan's map to the ERP's
    # accounts the journal export uses
    Promoted("revenue_recognition", "select * from sandbox.revenue_recognition"),
    Promoted(
        "reconciliation_revenue_schedule", "select * from sandbox.reconciliation_revenue_schedule"
    ),
    Promoted("accounts", "select * from raw.plan_accounts"),
    Promoted(
        "legacy_revenue_schedule",
        "select 'legacy' as source, * from staging.stg_legacy_revenue_schedule",
        history=True,
    ),
)

#: the production tables by name, in promotion order
PRODUCTION_TABLES = tuple(p.table for p in PROMOTED)

#: what a sign-off and an approval cover: the data a promotion copies (not the sign-off's
#: check time), the legacy history included (it is what the parallel test compared with,
#: and a promotion copies it when the plan imports it)
APPROVED_TABLES = tuple(p.table for p in PROMOTED if p.table != "signoff")


class MigrationHeld(RuntimeError):
    """Nothing was promoted: ``kind`` is ``signoff`` (a criterion failed or none was checked)
    or ``approval`` (no approval of this sandbox); the message says what to do."""

    def __init__(self, kind: str, message: str, failing: list[dict] | None = None):
        super().__init__(message)
        self.kind = kind
        self.failing = failing or []


@dataclass
class MigrationResult:
    """What one migration attempt did."""

    run_id: str
    status: str
    reason: str = ""
    row_counts: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    signoff: list[dict] = field(default_factory=list)
    approval: dict | None = None


def checksum_sql(relation: str, columns: list[str], dialect: str = "") -> str:
    """md5 over the rows as text, in a deterministic order (the rows' own text): the same
    table gives the same checksum on every run and every warehouse.

    On Snowflake (``dialect``) the rows' md5s are joined in 256 buckets first (LISTAGG holds
    at most 16 MB): the same table gives the same checksum on every run there, a value of its
    own (its text of timestamps and decimals is its own too)."""
    row = " || '|' || ".join(f"coalesce(cast({quote_ident(c)} as varchar), '~')" for c in columns)
    if dialect == "snowflake":
        return (
            "select md5(coalesce(listagg(bucket_text, '') within group (order by bucket), ''))"
            " from (select bucket, md5(listagg(row_text, '') within group (order by row_text))"
            " as bucket_text from (select md5("
            f"{row}) as row_text, left(md5({row}), 2) as bucket from {relation}) as rows_of"
            " group by bucket) as buckets"
        )
    return (
        f"select md5(coalesce(string_agg(row_text, '' order by row_text), '')) "
        f"from (select md5({row}) as row_text from {relation}) as rows_of"
    )


def _columns(warehouse: Warehouse, con, schema: str, table: str) -> list[str]:
    if isinstance(warehouse, SnowflakeWarehouse):  # upper-case catalog names
        return warehouse.columns_in(con, schema, table)
    p = warehouse.param
    return [
        r[0]
        for r in warehouse.fetch_in(
            con,
            "select column_name from information_schema.columns where "
            f"table_schema = {p} and table_name = {p} order by ordinal_position",
            [schema, table],
        )
    ]


def sandbox_checksums(warehouse: Warehouse) -> dict[str, str]:
    """Checksums of what a promotion would copy from the sandbox (what an approval covers)."""
    out = {}
    with warehouse.connect() as con:
        for promoted in PROMOTED:
            if promoted.table in APPROVED_TABLES:
                columns = _query_columns(warehouse, con, promoted.query)
                relation = f"({promoted.query}) as sandbox_rows"
                out[promoted.table] = warehouse.fetch_in(
                    con, checksum_sql(relation, columns, warehouse.dialect), None
                )[0][0]
    return out


def _query_columns(warehouse: Warehouse, con, query: str) -> list[str]:
    if isinstance(warehouse, SnowflakeWarehouse):
        return warehouse.description_in(con, query)
    cursor = con.execute(f"select * from ({query}) as q limit 0")
    return [d[0] for d in cursor.description]


# ------------------------------------------------------------------------------------- audit

_AUDIT = (
    "create schema if not exists audit; "
    "create table if not exists audit.migration_runs (run_id varchar, started_at timestamp, "
    "finished_at timestamp, status varchar, row_counts varchar, checksums varchar, "
    "signoff varchar, error varchar, reason varchar, approval varchar); "
    "create table if not exists audit.approvals (approval_id varchar, approved_by varchar, "
    "note varchar, approved_at timestamp, checksums varchar)"
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _audit(warehouse: Warehouse, con, result: MigrationResult, started: dt.datetime, error=None):
    p = warehouse.param
    warehouse.run_in(
        con,
        f"insert into audit.migration_runs values ({', '.join([p] * 10)})",
        [
            result.run_id,
            started,
            _now(),
            result.status,
            json.dumps(result.row_counts, sort_keys=True),
            json.dumps(result.checksums, sort_keys=True),
            json.dumps(result.signoff),
            error,
            result.reason,
            json.dumps(result.approval, default=str) if result.approval else None,
        ],
    )


def ensure_audit_tables(warehouse: Warehouse) -> None:
    """The audit schema's tables (created on first use; older ones gain the new columns)."""
    warehouse.execute(_AUDIT)
    existing = set(warehouse.columns("audit", "migration_runs"))
    for column in ("reason", "approval"):
        if column not in existing:
            warehouse.execute(f"alter table audit.migration_runs add column {column} varchar")


_SIGNOFF_CHECKSUMS = "sandbox.signoff_checksums"


def record_signoff_basis(warehouse: Warehouse) -> dict[str, str]:
    """Keep, beside the sign-off just checked, the checksums of every table a promotion would
    copy: the sandbox the sign-off describes. An approval is refused for a sandbox that has
    changed since (a price edited and billing run again, a nightly run's new usage), so that
    nobody approves, or promotes, numbers the parallel test never compared."""
    checksums = sandbox_checksums(warehouse)
    p = warehouse.param
    with warehouse.connect() as con:
        warehouse.run_in(con, f"drop table if exists {_SIGNOFF_CHECKSUMS}")
        warehouse.run_in(
            con, f"create table {_SIGNOFF_CHECKSUMS} (table_name varchar, checksum varchar)"
        )
        warehouse.run_in(
            con,
            f"insert into {_SIGNOFF_CHECKSUMS} values "
            + ", ".join(f"({p}, {p})" for _ in checksums),
            [v for item in sorted(checksums.items()) for v in item],
        )
    return checksums


def signoff_basis(warehouse: Warehouse) -> dict[str, str]:
    """The checksums :func:`record_signoff_basis` kept with the last sign-off ({} if none)."""
    if not warehouse.table_exists("sandbox", "signoff_checksums"):
        return {}
    return dict(warehouse.query(f"select table_name, checksum from {_SIGNOFF_CHECKSUMS}"))


def read_signoff(warehouse: Warehouse) -> list[dict]:
    """The sign-off table's rows, or [] when it has not been written."""
    if not warehouse.table_exists("sandbox", "signoff"):
        return []
    rows = warehouse.query(
        "select criterion, threshold, observed, passed from sandbox.signoff order by criterion"
    )
    return [
        {"criterion": c, "threshold": t, "observed": o, "passed": bool(ok)} for c, t, o, ok in rows
    ]


# ---------------------------------------------------------------------------------- approval


@dataclass(frozen=True)
class Approval:
    """A named person's approval of the sandbox as it was (its checksums)."""

    approval_id: str
    approved_by: str
    note: str | None
    approved_at: dt.datetime
    checksums: dict[str, str]


def approve(warehouse: Warehouse, approved_by: str, note: str | None = None) -> Approval:
    """Record that ``approved_by`` approves promoting the sandbox as it is now.

    Refused (:class:`MigrationHeld`, kind ``signoff``) unless the sign-off passed: an approval
    says "promote what passed", not "promote whatever is there".
    """
    approved_by = (approved_by or "").strip()
    if not approved_by:
        raise ValueError("an approval needs the name of the person who approves")
    _require_signoff(read_signoff(warehouse))
    current = sandbox_checksums(warehouse)
    _require_signed_off_sandbox(warehouse, current)
    ensure_audit_tables(warehouse)
    approval = Approval(uuid.uuid4().hex, approved_by, note, _now(), current)
    p = warehouse.param
    warehouse.execute(
        f"insert into audit.approvals values ({p}, {p}, {p}, {p}, {p})",
        [
            approval.approval_id,
            approval.approved_by,
            approval.note,
            approval.approved_at,
            json.dumps(approval.checksums, sort_keys=True),
        ],
    )
    return approval


def latest_approval(warehouse: Warehouse) -> Approval | None:
    """The most recent approval, if any."""
    if not warehouse.table_exists("audit", "approvals"):
        return None
    rows = warehouse.query(
        "select approval_id, approved_by, note, approved_at, checksums from audit.approvals "
        "order by approved_at desc, approval_id desc limit 1"
    )
    if not rows:
        return None
    approval_id, by, note, at, checksums = rows[0]
    return Approval(approval_id, by, note, at, json.loads(checksums))


def _require_signoff(signoff: list[dict]) -> None:
    failing = [c for c in signoff if not c["passed"]]
    if not signoff:
        raise MigrationHeld("signoff", "no sign-off has been checked: run the parallel test first")
    if failing:
        names = ", ".join(
            f"{c['criterion']} (observed {c['observed']}, threshold {c['threshold']})"
            for c in failing
        )
        raise MigrationHeld(
            "signoff", f"sign-off held the migration back: {names}", failing=failing
        )


def _require_signed_off_sandbox(warehouse: Warehouse, current: dict[str, str]) -> None:
    """The sandbox is the one the last sign-off checked, table for table."""
    basis = signoff_basis(warehouse)
    changed = sorted(t for t in current if basis.get(t) != current[t])
    if changed:
        shown = ", ".join(changed) if basis else "it predates this check"
        raise MigrationHeld(
            "signoff",
            f"the sandbox changed since its sign-off was checked ({shown}): the sign-off does "
            "not describe it; run the parallel test again (golive run PLAN) before approving",
        )


def _approval_for(warehouse: Warehouse, current: dict[str, str]) -> Approval:
    approval = latest_approval(warehouse)
    if approval is None:
        raise MigrationHeld(
            "approval",
            "the sign-off passed; production migration waits for a named approval: "
            "golive approve --by NAME (or golive run --approved-by NAME)",
        )
    changed = sorted(t for t in current if approval.checksums.get(t) != current[t])
    if changed:
        raise MigrationHeld(
            "approval",
            f"the sandbox changed since {approval.approved_by} approved it at "
            f"{approval.approved_at:%Y-%m-%d %H:%M} UTC ({', '.join(changed)}): it needs a new "
            "approval (golive approve --by NAME)",
        )
    return approval


# --------------------------------------------------------------------------------- promotion


def migrate(
    warehouse: Warehouse,
    plan: Plan,
    run_id: str | None = None,
    approved_by: str | None = None,
    note: str | None = None,
    plan_digest: str | None = None,
) -> MigrationResult:
    """Promote sandbox to production in one transaction, if the sign-off passed and the
    sandbox is approved (``approved_by`` approves it first); audit every attempt.

    Raises :class:`MigrationHeld` when the attempt was held back (after writing its audit row).
    """
    run_id = run_id or uuid.uuid4().hex
    started = _now()
    ensure_audit_tables(warehouse)
    result = MigrationResult(run_id=run_id, status="failed", signoff=read_signoff(warehouse))
    try:
        _require_signoff(result.signoff)
        # an approval given here was taken of the sandbox as it is: its checksums are the
        # current ones (a second pass over every approved table cost ~1 s at 1M events)
        if approved_by:
            current = approve(warehouse, approved_by, note).checksums
        else:
            current = sandbox_checksums(warehouse)
            _require_signed_off_sandbox(warehouse, current)
        approval = _approval_for(warehouse, current)
        result.approval = {
            "approval_id": approval.approval_id,
            "approved_by": approval.approved_by,
            "approved_at": approval.approved_at.isoformat(),
            "note": approval.note,
        }
    except MigrationHeld as held:
        result.status, result.reason = "held", str(held)
        with warehouse.connect() as con:
            _audit(warehouse, con, result, started)
        raise
    tables = [p for p in PROMOTED if plan.migration.import_history or not p.history]
    try:
        if isinstance(warehouse, SnowflakeWarehouse):
            _promote_snowflake(warehouse, plan, tables, result, started, plan_digest, approval)
            return result
        with warehouse.connect() as con:
            run = warehouse.run_in
            run(con, "create schema if not exists production")
            for promoted in PROMOTED:
                target = f"production.{quote_ident(promoted.table)}"
                run(con, f"drop table if exists {target}")
                if promoted in tables:
                    run(con, f"create table {target} as {promoted.query}")
            for promoted in tables:
                relation = f"production.{quote_ident(promoted.table)}"
                columns = _columns(warehouse, con, "production", promoted.table)
                result.row_counts[promoted.table] = int(
                    warehouse.fetch_in(con, f"select count(*) from {relation}", None)[0][0]
                )
                result.checksums[promoted.table] = warehouse.fetch_in(
                    con, checksum_sql(relation, columns, warehouse.dialect), None
                )[0][0]
            _require_approved_copies(result, approval)
            _write_deployment(warehouse, con, plan, result, plan_digest)
            result.status, result.reason = "promoted", "sign-off passed and approved"
            _audit(warehouse, con, result, started)
        return result
    except Exception as exc:
        # the promotion rolled back: production is as it was; record the failed attempt
        result.status, result.reason = "failed", "the promotion failed and was rolled back"
        result.row_counts, result.checksums = {}, {}
        with warehouse.connect() as con:
            _audit(warehouse, con, result, started, error=warehouse.scrub(str(exc))[:2000])
        raise


class PromotionChanged(RuntimeError):
    """What a promotion copied is not what was approved: the sandbox changed while it ran."""


def _require_approved_copies(result: MigrationResult, approval: Approval) -> None:
    """The copies in production, checksummed in the promotion's own transaction, must be the
    tables that were approved: another writer could change the sandbox between the check of
    the approval and the copy. Raised inside the transaction, so it rolls back."""
    changed = sorted(
        t
        for t in APPROVED_TABLES
        if t in result.checksums and result.checksums[t] != approval.checksums.get(t)
    )
    if changed:
        raise PromotionChanged(
            f"the sandbox changed while it was promoted ({', '.join(changed)}): production is "
            "as it was; check what else writes to the sandbox and run the migration again"
        )


_DEPLOYMENT = (
    "create table production.deployment (company varchar, plan_file varchar, "
    "plan_digest varchar, usage_classification bigint, signoff_checked_at timestamp, "
    "approval_id varchar, approved_by varchar, approved_at timestamp, "
    "migration_run_id varchar, promoted_at timestamp, history_imported boolean)"
)


def _write_deployment(
    warehouse: Warehouse,
    con,
    plan: Plan,
    result: MigrationResult,
    digest,
    recreate: bool = True,
):
    p = warehouse.param
    run = warehouse.run_in
    if recreate:
        run(con, "drop table if exists production.deployment")
        run(con, _DEPLOYMENT)
    else:  # the table exists with these columns (Snowflake: no DDL in the transaction)
        run(con, "delete from production.deployment")
    classification = None
    if warehouse.table_exists("raw", "usage_build_state"):
        rows = warehouse.fetch_in(
            con, "select seq from raw.usage_build_state where model_set = 'classification'", None
        )
        classification = int(rows[0][0]) if rows else None
    checked = warehouse.fetch_in(con, "select max(checked_at) from sandbox.signoff", None)[0][0]
    run(
        con,
        f"insert into production.deployment values ({', '.join([p] * 11)})",
        [
            plan.company,
            str(plan.file),
            digest,
            classification,
            checked,
            result.approval["approval_id"],
            result.approval["approved_by"],
            dt.datetime.fromisoformat(result.approval["approved_at"]),
            result.run_id,
            _now(),
            plan.migration.import_history,
        ],
    )


#: Snowflake: where a promotion's tables are built before the transaction that promotes them
SNOWFLAKE_NEXT_SCHEMA = "production_next"


def _promote_snowflake(
    warehouse: SnowflakeWarehouse,
    plan: Plan,
    tables: list[Promoted],
    result: MigrationResult,
    started: dt.datetime,
    digest: str | None,
    approval: Approval,
) -> None:
    """The promotion on Snowflake, where DDL commits the open transaction: every table is
    built first in ``production_next`` (DDL, production untouched); the production tables are
    made to exist with the same columns (DDL only for a table that is new or whose columns
    changed, i.e. a first promotion or a golive upgrade); then ONE transaction of DML only
    replaces the rows of every production table and of ``production.deployment``, and writes
    the audit row: it commits whole or not at all, and readers see the old production or the
    new one. Tables of history not imported are dropped, and ``production_next``, after the
    commit."""
    run = warehouse.run_in
    nxt = SNOWFLAKE_NEXT_SCHEMA
    with warehouse.connect() as con:
        run(con, f"create schema if not exists production; create or replace schema {nxt}")
        for promoted in tables:
            run(con, f"create table {nxt}.{promoted.table} as {promoted.query}")
        run(con, _DEPLOYMENT.replace("production.", f"{nxt}."))
        for name in [p.table for p in tables] + ["deployment"]:
            wanted = warehouse._column_types(con, nxt, name)
            if warehouse._column_types(con, "production", name) != wanted:
                # new, or other columns: re-created empty (its old rows stay in production_next)
                if warehouse.table_exists("production", name):
                    run(con, f"alter table production.{name} rename to {nxt}.{name}_previous")
                run(con, f"create table production.{name} like {nxt}.{name}")
        con.commit()
        # from here: DML only, one transaction
        for promoted in tables:
            columns = warehouse.columns_in(con, nxt, promoted.table)
            names = ", ".join(columns)
            run(con, f"delete from production.{promoted.table}")
            run(
                con,
                f"insert into production.{promoted.table} ({names}) "
                f"select {names} from {nxt}.{promoted.table}",
            )
            relation = f"production.{promoted.table}"
            result.row_counts[promoted.table] = int(
                warehouse.fetch_in(con, f"select count(*) from {relation}", None)[0][0]
            )
            result.checksums[promoted.table] = warehouse.fetch_in(
                con, checksum_sql(relation, columns, warehouse.dialect), None
            )[0][0]
        _require_approved_copies(result, approval)
        _write_deployment(warehouse, con, plan, result, digest, recreate=False)
        result.status, result.reason = "promoted", "sign-off passed and approved"
        _audit(warehouse, con, result, started)
        con.commit()
        for promoted in PROMOTED:
            if promoted not in tables:
                run(con, f"drop table if exists production.{promoted.table}")
        run(con, f"drop schema if exists {nxt} cascade")


def is_live(warehouse: Warehouse) -> bool:
    """Whether a promotion has happened (production holds a deployment)."""
    return warehouse.table_exists("production", "deployment")


def sync_production_usage(warehouse: Warehouse) -> int | None:
    """After go-live: replace, in one transaction, production's usage aggregates of the
    periods the last metering recomputed (``staging.int_usage_affected_periods``) with the
    sandbox's, and drop the periods the sandbox no longer holds. Nothing else in production
    changes. None when production is not live."""
    if not is_live(warehouse):
        return None
    affected = (
        "exists (select 1 from staging.int_usage_affected_periods as a "
        "where a.customer_id = t.customer_id and (a.contract_id is null or "
        "(a.contract_id = t.contract_id and a.period_start = t.period_start)))"
    )
    # a period the sandbox no longer holds at all (a full reload whose source dropped its
    # only events) is in no affected day: it goes from production too
    vanished = (
        "not exists (select 1 from sandbox.usage_aggregates as s "
        "where s.customer_id = t.customer_id and s.contract_id = t.contract_id "
        "and s.period_start = t.period_start)"
    )
    with warehouse.connect() as con:
        run = warehouse.run_in
        run(con, f"delete from production.usage_aggregates as t where {affected} or {vanished}")
        run(
            con,
            "insert into production.usage_aggregates select * from sandbox.usage_aggregates "
            f"as t where {affected}",
        )
        return int(
            warehouse.fetch_in(
                con,
                "select count(*) from sandbox.usage_aggregates as t where " + affected,
                None,
            )[0][0]
        )
