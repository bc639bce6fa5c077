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
from loan_recovery.strategy.evaluate import (
    OffPolicyEstimates,
    PolicyValue,
    off_policy_estimates,
    oracle_capture,
    true_policy_value,
)
from loan_recovery.strategy.plan import action_values, policy_choice

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
    """Expected net, recovered and cost of every action from the ground truth (+ hold = 0)."""
    actions = list(schema.ACTION_NAMES)
    net = pd.DataFrame({a: truth[schema.expected_net_column(a)].to_numpy() for a in actions})
    recovered = pd.DataFrame(
        {a: truth[schema.expected_fraction_column(a)].to_numpy() * outstanding for a in actions}
    )
    cost = recovered - net
    for frame in (net, recovered, cost):
        frame["hold"] = 0.0
    return net, recovered, cost


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


def run_evaluate_policy(
    *,
    settings: Settings,
    n_loans: int,
    seed: int,
    progress: ProgressReporter | None = None,
) -> EvaluationReport:
    """Train on a simulated history of ``n_loans`` and score every policy on fresh loans."""
    report = progress or SilentProgress()
    names = policy_names()
    report.start(4 + len(names))
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
    report.stage("Valuing every action on the fresh portfolio")
    table = validate_frame(fresh.loans, settings=settings, require_label=True).table
    inputs = action_values(table, trained.bundle, settings, with_reasons=False)
    outstanding = table[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(dtype=np.float64)
    net, recovered, cost = _truth_frames(fresh.truth, outstanding, settings)
    exposure = float(outstanding.sum())
    logged = logged_actions(table, settings.actions)
    rewards = _realised_net(table, logged, settings)
    propensity = table[schema.ACTION_PROPENSITY].to_numpy(dtype=np.float64)
    report.advance()

    def truth_of(actions: np.ndarray) -> PolicyValue:
        return true_policy_value(
            actions,
            expected_net=net,
            expected_recovered=recovered,
            expected_cost=cost,
            exposure=exposure,
        )

    oracle_actions = fresh.truth[schema.ORACLE_ACTION].to_numpy(dtype=object)
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
    report.stage("Done")
    report.advance()
    return EvaluationReport(loans=n_loans, seed=seed, policies=policies)
