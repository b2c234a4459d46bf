"""Resources: the plan, the warehouse (chosen by URL) and alerting.

Nothing here reads the environment at import time: ``GOLIVE_PLAN``, ``GOLIVE_WAREHOUSE`` and
``GOLIVE_ALERT_URLS`` are read when a run starts, unless the resource was given a value.
"""

import os
from functools import cached_property

import dagster as dg

from connectors.warehouse import DEFAULT_URL, Warehouse, warehouse_from_url
from golive.alerts import alert_urls, send_alert
from golive.plan import Plan, PlanError, load_plan

PLAN_ENV = "GOLIVE_PLAN"
WAREHOUSE_ENV = "GOLIVE_WAREHOUSE"


class PlanResource(dg.ConfigurableResource):
    """The implementation plan, validated before any asset uses it."""

    path: str | None = None

    def get(self) -> Plan:
        """The validated plan (``path``, else ``$GOLIVE_PLAN``)."""
        return self._plan

    @cached_property
    def _plan(self) -> Plan:
        path = self.path or os.environ.get(PLAN_ENV)
        if not path:
            raise PlanError(
                "(no plan)",
                [(PLAN_ENV, "no plan file is configured", f"set {PLAN_ENV}=path/to/plan.yaml")],
            )
        return load_plan(path)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: ``duckdb:///file.duckdb`` (default) or ``postgresql://...``."""

    url: str | None = None

    def get(self) -> Warehouse:
        """The warehouse (``url``, else ``$GOLIVE_WAREHOUSE``, else the DuckDB default)."""
        return warehouse_from_url(self.url or os.environ.get(WAREHOUSE_ENV) or DEFAULT_URL)


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go: apprise URLs (``urls``, else ``$GOLIVE_ALERT_URLS``)."""

    urls: str | None = None

    def send(self, title: str, body: str) -> bool:
        """Send an alert; False when none is configured or delivery failed."""
        return send_alert(title, body, alert_urls(self.urls))
