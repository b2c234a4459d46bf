"""Alerts through apprise: Slack, Teams, e-mail, PagerDuty or a plain JSON webhook, by URL.

The URLs come from the ``GOLIVE_ALERT_URLS`` environment variable (space or comma separated),
never from the plan: they often hold tokens. Messages never include them.

:func:`compose_alert` is the one place an alert's words come from, for the command line and
the Dagster sensor alike: what was refused and why in words, only the failing sign-off
criteria with what was observed against the threshold, the company, and a link to the run
(``GOLIVE_DAGSTER_URL``, the Dagster web server's address, when it is set).
"""

from __future__ import annotations

import logging
import os
import re

log = logging.getLogger(__name__)

ALERT_URLS_ENV = "GOLIVE_ALERT_URLS"
DAGSTER_URL_ENV = "GOLIVE_DAGSTER_URL"

#: the causes an alert names, and what each says
CAUSES = {
    "signoff_held": "sign-off held the production migration back",
    "approval_held": "production migration waits for a named approval",
    "bad_plan": "the plan cannot run",
    "source_unreachable": "a source could not be read",
    "warehouse_busy": "another run holds the warehouse",
    "stage_failed": "a stage failed",
}

#: what to do, per cause
ACTIONS = {
    "signoff_held": "Look at the parallel test report; fix the inputs or the plan, or the "
    "legacy data, and run again.",
    "approval_held": "Review the report, then approve: golive approve --by NAME (or from the "
    "Dagster UI: materialize production with approved_by).",
    "bad_plan": "Fix the plan at the key named above; nothing ran.",
    "source_unreachable": "Check the source's connection and the environment variables the "
    "plan names; nothing was loaded from it.",
    "warehouse_busy": "Wait for the other run to finish; nothing ran.",
    "stage_failed": "See the error above and the run's log.",
}


def run_link(run_id: str | None, base: str | None = None) -> str | None:
    """The Dagster UI page of a run, when the web server's address is known."""
    base = base if base is not None else os.environ.get(DAGSTER_URL_ENV, "")
    if not base or not run_id:
        return None
    return f"{base.rstrip('/')}/runs/{run_id}"


def compose_alert(
    cause: str,
    company: str,
    *,
    error: str = "",
    failing: list[dict] | None = None,
    stage: str | None = None,
    run_id: str | None = None,
) -> tuple[str, str]:
    """The title and body of an alert: what happened, the failing criteria (observed against
    threshold), the error in words, what to do, and a link to the run."""
    what = CAUSES[cause]
    if cause == "stage_failed" and stage:
        what = f"stage {stage} failed"
    title = f"golive ({company}): {what}"
    lines = []
    if failing:
        lines.append("Failing criteria:")
        lines += [
            f"- {c['criterion']}: observed {c['observed']}, threshold {c['threshold']}"
            for c in failing
        ]
    if error and not failing:
        lines.append(error.strip())
    lines.append(ACTIONS[cause])
    link = run_link(run_id)
    if link:
        lines.append(f"Run: {link}")
    return title, "\n".join(lines)


def alert_urls(value: str | None = None) -> list[str]:
    """The configured apprise URLs (from ``value`` or the environment)."""
    raw = value if value is not None else os.environ.get(ALERT_URLS_ENV, "")
    return [u for u in re.split(r"[\s,]+", raw) if u]


def send_alert(title: str, body: str, urls: list[str] | None = None, failure: bool = True) -> bool:
    """Send one alert to every URL; True when at least one delivery succeeded.

    Without URLs this logs the alert and returns False: alerting is optional.
    """
    import apprise

    urls = alert_urls() if urls is None else urls
    if not urls:
        log.warning("alert not sent (no %s set): %s", ALERT_URLS_ENV, title)
        return False
    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            # show only the scheme: the rest of an apprise URL is often a secret token
            scheme = url.split(":")[0]
            log.error("ignoring an alert URL that apprise cannot use (scheme %s)", scheme)
    kind = apprise.NotifyType.FAILURE if failure else apprise.NotifyType.INFO
    return bool(notifier.notify(title=title, body=body, notify_type=kind))
