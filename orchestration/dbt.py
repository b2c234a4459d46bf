"""The dbt project as Dagster assets: project, translator (the policy object), the dbt
invocation and the cached ``@dbt_assets`` factories.

dbt runs **in this process** (dbt's programmatic ``dbtRunner``), not as a subprocess per stage:
the parsed project is kept between invocations, so a stage's dbt call costs its SQL plus a few
hundred milliseconds instead of seconds of start-up and parsing; nothing is left running when
golive is killed; and the warehouse's credentials reach dbt for the one call, never through the
process environment. dbt's results become Dagster events through dagster-dbt's own event
translation, so the asset and check results are the ones ``DbtCliResource`` would emit.
"""

import contextlib
import datetime as dt
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets

from connectors.warehouse import Warehouse, quote_ident
from golive.usage import record_built_on
from orchestration.resources import PlanResource, WarehouseResource
from orchestration.stages import STAGES, stage_group

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
TARGET_DIR = DBT_PROJECT_DIR / "target"
#: where each warehouse's step folders go instead of ``target/runs`` (the test suite gives each
#: test its own)
RUNS_DIR_ENV = "GOLIVE_DBT_RUNS_DIR"

#: Stages that have dbt models (their dbt tag has the same name).
DBT_STAGES = ("sandbox_load", "metering", "billing", "parallel_test")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

#: dbt's events that carry a node's result (the ones turned into Dagster events).
_RESULT_EVENTS = frozenset(
    {"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"}
)

# dbt's programmatic runner is not re-entrant: one invocation at a time per process.
_DBT_LOCK = threading.RLock()


@contextlib.contextmanager
def _folder_lock(name: str) -> Iterator[None]:
    """Hold one of the dbt target folders every process shares (``manifest``, a parse, the
    inline compiles) against other processes while dbt writes it: two Dagster runs on two
    warehouses, each in its own process, may parse at the same moment."""
    from filelock import FileLock

    locks = TARGET_DIR / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{name}.lock")):
        yield


def runs_folder(warehouse: Warehouse) -> Path:
    """The folder of one warehouse's step folders: ``target/runs/<dialect>-<key digest>``
    (``$GOLIVE_DBT_RUNS_DIR`` instead of ``target/runs`` when set). Runs on one warehouse never
    overlap (its lock); runs on two warehouses may, so each has its own."""
    root = os.environ.get(RUNS_DIR_ENV)
    digest = hashlib.sha256(warehouse.lock_key.encode()).hexdigest()[:12]
    return (Path(root) if root else TARGET_DIR / "runs") / f"{warehouse.dialect}-{digest}"


def _newest_source_mtime() -> float:
    newest = 0.0
    for sub in ("models", "macros", "tests"):
        for path in (DBT_PROJECT_DIR / sub).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (DBT_PROJECT_DIR / name).stat().st_mtime)
    return newest


@contextlib.contextmanager
def scoped_dbt_environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Let dbt see ``extra`` (the warehouse's profile variables) for one invocation.

    dbt reads its environment once per invocation (``dbt.cli.requires.get_env``) and resolves
    the profile's ``env_var()`` from that copy; this hands it the process environment plus
    ``extra`` without writing ``extra`` (a password) into ``os.environ``.
    """
    import dbt.cli.requires as requires

    original, argv = requires.get_env, sys.argv
    requires.get_env = lambda: {**os.environ, **extra}
    # dbt records its "invocation command" (this process's argv) in its logs and artifacts;
    # golive's own arguments may hold a warehouse URL with its password
    sys.argv = ["dbt"]
    try:
        yield
    finally:
        requires.get_env, sys.argv = original, argv


def _name_behavior_flags_cheaply() -> None:
    """dbt names the source of each adapter behavior flag by walking ``inspect.stack()``, which
    reads the source lines of every frame: inside a Dagster step (60+ frames) that took ~0.4 s
    per invocation, ~3 s of a small plan's run. The same answer (the first calling module that
    is not dbt-common's ``behavior_flags``) comes from the frames' globals without reading any
    file. docs/stack.md "dbt behavior flags"."""
    from dbt_common import behavior_flags

    def default_source() -> str:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and name != behavior_flags.__name__:
                return name
            frame = frame.f_back
        return "Unknown"

    behavior_flags.BehaviorFlagRendered._default_source = staticmethod(default_source)


_name_behavior_flags_cheaply()


@dataclass
class DbtRun:
    """What one dbt invocation did: its node results (dbt's structured events) and errors."""

    success: bool
    results: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_PARSED: dict[tuple[str, float], Any] = {}


def _parsed_project(env: Mapping[str, str]) -> Any:
    """dbt's parsed project (a ``Manifest``) for the target ``env`` selects: parsed once per
    adapter (its macros are part of it) and project version, then pointed at the target's
    database for each invocation (the only part of the parse that depends on the warehouse:
    a DuckDB file's stem, a PostgreSQL or Snowflake database's name)."""
    from dbt.cli.main import dbtRunner

    target = env.get("GOLIVE_DBT_TARGET", "duckdb")
    key = (target, _newest_source_mtime())
    if key not in _PARSED:
        ensure_manifest()
        folder = TARGET_DIR / f"parse-{target}"
        with scoped_dbt_environment(_parse_env(env)), _folder_lock(folder.name):
            # one folder per adapter, so that each keeps its own partial parse (dbt parses
            # again from scratch when the adapter changes); the nodes are those of
            # target/manifest.json, which the assets come from
            result = dbtRunner().invoke(
                [
                    "parse",
                    "--quiet",
                    "--log-level-file",
                    "none",
                    *_location_args(folder),
                ]
            )
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
        for stale in [k for k in _PARSED if k[0] == target]:
            del _PARSED[stale]
        _PARSED[key] = result.result
    manifest = _PARSED[key]
    # the database the invocation's profile names (its defaults when ``env`` names none: the
    # manifest may have been pointed at another warehouse's by an earlier call)
    seen = {**os.environ, **env}
    database = None
    if target == "duckdb":
        database = Path(seen.get("GOLIVE_DUCKDB_PATH") or "golive.duckdb").stem
    elif target == "postgres":
        database = seen.get("GOLIVE_PG_DATABASE") or "postgres"
    elif target == "snowflake":
        database = seen.get("GOLIVE_SF_DATABASE") or "golive"
    if database:
        for node in [*manifest.nodes.values(), *manifest.sources.values()]:
            if getattr(node, "database", None) is not None:
                node.database = database
    return manifest


def _parse_env(env: Mapping[str, str]) -> dict[str, str]:
    """The profile variables a parse sees: the target's name alone for DuckDB and PostgreSQL,
    so that the connection (a DuckDB file, a server, a password) takes the profile's
    placeholders. dbt parses a project from scratch whenever the profile changes (3.1 s
    instead of 0.85 s for a partial parse, on every new warehouse); nothing a parse produces
    depends on the connection but the database name, which ``_parsed_project`` points at the
    invocation's. Snowflake's database is part of its connection: parsed with it."""
    target = env.get("GOLIVE_DBT_TARGET", "duckdb")
    if target == "duckdb":
        return {"GOLIVE_DBT_TARGET": target, "GOLIVE_DUCKDB_PATH": ":memory:"}
    if target == "postgres":
        return {"GOLIVE_DBT_TARGET": target}
    return dict(env)


def _location_args(target_path: Path) -> list[str]:
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path),
    ]


def ensure_manifest() -> Path:
    """``target/manifest.json`` for the asset definitions: parsed from scratch when missing or
    older than the project's files."""
    from dbt.cli.main import dbtRunner

    manifest = dbt_project.manifest_path

    def fresh() -> bool:
        return manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime()

    if fresh():
        return manifest
    with _DBT_LOCK, _folder_lock("manifest"):
        if fresh():  # another process parsed it while this one waited
            return manifest
        try:
            with scoped_dbt_environment({"GOLIVE_DBT_TARGET": "duckdb"}):
                result = dbtRunner().invoke(
                    [
                        "parse",
                        "--quiet",
                        "--no-partial-parse",
                        "--log-level-file",
                        "none",
                        *_location_args(TARGET_DIR),
                    ]
                )
        finally:
            _close_duckdb_environment()
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    return manifest


def build_args(
    selection: list[str],
    *,
    dbt_vars: Mapping[str, Any] | None = None,
    full_refresh: bool = False,
    indirect_selection: str | None = None,
) -> list[str]:
    """The arguments of one customer run's ``dbt build``: the selection, the vars, and no dbt
    unit tests (those run in golive's own test suite, not on a company's data)."""
    args = ["build", *selection, "--exclude-resource-type", "unit_test"]
    if indirect_selection:
        args += ["--indirect-selection", indirect_selection]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars), sort_keys=True, default=str)]
    if full_refresh:
        args.append("--full-refresh")
    return args


def invoke_dbt(args: list[str], env: Mapping[str, str], target_path: Path) -> DbtRun:
    """Run one dbt command in this process; collect node results and error messages."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    run = DbtRun(success=False)

    def collect(event: Any) -> None:
        name = event.info.name
        if name in _RESULT_EVENTS:
            run.results.append(msg_to_dict(event))
        elif event.info.level == "error" and event.info.msg:
            run.errors.append(str(event.info.msg))

    target_path.mkdir(parents=True, exist_ok=True)
    with _DBT_LOCK:
        try:
            parsed = _parsed_project(env)
            with scoped_dbt_environment(env):
                result = dbtRunner(manifest=parsed, callbacks=[collect]).invoke(
                    [
                        *args,
                        *_location_args(target_path),
                        "--log-level-file",
                        "none",
                        "--no-use-colors",
                        # the results come from dbt's events: no manifest.json or
                        # run_results.json per invocation (writing them took ~0.8 s each)
                        "--no-write-json",
                    ]
                )
        finally:
            _close_duckdb_environment()
    run.success = bool(result.success)
    if result.exception is not None:
        run.errors.append(str(result.exception))
    return run


def compile_inline(sql: str, env: Mapping[str, str]) -> str:
    """The SQL a Jinja text compiles to for the target ``env`` selects (the project's macros
    available, ``golive.*`` included): how tests and benchmarks run a macro on any warehouse."""
    from dbt.cli.main import dbtRunner

    with _DBT_LOCK:
        try:
            parsed = _parsed_project(env)
            with scoped_dbt_environment(env), _folder_lock("inline"):
                result = dbtRunner(manifest=parsed).invoke(
                    [
                        "compile",
                        "--quiet",
                        "--log-level-file",
                        "none",
                        "--inline",
                        sql,
                        *_location_args(TARGET_DIR / "inline"),
                    ]
                )
        finally:
            _close_duckdb_environment()
    if not result.success:
        raise RuntimeError(f"dbt compile failed: {result.exception}")
    return result.result.results[0].node.compiled_code


def _close_duckdb_environment() -> None:
    """dbt-duckdb keeps its DuckDB database open in the process after an invocation (a class
    attribute of its connection manager), which would keep the file locked against every other
    process until this one exits: close it, as dbt-duckdb itself does on a profile change."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a core dependency
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()


class DbtBuildError(RuntimeError):
    """A dbt build that did not succeed; the message lists what failed and why."""


def failure_summary(run: DbtRun) -> str:
    """dbt's error messages (the failing node and its reason), without repeats; else the
    names of the nodes that failed."""
    lines: list[str] = []
    for message in run.errors:
        if message not in lines:
            lines.append(message)
    if not lines:
        for event in run.results:
            data = event.get("data", {})
            if str(data.get("status", "")).lower() in ("error", "fail"):
                node = data.get("node_info", {})
                lines.append(f"{node.get('resource_type', 'node')} {node.get('node_name')} failed")
    return "\n".join(lines) or "dbt build failed"


class GoliveDbtTranslator(DagsterDbtTranslator):
    """Asset keys are ``[schema, table]`` (as in the warehouse); groups are roadmap stages.

    Descriptions and column schemas come from the dbt project's schema files, never a second
    copy: a model's description (then its SQL) is the asset's; its declared columns with their
    ``data_type`` are the asset's ``dagster/column_schema`` (dagster-dbt's default metadata),
    so the UI shows typed columns before anything ran. A dbt test's ``description`` is its
    asset check's.
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        alias = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        return dg.AssetKey([dbt_resource_props["schema"], alias])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        for tag in dbt_resource_props.get("tags", []):
            if tag in STAGES:
                return stage_group(tag)
        return None

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return dg.AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=test_description(manifest["nodes"][unique_id]),
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
        )


def test_description(test: Mapping[str, Any]) -> str:
    """A dbt test's ``description`` from its schema file; else what it tests, from its name and
    arguments (every test should have a description: tests/test_definitions.py holds them to
    it)."""
    if test.get("description"):
        return test["description"]
    meta = test.get("test_metadata") or {}
    kwargs = {k: v for k, v in (meta.get("kwargs") or {}).items() if k != "model"}
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"dbt test {meta.get('name') or test['name']}({args})"


translator = GoliveDbtTranslator()


class DbtResource(dg.ConfigurableResource):
    """Runs the dbt project's models in this process, on the warehouse of the run."""

    def build(
        self,
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        *,
        dbt_vars: Mapping[str, Any] | None = None,
        full_refresh: bool = False,
    ) -> Iterator[Any]:
        """``dbt build`` of the models (and their tests) this step materializes; yields the
        Dagster events of every result, then raises :class:`DbtBuildError` if dbt failed."""
        from dagster_dbt.asset_utils import (
            get_manifest_and_translator_from_dbt_assets,
            get_subset_selection_for_context,
        )
        from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

        manifest, dagster_translator, project = get_manifest_and_translator_from_dbt_assets(
            [context.assets_def]
        )
        selection, indirect = get_subset_selection_for_context(
            context=context,
            manifest=manifest,
            select=context.op.tags.get("dagster_dbt/select"),
            exclude=context.op.tags.get("dagster_dbt/exclude"),
            selector=context.op.tags.get("dagster_dbt/selector"),
            dagster_dbt_translator=dagster_translator,
            current_dbt_indirect_selection_env=None,
        )
        # one folder per warehouse and step, overwritten by its next run: the last compiled SQL
        # stays there to read
        target_path = runs_folder(warehouse) / context.op.name
        run = invoke_dbt(
            build_args(
                selection,
                dbt_vars=dbt_vars,
                full_refresh=full_refresh,
                indirect_selection=indirect,
            ),
            warehouse.dbt_env(),
            target_path,
        )
        for raw_event in run.results:
            event = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
            yield from event.to_default_asset_events(
                manifest=manifest,
                dagster_dbt_translator=dagster_translator,
                context=context,
                target_path=target_path,
                project=project,
            )
        if not run.success:
            raise DbtBuildError(warehouse.scrub(failure_summary(run)))


#: dbt tag of the usage models: incremental, and daily-partitioned in Dagster
DAILY_TAG = "daily"


def dbt_selection(stage: str, daily: bool) -> tuple[str, str | None]:
    """The dbt ``select`` and ``exclude`` of one stage's model set (daily or not)."""
    if daily:
        return f"tag:{stage},tag:{DAILY_TAG}", None
    return f"tag:{stage}", f"tag:{DAILY_TAG}"


def window_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The partition window of a partitioned step as dbt vars (``min_day``/``max_day``, days of
    the plan's time zone, inclusive); nothing for an unpartitioned step."""
    try:
        window = context.partition_time_window
    except dg.DagsterInvariantViolationError:  # a run of no partition: what arrived, only
        return {}
    last = window.end - dt.timedelta(days=1)
    return {"min_day": window.start.date().isoformat(), "max_day": last.date().isoformat()}


@cache
def stage_dbt_assets(
    stage: str, partitions: dg.PartitionsDefinition | None = None
) -> dg.AssetsDefinition:
    """The dbt models of one roadmap stage, built and tested in one dbt invocation: with
    ``partitions``, its usage models (tag ``daily``: incremental, daily partitions, a range
    backfilled in one run); without, the rest."""
    if stage not in DBT_STAGES:
        raise ValueError(f"stage {stage} has no dbt models")
    daily = partitions is not None
    select, exclude = dbt_selection(stage, daily)

    @dbt_assets(
        manifest=ensure_manifest(),
        select=select,
        exclude=exclude,
        name=f"{stage}_{'daily_' if daily else ''}dbt_models",
        dagster_dbt_translator=translator,
        project=dbt_project,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run() if daily else None,
        pool="warehouse",
    )
    def _stage_models(
        context: dg.AssetExecutionContext,
        dbt: DbtResource,
        warehouse: WarehouseResource,
        plan: PlanResource,
    ):
        wh = warehouse.get()
        if not daily:
            events = list(dbt.build(context, wh))
            if stage in ("billing", "parallel_test"):
                record_built_on(wh, stage)  # what built_on_current_usage compares with
        elif stage == "sandbox_load":
            events = list(_classify(context, dbt, wh, plan.get()))
        else:
            events = list(_meter(context, dbt, wh))
        yield from with_row_counts(context, events, wh)

    kind = "usage models (incremental, daily partitions)" if daily else "models"
    _stage_models.__doc__ = f"The dbt {kind} of the {stage} stage (dbt_project, {select})."
    return _stage_models


def _classify(context, dbt: DbtResource, wh: Warehouse, plan) -> Iterator[Any]:
    """Type and classify the usage events that arrived (or all of them, when they must be
    rebuilt: golive/usage.py says when), stamped with the next classification number."""
    from golive.usage import plan_classification, record_classification

    step = plan_classification(wh, plan)
    context.log.info(f"usage classification {step.seq}: {step.reason}")
    dbt_vars = {
        "classification_seq": step.seq,
        "received_after": step.received_after,
        **window_vars(context),
    }
    yield from dbt.build(context, wh, dbt_vars=dbt_vars, full_refresh=step.rebuild)
    record_classification(wh, plan, step)


def _meter(context, dbt: DbtResource, wh: Warehouse) -> Iterator[Any]:
    """Re-aggregate the days classified since the last metering (and the partition window)."""
    from golive.usage import plan_metering, record_metering

    step = plan_metering(wh)
    context.log.info(
        f"metering classifications {step.after_seq + 1}..{step.through_seq}"
        + (" (rebuild)" if step.rebuild else "")
    )
    dbt_vars = {
        "metered_after_seq": step.after_seq,
        "classification_seq": step.through_seq,
        **window_vars(context),
    }
    yield from dbt.build(context, wh, dbt_vars=dbt_vars, full_refresh=step.rebuild)
    record_metering(wh, step)


def _event_key(context: dg.AssetExecutionContext, event: Any) -> dg.AssetKey | None:
    if isinstance(event, dg.Output):
        return context.asset_key_for_output(event.output_name)
    if isinstance(event, dg.AssetMaterialization):
        return event.asset_key
    return None


def with_row_counts(context: dg.AssetExecutionContext, events: list, warehouse) -> list:
    """Add ``dagster/row_count`` to every materialized table, counted in one query (a view is
    not counted: counting it would run it)."""
    keys = [k for k in (_event_key(context, e) for e in events) if k is not None]
    tables = warehouse.base_tables({tuple(k.path) for k in keys if len(k.path) == 2})
    counted = [k for k in keys if tuple(k.path) in tables]
    if not counted:
        return events
    counts = dict(
        warehouse.query(
            " union all ".join(
                f"select '{k.to_user_string()}', count(*) from "
                f"{'.'.join(quote_ident(p) for p in k.path)}"
                for k in counted
            )
        )
    )
    out = []
    for e in events:
        key = _event_key(context, e)
        if key is not None and key.to_user_string() in counts:
            n = int(counts[key.to_user_string()])
            e = e.with_metadata({**e.metadata, "dagster/row_count": n})
        out.append(e)
    return out


def dbt_resource() -> DbtResource:
    """The dbt resource for the project."""
    return DbtResource()
