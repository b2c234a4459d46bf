"""Sensors: alert (apprise URLs in GOLIVE_ALERT_URLS) when a run fails, a failed sign-off
check included (a failing blocking check fails its run)."""


import dagster as dg

from orchestration.resources import AlertsResource


def failure_alert_text(run: dg.DagsterRun, message: str) -> tuple[str, str]:
    """Title and body of the alert for a failed run."""
    signoff_failed = "signoff_criteria_pass" in message or "blocking asset check" in message
    title = (
        f"golive: sign-off failed, production migration held back (run {run.run_id[:8]})"
        if signoff_failed
        else f"golive: run {run.run_id[:8]} of {run.job_name} failed"
    )
    return title, message


@dg.run_failure_sensor(
    name="alert_on_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def alert_on_failure(context: dg.RunFailureSensorContext, alerts: AlertsResource):
    """Send an alert for every failed run, naming the failed sign-off criteria if any."""
    message = context.failure_event.message or "run failed"
    title, body = failure_alert_text(context.dagster_run, message)
    alerts.send(title, body)
