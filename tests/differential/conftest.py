"""Fresh warehouses for the differential tests: one per Hypothesis example."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@pytest.fixture(params=["duckdb", "postgres"])
def new_warehouse(request, tmp_path_factory):
    """A factory of fresh, empty warehouses (one per Hypothesis example)."""
    server = request.getfixturevalue("postgres_server_url") if request.param == "postgres" else None
    created: list[str] = []

    def make() -> str:
        if server is None:
            return f"duckdb:///{tmp_path_factory.mktemp('warehouse')}/warehouse.duckdb"
        import psycopg

        name = f"golive_diff_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as con:
            con.execute(f'create database "{name}"')
        created.append(name)
        return _with_database(server, name)

    yield make
    if created:
        import psycopg

        with psycopg.connect(server, autocommit=True) as con:
            for name in created:
                con.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def en_us_postgres_url(postgres_server_url):
    """A fresh database whose collation is ICU's en-US, where text sorts as a person would
    ('k1' < 'K2', 'a' < 'B'), not byte by byte ('K2' < 'k1', 'B' < 'a'); skipped on a server
    without ICU."""
    import psycopg

    name = f"golive_diff_icu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as con:
        try:
            con.execute(
                f'create database "{name}" template template0 locale_provider icu '
                "icu_locale 'en-US' locale 'C.UTF-8'"
            )
        except psycopg.Error as exc:
            pytest.skip(f"no ICU collation on the test server ({exc})")
    yield _with_database(postgres_server_url, name)
    with psycopg.connect(postgres_server_url, autocommit=True) as con:
        con.execute(f'drop database if exists "{name}" with (force)')
