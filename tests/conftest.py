"""Shared fixtures: one small simulated portfolio per session, with a fixed seed, and the
test databases (see :mod:`db_support`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from db_support import PostgresDatabases, migrate_sqlite, postgres_server_url
from loan_recovery.config import Settings, load_settings
from loan_recovery.simulation.portfolio import SimulatedPortfolio, simulate_portfolio

SMALL_PORTFOLIO_LOANS = 2_000
SMALL_PORTFOLIO_SEED = 7


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Default settings, independent of the caller's environment and config file."""
    return load_settings()


@pytest.fixture(scope="session")
def small_portfolio(settings: Settings) -> SimulatedPortfolio:
    """A 2,000-loan simulated portfolio, built once per test session."""
    return simulate_portfolio(SMALL_PORTFOLIO_LOANS, SMALL_PORTFOLIO_SEED, settings=settings)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The PostgreSQL test server for the whole session, or a skip (a failure under CI)."""
    databases = PostgresDatabases(postgres_server_url())
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that tests copy instead of migrating again."""
    return migrate_sqlite(tmp_path_factory.mktemp("template") / "template.db")
