"""Simulated instalment histories: deterministic, consistent with the snapshot, trait-driven."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.simulation.payments import (
    SimulatedPayments,
    days_past_due_at,
    payments_known_at,
    reached_days_past_due,
    simulate_payment_history,
)
from loan_recovery.simulation.portfolio import SimulatedPortfolio, simulate_portfolio

AS_OF = pd.Timestamp("2026-06-30")


def test_same_seed_same_bytes_other_seed_other_rows(settings: Settings) -> None:
    """Gives one portfolio twice and a third seed; expects equal CSV text, then a difference."""
    portfolio = simulate_portfolio(300, 5, settings=settings)
    first = simulate_payment_history(portfolio, random_state=5, settings=settings)
    second = simulate_payment_history(portfolio, random_state=5, settings=settings)
    other = simulate_payment_history(portfolio, random_state=6, settings=settings)
    assert first.full.to_csv(index=False) == second.full.to_csv(index=False)
    assert first.history.to_csv(index=False) == second.history.to_csv(index=False)
    assert first.full.to_csv(index=False) != other.full.to_csv(index=False)


def test_shape_columns_and_dates(ew_payments: SimulatedPayments, settings: Settings) -> None:
    """Gives the history; expects payment columns, typed, at most 18 monthly rows per loan,
    due by the as-of date, and payments never dated after it."""
    history = ew_payments.history
    assert list(history.columns) == list(schema.PAYMENT_COLUMNS)
    assert history[schema.DUE_DATE].dtype == np.dtype("datetime64[us]")
    assert history[schema.AMOUNT_DUE].dtype == np.float64
    per_loan = history.groupby(schema.LOAN_ID).size()
    assert per_loan.max() == settings.early_warning.history_months
    assert (history[schema.DUE_DATE] <= AS_OF).all()
    assert (history[schema.PAID_DATE].dropna() <= AS_OF).all()
    unpaid = history[schema.PAID_DATE].isna()
    assert (history.loc[unpaid, schema.AMOUNT_PAID] == 0).all()
    gaps = history.groupby(schema.LOAN_ID)[schema.DUE_DATE].diff().dt.days.dropna()
    assert gaps.between(28, 31).all()
    assert not history.duplicated([schema.LOAN_ID, schema.DUE_DATE]).any()


def test_months_and_future_are_configurable(
    ew_portfolio: SimulatedPortfolio, settings: Settings
) -> None:
    """Gives months=6, future_months=2; expects <= 6 rows per loan known and 8 in the truth."""
    made = simulate_payment_history(
        ew_portfolio, random_state=1, months=6, future_months=2, settings=settings
    )
    assert made.history.groupby(schema.LOAN_ID).size().max() == 6
    assert made.full.groupby(schema.LOAN_ID).size().max() == 8
    assert made.full[schema.DUE_DATE].max() > AS_OF + pd.DateOffset(months=1)


def test_bad_arguments_name_the_value(ew_portfolio: SimulatedPortfolio) -> None:
    """Gives months=0 and a bad date; expects ConfigError naming each."""
    with pytest.raises(ConfigError, match="months must be >= 1; got 0"):
        simulate_payment_history(ew_portfolio, random_state=1, months=0)
    with pytest.raises(ConfigError, match="2026-02-30"):
        simulate_payment_history(ew_portfolio, random_state=1, as_of="2026-02-30")


def test_history_agrees_with_the_snapshot_days_past_due(
    ew_portfolio: SimulatedPortfolio, ew_payments: SimulatedPayments
) -> None:
    """Gives the history and the loan table; expects the history's own DPD at the as-of date
    equal to Days_Past_Due for >= 98% of loans whose arrears fit in the 18-month window."""
    computed = days_past_due_at(ew_payments.history, AS_OF)
    snapshot = ew_portfolio.loans.set_index(schema.LOAN_ID)[schema.DAYS_PAST_DUE]
    snapshot = snapshot.reindex(computed.index)
    inside = snapshot <= 17 * 30
    assert inside.sum() > 2_000
    assert (computed[inside] == snapshot[inside]).mean() >= 0.98


def test_known_history_hides_later_payments(ew_payments: SimulatedPayments) -> None:
    """Gives the full truth; expects the history to equal it as known on the as-of date."""
    known = payments_known_at(ew_payments.full, AS_OF).reset_index(drop=True)
    pd.testing.assert_frame_equal(known, ew_payments.history.reset_index(drop=True))
    assert ew_payments.as_of == date(2026, 6, 30)


def test_some_current_loans_default_later(ew_payments: SimulatedPayments) -> None:
    """Gives a cut-off a year in and the as-of date; expects some loans current (DPD 0) at each
    to reach 60+ DPD within 3 months, and most current loans not to."""
    for cutoff, payments in (
        (pd.Timestamp("2025-12-31"), ew_payments.history),
        (AS_OF, ew_payments.full),
    ):
        current = days_past_due_at(payments, cutoff)
        current = current[current == 0].index
        reached = reached_days_past_due(
            payments, cutoff, cutoff + pd.DateOffset(months=3), days=60
        ).reindex(current, fill_value=False)
        assert 0.005 < reached.mean() < 0.25, cutoff


def _behaviour(payments: SimulatedPayments, portfolio: SimulatedPortfolio) -> pd.DataFrame:
    """Per loan that never defaulted in the history: share of rows paid late, and partial."""
    rows = payments.history
    due, paid = rows[schema.AMOUNT_DUE], rows[schema.AMOUNT_PAID]
    days = (rows[schema.PAID_DATE] - rows[schema.DUE_DATE]).dt.days
    frame = (
        pd.DataFrame(
            {
                schema.LOAN_ID: rows[schema.LOAN_ID],
                "late_full": (paid >= due - 1) & (days > 0),
                "partial": (paid > 0) & (paid < 0.99 * due),
            }
        )
        .groupby(schema.LOAN_ID)
        .mean()
    )
    dpd = portfolio.loans.set_index(schema.LOAN_ID)[schema.DAYS_PAST_DUE]
    truth = portfolio.truth.set_index(schema.LOAN_ID)
    frame = frame.join(truth[[schema.FORGETFULNESS, schema.CAPACITY]]).join(dpd)
    return frame[frame[schema.DAYS_PAST_DUE] == 0]


def test_forgetful_borrowers_pay_late_but_in_full_more_often(
    ew_payments: SimulatedPayments, ew_portfolio: SimulatedPortfolio
) -> None:
    """Gives current loans split at the forgetfulness quartiles; expects the top quarter to pay
    late-in-full at least twice as often as the bottom quarter."""
    frame = _behaviour(ew_payments, ew_portfolio)
    low, high = frame[schema.FORGETFULNESS].quantile([0.25, 0.75])
    forgetful = frame.loc[frame[schema.FORGETFULNESS] >= high, "late_full"].mean()
    diligent = frame.loc[frame[schema.FORGETFULNESS] <= low, "late_full"].mean()
    assert forgetful > 2 * diligent


def test_low_capacity_pays_short_more_often(
    ew_payments: SimulatedPayments, ew_portfolio: SimulatedPortfolio
) -> None:
    """Gives current loans split at the capacity quartiles; expects more partial payments
    in the bottom quarter than in the top quarter."""
    frame = _behaviour(ew_payments, ew_portfolio)
    low, high = frame[schema.CAPACITY].quantile([0.25, 0.75])
    weak = frame.loc[frame[schema.CAPACITY] <= low, "partial"].mean()
    strong = frame.loc[frame[schema.CAPACITY] >= high, "partial"].mean()
    assert weak > 1.5 * strong
