"""The recovery plan: one function from a validated table to a prioritised worklist.

Score (risk, segment, reasons) -> expected recovered fraction of every action (outcome
models) -> expected net recovery per action (catalogue costs) -> guardrails -> choice
(learned or a named baseline; with capacity and budget, the LP) -> worklist sorted by
priority. The CLI ``plan``, the API and the dashboard all call :func:`plan_loans`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ModelError
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.scoring import score_loans
from loan_recovery.strategy.actions import HOLD, ActionCatalogue
from loan_recovery.strategy.policy import (
    CapacityPlan,
    decide,
    optimise_with_capacity,
    policy_actions,
)
from loan_recovery.strategy.rules import GuardrailOutcome, apply_guardrails


@dataclass(frozen=True)
class PlanResult:
    """The worklist plus what a manager reads first."""

    worklist: pd.DataFrame
    policy: str
    baseline_policy: str
    capacity_plan: CapacityPlan | None

    def summary(self) -> pd.DataFrame:
        """Loans, expected recovered, cost and net per recommended action, plus a total row."""
        frame = self.worklist
        grouped = frame.groupby(schema.RECOMMENDED_ACTION, observed=True)
        table = pd.DataFrame(
            {
                schema.LOANS: grouped.size(),
                schema.EXPECTED_RECOVERED: grouped[schema.EXPECTED_RECOVERED].sum(),
                schema.EXPECTED_COST: grouped[schema.EXPECTED_COST].sum(),
                schema.EXPECTED_NET_RECOVERY: grouped[schema.EXPECTED_NET_RECOVERY].sum(),
            }
        )
        table.loc["total"] = table.sum()
        return table

    def totals(self) -> dict[str, float]:
        """Expected totals of the plan and of the baseline policy on the same loans."""
        frame = self.worklist
        net = float(frame[schema.EXPECTED_NET_RECOVERY].sum())
        baseline = net - float(frame[schema.UPLIFT_VS_BASELINE].sum())
        return {
            "loans": float(len(frame)),
            "expected_recovered": float(frame[schema.EXPECTED_RECOVERED].sum()),
            "expected_cost": float(frame[schema.EXPECTED_COST].sum()),
            "expected_net": net,
            "baseline_expected_net": baseline,
        }


def _pick(matrix: pd.DataFrame, actions: pd.Series) -> np.ndarray:
    """matrix[i, actions[i]] with 0 for hold."""
    with_hold = matrix.assign(**{HOLD: 0.0})
    positions = pd.Index(with_hold.columns).get_indexer(pd.Index(actions.astype(str)))
    values = with_hold.to_numpy(dtype=np.float64)
    return values[np.arange(len(values)), positions]


@dataclass(frozen=True)
class ActionValues:
    """Everything a policy chooses from: risk, per-action expectations and what is allowed."""

    scores: pd.DataFrame
    risk: pd.Series
    fractions: pd.DataFrame
    values: pd.DataFrame
    recovered: pd.DataFrame
    costs: pd.DataFrame
    guard: GuardrailOutcome
    catalogue: ActionCatalogue


def action_values(
    table: pd.DataFrame, bundle: ModelBundle, settings: Settings, *, with_reasons: bool = True
) -> ActionValues:
    """Score the loans and value every action for each (before any choice is made)."""
    if bundle.outcome_model is None:
        raise ModelError(
            f"model version {bundle.version} has no outcome models; retrain it to plan."
        )
    scores = score_loans(
        table,
        bundle,
        settings.risk,
        top_k=settings.explain.top_k if with_reasons else 0,
        approximate_reasons=settings.explain.method == "approximate",
    )
    design = risk_design_matrix(table, settings.risk)
    fractions = bundle.outcome_model.predict_fractions(design).set_axis(table.index)
    return value_actions(table, scores, fractions, settings)


def value_actions(
    table: pd.DataFrame, scores: pd.DataFrame, fractions: pd.DataFrame, settings: Settings
) -> ActionValues:
    """Money and guardrails from scores and predicted fractions under ``settings``' costs.

    Split from :func:`action_values` so a what-if on action costs (the dashboard's
    strategy lab) re-values the same predictions without scoring again.
    """
    risk = scores[schema.RISK_SCORE]
    catalogue = ActionCatalogue.from_settings(settings)
    outstanding = table[schema.OUTSTANDING_LOAN_AMOUNT]
    return ActionValues(
        scores=scores,
        risk=risk,
        fractions=fractions,
        values=catalogue.expected_net(fractions, outstanding),
        recovered=catalogue.expected_recovered(fractions, outstanding),
        costs=catalogue.cost(fractions, outstanding),
        guard=apply_guardrails(table, risk, fractions, catalogue, settings.strategy),
        catalogue=catalogue,
    )


def policy_choice(
    name: str, table: pd.DataFrame, inputs: ActionValues, settings: Settings, random_state: int = 0
) -> pd.Series:
    """The action each loan gets under the named policy (learned: best allowed)."""
    return policy_actions(
        name,
        table=table,
        risk_score=inputs.risk,
        values=inputs.values,
        allowed=inputs.guard.allowed,
        settings=settings,
        random_state=random_state,
    )


def plan_loans(
    table: pd.DataFrame,
    bundle: ModelBundle,
    settings: Settings,
    *,
    policy: str = "learned",
    capacity: Mapping[str, int] | None = None,
    budget: float | None = None,
    random_state: int = 0,
) -> PlanResult:
    """The worklist of a validated table, sorted by priority (highest first)."""
    inputs = action_values(table, bundle, settings)
    scores, risk, values = inputs.scores, inputs.risk, inputs.values
    recovered, costs, guard, catalogue = (
        inputs.recovered,
        inputs.costs,
        inputs.guard,
        inputs.catalogue,
    )

    def named(name: str) -> pd.Series:
        return policy_choice(name, table, inputs, settings, random_state)

    baseline_name = settings.strategy.baseline_policy
    baseline = named(baseline_name)
    decisions = decide(values, guard.allowed, baseline)
    capacity = dict(capacity if capacity is not None else settings.strategy.capacity)
    budget = budget if budget is not None else settings.strategy.budget
    capacity_plan: CapacityPlan | None = None
    if policy == "learned" and (capacity or budget is not None):
        capacity_plan = optimise_with_capacity(
            values, guard.allowed, costs, capacity, budget, random_state=random_state
        )
        chosen = capacity_plan.actions
    elif policy == "learned":
        chosen = decisions[schema.RECOMMENDED_ACTION]
    else:
        chosen = named(policy)
    chosen = chosen.astype(str).set_axis(table.index)
    chosen_value = _pick(values, chosen)
    baseline_value = _pick(values, baseline.astype(str).set_axis(table.index))
    worklist = pd.DataFrame(
        {
            schema.LOAN_ID: table[schema.LOAN_ID].to_numpy(),
            schema.RECOMMENDED_ACTION: chosen.to_numpy(),
            schema.EXPECTED_NET_RECOVERY: chosen_value,
            schema.EXPECTED_RECOVERED: _pick(recovered, chosen),
            schema.EXPECTED_COST: _pick(costs, chosen),
            schema.PRIORITY: np.clip(chosen_value, 0.0, None),
            schema.BASELINE_ACTION: baseline.to_numpy(),
            schema.UPLIFT_VS_BASELINE: chosen_value - baseline_value,
            schema.UPLIFT_VS_NEXT_BEST: decisions[schema.UPLIFT_VS_NEXT_BEST].to_numpy(),
            schema.RISK_SCORE: risk.to_numpy(),
            schema.RISK_BAND: scores[schema.RISK_BAND].to_numpy(),
            schema.SEGMENT_NAME: scores[schema.SEGMENT_NAME].to_numpy(),
        },
        index=table.index,
    )
    for action in catalogue.names:
        worklist[schema.expected_net_output_column(action)] = values[action].to_numpy()
    reasons = [schema.reason_column(rank) for rank in range(1, settings.explain.top_k + 1)]
    worklist[reasons] = scores[reasons].to_numpy()
    worklist[schema.GUARDRAILS] = guard.explanations.to_numpy()
    ordered = worklist.sort_values(
        [schema.PRIORITY, schema.LOAN_ID], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    return PlanResult(
        worklist=ordered,
        policy=policy,
        baseline_policy=baseline_name,
        capacity_plan=capacity_plan,
    )
