"""Behaviour features: exact values on a hand-made card, and no look-ahead past the cut-off."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.models.early_warning import (
    EARLY_WARNING_FEATURES,
    behaviour_features,
    early_warning_labels,
    labelled_rows,
)
from loan_recovery.simulation.payments import SimulatedPayments, days_past_due_at
from loan_recovery.simulation.portfolio import SimulatedPortfolio

CUTOFF = pd.Timestamp("2025-12-31")


def _card() -> pd.DataFrame:
    """Loan A, EMI 1,000: Jan on time, Feb 5 days late, Mar missed, Apr pays 2,000 on the
    8th (Mar and Apr), May pays 500 on the 20th, Jun not paid yet. Loan B starts in July."""
    due = pd.to_datetime([f"2026-{month:02d}-05" for month in range(1, 7)] + ["2026-07-05"])
    paid_on = pd.to_datetime(
        ["2026-01-05", "2026-02-10", None, "2026-04-08", "2026-05-20", None, None]
    )
    return pd.DataFrame(
        {
            schema.LOAN_ID: ["A"] * 6 + ["B"],
            schema.DUE_DATE: due,
            schema.AMOUNT_DUE: [1_000.0] * 7,
            schema.AMOUNT_PAID: [1_000.0, 1_000.0, 0.0, 2_000.0, 500.0, 0.0, 0.0],
            schema.PAID_DATE: paid_on,
        }
    )


def _loan_rows() -> pd.DataFrame:
    """Loan A as two snapshots: 2 contacts on 1 June, 9 on 1 July."""
    return pd.DataFrame(
        {
            schema.LOAN_ID: ["A", "A", "B"],
            schema.MONTHLY_EMI: [1_000.0, 1_000.0, 1_000.0],
            schema.MONTHLY_INCOME: [4_000.0, 4_000.0, 5_000.0],
            schema.COLLECTION_ATTEMPTS: [2, 9, 0],
            schema.AS_OF_DATE: pd.to_datetime(["2026-06-01", "2026-07-01", "2026-07-01"]),
        }
    )


def test_hand_made_card_gives_the_expected_features() -> None:
    """Gives loan A at 15 June; expects each feature as worked out by hand and no loan B."""
    found = behaviour_features(_card(), _loan_rows(), "2026-06-15")
    assert list(found.columns) == list(EARLY_WARNING_FEATURES)
    assert list(found.index) == ["A"]
    row = found.loc["A"]
    # Days late (payments oldest first): Jan 0, Feb 5, Mar 34, Apr 3, May 41 and Jun 10 so far.
    assert row[schema.DAYS_LATE_RECENT] == pytest.approx((3 + 41 + 10) / 3)
    assert row[schema.DAYS_LATE_TREND] == pytest.approx(63.5 / 17.5)
    assert row[schema.PARTIAL_PAYMENT_SHARE] == pytest.approx(1 / 6)
    assert row[schema.PAID_TO_DUE_RECENT] == pytest.approx(2_500 / 3_000)
    assert row[schema.MISSED_RECENT] == 0  # June is 10 days late, not missed yet
    assert row[schema.DPD_AT_CUTOFF] == 41  # May is the oldest instalment not paid in full
    assert row[schema.INSTALLMENTS_OBSERVED] == 6
    assert row[schema.EMI_TO_INCOME_RATIO] == pytest.approx(0.25)
    assert row[schema.CONTACTS_AT_CUTOFF] == 2  # the 1 July snapshot is after the cut-off


def test_a_skipped_instalment_counts_as_missed_once_the_next_falls_due() -> None:
    """Gives the card at 10 April (March skipped, April paid on the 8th with March's money);
    expects one missed instalment, nothing past due, and no contact count (no snapshot yet)."""
    row = behaviour_features(_card(), _loan_rows(), "2026-04-10").loc["A"]
    assert row[schema.MISSED_RECENT] == 1
    assert row[schema.DPD_AT_CUTOFF] == 0
    assert np.isnan(row[schema.CONTACTS_AT_CUTOFF])


def test_features_ignore_everything_after_the_cut_off(
    ew_payments: SimulatedPayments, ew_portfolio: SimulatedPortfolio, settings: Settings
) -> None:
    """Gives the history, then the same history with every later instalment unpaid, every
    later payment removed, rows shuffled and a later loan snapshot; expects identical
    features, while the label (read from after the cut-off) changes."""
    history = ew_payments.history
    before = behaviour_features(history, ew_portfolio.loans, CUTOFF)

    altered = history.sample(frac=1.0, random_state=3).copy()
    later_due = (altered[schema.DUE_DATE] > CUTOFF).to_numpy()
    later_paid = (altered[schema.PAID_DATE] > CUTOFF).to_numpy()
    altered.loc[later_due | later_paid, schema.AMOUNT_PAID] = 0.0
    altered.loc[later_due | later_paid, schema.PAID_DATE] = pd.NaT
    future_snapshot = ew_portfolio.loans.assign(
        **{schema.AS_OF_DATE: "2026-01-15", schema.COLLECTION_ATTEMPTS: 99}
    )
    loans = pd.concat([ew_portfolio.loans, future_snapshot], ignore_index=True)
    after = behaviour_features(altered, loans, CUTOFF)
    pd.testing.assert_frame_equal(before, after)
    truncated = behaviour_features(history[~(history[schema.DUE_DATE] > CUTOFF)], loans, CUTOFF)
    pd.testing.assert_frame_equal(before, truncated)

    warning = settings.early_warning
    label_before = early_warning_labels(history, CUTOFF, settings=warning)
    label_after = early_warning_labels(altered, CUTOFF, settings=warning)
    eligible = before.index[before[schema.DPD_AT_CUTOFF] <= warning.eligible_max_dpd]
    assert label_before.reindex(eligible).mean() < 0.2
    assert label_after.reindex(eligible).mean() > 0.9


def test_days_past_due_feature_matches_the_ledger(ew_payments: SimulatedPayments) -> None:
    """Gives a cut-off; expects DPD_At_Cutoff equal to days_past_due_at for every loan."""
    found = behaviour_features(ew_payments.history, pd.DataFrame(_loan_rows()), CUTOFF)
    ledger = days_past_due_at(ew_payments.history, CUTOFF)
    np.testing.assert_array_equal(found[schema.DPD_AT_CUTOFF].to_numpy(), ledger.to_numpy())
    assert found[schema.EMI_TO_INCOME_RATIO].isna().all()  # no loan row for these loans


def test_labelled_rows_keep_only_eligible_loans(
    ew_payments: SimulatedPayments, ew_portfolio: SimulatedPortfolio, settings: Settings
) -> None:
    """Gives a cut-off; expects every row at most 30 DPD, a 0/1 label and the cut-off date."""
    rows = labelled_rows(
        ew_payments.history, ew_portfolio.loans, CUTOFF, settings=settings.early_warning
    )
    assert (rows[schema.DPD_AT_CUTOFF] <= 30).all()
    assert set(rows[schema.REACHES_DEFAULT].unique()) == {0, 1}
    assert (rows[schema.CUTOFF_DATE] == CUTOFF).all()
