"""The logging policy: the lender's rule, catalogue eligibility, and exploration that only
ever spreads over arms the catalogue allows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import LoggingRuleSettings, Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.simulation.logging_policy import (
    check_epsilon,
    eligible_arms,
    logging_policy_probabilities,
    rule_of_thumb_actions,
)

ARMS = list(schema.ARM_NAMES)
LEGAL_AT = ARMS.index("legal")


def _random_book(n: int, seed: int) -> pd.DataFrame:
    """Loans spread over every DPD band, burden, collateral and prior-legal state."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: rng.choice([0, 1, 30, 31, 60, 61, 90, 91, 180, 700], n),
            schema.MONTHLY_EMI: rng.uniform(1_000, 60_000, n),
            schema.MONTHLY_INCOME: rng.uniform(20_000, 100_000, n),
            schema.COLLATERAL_VALUE: np.where(rng.random(n) < 0.5, 0.0, 5e5),
            schema.LEGAL_ACTION_TAKEN: rng.choice(["Yes", "No"], n, p=[0.1, 0.9]),
        }
    )


def test_eligibility_is_hold_always_and_legal_only_past_90_dpd(settings: Settings) -> None:
    """Gives the default catalogue; expects every arm allowed past 90 DPD and all but legal
    up to it (DPD 91 is the first NPA day)."""
    table = _random_book(1, 0).iloc[[0] * 4].reset_index(drop=True)
    table[schema.DAYS_PAST_DUE] = [0, 90, 91, 700]
    eligible = eligible_arms(table, settings.actions)
    assert eligible.shape == (4, len(ARMS))
    assert eligible[:, 0].all()
    assert eligible[:, LEGAL_AT].tolist() == [False, False, True, True]
    assert np.delete(eligible, LEGAL_AT, axis=1).all()


def test_eligibility_reads_windows_collateral_and_the_configured_catalogue() -> None:
    """Gives call capped at 60 DPD, restructure for secured loans only and no agency;
    expects those limits, agency never and hold always."""
    settings = load_settings(
        actions={"call": {"max_days_past_due": 60}, "restructure": {"requires_collateral": True}}
    )
    actions = {name: config for name, config in settings.actions.items() if name != "agency"}
    table = _random_book(4, 1)
    table[schema.DAYS_PAST_DUE] = [60, 61, 75, 75]
    table[schema.COLLATERAL_VALUE] = [0.0, 0.0, 1.0, 0.0]
    eligible = pd.DataFrame(eligible_arms(table, actions), columns=ARMS)
    assert eligible["call"].tolist() == [True, False, False, False]
    assert eligible["restructure"].tolist() == [False, False, True, False]
    assert not eligible["agency"].any()
    assert eligible[schema.HOLD].all()


@pytest.mark.parametrize("epsilon", [0.0, 0.2, 0.5, 1.0])
def test_propensities_sum_to_one_and_never_explore_into_forbidden_arms(
    settings: Settings, epsilon: float
) -> None:
    """Gives 3,000 loans of every kind; expects one probability per arm (hold included)
    summing to 1, nothing on legal up to 90 DPD, at least 1 - eps on the rule's arm and
    eps / (allowed arms) on every other allowed arm."""
    table = _random_book(3_000, 2)
    probabilities = logging_policy_probabilities(table, epsilon, actions=settings.actions)
    assert list(probabilities.columns) == ARMS
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    early = table[schema.DAYS_PAST_DUE] <= 90
    assert (probabilities.loc[early, "legal"] == 0.0).all()
    rule = pd.Index(ARMS).get_indexer(rule_of_thumb_actions(table))
    rows = np.arange(len(table))
    eligible = eligible_arms(table, settings.actions)
    assert eligible[rows, rule].all()  # the rule never takes an arm the catalogue forbids
    np.testing.assert_array_equal(eligible.sum(axis=1), np.where(early, 6, 7))
    expected = epsilon * eligible / eligible.sum(axis=1, keepdims=True)
    expected[rows, rule] += 1 - epsilon
    np.testing.assert_allclose(probabilities.to_numpy(), expected, rtol=1e-12, atol=1e-15)
    assert (probabilities.to_numpy()[rows, rule] >= 1 - epsilon).all()


def test_rule_of_thumb_leaves_current_loans_alone(settings: Settings) -> None:
    """Gives current loans of every kind; expects hold for all of them, and the hold band
    to follow logging_rule.hold_max_dpd."""
    table = _random_book(500, 3)
    table[schema.DAYS_PAST_DUE] = 0
    assert (rule_of_thumb_actions(table) == schema.HOLD).all()
    table[schema.DAYS_PAST_DUE] = 5
    assert (rule_of_thumb_actions(table) == "reminder").all()
    wider = LoggingRuleSettings(hold_max_dpd=7)
    assert (rule_of_thumb_actions(table, wider) == schema.HOLD).all()


def test_logging_rule_bands_must_ascend() -> None:
    """Gives a hold band reaching the reminder band; expects a ConfigError naming the rule."""
    with pytest.raises(ConfigError, match="hold_max_dpd < reminder_max_dpd"):
        load_settings(simulator={"logging_rule": {"hold_max_dpd": 30}})


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "0.2"])
def test_epsilon_must_be_a_probability(bad: object) -> None:
    """Gives a value outside [0, 1], a bool and a string; expects ConfigErrors."""
    with pytest.raises(ConfigError, match="epsilon must be"):
        check_epsilon(bad)  # type: ignore[arg-type]
