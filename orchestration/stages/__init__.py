"""The roadmap stages, in order: one module each, each ending in a small ``Definitions``.

``STAGES`` is the one list of them: the command line's ``--through`` choices, the asset groups
and the dbt tags all come from it.
"""

STAGES = (
    "discovery",
    "sandbox_load",
    "metering",
    "billing",
    "parallel_test",
    "production_migration",
)

#: the stages whose usage assets are daily-partitioned (the nightly job's)
USAGE_STAGES = ("sandbox_load", "metering")


def stage_group(stage: str) -> str:
    """The asset group of a stage: its number in the roadmap and its name (``2_sandbox_load``).
    The Dagster UI lists groups by name, so numbered groups read in roadmap order; the dbt tag
    stays the bare stage name."""
    return f"{STAGES.index(stage) + 1}_{stage}"
