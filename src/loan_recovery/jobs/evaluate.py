"""Evaluate-policy job: every policy scored against the simulator's ground truth.

Simulate a logged history and train on it; simulate a fresh portfolio; let every policy
choose for the fresh loans; value each choice with the truth (discounted expected net
recovery of the chosen arm, hold included), next to the oracle (the best *allowed* arm
per loan); and estimate each policy's value off-policy (doubly robust, with a paired
bootstrap interval and the chance it beats BAU) from the fresh portfolio's own logged
history, as a lender would have to.

The primary baseline is ``bau``, the lender's current rule. With ``same_capacity`` every
policy is held to BAU's own use of the capacity-limited actions (call, restructure,
legal, agency): model-based policies (learned, oracle) through the LP on their uplift,
rules by keeping the loans they rank riskiest and holding the rest.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.actions import CAPACITY_LIMITED
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import validate_frame
from loan_recovery.jobs.progress import ProgressReporter, SilentProgress
from loan_recovery.jobs.train import run_train
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.models.outcomes import logged_actions
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.actions import ActionCatalogue
from loan_recovery.strategy.evaluate import PolicyValue
from loan_recovery.strategy.intervals import bootstrap_totals, dr_scores
from loan_recovery.strategy.plan import (
    ActionValues,
    learned_capacity_plan,
    policy_choice,
    value_actions,
)
from loan_recovery.strategy.policy import BAU, LEARNED, optimise_with_capacity
from loan_recovery.strategy.safety import PolicySafety, realised_net

#: Offset between the training history's seed and the fresh portfolio's.
FRESH_SEED_OFFSET = 10_000
BASELINE = BAU
ORACLE = "oracle"
ARMS: tuple[str, ...] = schema.ARM_NAMES
#: Bootstrap replicates of the DR intervals.
BOOTSTRAP_REPLICATES = 500


@dataclass(frozen=True)
class PolicyReport:
    """One policy's truth, its comparison with BAU and its off-policy estimate."""

    value: PolicyValue
    incremental_net: float
    vs_bau: float
    capture: float
    dr: float
    dr_ci95: tuple[float, float]
    p_beats_bau: float | None
    actions: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationReport:
    """All policies on one fresh portfolio."""

    loans: int
    seed: int
    same_capacity: bool
    capacity: dict[str, int]
    policies: dict[str, PolicyReport]
    bau_rules: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        """The documented ``evaluate-policy --json`` layout."""
        return {
            "loans": self.loans,
            "seed": self.seed,
            "same_capacity": self.same_capacity,
            "capacity": self.capacity,
            "bau_rules": self.bau_rules,
            "policies": {
                name: {
                    "net_recovery": report.value.net_recovery,
                    "incremental_net": report.incremental_net,
                    "vs_bau": report.vs_bau,
                    "oracle_capture_vs_bau": _json_float(report.capture),
                    "dr": report.dr,
                    "dr_ci95": list(report.dr_ci95),
                    "p_beats_bau": report.p_beats_bau,
                    "actions": report.actions,
                    "recovered": report.value.recovered,
                    "cost": report.value.cost,
                    "recovery_rate": report.value.recovery_rate,
                }
                for name, report in self.policies.items()
            },
        }


def _json_float(value: float) -> float | None:
    return value if np.isfinite(value) else None


def policy_names() -> tuple[str, ...]:
    """Policies compared: learned, the baselines and every single arm."""
    singles = tuple(f"all-{arm}" for arm in ARMS)
    return (LEARNED, BAU, "threshold-rules", *singles, "random")


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
    safety: PolicySafety | None = None
    bundle: ModelBundle | None = None

    def with_safety(self, safety: PolicySafety | None) -> EvaluationSetup:
        """The same predictions under another safe-improvement test (no retraining)."""
        return replace(self, safety=safety)


def prepare_evaluation(
    *,
    settings: Settings,
    n_loans: int,
    seed: int,
    progress: ProgressReporter | None = None,
    fresh_loans: int | None = None,
) -> EvaluationSetup:
    """Simulate a history of ``n_loans``, train on it, and predict for a fresh portfolio."""
    report = progress or SilentProgress()
    fresh_n = n_loans if fresh_loans is None else fresh_loans
    report.stage(f"Simulating {n_loans:,} loans of history and {fresh_n:,} fresh")
    history = simulate_portfolio(n_loans, seed, settings=settings)
    fresh = simulate_portfolio(fresh_n, seed + FRESH_SEED_OFFSET, settings=settings)
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
    report.stage("Predicting every arm's outcome on the fresh portfolio")
    from loan_recovery.strategy.plan import action_values

    table = validate_frame(fresh.loans, settings=settings, require_label=True).table
    inputs = action_values(table, trained.bundle, settings, with_reasons=False)
    report.advance()
    return EvaluationSetup(
        loans=fresh_n,
        seed=seed,
        table=table,
        truth=fresh.truth,
        scores=inputs.scores,
        fractions=inputs.fractions,
        safety=trained.bundle.safety,
        bundle=trained.bundle,
    )


@dataclass(frozen=True)
class _Truth:
    """The truth's money per arm (n x arms, ``ARMS`` order) under the given settings."""

    value: npt.NDArray[np.float64]
    recovered: npt.NDArray[np.float64]
    cost: npt.NDArray[np.float64]

    def total(self, codes: npt.NDArray[np.int64], which: str = "value") -> float:
        matrix = getattr(self, which)
        return float(matrix[np.arange(len(codes)), codes].sum())


def _truth(truth: pd.DataFrame, outstanding: pd.Series, settings: Settings) -> _Truth:
    """Discounted net, recovered and cost of every arm from the true fractions.

    Money comes from the true recovered fractions and *these* settings' costs and cost of
    funds (not the simulator's), so editing an action's cost changes the truth it is
    judged by.
    """
    catalogue = ActionCatalogue.from_settings(settings)
    fractions = pd.DataFrame(
        {arm: truth[schema.expected_fraction_column(arm)].to_numpy() for arm in ARMS},
        index=outstanding.index,
    )
    actions = fractions[list(catalogue.names)]
    hold_value = catalogue.hold_value(fractions, outstanding).to_numpy()
    hold_recovered = fractions[schema.HOLD].to_numpy() * outstanding.to_numpy(dtype=np.float64)
    n = len(fractions)

    def arms(hold: npt.NDArray[np.float64], frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        matrix = np.full((n, len(ARMS)), -np.inf)
        matrix[:, 0] = hold
        for name in catalogue.names:
            matrix[:, ARMS.index(name)] = frame[name].to_numpy()
        return matrix

    return _Truth(
        value=arms(hold_value, catalogue.expected_net(actions, outstanding)),
        recovered=arms(hold_recovered, catalogue.expected_recovered(actions, outstanding)),
        cost=arms(np.zeros(n), catalogue.cost(actions, outstanding)),
    )


def _codes(actions: pd.Series | npt.ArrayLike) -> npt.NDArray[np.int64]:
    codes = pd.Index(ARMS).get_indexer(pd.Index(np.asarray(actions, dtype=object)))
    return codes.astype(np.int64)


def bau_capacity(bau: pd.Series) -> dict[str, int]:
    """Loans BAU sends to each capacity-limited action: the "same capacity" limits."""
    counts = bau.value_counts()
    return {action: int(counts.get(action, 0)) for action in CAPACITY_LIMITED}


def _cap_rule(
    codes: npt.NDArray[np.int64], risk: npt.NDArray[np.float64], capacity: dict[str, int]
) -> npt.NDArray[np.int64]:
    """A rule over a cap keeps the loans it ranks riskiest and holds the rest."""
    codes = codes.copy()
    for action, slots in capacity.items():
        members = np.flatnonzero(codes == ARMS.index(action))
        if len(members) > slots:
            riskiest = members[np.argsort(-risk[members], kind="stable")]
            codes[riskiest[slots:]] = 0
    return codes


def _lp_codes(
    uplift: pd.DataFrame, candidates: pd.DataFrame, costs: pd.DataFrame, capacity: dict[str, int]
) -> npt.NDArray[np.int64]:
    plan = optimise_with_capacity(uplift, candidates, costs, capacity)
    return _codes(plan.actions)


def _choices(
    inputs: ActionValues,
    table: pd.DataFrame,
    truth: _Truth,
    settings: Settings,
    seed: int,
    capacity: dict[str, int] | None,
    report: ProgressReporter,
) -> dict[str, npt.NDArray[np.int64]]:
    """Every policy's arm per loan (codes into ``ARMS``), capped when ``capacity``."""
    risk = inputs.risk.to_numpy(dtype=np.float64)
    chosen: dict[str, npt.NDArray[np.int64]] = {}
    for name in policy_names():
        report.stage(f"Policy {name}")
        if name == LEARNED and capacity is not None:
            chosen[name] = _codes(learned_capacity_plan(inputs, capacity, None).actions)
        else:
            codes = _codes(policy_choice(name, table, inputs, settings, seed))
            chosen[name] = codes if capacity is None else _cap_rule(codes, risk, capacity)
        report.advance()
    true_uplift = pd.DataFrame(
        truth.value[:, 1:] - truth.value[:, [0]], index=table.index, columns=list(ARMS[1:])
    )[list(inputs.uplift.columns)]
    allowed = inputs.guard.allowed
    if capacity is None:
        masked = np.where(allowed.to_numpy(dtype=np.bool_), true_uplift.to_numpy(), -np.inf)
        best = np.argmax(masked, axis=1)
        gain = masked[np.arange(len(best)), best]
        names = np.asarray(true_uplift.columns, dtype=object)
        chosen[ORACLE] = _codes(np.where(gain > 0, names[best], schema.HOLD))
    else:
        chosen[ORACLE] = _lp_codes(true_uplift, allowed, inputs.costs, capacity)
    return chosen


def evaluate_policies(
    setup: EvaluationSetup,
    settings: Settings,
    progress: ProgressReporter | None = None,
    *,
    same_capacity: bool = False,
    bootstrap_replicates: int = BOOTSTRAP_REPLICATES,
) -> EvaluationReport:
    """Every policy's choice on the fresh portfolio, valued by the truth under ``settings``."""
    report = progress or SilentProgress()
    table, seed = setup.table, setup.seed
    inputs = value_actions(table, setup.scores, setup.fractions, settings, safety=setup.safety)
    outstanding = table[schema.OUTSTANDING_LOAN_AMOUNT]
    truth = _truth(setup.truth, outstanding, settings)
    capacity = bau_capacity(inputs.bau) if same_capacity else None
    chosen = _choices(inputs, table, truth, settings, seed, capacity, report)

    logged = _codes(logged_actions(table, settings.actions))
    rewards = realised_net(table, np.asarray(ARMS, dtype=object)[logged], settings)
    propensity = table[schema.ACTION_PROPENSITY].to_numpy(dtype=np.float64)
    predicted = np.column_stack(
        [
            inputs.hold_value.to_numpy(),
            *(
                inputs.values[arm].to_numpy()
                if arm in inputs.values.columns
                else np.full(len(table), np.nan)
                for arm in ARMS[1:]
            ),
        ]
    )
    predicted = np.nan_to_num(predicted, nan=0.0)
    scores = {
        name: dr_scores(
            rewards,
            logged,
            propensity,
            codes,
            predicted,
            max_weight=settings.strategy.safe.max_weight,
        )
        for name, codes in chosen.items()
    }
    intervals = bootstrap_totals(
        scores, baseline=BASELINE, n_boot=bootstrap_replicates, random_state=seed
    )
    exposure = float(outstanding.sum())
    hold_everything = truth.total(np.zeros(len(table), dtype=np.int64))
    bau_value = truth.total(chosen[BASELINE])
    oracle_value = truth.total(chosen[ORACLE])
    gap = oracle_value - bau_value
    policies: dict[str, PolicyReport] = {}
    for name, codes in chosen.items():
        net = truth.total(codes)
        interval = intervals[name]
        shares = np.bincount(codes, minlength=len(ARMS)) / max(len(codes), 1)
        policies[name] = PolicyReport(
            value=PolicyValue(
                net_recovery=net,
                recovered=truth.total(codes, "recovered"),
                cost=truth.total(codes, "cost"),
                loans=len(codes),
                exposure=exposure,
            ),
            incremental_net=net - hold_everything,
            vs_bau=net / bau_value - 1.0 if bau_value else float("nan"),
            capture=(net - bau_value) / gap if gap else float("nan"),
            dr=interval.total,
            dr_ci95=(interval.low, interval.high),
            p_beats_bau=interval.p_beats_baseline,
            actions={arm: float(share) for arm, share in zip(ARMS, shares, strict=True)},
        )
    return EvaluationReport(
        loans=setup.loans,
        seed=seed,
        same_capacity=same_capacity,
        capacity=capacity or {},
        policies=policies,
        bau_rules=setup.safety.rules_text() if setup.safety is not None else "",
    )


def run_evaluate_policy(
    *,
    settings: Settings,
    n_loans: int,
    seed: int,
    progress: ProgressReporter | None = None,
    same_capacity: bool = False,
    fresh_loans: int | None = None,
) -> EvaluationReport:
    """Train on a simulated history of ``n_loans`` and score every policy on fresh loans."""
    report = progress or SilentProgress()
    report.start(3 + len(policy_names()) + 1)
    setup = prepare_evaluation(
        settings=settings, n_loans=n_loans, seed=seed, progress=report, fresh_loans=fresh_loans
    )
    evaluation = evaluate_policies(setup, settings, progress=report, same_capacity=same_capacity)
    report.stage("Done")
    report.advance()
    return evaluation
