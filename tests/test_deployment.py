"""The shared deployment: Dagster's instance from orchestration/deploy/dagster.yaml keeps its
runs and schedules in PostgreSQL (dagster-postgres), and golive's runs land there."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from orchestration.runner import run_stages

DEPLOY = Path(__file__).parents[1] / "orchestration" / "deploy" / "dagster.yaml"
PLAN = Path(__file__).parent / "fixtures" / "worked_examples" / "plan.yaml"


def test_runs_are_stored_in_postgres(tmp_path, postgres_url, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(
        "DAGSTER_PG_URL", postgres_url.replace("postgresql://", "postgresql+psycopg2://")
    )

    run = run_stages(PLAN, f"duckdb:///{tmp_path}/w.duckdb", through="discovery")
    assert run.success

    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].tags["golive/stage"] == "discovery"
    # the URL (and so its password) is read from the environment, not stored in the file
    settings = [line for line in DEPLOY.read_text().splitlines() if not line.startswith("#")]
    assert "      env: DAGSTER_PG_URL" in settings
    assert not any("://" in line for line in settings)
    instance.dispose()
