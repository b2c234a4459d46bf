"""Run roadmap stages in order through Dagster, as the command line does.

Each stage is one materialization of its asset group, so the runs, their metadata and their
check results are the same ones the Dagster UI shows (when ``DAGSTER_HOME`` is set they are
recorded there).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from connectors.warehouse import Warehouse, warehouse_from_url
from expectations.evidence import one_docs_build
from golive.alerts import compose_alert, send_alert
from golive.migration import read_signoff
from golive.plan import Plan, PlanError
from orchestration.partitions import usage_partitions
from orchestration.resources import plan_digest, validated_plan
from orchestration.sensors import failure_cause
from orchestration.stages import STAGES, USAGE_STAGES, stage_group


@dataclass
class StageResult:
    """How one stage went."""

    stage: str
    success: bool
    seconds: float
    error: str = ""
    metadata: dict[str, dict] = field(default_factory=dict)
    #: the asset checks the stage ran: "asset/check" -> passed
    checks: dict[str, bool] = field(default_factory=dict)
    #: what each failed check said: "asset/check" -> its description
    warnings: dict[str, str] = field(default_factory=dict)


@dataclass
class RunResult:
    """How a run of stages went."""

    plan: Plan
    warehouse: Warehouse
    stages: list[StageResult] = field(default_factory=list)
    signoff: list[dict] = field(default_factory=list)
    #: why the migration was held back: "signoff" or "approval" (None when it was not)
    held: str | None = None
    #: the cause of a failure, in golive/alerts.py's terms (None when the run succeeded)
    cause: str | None = None

    @property
    def warehouse_url(self) -> str:
        return self.warehouse.url

    @property
    def success(self) -> bool:
        return all(s.success for s in self.stages)

    @property
    def signoff_failed(self) -> bool:
        return any(not c["passed"] for c in self.signoff)


def _instance():
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _import_in_background(*modules: str) -> threading.Thread:
    """Import ``modules`` in a thread while the first stages run (Great Expectations takes
    about two seconds to import, and the warehouse works while Python waits)."""

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):  # imported again, with its error, where used
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="golive-imports", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def _captured_output(log_path: Path | None):
    """Send what a stage prints to stdout (dbt's log lines) to a log file, or nowhere."""
    with (
        open(log_path, "a", encoding="utf-8") if log_path else open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
    ):
        yield


def _step_failures(result) -> list:
    return [e for e in result.all_events if e.is_step_failure and e.step_failure_data]


def run_stages(
    plan_path: str | Path,
    warehouse_url: str,
    through: str = "production_migration",
    on_stage: Callable[[str, StageResult | None], None] | None = None,
    log_path: Path | None = None,
    approved_by: str | None = None,
    note: str | None = None,
) -> RunResult:
    """Run every stage from discovery through ``through``; stop at the first that fails.

    ``on_stage(stage, None)`` is called when a stage starts and ``on_stage(stage, result)`` when
    it ends. Before any stage runs: a bad warehouse URL raises
    :class:`~connectors.warehouse.WarehouseURLError`, a plan that breaks a rule raises
    :class:`~golive.plan.PlanError`, and a warehouse another run holds raises
    :class:`~connectors.warehouse.WarehouseBusyError`. The plan is validated once; every stage
    uses that validated plan. The warehouse is held for the whole run (one writer at a time).
    ``approved_by`` (and ``note``) approve the migration once the sign-off passed; without it
    the migration waits for an approval already recorded for this very sandbox. What the stages
    print (dbt's log lines) goes to ``log_path`` (default: not kept). A failure is alerted.
    """
    if through not in STAGES:
        raise ValueError(f"unknown stage '{through}': use one of {', '.join(STAGES)}")
    warehouse = warehouse_from_url(warehouse_url)
    plan_path = Path(plan_path).resolve()
    plan = validated_plan(plan_path)
    digest = plan_digest(plan_path)

    import dagster as dg

    from orchestration.dbt import ensure_manifest
    from orchestration.definitions import build_definitions

    ensure_manifest()
    defs = build_definitions(
        plan_path=str(plan_path), plan_digest=digest, warehouse_url=warehouse_url
    )
    # the asset checks defined apart from their assets run too (counts_reconcile)
    assets = [*(defs.assets or []), *(defs.asset_checks or [])]
    resources = dict(defs.resources or {})
    instance = _instance()
    run = RunResult(plan=plan, warehouse=warehouse)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    approval = {
        "ops": {
            "production_migration": {
                "config": {"approved_by": approved_by or "", "note": note or ""}
            }
        }
    }
    tags = {"golive/plan": str(plan_path), "golive/warehouse": warehouse.display_url}
    # the usage assets run for the last complete day; what arrived is processed whatever its
    # day, and a first run processes all history (golive/usage.py)
    partitions = usage_partitions(plan)
    partition_key = partitions.get_last_partition_key()
    if partition_key is None:
        raise PlanError(
            plan_path,
            [
                (
                    "usage.first_day",
                    f"{plan.usage_first_day} leaves no complete day to run",
                    "set it to a day in the past",
                )
            ],
        )
    if "great_expectations" not in sys.modules:
        _import_in_background("great_expectations", "great_expectations.expectations")
    # the Data Docs are built once, when the run ends (expectations/evidence.py)
    with warehouse.exclusive(f"golive run {plan_path}"), one_docs_build():
        for stage in STAGES[: STAGES.index(through) + 1]:
            if on_stage:
                on_stage(stage, None)
            started = time.perf_counter()
            with _captured_output(log_path):
                result = dg.materialize(
                    assets,
                    selection=dg.AssetSelection.groups(stage_group(stage)),
                    resources=resources,
                    instance=instance,
                    raise_on_error=False,
                    run_config={**quiet, **(approval if stage == "production_migration" else {})},
                    partition_key=partition_key if stage in USAGE_STAGES else None,
                    tags={**tags, "golive/stage": stage},
                )
            stage_result = StageResult(
                stage=stage, success=result.success, seconds=time.perf_counter() - started
            )
            for mat in result.get_asset_materialization_events():
                m = mat.step_materialization_data.materialization
                stage_result.metadata[m.asset_key.to_user_string()] = {
                    k: getattr(v, "value", v) for k, v in m.metadata.items()
                }
            _record_checks(stage_result, result)
            if not result.success:
                cause, error, _, _ = failure_cause(_step_failures(result))
                stage_result.error = warehouse.scrub(error)
                run.cause = cause
                if cause in ("signoff_held", "approval_held"):
                    run.held = cause.removesuffix("_held")
            run.stages.append(stage_result)
            if on_stage:
                on_stage(stage, stage_result)
            # the sign-off this run checked (never an earlier run's table)
            if stage == "parallel_test" and "sandbox/signoff" in stage_result.metadata:
                run.signoff = read_signoff(warehouse)
            if not result.success:
                failed_run_id = result.run_id
                break
    failed = next((s for s in run.stages if not s.success), None)
    if failed is not None:
        title, body = compose_alert(
            run.cause or "stage_failed",
            plan.company,
            error=failed.error,
            failing=[c for c in run.signoff if not c["passed"]] if run.held == "signoff" else [],
            stage=failed.stage,
            run_id=failed_run_id,
        )
        send_alert(title, body)
    return run


def _record_checks(stage: StageResult, result) -> None:
    """The asset checks a run evaluated: passed or not, and what a failed one said."""
    for evaluation in result.get_asset_check_evaluations():
        key = evaluation.asset_check_key
        name = f"{key.asset_key.to_user_string()}/{key.name}"
        stage.checks[name] = evaluation.passed
        if not evaluation.passed and evaluation.description:
            stage.warnings[name] = evaluation.description


def _day(text: str) -> bool:
    """Whether ``text`` is a day as the usage partitions name them (YYYY-MM-DD)."""
    try:
        return dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def run_usage(
    plan_path: str | Path,
    warehouse_url: str,
    first_day: str | None = None,
    last_day: str | None = None,
    log_path: Path | None = None,
) -> StageResult:
    """The nightly usage job for one day, or a backfill of the days ``first_day`` to
    ``last_day`` (ISO dates of the plan's time zone, inclusive) as ONE run: pull what arrived,
    classify it, re-aggregate every day and period it touched (and the days of the window),
    and, after go-live, bring production's usage up to date. Default: the last complete day.

    A range that ends before it starts is refused (ValueError) before anything runs.
    """
    if first_day and last_day and _day(first_day) and _day(last_day) and first_day > last_day:
        raise ValueError(
            f"--from {first_day} is after --to {last_day}: the range holds no day. Fix: "
            f"--from {last_day} --to {first_day}"
        )
    warehouse = warehouse_from_url(warehouse_url)
    plan_path = Path(plan_path).resolve()
    plan = validated_plan(plan_path)

    from orchestration.dbt import ensure_manifest
    from orchestration.definitions import build_definitions

    ensure_manifest()
    defs = build_definitions(
        plan_path=str(plan_path), plan_digest=plan_digest(plan_path), warehouse_url=warehouse_url
    )
    job = defs.resolve_job_def("nightly_usage_refresh")
    partitions = job.partitions_def
    last = last_day or first_day or partitions.get_last_partition_key()
    first = first_day or last
    keys = partitions.get_partition_keys()
    for day in (first, last):
        if day not in keys:
            raise ValueError(
                f"{day} is not a day of the usage partitions ({keys[0]} to {keys[-1]}, the "
                "plan's usage.first_day to yesterday)"
            )
    tags = {
        "golive/plan": str(plan_path),
        "golive/warehouse": warehouse.display_url,
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }
    started = time.perf_counter()
    with (
        warehouse.exclusive(f"golive usage {first}..{last}"),
        _captured_output(log_path),
        one_docs_build(),
    ):
        result = job.execute_in_process(
            instance=_instance(),
            tags=tags,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    outcome = StageResult(
        stage="usage", success=result.success, seconds=time.perf_counter() - started
    )
    for mat in result.get_asset_materialization_events():
        m = mat.step_materialization_data.materialization
        outcome.metadata[m.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in m.metadata.items()
        }
    _record_checks(outcome, result)
    if not result.success:
        cause, error, _, _ = failure_cause(_step_failures(result))
        outcome.error = warehouse.scrub(error)
        send_alert(*compose_alert(cause, plan.company, error=outcome.error, run_id=result.run_id))
    return outcome
