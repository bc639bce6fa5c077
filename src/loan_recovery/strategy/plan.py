"""The recovery plan: one function from a validated table to a prioritised worklist.

Score (risk, segment, reasons) -> expected recovered fraction of every arm, hold included
(outcome models) -> discounted value per arm and uplift over hold (catalogue costs, cost
of funds) -> guardrails -> safe candidates (supported departures from BAU) -> choice
(learned or a named baseline; with capacity and budget, the LP on uplift) -> worklist
sorted by priority. The CLI ``plan``, the API and the dashboard all call
:func:`plan_loans`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionArray

from loan_recovery import features
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ModelError
from loan_recovery.labels import TEXT_DTYPE, label_codes
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.scoring import loan_reasons, score_loans
from loan_recovery.strategy.actions import HOLD, ActionCatalogue
from loan_recovery.strategy.policy import (
    BAU,
    LEARNED,
    CapacityPlan,
    best_allowed,
    decide,
    optimise_with_capacity,
    policy_actions,
)
from loan_recovery.strategy.rules import GuardrailOutcome, apply_guardrails
from loan_recovery.strategy.safety import PolicySafety, kept_values


@dataclass(frozen=True)
class PlanResult:
    """The worklist plus what a manager reads first."""

    worklist: pd.DataFrame
    policy: str
    baseline_policy: str
    capacity_plan: CapacityPlan | None

    def summary(self) -> pd.DataFrame:
        """Loans, expected recovered, cost, net and uplift per recommended action, plus a total."""
        frame = self.worklist
        grouped = frame.groupby(schema.RECOMMENDED_ACTION, observed=True)
        table = pd.DataFrame(
            {
                schema.LOANS: grouped.size(),
                schema.EXPECTED_RECOVERED: grouped[schema.EXPECTED_RECOVERED].sum(),
                schema.EXPECTED_COST: grouped[schema.EXPECTED_COST].sum(),
                schema.EXPECTED_NET_RECOVERY: grouped[schema.EXPECTED_NET_RECOVERY].sum(),
                schema.EXPECTED_UPLIFT: grouped[schema.EXPECTED_UPLIFT].sum(),
            }
        )
        table.loc["total"] = table.sum()
        return table

    def totals(self) -> dict[str, float]:
        """The plan's discounted net recovery, what it adds over holding every loan, and
        its gain over the baseline policy on the same loans."""
        frame = self.worklist
        net = float(frame[schema.EXPECTED_NET_RECOVERY].sum())
        baseline = net - float(frame[schema.UPLIFT_VS_BASELINE].sum())
        left_alone = float(frame[schema.VALUE_IF_LEFT_ALONE].sum())
        return {
            "loans": float(len(frame)),
            "expected_recovered": float(frame[schema.EXPECTED_RECOVERED].sum()),
            "expected_cost": float(frame[schema.EXPECTED_COST].sum()),
            "expected_net": net,
            "value_if_all_left_alone": left_alone,
            "incremental_net": net - left_alone,
            "baseline_expected_net": baseline,
            "gain_over_baseline": net - baseline,
        }


def _positions(columns: pd.Index, actions: pd.Series) -> npt.NDArray[np.intp]:
    """Per loan, the column of its action (as text) in ``columns`` + a last hold column.

    Hold, and any name the matrix lacks, point at the hold column (worth 0).
    """
    hold = len(columns)
    codes = label_codes(actions, [*(str(column) for column in columns), HOLD])
    found: npt.NDArray[np.intp] = np.where(codes < 0, hold, codes)
    return found


def _pick(matrix: pd.DataFrame, positions: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """matrix[i, positions[i]] with 0 in the hold column (see :func:`_positions`)."""
    return pick_arm(matrix.to_numpy(dtype=np.float64), positions)


def pick_arm(
    matrix: npt.NDArray[np.float64], positions: npt.NDArray[np.intp]
) -> npt.NDArray[np.float64]:
    """matrix[i, positions[i]] of an n x actions array; 0 where the position is the hold
    column (``matrix.shape[1]``): hold costs, recovers and adds nothing over itself."""
    held = positions >= matrix.shape[1]
    picked: npt.NDArray[np.float64] = np.where(
        held, 0.0, matrix[np.arange(len(positions)), np.where(held, 0, positions)]
    )
    return picked


def worklist_order(priority: npt.NDArray[np.float64], loan_ids: pd.Series) -> npt.NDArray[np.intp]:
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
    """Everything a policy chooses from: risk, per-arm expectations and what is allowed.

    ``values`` (actions) and ``hold_value`` are discounted expected net recoveries;
    ``uplift`` = values - hold_value, the money each action *adds* over leaving the loan
    alone. ``candidates``: allowed actions whose uplift clears ``strategy.min_uplift``
    and, when a safe-improvement guard is fitted, that the history supports over BAU.
    ``bau``: the lender's rule for each loan (obeying the guardrails).
    ``reasons_deferred``: ``scores`` holds no reasons yet; the plan makes them for the
    loans it works (``explain.scope = "worked"`` on a book above ``explain.all_below``).
    ``capacity_candidates``: the candidates when capacity or a budget binds, where the
    guard approved departures apart (they were tested at BAU's own capacity); None when
    they are ``candidates``. :meth:`limited` puts them in place.
    """

    scores: pd.DataFrame
    risk: pd.Series
    fractions: pd.DataFrame
    values: pd.DataFrame
    hold_value: pd.Series
    uplift: pd.DataFrame
    recovered: pd.DataFrame
    costs: pd.DataFrame
    guard: GuardrailOutcome
    catalogue: ActionCatalogue
    candidates: pd.DataFrame
    bau: pd.Series
    decision_uplift: pd.DataFrame
    safe_departures: bool = False
    reasons_deferred: bool = False
    capacity_candidates: pd.DataFrame | None = None

    def limited(self) -> ActionValues:
        """These values as a plan under capacity or a budget chooses from them."""
        if self.capacity_candidates is None:
            return self
        candidates = self.capacity_candidates
        decision = kept_values(
            self.uplift.to_numpy(dtype=np.float64), candidates.to_numpy(dtype=np.bool_)
        )
        return dataclasses.replace(
            self,
            candidates=candidates,
            decision_uplift=pd.DataFrame(
                decision, index=self.uplift.index, columns=self.uplift.columns
            ),
            capacity_candidates=None,
        )


def action_values(
    table: pd.DataFrame, bundle: ModelBundle, settings: Settings, *, with_reasons: bool = True
) -> ActionValues:
    """Score the loans and value every arm for each (before any choice is made).

    Reasons are made here for every loan when ``explain.every_loan`` says so (or not at
    all without ``with_reasons``); otherwise :func:`plan_loans` makes them for the loans
    it works, the only ones whose reasons anyone reads.
    """
    if bundle.outcome_model is None:
        raise ModelError(
            f"model version {bundle.version} has no outcome models; retrain it to plan."
        )
    if HOLD not in bundle.outcome_model.actions_:
        raise ModelError(
            f"model version {bundle.version} has no model of leaving a loan alone ({HOLD!r}), "
            "so it cannot value uplift; retrain it (loan-recovery train) to plan."
        )
    # One feature build and one design matrix serve the risk score, the reasons, the
    # segments and the outcome models.
    engineered = features.build_features(table)
    design = risk_design_matrix(table, settings.risk, engineered=engineered)
    every_loan = with_reasons and settings.explain.every_loan(len(table))
    scores = score_loans(
        table,
        bundle,
        settings.risk,
        top_k=settings.explain.top_k if every_loan else 0,
        approximate_reasons=settings.explain.method == "approximate",
        design=design,
        engineered=engineered,
    )
    fractions = bundle.outcome_model.predict_fractions(design).set_axis(table.index)
    valued = value_actions(table, scores, fractions, settings, safety=bundle.safety)
    if with_reasons and not every_loan:
        return dataclasses.replace(valued, reasons_deferred=True)
    return valued


def value_actions(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    fractions: pd.DataFrame,
    settings: Settings,
    *,
    safety: PolicySafety | None = None,
) -> ActionValues:
    """Money, uplift and guardrails from scores and predicted fractions under ``settings``.

    Split from :func:`action_values` so a what-if on action costs (the dashboard's
    strategy lab) re-values the same predictions without scoring again.
    """
    risk = scores[schema.RISK_SCORE]
    catalogue = ActionCatalogue.from_settings(settings)
    outstanding = table[schema.OUTSTANDING_LOAN_AMOUNT]
    action_fractions = fractions[list(catalogue.names)]
    values = catalogue.expected_net(action_fractions, outstanding)
    hold_value = catalogue.hold_value(fractions, outstanding)
    uplift = values.sub(hold_value, axis=0)
    guard = apply_guardrails(table, risk, action_fractions, catalogue, settings.strategy)
    bau_rule = safety.bau_actions(table) if safety is not None else None
    bau = policy_actions(
        BAU,
        table=table,
        risk_score=risk,
        values=uplift,
        allowed=guard.allowed,
        settings=settings,
        bau=bau_rule,
    )
    candidates = guard.allowed & (uplift > settings.strategy.min_uplift)
    decision_uplift = uplift
    capacity_candidates: pd.DataFrame | None = None
    if safety is not None and settings.strategy.safe.enabled:
        candidates, capacity_candidates = safety.candidate_sets(table, candidates, bau)
        # BAU's action kept because the history never showed that leaving the loan alone
        # is better must not lose its slot for a predicted uplift at or below zero.
        decision_uplift = pd.DataFrame(
            kept_values(uplift.to_numpy(dtype=np.float64), candidates.to_numpy(dtype=np.bool_)),
            index=uplift.index,
            columns=uplift.columns,
        )
    return ActionValues(
        scores=scores,
        risk=risk,
        fractions=fractions,
        values=values,
        hold_value=hold_value,
        uplift=uplift,
        recovered=catalogue.expected_recovered(action_fractions, outstanding),
        costs=catalogue.cost(action_fractions, outstanding),
        guard=guard,
        catalogue=catalogue,
        candidates=candidates,
        bau=bau,
        decision_uplift=decision_uplift,
        safe_departures=safety is not None and settings.strategy.safe.enabled,
        capacity_candidates=capacity_candidates,
    )


def policy_choice(
    name: str, table: pd.DataFrame, inputs: ActionValues, settings: Settings, random_state: int = 0
) -> pd.Series:
    """The arm each loan gets under the named policy (learned: best safe candidate)."""
    if name == LEARNED:
        return best_allowed(inputs.decision_uplift, inputs.candidates).rename(LEARNED)
    if name == BAU:
        return inputs.bau
    return policy_actions(
        name,
        table=table,
        risk_score=inputs.risk,
        values=inputs.uplift,
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

    The learned policy recommends the candidate action of largest uplift over leaving the
    loan alone, ``hold`` when none adds more than ``strategy.min_uplift``; with capacity
    or a budget the LP maximises total uplift. ``priority`` is the recommended action's
    uplift net of the priced capacity it uses (the LP's shadow prices), 0 for hold.

    ``inputs`` are this table's :func:`action_values` when the caller already has them
    (the dashboard re-plans the same loans under new capacity or budget without scoring
    again); they must come from the same table, bundle and settings.
    """
    if inputs is None:
        inputs = action_values(table, bundle, settings)
    elif len(inputs.values) != len(table) or not inputs.values.index.equals(table.index):
        raise ModelError("action values were computed for other loans than the table given.")
    scores, risk, values, uplift = inputs.scores, inputs.risk, inputs.values, inputs.uplift
    recovered, costs, guard, catalogue = (
        inputs.recovered,
        inputs.costs,
        inputs.guard,
        inputs.catalogue,
    )

    capacity = dict(capacity if capacity is not None else settings.strategy.capacity)
    budget = budget if budget is not None else settings.strategy.budget
    limited = policy == LEARNED and (bool(capacity) or budget is not None)
    if limited:
        inputs = inputs.limited()
    baseline_name = settings.strategy.baseline_policy
    baseline = policy_choice(baseline_name, table, inputs, settings, random_state)
    decisions = decide(inputs.decision_uplift, inputs.candidates, baseline)
    capacity_plan: CapacityPlan | None = None
    if limited:
        capacity_plan = learned_capacity_plan(inputs, capacity, budget, random_state)
        chosen = capacity_plan.actions
    elif policy == LEARNED:
        chosen = decisions[schema.RECOMMENDED_ACTION]
    else:
        chosen = policy_choice(policy, table, inputs, settings, random_state)
    chosen = chosen.astype(str).set_axis(table.index)
    chosen_at = _positions(values.columns, chosen)
    held = chosen.to_numpy() == HOLD
    prices = capacity_plan.shadow_prices if capacity_plan is not None else {}
    arm = chosen_arm_columns(
        chosen_at,
        uplift=uplift.to_numpy(dtype=np.float64),
        recovered=recovered.to_numpy(dtype=np.float64),
        costs=costs.to_numpy(dtype=np.float64),
        hold_value=inputs.hold_value.to_numpy(dtype=np.float64),
        hold_recovered=inputs.fractions[HOLD].to_numpy(dtype=np.float64)
        * table[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(dtype=np.float64),
        baseline_uplift=_pick(uplift, _positions(values.columns, baseline)),
        priced=priced_capacity(prices, chosen_at, costs.to_numpy(dtype=np.float64), values.columns),
    )
    priority = arm[schema.PRIORITY]
    # Columns are put in worklist order as they are built: reordering numpy arrays and
    # Arrow strings is far cheaper than sorting the assembled frame.
    order = worklist_order(priority, table[schema.LOAN_ID])
    value_matrix = values.to_numpy(dtype=np.float64)
    uplift_matrix = uplift.to_numpy(dtype=np.float64)
    columns: dict[str, object] = {
        schema.LOAN_ID: _text_column(table[schema.LOAN_ID], order),
        schema.RECOMMENDED_ACTION: _text_column(chosen, order),
        schema.PRIORITY: priority[order],
        schema.EXPECTED_UPLIFT: arm[schema.EXPECTED_UPLIFT][order],
        schema.VALUE_IF_LEFT_ALONE: inputs.hold_value.to_numpy(dtype=np.float64)[order],
        schema.EXPECTED_NET_RECOVERY: arm[schema.EXPECTED_NET_RECOVERY][order],
        schema.EXPECTED_RECOVERED: arm[schema.EXPECTED_RECOVERED][order],
        schema.EXPECTED_COST: arm[schema.EXPECTED_COST][order],
        schema.BASELINE_ACTION: _text_column(baseline, order),
        schema.UPLIFT_VS_BASELINE: arm[schema.UPLIFT_VS_BASELINE][order],
        schema.UPLIFT_VS_NEXT_BEST: decisions[schema.UPLIFT_VS_NEXT_BEST].to_numpy()[order],
        schema.RISK_SCORE: risk.to_numpy()[order],
        schema.RISK_BAND: _text_column(scores[schema.RISK_BAND], order),
        schema.SEGMENT_NAME: _text_column(scores[schema.SEGMENT_NAME], order),
    }
    for action in catalogue.names:
        position = values.columns.get_loc(action)
        columns[schema.value_column(action)] = value_matrix[order, position]
    for action in catalogue.names:
        position = values.columns.get_loc(action)
        columns[schema.uplift_column(action)] = uplift_matrix[order, position]
    reasons = scores
    if inputs.reasons_deferred:
        worked = _worked_rows(order, held, settings.explain.worked_loans)
        reasons = _reasons_of_rows(table, bundle, settings, worked)
    for rank in range(1, settings.explain.top_k + 1):
        reason = schema.reason_column(rank)
        if reason in reasons.columns:
            columns[reason] = _text_column(reasons[reason], order)
    columns[schema.GUARDRAILS] = _text_column(guard.explanations, order)
    ordered = pd.DataFrame(columns)
    return PlanResult(
        worklist=ordered,
        policy=policy,
        baseline_policy=baseline_name,
        capacity_plan=capacity_plan,
    )


def _worked_rows(
    order: npt.NDArray[np.intp], held: npt.NDArray[np.bool_], limit: int
) -> npt.NDArray[np.intp]:
    """Table positions of the first ``limit`` loans of the worklist that are worked (not
    held): with capacity, only loans within it have an action at all."""
    return order[~held[order]][:limit]


def _reasons_of_rows(
    table: pd.DataFrame, bundle: ModelBundle, settings: Settings, rows: npt.NDArray[np.intp]
) -> pd.DataFrame:
    """Reason columns for every loan of ``table``: made for ``rows``, blank elsewhere.

    Each column is one Arrow ``take`` from the made sentences plus a blank, so the
    unexplained loans (most of a large book) cost no Python strings.
    """
    names = [schema.reason_column(rank) for rank in range(1, settings.explain.top_k + 1)]
    rows = np.sort(rows)
    made = pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
    if len(rows):  # an all-hold plan works no loan
        made = loan_reasons(
            risk_design_matrix(table.iloc[rows], settings.risk),
            bundle,
            top_k=settings.explain.top_k,
            approximate=settings.explain.method == "approximate",
        )
    source = np.zeros(len(table), dtype=np.int64)  # 0: the blank, k: the k-th made row
    source[rows] = np.arange(1, len(rows) + 1)
    columns = {}
    for name in names:
        texts = made[name].to_numpy(dtype=object, na_value="")
        sentences = pa.array(["", *texts.tolist()], type=pa.large_string())
        columns[name] = pd.array(sentences.take(pa.array(source)), dtype=TEXT_DTYPE)
    return pd.DataFrame(columns, index=table.index)


def learned_capacity_plan(
    inputs: ActionValues,
    capacity: Mapping[str, int],
    budget: float | None,
    random_state: int = 0,
) -> CapacityPlan:
    """The learned policy under capacity and budget: the LP on uplift, kept safe.

    Without a safe-improvement guard the LP chooses among every candidate. With one, the
    candidates are those approved for a limited plan (:meth:`ActionValues.limited`), and
    the departures were tested against BAU's action at BAU's own capacity, not against
    the loans they would push out of a full action: so departures may only use slots BAU
    leaves free. Where an action is over its limit, the departing loans of
    smallest predicted gain over BAU's action go back to it first (one pass per action
    whose limit they touch); the LP then decides who is worked within the limits and
    prices them.
    """
    inputs = inputs.limited()
    if not inputs.safe_departures:
        return optimise_with_capacity(
            inputs.decision_uplift,
            inputs.candidates,
            inputs.costs,
            capacity,
            budget,
            random_state=random_state,
        )
    chosen = best_allowed(inputs.decision_uplift, inputs.candidates).to_numpy(dtype=object)
    bau = inputs.bau.to_numpy(dtype=object)
    gain = departure_gain(chosen, bau, inputs.decision_uplift)
    chosen = revert_departures(chosen, bau, gain, capacity)
    columns = np.asarray(inputs.candidates.columns, dtype=object)
    only = pd.DataFrame(
        chosen[:, np.newaxis] == columns[np.newaxis, :],
        index=inputs.candidates.index,
        columns=inputs.candidates.columns,
    )
    return optimise_with_capacity(
        inputs.decision_uplift, only, inputs.costs, capacity, budget, random_state=random_state
    )


def departure_gain(
    chosen: npt.NDArray[np.object_], bau: npt.NDArray[np.object_], decision_uplift: pd.DataFrame
) -> npt.NDArray[np.float64]:
    """Per loan, the decision value of its chosen action minus that of BAU's (hold: 0)."""
    columns = pd.Index([*decision_uplift.columns, HOLD])
    values = np.column_stack(
        [decision_uplift.to_numpy(dtype=np.float64), np.zeros(len(decision_uplift))]
    )
    rows = np.arange(len(chosen))
    gain: npt.NDArray[np.float64] = (
        values[rows, columns.get_indexer(pd.Index(chosen))]
        - values[rows, columns.get_indexer(pd.Index(bau))]
    )
    return gain


def revert_departures(
    chosen: npt.NDArray[Any],
    bau: npt.NDArray[Any],
    gain: npt.NDArray[np.float64],
    capacity: Mapping[Any, int],
) -> npt.NDArray[Any]:
    """``chosen`` with departures from BAU reverted, smallest ``gain`` (over BAU's action)
    first, until no capped action holds more loans than its limit or no departure is left
    in one. Actions may be labels or codes, as long as ``capacity`` is keyed the same way:
    the in-memory plan passes labels, a streamed book its compact codes.
    """
    chosen = chosen.copy()
    gain = gain.copy()
    for _ in range(len(capacity) + 1):
        moved = False
        for action, slots in capacity.items():
            members = np.flatnonzero(chosen == action)
            excess = len(members) - int(slots)
            departing = members[bau[members] != action]
            if excess <= 0 or len(departing) == 0:
                continue
            back = departing[np.argsort(gain[departing], kind="stable")][:excess]
            chosen[back] = bau[back]
            gain[back] = 0.0
            moved = True
        if not moved:
            break
    return chosen


def chosen_arm_columns(
    chosen_at: npt.NDArray[np.intp],
    *,
    uplift: npt.NDArray[np.float64],
    recovered: npt.NDArray[np.float64],
    costs: npt.NDArray[np.float64],
    hold_value: npt.NDArray[np.float64],
    hold_recovered: npt.NDArray[np.float64],
    baseline_uplift: npt.NDArray[np.float64],
    priced: npt.NDArray[np.float64],
) -> dict[str, npt.NDArray[np.float64]]:
    """The worklist's columns that follow from each loan's chosen arm, in table order.

    ``chosen_at`` is each loan's column among the n x actions matrices, or the number of
    actions for hold (uplift 0, cost 0, recovered: what the loan pays alone). ``priced``
    is the priced capacity the arm uses (:func:`priced_capacity`). One function, so an
    in-memory plan and a streamed book's final assignment fill these columns alike.
    """
    held = chosen_at == uplift.shape[1]
    chosen_uplift = pick_arm(uplift, chosen_at)
    priority = np.where(held, 0.0, np.maximum(chosen_uplift - priced, 0.0))
    return {
        schema.PRIORITY: priority,
        schema.EXPECTED_UPLIFT: chosen_uplift,
        schema.EXPECTED_NET_RECOVERY: chosen_uplift + hold_value,
        schema.EXPECTED_RECOVERED: np.where(held, hold_recovered, pick_arm(recovered, chosen_at)),
        schema.EXPECTED_COST: pick_arm(costs, chosen_at),
        schema.UPLIFT_VS_BASELINE: chosen_uplift - baseline_uplift,
    }


def priced_capacity(
    prices: Mapping[str, float],
    chosen_at: npt.NDArray[np.intp],
    costs: npt.NDArray[np.float64],
    columns: pd.Index,
) -> npt.NDArray[np.float64]:
    """Per loan, the shadow price of the capacity (and budget) its action uses; 0 unpriced."""
    priced = np.zeros(len(chosen_at), dtype=np.float64)
    if not prices:
        return priced
    per_action = np.zeros(len(columns) + 1)
    for action, price in prices.items():
        if action in columns:
            per_action[columns.get_loc(action)] = price
    priced += per_action[chosen_at]
    budget_price = prices.get("budget", 0.0)
    if budget_price:
        priced += budget_price * pick_arm(costs, chosen_at)
    return priced
