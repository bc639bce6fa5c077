"""evaluate-policy on uplift: BAU as the baseline, safe improvement, same capacity, DR intervals.

Given a small simulated history (3,000 loans, seed 11) trained once, and 4,000 fresh loans.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.actions import CAPACITY_LIMITED
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.jobs.evaluate import (
    ARMS,
    BAU,
    ORACLE,
    EvaluationReport,
    EvaluationSetup,
    bau_capacity,
    evaluate_policies,
    prepare_evaluation,
)
from loan_recovery.strategy.plan import policy_choice, value_actions

JSON_KEYS = {
    "net_recovery",
    "incremental_net",
    "vs_bau",
    "oracle_capture_vs_bau",
    "dr",
    "dr_ci95",
    "p_beats_bau",
    "actions",
}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="module")
def setup(settings: Settings) -> EvaluationSetup:
    return prepare_evaluation(settings=settings, n_loans=3_000, seed=11, fresh_loans=4_000)


@pytest.fixture(scope="module")
def report(setup: EvaluationSetup, settings: Settings) -> EvaluationReport:
    return evaluate_policies(setup, settings, bootstrap_replicates=100)


@pytest.fixture(scope="module")
def capped(setup: EvaluationSetup, settings: Settings) -> EvaluationReport:
    return evaluate_policies(setup, settings, same_capacity=True, bootstrap_replicates=100)


def test_json_has_the_documented_keys_for_every_policy(report: EvaluationReport) -> None:
    """Every policy reports the issue's keys; bau is its own reference."""
    policies = report.to_json_dict()["policies"]
    assert {"learned", BAU, "threshold-rules", ORACLE, "all-hold"} <= set(policies)
    for entry in policies.values():
        assert set(entry) >= JSON_KEYS
        low, high = entry["dr_ci95"]
        assert low <= entry["dr"] <= high
        assert sum(entry["actions"].values()) == pytest.approx(1.0)
    assert policies[BAU]["vs_bau"] == 0.0
    assert policies[BAU]["p_beats_bau"] is None
    assert policies["all-hold"]["incremental_net"] == 0.0


def test_safe_learned_policy_is_never_worse_than_bau(report: EvaluationReport) -> None:
    """Property: on a small seeded history the safe policy only leaves BAU where it pays."""
    learned = report.policies["learned"].value.net_recovery
    bau = report.policies[BAU].value.net_recovery
    assert learned >= bau - 1e-6 * abs(bau)


def test_safe_learned_policy_is_never_worse_than_bau_under_same_capacity(
    capped: EvaluationReport,
) -> None:
    """Departures may only use slots BAU leaves free, so same resources never lose money."""
    learned = capped.policies["learned"].value.net_recovery
    bau = capped.policies[BAU].value.net_recovery
    assert learned >= bau - 1e-6 * abs(bau)


def test_the_oracle_beats_every_policy_and_respects_eligibility(
    report: EvaluationReport, setup: EvaluationSetup, settings: Settings
) -> None:
    """The oracle is the best *feasible* arm: it tops every policy and never sues at DPD <= 90."""
    oracle = report.policies[ORACLE].value.net_recovery
    assert all(p.value.net_recovery <= oracle + 1e-6 for p in report.policies.values())
    assert report.policies[ORACLE].capture == 1.0
    dpd = setup.table[schema.DAYS_PAST_DUE].to_numpy()
    legal_share_early = report.policies[ORACLE].actions["legal"]
    assert legal_share_early <= float((dpd > 90).mean())
    truth_oracle = setup.truth[schema.ORACLE_ACTION].to_numpy()
    assert not ((truth_oracle == "legal") & (dpd <= 90)).any()


def test_baselines_obey_the_guardrails(setup: EvaluationSetup, settings: Settings) -> None:
    """A rule's forbidden action falls back: all-legal never sues a loan legal is barred from."""
    inputs = value_actions(
        setup.table, setup.scores, setup.fractions, settings, safety=setup.safety
    )
    allowed = inputs.guard.allowed
    for name in ("all-legal", "threshold-rules", BAU, "random"):
        chosen = policy_choice(name, setup.table, inputs, settings, random_state=3)
        acted = chosen.to_numpy() != schema.HOLD
        columns = pd.Index(allowed.columns).get_indexer(pd.Index(chosen[acted]))
        assert (columns >= 0).all()
        assert allowed.to_numpy()[np.flatnonzero(acted), columns].all(), name


def test_same_capacity_holds_every_policy_to_bau_s_use(
    capped: EvaluationReport, setup: EvaluationSetup, settings: Settings
) -> None:
    """Under --same-capacity no policy, the oracle included, uses more call/restructure/
    legal/agency slots than BAU does."""
    limits = capped.capacity
    assert set(limits) == set(CAPACITY_LIMITED)
    loans = capped.loans
    for name, policy in capped.policies.items():
        for action, slots in limits.items():
            assert round(policy.actions[action] * loans) <= slots, (name, action)
    inputs = value_actions(
        setup.table, setup.scores, setup.fractions, settings, safety=setup.safety
    )
    assert bau_capacity(inputs.bau) == limits


def test_dr_estimates_track_the_truth(report: EvaluationReport) -> None:
    """Doubly robust totals from the logged history land near the truth for the rules."""
    for name in (BAU, "all-hold", "all-call"):
        policy = report.policies[name]
        assert policy.dr == pytest.approx(policy.value.net_recovery, rel=0.15), name
    assert report.policies[BAU].dr_ci95[0] < report.policies[BAU].dr_ci95[1]


def test_every_arm_is_reported(report: EvaluationReport) -> None:
    assert set(report.policies["learned"].actions) == set(ARMS)


def test_bau_reconstructed_from_history_is_printed_as_rules(settings: Settings) -> None:
    """Gives bau_source = "history"; expects the report to carry the tree's readable rules,
    led by the DPD split the simulated lender's rule starts with."""
    strategy = settings.strategy.model_copy(update={"bau_source": "history"})
    from_history = settings.model_copy(update={"strategy": strategy})
    setup = prepare_evaluation(settings=from_history, n_loans=2_000, seed=12, fresh_loans=1_000)
    assert setup.safety is not None
    assert setup.safety.bau_rule is not None
    assert setup.safety.bau_rule.agreement > 0.6
    report = evaluate_policies(setup, from_history, bootstrap_replicates=20)
    assert "days_past_due" in report.bau_rules
    assert "hold" in report.bau_rules
