"""Dashboard fixtures: one trained registry and a small portfolio on disk, per session.

AppTest runs page scripts in this process, so the dashboard finds them the way the CLI
tells it to: through ``LOAN_RECOVERY_MODELS_DIR`` and ``LOAN_RECOVERY_DASHBOARD__DATA_FILE``.
Streamlit's caches are cleared around each test so no page sees another test's settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st

from loan_recovery.config import Settings, load_settings
from loan_recovery.data.io import write_table
from loan_recovery.jobs.demo import DemoOutcome, run_demo
from loan_recovery.simulation.portfolio import simulate_portfolio

APP = Path(__file__).resolve().parents[2] / "src" / "loan_recovery" / "dashboard" / "app.py"
PAGES = APP.parent / "pages"
#: Seconds an AppTest run may take (first runs load models and plan the portfolio).
APP_TIMEOUT = 120


#: Loans of the small demo the Alerts page tests read (the real demo has 20,000).
DEMO_LOANS = 800


@dataclass(frozen=True)
class DashboardWorld:
    """A trained champion, the portfolio the dashboard shows, and settings pointing at them."""

    models_dir: Path
    portfolio: Path
    settings: Settings


@pytest.fixture(scope="session")
def dashboard_world(
    served_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> DashboardWorld:
    """The session's trained registry and 1,500 fresh loans written as CSV."""
    root = tmp_path_factory.mktemp("dashboard")
    portfolio = write_table(simulate_portfolio(1_500, 22).loans, root / "portfolio.csv")
    return DashboardWorld(
        models_dir=served_models,
        portfolio=portfolio,
        settings=load_settings(models_dir=served_models, dashboard={"data_file": portfolio}),
    )


@pytest.fixture
def dashboard_env(
    dashboard_world: DashboardWorld, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DashboardWorld]:
    """Environment as `loan-recovery dashboard` sets it; fresh Streamlit caches."""
    monkeypatch.delenv("LOAN_RECOVERY_CONFIG", raising=False)
    monkeypatch.setenv("LOAN_RECOVERY_MODELS_DIR", str(dashboard_world.models_dir))
    monkeypatch.setenv("LOAN_RECOVERY_DASHBOARD__DATA_FILE", str(dashboard_world.portfolio))
    monkeypatch.setenv("LOAN_RECOVERY_DASHBOARD__STRATEGY_LAB_LOANS", "1500")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield dashboard_world
    st.cache_data.clear()
    st.cache_resource.clear()


@dataclass(frozen=True)
class DemoWorld:
    """A small `loan-recovery demo` under ``var_dir``: portfolio, payments, both champions."""

    var_dir: Path
    settings: Settings
    outcome: DemoOutcome


def demo_settings(var_dir: Path) -> Settings:
    """Settings of the small demo (what the environment of :func:`demo_env` gives)."""
    return load_settings(var_dir=var_dir, demo={"loans": DEMO_LOANS}, risk={"cv_folds": 2})


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    """Run the demo job once on 800 loans (2-fold CV) into a fresh var folder."""
    var_dir = tmp_path_factory.mktemp("demo") / "var"
    settings = demo_settings(var_dir)
    return DemoWorld(var_dir=var_dir, settings=settings, outcome=run_demo(settings=settings))


@pytest.fixture
def demo_env(demo_world: DemoWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoWorld]:
    """Environment of `loan-recovery dashboard` after that demo; fresh Streamlit caches."""
    for name in (
        "LOAN_RECOVERY_CONFIG",
        "LOAN_RECOVERY_MODELS_DIR",
        "LOAN_RECOVERY_DATABASE_URL",
        "LOAN_RECOVERY_DASHBOARD__DATA_FILE",
        "LOAN_RECOVERY_DASHBOARD__PAYMENTS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOAN_RECOVERY_VAR_DIR", str(demo_world.var_dir))
    monkeypatch.setenv("LOAN_RECOVERY_DEMO__LOANS", str(DEMO_LOANS))
    monkeypatch.setenv("LOAN_RECOVERY_RISK__CV_FOLDS", "2")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield demo_world
    st.cache_data.clear()
    st.cache_resource.clear()
