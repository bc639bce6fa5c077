"""The evaluate-policy job on a small simulated portfolio: learned vs BAU and rules, cost
what-ifs."""

from __future__ import annotations

import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.evaluate import (
    EvaluationSetup,
    evaluate_policies,
    prepare_evaluation,
)
from loan_recovery.strategy.plan import value_actions

LOANS = 8_000


@pytest.fixture(scope="module")
def setup(settings: Settings) -> EvaluationSetup:
    """One history of 8,000 loans trained once (the safety test cross-fits its outcome
    models too), a fresh 8,000 predicted: about 15 s."""
    return prepare_evaluation(settings=settings, n_loans=LOANS, seed=4)


def test_learned_policy_beats_bau_and_threshold_rules_on_a_small_portfolio(
    setup: EvaluationSetup, settings: Settings
) -> None:
    """Trains on 8,000 loans; expects the (safe) learned policy at least BAU's true net,
    >= 3% more than threshold-rules, and below the oracle, which beats every policy.

    The safe policy leaves BAU only where the history proves it better, so on a small
    history it may not leave BAU at all: at seed 4 the held-out test approves no
    departure, learned equals BAU (capture 0) and beats threshold-rules by +4.7% (+3.9% to
    +5.2% at seeds 1-3); 3% leaves room for library drift without letting a broken
    learner pass.
    """
    policies = evaluate_policies(setup, settings, bootstrap_replicates=50).policies
    learned = policies["learned"].value.net_recovery
    rules = policies["threshold-rules"].value.net_recovery
    assert learned >= policies["bau"].value.net_recovery
    assert learned >= 1.03 * rules
    for name, report in policies.items():
        assert policies["oracle"].value.net_recovery >= report.value.net_recovery, name
    assert policies["oracle"].value.net_recovery > learned
    assert 0.0 <= policies["learned"].capture < 1.0
    if setup.safety is not None and not setup.safety.deviations.approved:
        assert learned == pytest.approx(policies["bau"].value.net_recovery)
    assert policies["bau"].capture == 0.0
    assert policies["oracle"].capture == pytest.approx(1.0)
    # Leaving every loan alone is the floor every sensible policy clears.
    hold_all = policies["all-hold"].value.net_recovery
    assert policies["all-hold"].incremental_net == pytest.approx(0.0)
    assert policies["all-hold"].value.cost == 0.0
    assert policies["learned"].incremental_net == pytest.approx(learned - hold_all)
    assert learned > hold_all


def test_editing_an_action_cost_revalues_the_truth_without_retraining(
    setup: EvaluationSetup, settings: Settings
) -> None:
    """Adds 1,000 to legal's fixed cost; expects all-legal's true net to fall by 1,000 per
    loan it takes to court: only those the guardrails allow legal (never before 91 DPD),
    the rest fall back to agency."""
    dearer = settings.model_copy(deep=True)
    legal = dearer.actions["legal"]
    dearer.actions["legal"] = legal.model_copy(update={"fixed_cost": legal.fixed_cost + 1_000.0})
    before = evaluate_policies(setup, settings, bootstrap_replicates=50).policies
    after = evaluate_policies(setup, dearer, bootstrap_replicates=50).policies
    allowed = value_actions(setup.table, setup.scores, setup.fractions, settings).guard.allowed
    sued = int(allowed["legal"].sum())
    assert 0 < sued < LOANS
    assert not allowed["legal"][setup.table[schema.DAYS_PAST_DUE] <= 90].any()
    assert before["all-legal"].actions["legal"] * LOANS == pytest.approx(sued)
    assert before["all-legal"].actions["agency"] * LOANS == pytest.approx(LOANS - sued)
    drop = before["all-legal"].value.net_recovery - after["all-legal"].value.net_recovery
    assert drop == pytest.approx(1_000.0 * sued)
    assert after["all-call"].value.net_recovery == pytest.approx(
        before["all-call"].value.net_recovery
    )
    assert after["oracle"].value.net_recovery <= before["oracle"].value.net_recovery
