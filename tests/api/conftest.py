"""API fixtures: one trained registry per session, fresh databases, an app with keys of every role.

The registry is the session's ``served_models`` (trained once, shared with the dashboard
tests) and its champion is loaded once; each app shares that loaded champion
(``create_app(models=...)``) so no test pays for loading models again.

Databases: SQLite files copied from a migrated template by default; the PostgreSQL smoke
tests use :func:`database_url` parameterised over both backends (the session's
``postgres_databases`` and ``sqlite_template`` come from ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiClient, ApiWorld, JsonLog, make_keys
from fastapi.testclient import TestClient

from db_support import BACKENDS, PostgresDatabases
from loan_recovery.api.app import create_app
from loan_recovery.api.scoring import load_serving_models
from loan_recovery.config import load_settings
from loan_recovery.models.early_warning import (
    EarlyWarningBundle,
    early_warning_registry,
    load_early_warning,
    save_early_warning,
    train_early_warning,
)
from loan_recovery.simulation.payments import SimulatedPayments, simulate_payment_history
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.store.db import Store, open_store


@pytest.fixture(scope="session")
def api_world(served_models: Path, tmp_path_factory: pytest.TempPathFactory) -> ApiWorld:
    """The session's trained registry, its champion loaded once."""
    root = tmp_path_factory.mktemp("api")
    serving = load_settings(models_dir=served_models, var_dir=root / "var")
    return ApiWorld(models_dir=served_models, settings=serving, models=load_serving_models(serving))


@pytest.fixture(scope="session")
def fresh_loans() -> list[dict[str, Any]]:
    """1,200 fresh simulated loans as JSON objects (blank cells left out), personal data too."""
    frame = simulate_portfolio(1_200, 22).loans
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return [{name: value for name, value in row.items() if value is not None} for row in rows]


# --- databases --------------------------------------------------------------------------------
@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database."""
    path = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh migrated database on each backend (PostgreSQL cases need the test server)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create_migrated()
    yield databases.url(name)
    databases.drop(name)


# --- an app with keys -------------------------------------------------------------------------
@pytest.fixture
def make_api(api_world: ApiWorld) -> Iterator[Callable[..., ApiClient]]:
    """Builds running apps on given databases (with optional settings overrides); closes them."""
    opened: list[tuple[TestClient, Store]] = []

    def make(url: str, **overrides: Any) -> ApiClient:
        settings = api_world.settings.model_copy(update={"database_url": url, **overrides})
        store = open_store(url)
        keys = make_keys(store)
        client = TestClient(create_app(settings, models=api_world.models))
        client.__enter__()
        opened.append((client, store))
        return ApiClient(client=client, settings=settings, store=store, keys=keys)

    yield make
    for client, store in opened:
        client.__exit__(None, None, None)
        store.dispose()


@pytest.fixture
def api(make_api: Callable[..., ApiClient], sqlite_url: str) -> ApiClient:
    """A running app on a fresh SQLite database."""
    return make_api(sqlite_url)


@pytest.fixture
def json_log() -> Iterator[JsonLog]:
    """The ``loan_recovery`` loggers' output as JSON lines, for one test.

    At DEBUG, so nothing this package logs escapes the checks made on it.
    """
    log = JsonLog()
    handler = log.handler()
    logger = logging.getLogger("loan_recovery")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield log
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- early warning ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ew_history() -> SimulatedPayments:
    """The instalment history of the loans :func:`fresh_loans` holds (same portfolio)."""
    return simulate_payment_history(simulate_portfolio(1_200, 22), random_state=22)


@pytest.fixture(scope="session")
def ew_bundle(
    ew_history: SimulatedPayments, tmp_path_factory: pytest.TempPathFactory
) -> EarlyWarningBundle:
    """An early-warning champion trained (time split) on that history, saved and loaded
    through its registry as the app's lifespan would load it."""
    settings = load_settings()
    loans = simulate_portfolio(1_200, 22).loans
    training = train_early_warning(
        ew_history.history, loans, settings=settings.early_warning, n_jobs=1
    )
    registry = early_warning_registry(
        tmp_path_factory.mktemp("api-ew") / "models", settings.early_warning
    )
    info = save_early_warning(registry, training, settings=settings.early_warning)
    registry.promote(info.version)
    return load_early_warning(registry, n_jobs=1)
