"""Sensors: alert (apprise URLs in GOLIVE_ALERT_URLS) when a run fails, saying why in the words
the command line uses (golive/alerts.py compose_alert)."""

import dagster as dg

from golive.alerts import compose_alert
from orchestration.resources import AlertsResource, PlanResource


def failure_cause(step_failures: list) -> tuple[str, str, list[dict], str | None]:
    """``(cause, error message, failing criteria, stage group)`` of a failed run, from its
    steps' failures (Dagster's error records: class names and, for a held migration, the
    metadata it raised with)."""
    for failure in step_failures:
        data = failure.step_failure_data if hasattr(failure, "step_failure_data") else failure
        user = getattr(data, "user_failure_data", None)
        metadata = dict(getattr(user, "metadata", None) or {})
        if "held" in metadata:
            held = getattr(metadata["held"], "value", metadata["held"])
            failing = getattr(metadata.get("failing"), "value", None) or []
            message = getattr(user, "description", "") or ""
            return f"{held}_held", message, failing, "production_migration"
        err = getattr(data, "error", None)
        chain = []
        while err is not None:
            chain.append(err)
            err = err.cause
        names = " ".join(e.cls_name for e in chain)
        message = next(
            (e.message.strip() for e in reversed(chain) if "DagsterExecution" not in e.cls_name),
            chain[-1].message.strip() if chain else "the run failed",
        )
        if "PlanError" in names:
            return "bad_plan", message, [], None
        if "SourceError" in names or "ConnectionError" in names:
            return "source_unreachable", message, [], None
        if "WarehouseBusyError" in names:
            return "warehouse_busy", message, [], None
        return "stage_failed", message, [], None
    return "stage_failed", "the run failed", [], None


@dg.run_failure_sensor(
    name="alert_on_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="When a run fails (a stage, a blocking input contract, the sign-off gate), "
    "sends one alert to every apprise URL in GOLIVE_ALERT_URLS: the cause in words, the "
    "failing criteria with what was observed, what to do and the run's page.",
)
def alert_on_failure(
    context: dg.RunFailureSensorContext, alerts: AlertsResource, plan: PlanResource
):
    """Send an alert for every failed run: the cause in words, the failing sign-off criteria
    with their numbers, what to do, and a link to the run."""
    run = context.dagster_run
    failures = [
        record.dagster_event
        for record in context.instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        )
    ]
    cause, error, failing, _ = failure_cause(failures)
    try:
        company = plan.get().company
    except Exception:  # a plan that does not load: the alert still goes out
        company = run.tags.get("golive/plan", "golive")
    stage = run.tags.get("golive/stage")
    title, body = compose_alert(
        cause, company, error=error, failing=failing, stage=stage, run_id=run.run_id
    )
    alerts.send(title, body)
