"""A trained bundle and a few books to stream, shared by the streaming tests."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.dask_batches import DaskBatches
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.portfolio import simulate_portfolio

BOOK_LOANS = 2_400


@pytest.fixture(scope="session")
def bundle(served_models: Path) -> ModelBundle:
    """The session's champion (trained once for the API and dashboard tests too)."""
    return load_bundle(ModelRegistry(served_models), None)


@pytest.fixture(scope="session")
def book(settings: Settings) -> pd.DataFrame:
    """2,400 fresh loans, one row each (no snapshot dates)."""
    loans = simulate_portfolio(BOOK_LOANS, 31, settings=settings).loans
    return loans.drop(columns=[schema.AS_OF_DATE])


@pytest.fixture
def small_explain(settings: Settings) -> Settings:
    """Reasons for the first 150 worked loans; only a book of at most 20 loans gets all."""
    return settings.with_explain(worked_loans=150, all_below=20)


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskBatches]:
    """A Dask LocalCluster of two single-threaded worker processes, as the issue asks.

    Worker processes are spawned, and a spawned child first re-runs its parent's
    ``__main__`` file. In a test process that ran a dashboard page with Streamlit's
    AppTest, ``__main__`` is left pointing at that page, which cannot run alone; so the
    workers start under a bare ``__main__``.
    """
    distributed = pytest.importorskip("distributed")
    with (
        _bare_main(),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        yield DaskBatches(client)


@contextmanager
def _bare_main() -> Iterator[None]:
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved
