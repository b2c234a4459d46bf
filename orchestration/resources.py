"""Resources: the plan, the warehouse (chosen by URL) and alerting.

Nothing here reads the environment at import time: ``GOLIVE_PLAN``, ``GOLIVE_WAREHOUSE`` and
``GOLIVE_ALERT_URLS`` are read when a run starts, unless the resource was given a value (the
code location configures them as ``dg.EnvVar``, so the UI names the variables).

Every run that uses the plan or the warehouse is tagged with them (``golive/plan``: the plan's
path; ``golive/warehouse``: the URL with its password as ``***``), whoever launched it: the
command line, a job or schedule of the UI, or *Materialize* on the asset graph.
"""

import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import dagster as dg

from connectors.warehouse import (
    DEFAULT_URL,
    Warehouse,
    WarehouseURLError,
    redact_url,
    warehouse_from_url,
)
from golive.alerts import alert_urls, send_alert
from golive.plan import Plan, PlanError, load_plan

PLAN_ENV = "GOLIVE_PLAN"
WAREHOUSE_ENV = "GOLIVE_WAREHOUSE"

#: the run tags naming the plan and the warehouse of a run
PLAN_TAG = "golive/plan"
WAREHOUSE_TAG = "golive/warehouse"


def run_tags(plan_path: str | None, warehouse_url: str | None) -> dict[str, str]:
    """``golive/plan`` (the plan's absolute path, when there is one) and ``golive/warehouse``
    (the URL with any password as ``***``): what the runs of a plan and warehouse carry."""
    try:
        shown = warehouse_from_url(warehouse_url).display_url
    except WarehouseURLError:  # a run will say what is wrong with it
        shown = redact_url(warehouse_url or DEFAULT_URL)
    tags = {WAREHOUSE_TAG: shown}
    if plan_path:
        tags[PLAN_TAG] = str(Path(plan_path).resolve())
    return tags


def tag_run(context: dg.InitResourceContext, tags: dict[str, str]) -> None:
    """Add ``tags`` the run does not carry yet (a run launched with them keeps its own)."""
    run = context.dagster_run
    if run is None or context.instance is None:  # a sensor's or a test's resource: no run
        return
    missing = {k: v for k, v in tags.items() if k not in run.tags}
    if missing:
        context.instance.add_run_tags(run.run_id, missing)


# Plans validated in this process, by (resolved path, sha-256 of the text that was validated):
# every stage of a run gets the object its first stage validated.
_VALIDATED: dict[tuple[str, str], Plan] = {}
_VALIDATED_LOCK = threading.Lock()


def plan_digest(path: str | Path) -> str:
    """The sha-256 of a plan file's bytes: what identifies the plan a run validated."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def validated_plan(path: str | Path, digest: str | None = None) -> Plan:
    """The plan at ``path``, validated once per process and file version.

    With ``digest`` (what the run validated first), a file edited since then is refused rather
    than read: a plan edited mid-run cannot change the later stages of that run.
    """
    resolved = str(Path(path).resolve())
    if digest is not None:
        with _VALIDATED_LOCK:
            cached = _VALIDATED.get((resolved, digest))
        if cached is not None:
            return cached
    current = plan_digest(resolved) if Path(resolved).is_file() else ""
    if digest is not None and current != digest:
        raise PlanError(
            resolved,
            [
                (
                    "(file)",
                    "the plan file changed after this run validated it",
                    "start a new run to use the edited plan",
                )
            ],
        )
    with _VALIDATED_LOCK:
        cached = _VALIDATED.get((resolved, current))
    if cached is None:
        cached = load_plan(resolved)
        with _VALIDATED_LOCK:
            _VALIDATED[(resolved, current)] = cached
    return cached


class PlanResource(dg.ConfigurableResource):
    """The implementation plan, validated once before any asset uses it.

    ``path`` (else ``$GOLIVE_PLAN``) names the file; ``digest``, when the run set it, pins the
    version of the file that the run validated (see :func:`validated_plan`).
    """

    path: str | None = None
    digest: str | None = None

    def get(self) -> Plan:
        """The validated plan."""
        return self._plan

    @cached_property
    def _plan(self) -> Plan:
        path = self.path or os.environ.get(PLAN_ENV)
        if not path:
            raise PlanError(
                "(no plan)",
                [(PLAN_ENV, "no plan file is configured", f"set {PLAN_ENV}=path/to/plan.yaml")],
            )
        return validated_plan(path, self.digest)

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["PlanResource"]:
        path = self.path or os.environ.get(PLAN_ENV)
        if path:
            tag_run(context, {PLAN_TAG: str(Path(path).resolve())})
        yield self


# URLs holding a password or token, given to this process (``golive run --warehouse``): a
# resource's config names them by reference, since Dagster keeps every resource's config in
# its run storage (which the shared deployment's web server reads).
_GIVEN_URLS: dict[str, str] = {}
_GIVEN_PREFIX = "golive-given-url:"


def config_url(url: str) -> str:
    """What a resource's config holds for ``url``: the URL itself when it holds no secret,
    else a reference to it that only this process can resolve (never the secret)."""
    if redact_url(url) == url:
        return url
    reference = f"{_GIVEN_PREFIX}{uuid.uuid4().hex}"
    _GIVEN_URLS[reference] = url
    return reference


def _resolved_url(value: str) -> str:
    if not value.startswith(_GIVEN_PREFIX):
        return value
    try:
        return _GIVEN_URLS[value]
    except KeyError:
        raise WarehouseURLError(
            "this run's warehouse URL was given to the process that launched it and holds a "
            "password, which Dagster's storage never keeps: launch the run again with golive, "
            f"or set {WAREHOUSE_ENV} where Dagster runs"
        ) from None


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: ``duckdb:///file.duckdb`` (default) or ``postgresql://...``.

    A run holds the warehouse from its start to its end (one writer per warehouse): a second
    run fails at once, naming the run that holds it.
    """

    url: str | None = None

    def get(self) -> Warehouse:
        """The warehouse (``url``, else ``$GOLIVE_WAREHOUSE``, else the DuckDB default)."""
        if self.url:
            return warehouse_from_url(_resolved_url(self.url))
        return warehouse_from_url(os.environ.get(WAREHOUSE_ENV) or DEFAULT_URL)

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WarehouseResource"]:
        run = context.dagster_run
        holder = f"Dagster run {run.run_id[:8]} of {run.job_name}" if run else "a Dagster run"
        warehouse = self.get()
        tag_run(context, {WAREHOUSE_TAG: warehouse.display_url})
        with warehouse.exclusive(holder):
            yield self


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go: apprise URLs (``urls``, else ``$GOLIVE_ALERT_URLS``)."""

    urls: str | None = None

    def send(self, title: str, body: str) -> bool:
        """Send an alert; False when none is configured or delivery failed."""
        return send_alert(title, body, alert_urls(self.urls))
