"""Sensors: alert (apprise URLs in GOLIVE_ALERT_URLS) when a run fails, naming the failed
checks: a failing blocking check (the sign-off gate) fails its run."""

import dagster as dg

from orchestration.resources import AlertsResource


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """One line per failed asset check of a run, with what the check reported."""
    lines = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if evaluation.passed:
            continue
        details = ", ".join(
            f"{k}: {getattr(v, 'value', v)}" for k, v in (evaluation.metadata or {}).items()
        )
        lines.append(
            f"{evaluation.asset_key.to_user_string()} {evaluation.check_name} failed"
            + (f" ({details})" if details else "")
        )
    return lines


def failure_alert_text(run: dg.DagsterRun, message: str, checks: list[str]) -> tuple[str, str]:
    """Title and body of the alert for a failed run."""
    if any("signoff_criteria_pass" in c for c in checks):
        title = f"golive: sign-off failed, production migration held back (run {run.run_id[:8]})"
    else:
        title = f"golive: run {run.run_id[:8]} of {run.job_name} failed"
    return title, "\n".join([message, *checks])


@dg.run_failure_sensor(
    name="alert_on_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def alert_on_failure(context: dg.RunFailureSensorContext, alerts: AlertsResource):
    """Send an alert for every failed run, naming the failed checks (sign-off criteria)."""
    run = context.dagster_run
    checks = failed_checks(context.instance, run.run_id)
    title, body = failure_alert_text(run, context.failure_event.message or "run failed", checks)
    alerts.send(title, body)
