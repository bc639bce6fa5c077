"""Store fixtures: every test runs on SQLite and on PostgreSQL, each on a fresh database.

PostgreSQL comes from ``LOAN_RECOVERY_TEST_POSTGRES_URL`` (a server URL whose user may
create databases; ``scripts/start_test_postgres.sh`` prints one). Without it the
PostgreSQL cases skip, except under ``CI=true``, where a missing server is a failure:
CI must prove both databases. Each PostgreSQL test gets its own uniquely named database,
dropped afterwards; each SQLite test a file in its tmp folder. Migrated databases are
copied from a template migrated once per session, which keeps the suite fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from db_support import BACKENDS, PostgresDatabases
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.simulation.portfolio import SimulatedPortfolio
from loan_recovery.store.db import (
    Store,
    open_store,
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database under test: every store test runs once per backend."""
    name: str = request.param
    return name


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database (no tables, no revision)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create()
    yield databases.url(name)
    databases.drop(name)


@pytest.fixture
def database_factory(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], str]]:
    """Makes fresh databases migrated to head (copies of a template); drops them after."""
    created: list[str] = []
    databases: PostgresDatabases | None = None
    template: Path | None = None
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
    else:
        databases = request.getfixturevalue("postgres_databases")

    def make() -> str:
        if template is not None:
            path = tmp_path / f"store-{len(created)}.db"
            shutil.copyfile(template, path)
            created.append(str(path))
            return f"sqlite:///{path}"
        assert databases is not None
        name = databases.create(template=databases.migrated_template())
        created.append(name)
        return databases.url(name)

    yield make
    if databases is not None:
        for name in created:
            databases.drop(name)


@pytest.fixture
def database_url(database_factory: Callable[[], str]) -> str:
    """URL of a fresh database migrated to the head revision."""
    return database_factory()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """An open store on a fresh migrated database."""
    opened = open_store(database_url)
    yield opened
    opened.dispose()


@pytest.fixture(scope="session")
def loans_table(small_portfolio: SimulatedPortfolio) -> pd.DataFrame:
    """300 validated simulated loans with contact details (personal data)."""
    return validate_frame(small_portfolio.loans.head(300)).table


def fake_worklist(table: pd.DataFrame, actions: list[str], *, seed: int = 0) -> pd.DataFrame:
    """A worklist shaped like plan_loans' output, with the given recommended actions.

    Store tests need plans, not a trained model: the values are random but consistent
    (net = value if left alone + uplift, priority = max(uplift, 0), one value and one
    uplift column per catalogue action, 3 reasons).
    """
    rng = np.random.default_rng(seed)
    n = len(table)
    left_alone = rng.normal(2_000, 1_000, n)
    uplift = rng.normal(3_000, 3_000, n)
    net = left_alone + uplift
    frame = pd.DataFrame(
        {
            schema.LOAN_ID: table[schema.LOAN_ID].to_numpy(),
            schema.RECOMMENDED_ACTION: (actions * n)[:n],
            schema.PRIORITY: np.clip(uplift, 0, None),
            schema.EXPECTED_UPLIFT: uplift,
            schema.VALUE_IF_LEFT_ALONE: left_alone,
            schema.EXPECTED_NET_RECOVERY: net,
            schema.EXPECTED_RECOVERED: net + 1_000,
            schema.EXPECTED_COST: np.full(n, 1_000.0),
            schema.RISK_SCORE: rng.uniform(0, 1, n),
            schema.RISK_BAND: rng.choice(["Low", "High"], n),
            schema.SEGMENT_NAME: rng.choice(["Stretched earners", "Secured owners"], n),
            schema.GUARDRAILS: "",
        }
    )
    for action in schema.ACTION_NAMES:
        frame[schema.value_column(action)] = rng.normal(1_000, 500, n)
    for action in schema.ACTION_NAMES:
        frame[schema.uplift_column(action)] = frame[schema.value_column(action)] - left_alone
    for rank in (1, 2, 3):
        frame[schema.reason_column(rank)] = f"reason {rank}"
    return frame.sort_values(schema.PRIORITY, ascending=False).reset_index(drop=True)


@pytest.fixture
def make_worklist() -> Callable[..., pd.DataFrame]:
    """:func:`fake_worklist`, as a fixture (test modules cannot import conftest safely)."""
    return fake_worklist
