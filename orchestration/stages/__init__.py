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
