"""Shared fixtures: one small simulated portfolio per session, with a fixed seed."""

from __future__ import annotations

import pytest

from loan_recovery.config import Settings, load_settings
from loan_recovery.data.simulator import SimulatedPortfolio, simulate_portfolio

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
