"""Shared early-warning fixtures: one simulated book with instalments and one trained model."""

from __future__ import annotations

import pytest

from loan_recovery.config import Settings
from loan_recovery.models.early_warning import EarlyWarningTraining, train_early_warning
from loan_recovery.simulation.payments import SimulatedPayments, simulate_payment_history
from loan_recovery.simulation.portfolio import SimulatedPortfolio, simulate_portfolio

EW_LOANS = 3_000
EW_SEED = 11


@pytest.fixture(scope="session")
def ew_portfolio(settings: Settings) -> SimulatedPortfolio:
    """A 3,000-loan simulated portfolio (seed 11)."""
    return simulate_portfolio(EW_LOANS, EW_SEED, settings=settings)


@pytest.fixture(scope="session")
def ew_payments(ew_portfolio: SimulatedPortfolio, settings: Settings) -> SimulatedPayments:
    """Its 18-month instalment history (and 3 months of ground truth beyond)."""
    return simulate_payment_history(ew_portfolio, random_state=EW_SEED, settings=settings)


@pytest.fixture(scope="session")
def ew_training(
    ew_portfolio: SimulatedPortfolio, ew_payments: SimulatedPayments, settings: Settings
) -> EarlyWarningTraining:
    """The early-warning model trained with the time split on that history (one thread)."""
    return train_early_warning(
        ew_payments.history, ew_portfolio.loans, settings=settings.early_warning, n_jobs=1
    )
