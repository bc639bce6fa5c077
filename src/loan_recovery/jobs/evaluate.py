"""Evaluate-policy job: every policy scored against the simulator's ground truth.

Simulate a logged history and train on it; simulate a fresh portfolio; let every policy
choose for the fresh loans; value each choice with the truth (expected net recovery of
the chosen action), next to the oracle; and estimate each policy's value off-policy
(IPS, SNIPS, DR) from the fresh portfolio's own logged history, as a lender would have to.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.simulator import simulate_portfolio
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.progress import ProgressReporter, SilentProgress
from loan_recovery.jobs.train import run_train
from loan_recovery.models.outcomes import logged_actions
from loan_recovery.strategy.actions import ActionCatalogue
from loan_recovery.strategy.evaluate import (
    OffPolicyEstimates,
    PolicyValue,
    off_policy_estimates,
    oracle_capture,
    true_policy_value,
)
from loan_recovery.strategy.plan import action_values, policy_choice, value_actions

#: Offset between the training history's seed and the fresh portfolio's.
FRESH_SEED_OFFSET = 10_000
BASELINE = "threshold-rules"


@dataclass(frozen=True)
class PolicyReport:
    """One policy's truth and its off-policy estimates."""

    value: PolicyValue
    capture: float
    ope: OffPolicyEstimates | None


@dataclass(frozen=True)
class EvaluationReport:
    """All policies on one fresh portfolio."""

    loans: int
    seed: int
    policies: dict[str, PolicyReport]

    def to_json_dict(self) -> dict[str, Any]:
        """The documented ``evaluate-policy --json`` layout."""
        return {
            "loans": self.loans,
            "seed": self.seed,
            "policies": {
                name: {
                    "net_recovery": report.value.net_recovery,
                    "mean_net_recovery": report.value.mean_net_recovery,
                    "recovered": report.value.recovered,
                    "cost": report.value.cost,
                    "recovery_rate": report.value.recovery_rate,
                    "oracle_capture": report.capture,
                    "ope": None if report.ope is None else report.ope.as_dict(),
                }
                for name, report in self.policies.items()
            },
        }


def _truth_frames(
    truth: pd.DataFrame, outstanding: np.ndarray, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Expected net, recovered and cost of every action from the true fractions (+ hold = 0).

    Money comes from the true recovered fractions and *these* settings' costs (not the
    simulator's), so editing an action's cost changes the truth it is judged by.
    """
    fractions = pd.DataFrame(
        {a: truth[schema.expected_fraction_column(a)].to_numpy() for a in schema.ACTION_NAMES}
    )
    catalogue = ActionCatalogue.from_settings(settings)
    net = catalogue.expected_net(fractions, outstanding)
    recovered = catalogue.expected_recovered(fractions, outstanding)
    cost = catalogue.cost(fractions, outstanding)
    return net.assign(hold=0.0), recovered.assign(hold=0.0), cost.assign(hold=0.0)


def _oracle_actions(net: pd.DataFrame) -> np.ndarray:
    """The truly best action per loan (hold excluded, as in the simulator's oracle)."""
    actions = net.drop(columns="hold")
    best: np.ndarray = np.asarray(actions.columns, dtype=object)[
        np.argmax(actions.to_numpy(), axis=1)
    ]
    return best


def _realised_net(loans: pd.DataFrame, actions: np.ndarray, settings: Settings) -> np.ndarray:
    """What each logged action actually brought in, net of its cost."""
    fixed = np.array([settings.actions[a].fixed_cost for a in actions], dtype=np.float64)
    share = np.array([settings.actions[a].recovery_share for a in actions], dtype=np.float64)
    amount = loans[schema.AMOUNT_RECOVERED].to_numpy(dtype=np.float64)
    realised: np.ndarray = amount * (1.0 - share) - fixed
    return realised


def policy_names() -> tuple[str, ...]:
    """Policies compared: learned, the baselines and every single action."""
    singles = tuple(f"all-{action}" for action in schema.ACTION_NAMES)
    return ("learned", BASELINE, "dpd-rule", *singles, "random")


@dataclass(frozen=True)
class EvaluationSetup:
    """A trained history and a fresh portfolio with its predictions: the costly part.

    Everything downstream of the predicted fractions (action costs, guardrails, policy
    choices, truth in money) is recomputed by :func:`evaluate_policies`, so a what-if on
    action costs re-uses one setup.
    """

    loans: int
    seed: int
    table: pd.DataFrame
    truth: pd.DataFrame
    scores: pd.DataFrame
    fractions: pd.DataFrame


def prepare_evaluation(
    *,
    settings: Settings,
    n_loans: int,
    seed: int,
    progress: ProgressReporter | None = None,
) -> EvaluationSetup:
    """Simulate a history of ``n_loans``, train on it, and predict for a fresh portfolio."""
    report = progress or SilentProgress()
    report.stage(f"Simulating {n_loans:,} loans of history and {n_loans:,} fresh")
    history = simulate_portfolio(n_loans, seed, settings=settings)
    fresh = simulate_portfolio(n_loans, seed + FRESH_SEED_OFFSET, settings=settings)
    report.advance()
    report.stage("Training on the history")
    with tempfile.TemporaryDirectory(prefix="loan-recovery-eval-") as folder:
        path = write_table(history.loans, Path(folder) / "history.parquet")
        trained = run_train(
            path,
            settings=settings,
            models_dir=Path(folder) / "models",
            seed=seed,
            cross_validate=False,
        )
    report.advance()
    report.stage("Predicting every action's outcome on the fresh portfolio")
    table = validate_frame(fresh.loans, settings=settings, require_label=True).table
    inputs = action_values(table, trained.bundle, settings, with_reasons=False)
    report.advance()
    return EvaluationSetup(
        loans=n_loans,
        seed=seed,
        table=table,
        truth=fresh.truth,
        scores=inputs.scores,
        fractions=inputs.fractions,
    )


def evaluate_policies(
    setup: EvaluationSetup, settings: Settings, progress: ProgressReporter | None = None
) -> EvaluationReport:
    """Every policy's choice on the fresh portfolio, valued by the truth under ``settings``."""
    report = progress or SilentProgress()
    names = policy_names()
    table, seed = setup.table, setup.seed
    inputs = value_actions(table, setup.scores, setup.fractions, settings)
    outstanding = table[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(dtype=np.float64)
    net, recovered, cost = _truth_frames(setup.truth, outstanding, settings)
    exposure = float(outstanding.sum())
    logged = logged_actions(table, settings.actions)
    rewards = _realised_net(table, logged, settings)
    propensity = table[schema.ACTION_PROPENSITY].to_numpy(dtype=np.float64)

    def truth_of(actions: np.ndarray) -> PolicyValue:
        return true_policy_value(
            actions,
            expected_net=net,
            expected_recovered=recovered,
            expected_cost=cost,
            exposure=exposure,
        )

    oracle_actions = _oracle_actions(net)
    oracle_value = truth_of(oracle_actions)
    chosen: dict[str, np.ndarray] = {}
    for name in names:
        report.stage(f"Policy {name}")
        chosen[name] = policy_choice(name, table, inputs, settings, seed).to_numpy(dtype=object)
        report.advance()
    baseline_value = truth_of(chosen[BASELINE]).net_recovery
    predicted = inputs.values.assign(hold=0.0)
    policies: dict[str, PolicyReport] = {}
    for name, actions in chosen.items():
        value = truth_of(actions)
        policies[name] = PolicyReport(
            value=value,
            capture=oracle_capture(value.net_recovery, baseline_value, oracle_value.net_recovery),
            ope=off_policy_estimates(rewards, logged, propensity, actions, predicted),
        )
    policies["oracle"] = PolicyReport(
        value=oracle_value,
        capture=1.0,
        ope=off_policy_estimates(rewards, logged, propensity, oracle_actions, predicted),
    )
    return EvaluationReport(loans=setup.loans, seed=seed, policies=policies)


def run_evaluate_policy(
    *,
    settings: Settings,
    n_loans: int,
    seed: int,
    progress: ProgressReporter | None = None,
) -> EvaluationReport:
    """Train on a simulated history of ``n_loans`` and score every policy on fresh loans."""
    report = progress or SilentProgress()
    report.start(3 + len(policy_names()) + 1)
    setup = prepare_evaluation(settings=settings, n_loans=n_loans, seed=seed, progress=report)
    evaluation = evaluate_policies(setup, settings, progress=report)
    report.stage("Done")
    report.advance()
    return evaluation
