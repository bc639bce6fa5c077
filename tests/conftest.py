"""Shared fixtures: one small simulated portfolio per session, with a fixed seed, one
trained registry that the API and dashboard tests serve, and the test databases (see
:mod:`db_support`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from db_support import PostgresDatabases, migrate_sqlite, postgres_server_url
from loan_recovery.config import Settings, load_settings
from loan_recovery.data.io import write_table
from loan_recovery.jobs.train import run_train
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
def served_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose champion was trained on 3,000 simulated loans (3-fold CV, seed 5),
    once per session: the API and the dashboard serve it and only read it."""
    root = tmp_path_factory.mktemp("served")
    settings = load_settings(risk={"cv_folds": 3}, strategy={"capacity": {}, "budget": None})
    history = write_table(simulate_portfolio(3_000, 21).loans, root / "history.csv")
    models = root / "models"
    run_train(history, settings=settings, models_dir=models, seed=5, promote=True)
    return models


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
