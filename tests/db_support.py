"""The test databases every store-backed suite shares: SQLite templates and PostgreSQL.

PostgreSQL comes from ``LOAN_RECOVERY_TEST_POSTGRES_URL`` (a server URL whose user may
create databases; ``scripts/start_test_postgres.sh`` prints one). Without it PostgreSQL
cases skip, except under ``CI=true``, where a missing server is a failure: CI must prove
both databases. The session fixtures built on this live in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from loan_recovery.store.db import create_store_engine, parse_database_url, upgrade

POSTGRES_URL_ENV = "LOAN_RECOVERY_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")


def in_ci() -> bool:
    """Whether the suite runs under CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").strip().lower() == "true"


def postgres_server_url() -> str:
    """The test server's URL, or skip (fail under CI=true) when none is configured."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        message = (
            f"{POSTGRES_URL_ENV} is not set; start a server with "
            "scripts/start_test_postgres.sh and export the URL it prints."
        )
        if in_ci():
            pytest.fail(f"CI=true requires PostgreSQL: {message}", pytrace=False)
        pytest.skip(message)
    return url


def migrate_sqlite(path: Path) -> Path:
    """Create ``path`` as a SQLite database migrated to head."""
    engine = create_store_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


class PostgresDatabases:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self, server_url: str) -> None:
        self.server = parse_database_url(server_url)
        self.admin = sa.create_engine(
            self.server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        self.template: str | None = None

    def create(self, *, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``); its name."""
        name = f"lr_test_{uuid.uuid4().hex[:16]}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}{clause}"))
        return name

    def create_migrated(self) -> str:
        """A new database at the head revision (a copy of the session's template)."""
        return self.create(template=self.migrated_template())

    def url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def migrated_template(self) -> str:
        """The session's migrated template database, created on first use."""
        if self.template is None:
            name = self.create()
            engine = create_store_engine(self.url(name))
            upgrade(engine)
            engine.dispose()
            self.template = name
        return self.template

    def close(self) -> None:
        """Drop the template and release the admin connection (end of session)."""
        if self.template is not None:
            self.drop(self.template)
        self.admin.dispose()
