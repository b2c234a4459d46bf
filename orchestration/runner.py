"""Run roadmap stages in order through Dagster, as the command line does.

Each stage is one materialization of its asset group, so the runs, their metadata and their
check results are the same ones the Dagster UI shows (when ``DAGSTER_HOME`` is set they are
recorded there).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from connectors.warehouse import Warehouse, warehouse_from_url
from golive.alerts import send_alert
from golive.plan import Plan, PlanError
from orchestration.partitions import usage_partitions
from orchestration.resources import plan_digest, validated_plan
from orchestration.stages import STAGES

#: stages with daily-partitioned usage assets
USAGE_STAGES = ("sandbox_load", "metering")


@dataclass
class StageResult:
    """How one stage went."""

    stage: str
    success: bool
    seconds: float
    error: str = ""
    metadata: dict[str, dict] = field(default_factory=dict)


@dataclass
class RunResult:
    """How a run of stages went."""

    plan: Plan
    warehouse: Warehouse
    stages: list[StageResult] = field(default_factory=list)
    signoff: list[dict] = field(default_factory=list)

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


@contextlib.contextmanager
def _captured_output(log_path: Path | None):
    """Send what a stage prints to stdout (dbt's log lines) to a log file, or nowhere."""
    with (
        open(log_path, "a", encoding="utf-8") if log_path else open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
    ):
        yield


def _failure_message(result) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            err = event.step_failure_data.error
            while err.cause is not None and "DagsterExecutionStepExecutionError" in err.cls_name:
                err = err.cause
            return err.message.strip()
    return "the stage failed"


def read_signoff(warehouse: Warehouse) -> list[dict]:
    """The sign-off table's rows, or [] when it has not been written."""
    if not warehouse.table_exists("sandbox", "signoff"):
        return []
    rows = warehouse.query(
        "select criterion, threshold, observed, passed from sandbox.signoff order by criterion"
    )
    return [
        {"criterion": c, "threshold": t, "observed": o, "passed": bool(p)} for c, t, o, p in rows
    ]


def run_stages(
    plan_path: str | Path,
    warehouse_url: str,
    through: str = "production_migration",
    on_stage: Callable[[str, StageResult | None], None] | None = None,
    log_path: Path | None = None,
) -> RunResult:
    """Run every stage from discovery through ``through``; stop at the first that fails.

    ``on_stage(stage, None)`` is called when a stage starts and ``on_stage(stage, result)`` when
    it ends. Before any stage runs: a bad warehouse URL raises
    :class:`~connectors.warehouse.WarehouseURLError`, a plan that breaks a rule raises
    :class:`~golive.plan.PlanError`, and a warehouse another run holds raises
    :class:`~connectors.warehouse.WarehouseBusyError`. The plan is validated once; every stage
    uses that validated plan. The warehouse is held for the whole run (one writer at a time).
    What the stages print (dbt's log lines) goes to ``log_path`` (default: not kept).
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
    assets = list(defs.assets or [])
    resources = dict(defs.resources or {})
    instance = _instance()
    run = RunResult(plan=plan, warehouse=warehouse)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
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
    with warehouse.exclusive(f"golive run {plan_path}"):
        for stage in STAGES[: STAGES.index(through) + 1]:
            if on_stage:
                on_stage(stage, None)
            started = time.perf_counter()
            with _captured_output(log_path):
                result = dg.materialize(
                    assets,
                    selection=dg.AssetSelection.groups(stage),
                    resources=resources,
                    instance=instance,
                    raise_on_error=False,
                    run_config=quiet,
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
            if not result.success:
                stage_result.error = warehouse.scrub(_failure_message(result))
            run.stages.append(stage_result)
            if on_stage:
                on_stage(stage, stage_result)
            # the sign-off this run checked (never an earlier run's table)
            if stage == "parallel_test" and "sandbox/signoff" in stage_result.metadata:
                run.signoff = read_signoff(warehouse)
            if not result.success:
                break
    failed = next((s for s in run.stages if not s.success), None)
    if failed is not None:
        title = (
            "golive: sign-off failed, production migration held back"
            if run.signoff_failed
            else f"golive: stage {failed.stage} failed"
        )
        body = failed.error
        if run.signoff_failed:
            body += "\n" + "\n".join(
                f"- {c['criterion']}: observed {c['observed']}, threshold {c['threshold']}"
                for c in run.signoff
                if not c["passed"]
            )
        send_alert(f"{title} ({plan.company})", body)
    return run
