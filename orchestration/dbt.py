"""The dbt project as Dagster assets: project, translator (the policy object) and factories.

One ``@dbt_assets`` definition per roadmap stage, selected by the stage's dbt tag, so each
stage is one dbt invocation (dbt start-up costs seconds; STACK.md).
"""

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Mapping
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from connectors.warehouse import quote_ident
from orchestration.resources import WarehouseResource
from orchestration.stages import STAGES

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

#: Stages that have dbt models (their dbt tag has the same name).
DBT_STAGES = ("sandbox_load", "metering", "billing", "parallel_test")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _newest_source_mtime() -> float:
    newest = 0.0
    for sub in ("models", "macros", "tests"):
        for path in (DBT_PROJECT_DIR / sub).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (DBT_PROJECT_DIR / name).stat().st_mtime)
    return newest


def ensure_manifest() -> Path:
    """Run ``dbt parse`` when the manifest is missing or older than the project's files."""
    manifest = dbt_project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime():
        return manifest
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [
            str(dbt),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{result.stdout}\n{result.stderr}")
    return manifest


class GoliveDbtTranslator(DagsterDbtTranslator):
    """Asset keys are ``[schema, table]`` (as in the warehouse); groups are roadmap stages."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        alias = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        return dg.AssetKey([dbt_resource_props["schema"], alias])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        for tag in dbt_resource_props.get("tags", []):
            if tag in STAGES:
                return tag
        return None


translator = GoliveDbtTranslator()


@cache
def stage_dbt_assets(stage: str) -> dg.AssetsDefinition:
    """The dbt models of one roadmap stage, built and tested in one dbt invocation."""
    if stage not in DBT_STAGES:
        raise ValueError(f"stage {stage} has no dbt models")

    @dbt_assets(
        manifest=ensure_manifest(),
        select=f"tag:{stage}",
        name=f"{stage}_dbt_models",
        dagster_dbt_translator=translator,
        project=dbt_project,
        pool="warehouse",
    )
    def _stage_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        wh = warehouse.get()
        # dbt's profile reads its target from these variables (dbt_project/profiles.yml)
        os.environ.update(wh.dbt_env())
        target = DBT_PROJECT_DIR / "target" / f"run-{stage}"
        events = list(dbt.cli(["build"], context=context, target_path=target).stream())
        yield from with_row_counts(context, events, wh)

    _stage_models.__doc__ = f"dbt models of the {stage} stage (dbt_project, tag:{stage})."
    return _stage_models


def _event_key(context: dg.AssetExecutionContext, event: Any) -> dg.AssetKey | None:
    if isinstance(event, dg.Output):
        return context.asset_key_for_output(event.output_name)
    if isinstance(event, dg.AssetMaterialization):
        return event.asset_key
    return None


def with_row_counts(context: dg.AssetExecutionContext, events: list, warehouse) -> list:
    """Add ``dagster/row_count`` to every materialized table, counted in one query."""
    keys = [k for k in (_event_key(context, e) for e in events) if k is not None]
    if not keys:
        return events
    counts = dict(
        warehouse.query(
            " union all ".join(
                f"select '{k.to_user_string()}', count(*) from "
                f"{'.'.join(quote_ident(p) for p in k.path)}"
                for k in keys
            )
        )
    )
    out = []
    for e in events:
        key = _event_key(context, e)
        if key is not None:
            n = int(counts.get(key.to_user_string(), 0))
            e = e.with_metadata({**e.metadata, "dagster/row_count": n})
        out.append(e)
    return out


class GoliveDbtCliResource(DbtCliResource):
    """dagster-dbt's CLI resource without two start-up costs golive does not need.

    Every ``cli()`` call would run ``dbt --version`` in a subprocess and load an in-process dbt
    adapter (about 5 s together on 2 cores, more than a stage's SQL on the demo). The dbt
    executable is this environment's, so its version is the installed dbt-core's; the adapter
    only serves metadata that golive computes itself (row counts, in ``with_row_counts``).
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - same signature as the base
        return None


def dbt_resource() -> DbtCliResource:
    """The dbt CLI resource for the project."""
    return GoliveDbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(DBT_PROJECT_DIR),
        # the dbt of this environment, whether or not it is on PATH
        dbt_executable=str(Path(sys.executable).with_name("dbt")),
    )
