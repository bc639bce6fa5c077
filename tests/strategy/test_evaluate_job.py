"""The evaluate-policy job on a small simulated portfolio: learned vs rules, cost what-ifs."""

from __future__ import annotations

import pytest

from loan_recovery.config import Settings
from loan_recovery.jobs.evaluate import (
    EvaluationSetup,
    evaluate_policies,
    prepare_evaluation,
)

LOANS = 8_000


@pytest.fixture(scope="module")
def setup(settings: Settings) -> EvaluationSetup:
    """One history of 8,000 loans trained once, a fresh 8,000 predicted (about 6 s)."""
    return prepare_evaluation(settings=settings, n_loans=LOANS, seed=4)


def test_learned_policy_beats_threshold_rules_on_a_small_portfolio(
    setup: EvaluationSetup, settings: Settings
) -> None:
    """Trains on 8,000 loans; expects learned >= 5% more true net than threshold-rules.

    Measured +8.5% at seed 4 (+13 to +15% at seeds 1-3), so 5% leaves room for library
    drift without letting a broken learner pass.
    """
    policies = evaluate_policies(setup, settings).policies
    learned = policies["learned"].value.net_recovery
    rules = policies["threshold-rules"].value.net_recovery
    assert learned >= 1.05 * rules
    for name, report in policies.items():
        assert policies["oracle"].value.net_recovery >= report.value.net_recovery, name
    assert 0.0 < policies["learned"].capture < 1.0


def test_editing_an_action_cost_revalues_the_truth_without_retraining(
    setup: EvaluationSetup, settings: Settings
) -> None:
    """Adds 1,000 to legal's fixed cost; expects all-legal's true net to fall by 1,000/loan."""
    dearer = settings.model_copy(deep=True)
    legal = dearer.actions["legal"]
    dearer.actions["legal"] = legal.model_copy(update={"fixed_cost": legal.fixed_cost + 1_000.0})
    before = evaluate_policies(setup, settings).policies
    after = evaluate_policies(setup, dearer).policies
    drop = before["all-legal"].value.net_recovery - after["all-legal"].value.net_recovery
    assert drop == pytest.approx(1_000.0 * LOANS)
    assert after["all-call"].value.net_recovery == pytest.approx(
        before["all-call"].value.net_recovery
    )
    assert after["oracle"].value.net_recovery <= before["oracle"].value.net_recovery
