"""Alerts: threshold, reasons, and the configured pre-emptive action per pattern."""

from __future__ import annotations

import pandas as pd
import pytest

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.alerts import alert_columns, run_alerts, score_early_warning
from loan_recovery.models.early_warning import EarlyWarningTraining, early_warning_labels
from loan_recovery.simulation.payments import SimulatedPayments
from loan_recovery.simulation.portfolio import SimulatedPortfolio


@pytest.fixture(scope="module")
def alerts(
    ew_payments: SimulatedPayments,
    ew_portfolio: SimulatedPortfolio,
    ew_training: EarlyWarningTraining,
    settings: Settings,
) -> pd.DataFrame:
    """Alerts at the as-of date with threshold 0.3."""
    return run_alerts(
        ew_payments.history,
        ew_portfolio.loans,
        model=ew_training.model,
        settings=settings,
        threshold=0.3,
    )


def test_every_alert_crosses_the_threshold_and_no_other_loan_does(
    alerts: pd.DataFrame,
    ew_payments: SimulatedPayments,
    ew_portfolio: SimulatedPortfolio,
    ew_training: EarlyWarningTraining,
    settings: Settings,
) -> None:
    """Gives threshold 0.3; expects exactly the eligible loans scoring >= 0.3, highest first,
    all at most 30 DPD on the loan table's as-of date."""
    scored = score_early_warning(
        ew_payments.history, ew_portfolio.loans, model=ew_training.model, settings=settings
    )
    expected = set(scored.index[scored[schema.EARLY_WARNING_SCORE] >= 0.3])
    assert len(alerts) > 20
    assert set(alerts[schema.LOAN_ID]) == expected
    assert (alerts[schema.EARLY_WARNING_SCORE] >= 0.3).all()
    assert alerts[schema.EARLY_WARNING_SCORE].is_monotonic_decreasing
    assert (alerts[schema.DPD_AT_CUTOFF] <= 30).all()
    assert (alerts[schema.CUTOFF_DATE] == pd.Timestamp("2026-06-30")).all()
    assert list(alerts.columns) == alert_columns(3)


def test_alerts_flag_loans_that_really_default(
    alerts: pd.DataFrame,
    ew_payments: SimulatedPayments,
    ew_portfolio: SimulatedPortfolio,
    ew_training: EarlyWarningTraining,
    settings: Settings,
) -> None:
    """Gives the simulator's truth after the as-of date; expects the alerted loans to reach
    60+ DPD at least three times as often as all eligible loans."""
    truth = early_warning_labels(ew_payments.full, "2026-06-30", settings=settings.early_warning)
    scored = score_early_warning(
        ew_payments.history, ew_portfolio.loans, model=ew_training.model, settings=settings
    )
    eligible = truth.reindex(scored.index).mean()
    alerted = truth.reindex(alerts[schema.LOAN_ID]).mean()
    assert 0.02 < eligible < 0.2
    assert alerted > 3 * eligible


def test_every_alert_has_reasons_and_a_configured_action(
    alerts: pd.DataFrame, settings: Settings
) -> None:
    """Gives the alerts; expects three reasons each and the action the settings map the
    pattern to."""
    for rank in (1, 2, 3):
        assert (alerts[schema.reason_column(rank)].str.len() > 0).all()
    mapping = settings.early_warning.alert_actions
    assert (alerts[schema.SUGGESTED_ACTION] == alerts[schema.ALERT_PATTERN].map(mapping)).all()
    assert set(alerts[schema.ALERT_PATTERN]) <= set(schema.ALERT_PATTERNS)


def test_changing_the_mapping_changes_the_suggestion(
    ew_payments: SimulatedPayments,
    ew_portfolio: SimulatedPortfolio,
    ew_training: EarlyWarningTraining,
) -> None:
    """Gives settings mapping every pattern to 'agency' but 'late' to 'settlement'; expects
    exactly those actions, and a higher threshold to give a subset."""
    mapping = dict.fromkeys(schema.ALERT_PATTERNS, "agency") | {"late": "settlement"}
    custom = load_settings(early_warning={"alert_actions": mapping, "threshold": 0.6})
    found = run_alerts(
        ew_payments.history, ew_portfolio.loans, model=ew_training.model, settings=custom
    )
    assert (found[schema.EARLY_WARNING_SCORE] >= 0.6).all()
    late = found[schema.ALERT_PATTERN] == "late"
    assert (found.loc[late, schema.SUGGESTED_ACTION] == "settlement").all()
    assert (found.loc[~late, schema.SUGGESTED_ACTION] == "agency").all()


def test_bad_mapping_and_threshold_are_refused(
    ew_payments: SimulatedPayments,
    ew_portfolio: SimulatedPortfolio,
    ew_training: EarlyWarningTraining,
    settings: Settings,
) -> None:
    """Gives an unknown action, a missing pattern and threshold 1.5; expects ConfigErrors."""
    with pytest.raises(ConfigError, match="unknown actions \\['pray'\\]"):
        load_settings(early_warning={"alert_actions": dict.fromkeys(schema.ALERT_PATTERNS, "pray")})
    with pytest.raises(ConfigError, match="missing patterns \\['other'\\]"):
        load_settings(
            early_warning={"alert_actions": dict.fromkeys(schema.ALERT_PATTERNS[:-1], "call")}
        )
    with pytest.raises(ConfigError, match="threshold must be a probability"):
        run_alerts(
            ew_payments.history,
            ew_portfolio.loans,
            model=ew_training.model,
            settings=settings,
            threshold=1.5,
        )


def test_no_loan_above_the_threshold_gives_an_empty_table(
    ew_payments: SimulatedPayments,
    ew_portfolio: SimulatedPortfolio,
    ew_training: EarlyWarningTraining,
    settings: Settings,
) -> None:
    """Gives threshold 0.99999; expects no rows but every alert column."""
    found = run_alerts(
        ew_payments.history,
        ew_portfolio.loans,
        model=ew_training.model,
        settings=settings,
        threshold=0.99999,
    )
    assert found.empty
    assert list(found.columns) == alert_columns(3)
