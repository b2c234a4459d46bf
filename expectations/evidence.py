"""Where the Great Expectations evidence is kept: a file-backed GX project, ``gx/``, in the
working folder, holding every validation result golive ran and the Data Docs (HTML) built from
them after each validation.

The working folder is ``$GOLIVE_WORKDIR`` when set, else the folder the caller names (the
report's folder, the demo's ``--dir``), else the current folder. GX's progress bars and
analytics are off and its logger reports errors only (docs/stack.md "GX progress bars").

What GX validates is always small and bounded: one-row summaries and profile tables that SQL
computed in the warehouse. On PostgreSQL and Snowflake GX reads them through SQL, where they
live; on DuckDB (and on Snowflake with key-pair authentication) as a pandas frame (GX cannot
read DuckDB through SQL, docs/stack.md). The warehouse URL is never written into ``gx/``: the
project's data source names an environment variable, set only while a validation runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKDIR_ENV = "GOLIVE_WORKDIR"
GX_FOLDER = "gx"
#: the variable GX's SQL data sources read the warehouse URL from (``${...}`` in gx/)
URL_VARIABLE = "GOLIVE_GX_WAREHOUSE_URL"

_LOCK = threading.RLock()
#: while :func:`one_docs_build` holds: its GX project and the validations kept since it began
_DEFERRED: dict[str, Any] = {}


def working_folder(fallback: str | Path | None = None) -> Path:
    """``$GOLIVE_WORKDIR``, else ``fallback`` (the report's folder, the demo's folder), else the
    current folder. Read when called, never at import."""
    chosen = os.environ.get(WORKDIR_ENV) or fallback or Path.cwd()
    return Path(chosen).resolve()


@contextlib.contextmanager
def working_in(folder: str | Path) -> Iterator[Path]:
    """Make ``folder`` the working folder while the block runs, unless ``$GOLIVE_WORKDIR``
    names one already (the command line: the report's folder, the demo's ``--dir``)."""
    if os.environ.get(WORKDIR_ENV):
        yield working_folder()
        return
    os.environ[WORKDIR_ENV] = str(Path(folder).resolve())
    try:
        yield working_folder()
    finally:
        os.environ.pop(WORKDIR_ENV, None)


def data_docs_index(folder: str | Path | None = None) -> Path:
    """The Data Docs' start page under the working folder (it exists once a validation ran)."""
    site = working_folder(folder) / GX_FOLDER / "uncommitted" / "data_docs" / "local_site"
    return site / "index.html"


def quiet_gx() -> None:
    """No analytics, no progress bars, GX's logger at errors only."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in (
        "great_expectations",
        "great_expectations.core",
        "great_expectations.data_context",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)


def evidence_context(folder: str | Path | None = None) -> Any:
    """The file-backed GX project ``gx/`` in the working folder (created on first use)."""
    quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = working_folder(folder)
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    bars = context.variables.progress_bars
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _sqlalchemy_template() -> str:
    return "${" + URL_VARIABLE + "}"


@contextlib.contextmanager
def _url_variable(url: str | None) -> Iterator[None]:
    if url is None:
        yield
        return
    previous = os.environ.get(URL_VARIABLE)
    os.environ[URL_VARIABLE] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(URL_VARIABLE, None)
        else:
            os.environ[URL_VARIABLE] = previous


@dataclass
class Validation:
    """One validation GX ran and kept."""

    success: bool
    #: GX's result per expectation (``ExpectationValidationResult``), in suite order
    results: list[Any]
    #: the Data Docs start page
    docs: Path


def reads_sql(warehouse: Any) -> bool:
    """Whether GX reads this warehouse's tables through SQL (else it validates a frame)."""
    return warehouse is not None and warehouse.sqlalchemy_access() is not None


@contextlib.contextmanager
def one_docs_build(folder: str | Path | None = None) -> Iterator[None]:
    """Build the Data Docs once, when the block ends, for every validation kept inside it
    (the sessions in the block also share one GX project object).

    A run of the roadmap has four GX sessions (three input-contract checks and the sign-off);
    each would rebuild the Data Docs (about a second each) and open the project again. The
    runner wraps a whole run in this, so the pages are built once, also when a stage fails.
    Outside it (an asset materialized from the Dagster UI) each session builds its own pages.
    The block holds the evidence lock throughout: GX sessions of other threads of the process
    wait for it to end (the runner's stages run in its own thread, one after the other).
    """
    with _LOCK:
        if _DEFERRED:  # nested: the outer block builds
            yield
            return
        _DEFERRED.update(ids=[], context=None, root=working_folder(folder))
        try:
            yield
        finally:
            ids, context = _DEFERRED["ids"], _DEFERRED["context"]
            _DEFERRED.clear()
            if ids and context is not None:
                context.build_data_docs(resource_identifiers=ids)


class Evidence:
    """A session with the working folder's GX project: validations are run and kept one by
    one, and the Data Docs pages of all of them are built once, when the session closes
    (building them costs more than validating a small profile), or when the enclosing
    :func:`one_docs_build` ends."""

    def __init__(self, folder: str | Path | None = None, warehouse: Any = None):
        self.folder = folder
        #: (SQLAlchemy URL, engine arguments) when GX reads the warehouse through SQL
        self.sql = warehouse.sqlalchemy_access() if warehouse is not None else None
        #: what the data sources of this session are called after (one per kind of access)
        self.kind = warehouse.dialect if self.sql else "frame"
        self._ids: list[Any] = []
        self._stack = contextlib.ExitStack()

    @property
    def reads_sql(self) -> bool:
        """Whether validations read a table in the warehouse (else a pandas frame)."""
        return self.sql is not None

    def __enter__(self) -> Evidence:
        self._stack.enter_context(_LOCK)
        self._stack.enter_context(_url_variable(self.sql[0] if self.sql else None))
        self._deferred = bool(_DEFERRED) and _DEFERRED["root"] == working_folder(self.folder)
        if self._deferred and _DEFERRED["context"] is not None:
            self.context = _DEFERRED["context"]
        else:
            self.context = evidence_context(self.folder)
            if self._deferred:
                _DEFERRED["context"] = self.context
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._deferred:
                _DEFERRED["ids"] += self._ids
            elif self._ids and exc[0] is None:
                self.context.build_data_docs(resource_identifiers=self._ids)
        finally:
            self._stack.close()

    def validate(
        self,
        name: str,
        expectations: list[Any],
        *,
        frame: Any = None,
        table: tuple[str, str] | None = None,
    ) -> Validation:
        """Validate the suite ``name`` of ``expectations`` and keep the result.

        Where the session reads SQL (PostgreSQL, Snowflake) GX reads ``table`` (schema,
        table) in the warehouse; otherwise ``frame`` (a small pandas frame). Each name has its
        own data source per kind of access, so validations never share GX objects.
        """
        import great_expectations as gx
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        context = self.context
        # one data source per name and kind: a folder that served DuckDB may serve PostgreSQL
        kind = {"postgres": "sql"}.get(self.kind, self.kind)
        source_name = f"golive_{name}_{kind}"
        if self.sql:
            if table is None:
                raise ValueError("a SQL validation needs the table it reads")
            # the generic SQL source: it takes socket URLs (?host=/dir), the PostgreSQL one not;
            # the engine arguments hold no secret (they are written to gx/)
            with warnings.catch_warnings():  # "a more specific PostgresDatasource": see above
                warnings.simplefilter("ignore")
                source = context.data_sources.add_or_update_sql(
                    source_name, connection_string=_sqlalchemy_template(), kwargs=self.sql[1]
                )
            asset = source.add_table_asset(name, table_name=table[1], schema_name=table[0])
            batch = asset.add_batch_definition_whole_table(name)
            parameters: dict[str, Any] | None = None
        else:
            if frame is None:
                raise ValueError("a pandas validation needs its frame")
            source = context.data_sources.add_or_update_pandas(source_name)
            asset = source.add_dataframe_asset(name)
            batch = asset.add_batch_definition_whole_dataframe(name)
            parameters = {"dataframe": frame}
        # expectations given whole: add_expectation on a suite the folder already holds writes
        # the store once per expectation
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=name, expectations=list(expectations))
        )
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        result = definition.run(batch_parameters=parameters, result_format="SUMMARY")
        suite_id = ExpectationSuiteIdentifier(name=name)
        self._ids += [
            ValidationResultIdentifier(
                expectation_suite_identifier=suite_id,
                run_id=result.meta["run_id"],
                batch_identifier=result.batch_id,
            ),
            suite_id,
        ]
        return Validation(
            success=bool(result.success),
            results=list(result.results),
            docs=data_docs_index(self.folder),
        )


def validate(
    name: str,
    expectations: list[Any],
    *,
    frame: Any = None,
    table: tuple[str, str] | None = None,
    warehouse: Any = None,
    folder: str | Path | None = None,
) -> Validation:
    """Validate one suite in its own session (:class:`Evidence`): kept, Data Docs updated.
    ``warehouse``: where GX reads ``table`` through SQL, if it can (else ``frame``)."""
    with Evidence(folder, warehouse) as evidence:
        return evidence.validate(name, expectations, frame=frame, table=table)
