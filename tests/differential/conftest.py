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
