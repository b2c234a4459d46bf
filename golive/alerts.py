"""Alerts through apprise: Slack, Teams, e-mail, PagerDuty or a plain JSON webhook, by URL.

The URLs come from the ``GOLIVE_ALERT_URLS`` environment variable (space or comma separated),
never from the plan: they often hold tokens. Messages never include them.
"""

from __future__ import annotations

import logging
import os
import re

log = logging.getLogger(__name__)

ALERT_URLS_ENV = "GOLIVE_ALERT_URLS"


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
