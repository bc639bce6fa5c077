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
import numpy.typing as npt
import pandas as pd
from pandas.api.extensions import ExtensionArray

from loan_recovery import features
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


def _positions(columns: pd.Index, actions: pd.Series) -> npt.NDArray[np.intp]:
    """Per loan, the column of its action (as text) in ``columns`` + a last hold column.

    Hold, and any name the matrix lacks, point at the hold column (worth 0).
    """
    # Factorised first: a handful of distinct names are looked up, not a string per loan.
    codes, names = pd.factorize(actions.astype(str))
    at = pd.Index([*columns, HOLD]).get_indexer(pd.Index(names))
    hold = len(columns)
    lookup = np.append(np.where(at < 0, hold, at), hold)  # code -1 (a blank): hold
    found: npt.NDArray[np.intp] = lookup[codes]
    return found


def _pick(matrix: pd.DataFrame, positions: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """matrix[i, positions[i]] with 0 in the hold column (see :func:`_positions`)."""
    values = np.zeros((len(matrix), matrix.shape[1] + 1), dtype=np.float64)
    values[:, :-1] = matrix.to_numpy(dtype=np.float64)
    picked: npt.NDArray[np.float64] = values[np.arange(len(values)), positions]
    return picked


def _worklist_order(priority: npt.NDArray[np.float64], loan_ids: pd.Series) -> npt.NDArray[np.intp]:
    """Row order of ``sort_values([priority, Loan_ID], ascending=[False, True], kind="stable")``.

    A stable argsort on priority (NaN last); only runs of equal priority are then ordered by
    Loan_ID (as pandas ranks it: sorted categories, blanks last), so a book without ties
    never sorts its strings.
    """
    order: npt.NDArray[np.intp] = np.argsort(-priority, kind="stable")
    ranked = priority[order]
    nan = np.isnan(ranked)
    same = (ranked[1:] == ranked[:-1]) | (nan[1:] & nan[:-1])
    if not same.any():
        return order
    in_run = np.zeros(len(order), dtype=np.bool_)
    in_run[1:] |= same
    in_run[:-1] |= same
    run = np.cumsum(np.r_[True, ~same])
    tied = np.flatnonzero(in_run)
    ids = pd.Categorical(loan_ids.iloc[order[tied]], ordered=True)
    id_codes = np.where(ids.codes < 0, len(ids.categories), ids.codes)
    order[tied] = order[tied][np.lexsort((id_codes, run[tied]))]
    return order


def _text_column(
    series: pd.Series, order: npt.NDArray[np.intp]
) -> ExtensionArray | npt.NDArray[np.object_]:
    """``series`` in ``order`` as the worklist stores text (pandas' ``str`` dtype).

    A ``str`` column is reordered in Arrow (no Python strings); anything else (categories)
    becomes the object array pandas infers ``str`` from. An empty book keeps the object
    path, whose inferred dtype differs.
    """
    if len(series) and series.dtype == pd.StringDtype(na_value=np.nan):
        taken: ExtensionArray = series.array.take(order)
        return taken
    texts: npt.NDArray[np.object_] = series.to_numpy()[order]
    return texts


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
    # One feature build and one design matrix serve the risk score, the reasons, the
    # segments and the outcome models.
    engineered = features.build_features(table)
    design = risk_design_matrix(table, settings.risk, engineered=engineered)
    scores = score_loans(
        table,
        bundle,
        settings.risk,
        top_k=settings.explain.top_k if with_reasons else 0,
        approximate_reasons=settings.explain.method == "approximate",
        design=design,
        engineered=engineered,
    )
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
    inputs: ActionValues | None = None,
) -> PlanResult:
    """The worklist of a validated table, sorted by priority (highest first).

    ``inputs`` are this table's :func:`action_values` when the caller already has them
    (the dashboard re-plans the same loans under new capacity or budget without scoring
    again); they must come from the same table, bundle and settings.
    """
    if inputs is None:
        inputs = action_values(table, bundle, settings)
    elif len(inputs.values) != len(table) or not inputs.values.index.equals(table.index):
        raise ModelError("action values were computed for other loans than the table given.")
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
    chosen_at = _positions(values.columns, chosen)
    chosen_value = _pick(values, chosen_at)
    baseline_value = _pick(values, _positions(values.columns, baseline))
    priority = np.clip(chosen_value, 0.0, None)
    # Columns are put in worklist order as they are built: reordering numpy arrays and
    # Arrow strings is far cheaper than sorting the assembled frame.
    order = _worklist_order(priority, table[schema.LOAN_ID])
    net_matrix = values.to_numpy(dtype=np.float64)
    columns: dict[str, object] = {
        schema.LOAN_ID: _text_column(table[schema.LOAN_ID], order),
        schema.RECOMMENDED_ACTION: _text_column(chosen, order),
        schema.EXPECTED_NET_RECOVERY: chosen_value[order],
        schema.EXPECTED_RECOVERED: _pick(recovered, chosen_at)[order],
        schema.EXPECTED_COST: _pick(costs, chosen_at)[order],
        schema.PRIORITY: priority[order],
        schema.BASELINE_ACTION: _text_column(baseline, order),
        schema.UPLIFT_VS_BASELINE: (chosen_value - baseline_value)[order],
        schema.UPLIFT_VS_NEXT_BEST: decisions[schema.UPLIFT_VS_NEXT_BEST].to_numpy()[order],
        schema.RISK_SCORE: risk.to_numpy()[order],
        schema.RISK_BAND: _text_column(scores[schema.RISK_BAND], order),
        schema.SEGMENT_NAME: _text_column(scores[schema.SEGMENT_NAME], order),
    }
    for action in catalogue.names:
        position = values.columns.get_loc(action)
        columns[schema.expected_net_output_column(action)] = net_matrix[order, position]
    for rank in range(1, settings.explain.top_k + 1):
        reason = schema.reason_column(rank)
        columns[reason] = _text_column(scores[reason], order)
    columns[schema.GUARDRAILS] = _text_column(guard.explanations, order)
    ordered = pd.DataFrame(columns)
    return PlanResult(
        worklist=ordered,
        policy=policy,
        baseline_policy=baseline_name,
        capacity_plan=capacity_plan,
    )
