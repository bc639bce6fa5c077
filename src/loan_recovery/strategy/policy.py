"""Choosing the action: the best allowed action per loan, capacity plans, and baselines.

Inputs are frames the rest of the pipeline already produced: ``values`` (n x actions
expected net recovery, from :meth:`ActionCatalogue.expected_net`), ``allowed`` (n x actions
bool, from :func:`~loan_recovery.strategy.rules.apply_guardrails`) and, for capacity
plans, ``costs`` (n x actions, from :meth:`ActionCatalogue.cost`). Nothing here trains
or loads a model, so every function is cheap, deterministic and testable on hand-made
tables.

- :func:`decide` picks, per loan, the allowed action with the highest expected net
  recovery, and says by how much it beats the next best and the baseline policy.
- :func:`optimise_with_capacity` does the same for a whole book when actions have limited
  slots (lawyers, agents) and the cycle has a budget, as a linear programme, and prices
  the limits (shadow prices).
- :func:`policy_actions` runs a named policy: the learned one or a baseline that lenders
  use today, so any two can be compared on the same loans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse  # type: ignore[import-untyped, unused-ignore]
from scipy.optimize import linprog  # type: ignore[import-untyped, unused-ignore]

from loan_recovery.actions import FALLBACKS
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.labels import label_codes, label_series
from loan_recovery.simulation.logging_policy import rule_of_thumb_actions
from loan_recovery.strategy.actions import HOLD

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Index standing for "hold" in integer action codes.
_HOLD_CODE = -1
#: A code that names no action (a blank label): no second-best candidate.
_NO_ACTION_CODE = -2
#: LP values within this of 0 or 1 count as integral.
_INTEGRAL_TOLERANCE = 1e-6
#: At most this many loans the LP split between actions are re-placed one by one after
#: rounding; a basic LP solution splits at most one loan per capacity/budget constraint, so
#: the bound only matters if the solver returns an interior point.
_MAX_REFILL = 10_000

#: Policies :func:`policy_actions` knows.
LEARNED = "learned"
BAU = "bau"
THRESHOLD_RULES = "threshold-rules"
RANDOM = "random"
ALL_PREFIX = "all-"
POLICY_NAMES: tuple[str, ...] = (
    LEARNED,
    BAU,
    THRESHOLD_RULES,
    RANDOM,
    *(f"{ALL_PREFIX}{action}" for action in schema.ARM_NAMES),
)

#: Columns :func:`decide` returns, in order.
DECISION_COLUMNS: tuple[str, ...] = (
    schema.RECOMMENDED_ACTION,
    schema.EXPECTED_NET_RECOVERY,
    schema.NEXT_BEST_ACTION,
    schema.UPLIFT_VS_NEXT_BEST,
    schema.BASELINE_ACTION,
    schema.UPLIFT_VS_BASELINE,
    schema.PRIORITY,
)


# --- checking inputs ----------------------------------------------------------------------
def _value_matrices(
    values: pd.DataFrame, allowed: pd.DataFrame
) -> tuple[tuple[str, ...], FloatArray, BoolArray]:
    """Action names, values and allowed mask as arrays in ``values``' column order."""
    names = tuple(str(column) for column in values.columns)
    if not names:
        raise SchemaError("expected net values need at least one action column; got none.")
    unknown = sorted(set(names) - set(schema.ACTION_NAMES))
    if unknown:
        raise SchemaError(
            f"expected net values name unknown actions {unknown}; the catalogue knows "
            f"{list(schema.ACTION_NAMES)}."
        )
    if set(allowed.columns) != set(names) or not allowed.index.equals(values.index):
        raise SchemaError(
            "the allowed mask must have the same loans (index) and actions (columns) as the "
            f"values; got columns {list(allowed.columns)} for {list(names)}."
        )
    matrix = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(matrix).all():
        raise SchemaError(
            f"expected net values must be finite; {int((~np.isfinite(matrix)).sum())} are not."
        )
    mask = allowed[list(names)].to_numpy(dtype=np.bool_)
    return names, matrix, mask


def _aligned_matrix(
    frame: pd.DataFrame, names: tuple[str, ...], index: pd.Index, what: str
) -> FloatArray:
    missing = [name for name in names if name not in frame.columns]
    if missing or not frame.index.equals(index):
        raise SchemaError(
            f"{what} must have the values' loans (index) and a column per action; "
            f"missing columns {missing}.",
            missing_columns=tuple(missing),
        )
    matrix = frame[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(matrix) | (matrix < 0)
    if bad.any():
        raise SchemaError(f"{what} must be finite and >= 0; {int(bad.sum())} are not.")
    return matrix


def _action_codes(
    actions: pd.Series, names: tuple[str, ...], index: pd.Index, what: str
) -> IntArray:
    """Column position of each named action; ``_HOLD_CODE`` for hold."""
    if not actions.index.equals(index):
        raise SchemaError(f"{what} must have the values' index ({len(index)} loans).")
    codes = label_codes(actions, [*names, HOLD])
    unknown = sorted(set(actions[codes < 0].astype("string").fillna("<blank>")))
    if unknown:
        raise SchemaError(
            f"{what} name unknown actions {unknown}; expected one of {[*names, HOLD]}."
        )
    result: IntArray = np.where(codes == len(names), _HOLD_CODE, codes).astype(np.int64)
    return result


def _labels(
    codes: IntArray, names: tuple[str, ...], index: pd.Index, name: str | None = None
) -> pd.Series:
    """Action names of ``codes`` (``_HOLD_CODE``: hold) as a ``str`` Series, built in Arrow."""
    return label_series(
        (*names, HOLD), np.where(codes == _HOLD_CODE, len(names), codes), index, name
    )


def _value_of(codes: IntArray, matrix: FloatArray) -> FloatArray:
    """Per loan, the matrix entry of its action; 0 for hold."""
    rows = np.arange(len(codes))
    picked: FloatArray = np.where(codes == _HOLD_CODE, 0.0, matrix[rows, np.clip(codes, 0, None)])
    return picked


# --- one loan at a time: the best allowed action -------------------------------------------
def best_allowed(values: pd.DataFrame, allowed: pd.DataFrame) -> pd.Series:
    """The learned policy: per loan, the allowed action of highest expected net recovery.

    Ties go to the action listed first (the catalogue lists cheaper actions first);
    a loan with no allowed action is held.
    """
    names, matrix, mask = _value_matrices(values, allowed)
    codes = _ranked_codes(matrix, mask)[:, 0]
    return _labels(codes, names, values.index, LEARNED)


def _ranked_codes(matrix: FloatArray, mask: BoolArray) -> IntArray:
    """Per loan, action codes from best to worst allowed; ``_HOLD_CODE`` past the allowed."""
    masked = np.where(mask, matrix, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")
    ranked_allowed = np.take_along_axis(mask, order, axis=1)
    ranked: IntArray = np.where(ranked_allowed, order, _HOLD_CODE).astype(np.int64)
    return ranked


def decide(
    values: pd.DataFrame, allowed: pd.DataFrame, baseline_actions: pd.Series
) -> pd.DataFrame:
    """Per loan: the recommended action, its uplift, and how much it beats the alternatives.

    ``values`` are what the plan decides on: each action's uplift over leaving the loan
    alone (hold is worth 0 here by construction); ``allowed`` the candidate actions.
    Columns (:data:`DECISION_COLUMNS`):

    - ``recommended_action``: the candidate of highest uplift (ties to the action listed
      first); ``hold`` when there is no candidate.
    - ``expected_net_recovery``: its uplift here (the plan adds the value of leaving the
      loan alone); 0 for hold.
    - ``next_best_action`` / ``uplift_vs_next_best``: the second-best candidate and the
      margin over it; blank / 0 when at most one is allowed. A small margin flags a
      recommendation that barely wins.
    - ``baseline_action`` / ``uplift_vs_baseline``: what the baseline policy does and the
      recommended uplift minus the baseline's. A baseline ``hold`` is worth 0.
    - ``priority``: the uplift of working the loan now, floored at 0; sort descending for
      the worklist. Flooring keeps held loans at the bottom.
    """
    names, matrix, mask = _value_matrices(values, allowed)
    baseline_codes = _action_codes(baseline_actions, names, values.index, "baseline actions")
    ranked = _ranked_codes(matrix, mask)
    best = ranked[:, 0]
    second = ranked[:, 1] if len(names) > 1 else np.full(len(best), _HOLD_CODE, dtype=np.int64)
    best_value = _value_of(best, matrix)
    has_second = second != _HOLD_CODE
    uplift_next = np.where(has_second, best_value - _value_of(second, matrix), 0.0)
    next_best = _labels(np.where(has_second, second, _NO_ACTION_CODE), names, values.index)
    return pd.DataFrame(
        {
            schema.RECOMMENDED_ACTION: _labels(best, names, values.index),
            schema.EXPECTED_NET_RECOVERY: best_value,
            schema.NEXT_BEST_ACTION: next_best,
            schema.UPLIFT_VS_NEXT_BEST: uplift_next,
            schema.BASELINE_ACTION: _labels(baseline_codes, names, values.index),
            schema.UPLIFT_VS_BASELINE: best_value - _value_of(baseline_codes, matrix),
            schema.PRIORITY: np.maximum(best_value, 0.0),
        },
        index=values.index,
    )


# --- the whole book under capacity and budget ----------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class CapacityPlan:
    """An assignment of one action (or hold) per loan that respects every limit exactly.

    ``objective``: total expected net recovery of the assignment. ``upper_bound``: the LP
    relaxation's optimum; no assignment can beat it, so ``upper_bound - objective`` bounds
    what rounding gave away. ``shadow_prices``: action name -> value of one more slot of
    that action, and ``"budget"`` -> value of one more currency unit of budget (LP duals,
    >= 0; only for the limits that were set). At an integer capacity the LP sits at a
    kink of its value, where any price between the gain of one more slot and the loss of
    one fewer is a valid dual; the solver reports one of them. ``rounded_loans``: loans the
    LP split between actions, first held, then re-placed greedily where room remained.
    """

    actions: pd.Series
    expected_net: pd.Series
    objective: float
    upper_bound: float
    total_cost: float
    status: str
    shadow_prices: dict[str, float] = field(default_factory=dict)
    rounded_loans: int = 0

    def counts(self) -> dict[str, int]:
        """Loans per assigned action (hold included)."""
        return {str(k): int(v) for k, v in self.actions.value_counts().items()}


def _check_limits(
    capacity: Mapping[str, int], budget: float | None, names: tuple[str, ...]
) -> dict[int, int]:
    """Capacity as action code -> slots, checked; the budget checked."""
    unknown = sorted(set(capacity) - set(names))
    if unknown:
        raise ConfigError(
            f"capacity names unknown actions {unknown}; expected some of {list(names)}."
        )
    bad = sorted(name for name, slots in capacity.items() if int(slots) != slots or slots < 0)
    if bad:
        raise ConfigError(f"capacity must be a whole number of slots >= 0; got {dict(capacity)}.")
    if budget is not None and not (np.isfinite(budget) and budget >= 0):
        raise ConfigError(f"budget must be a finite amount >= 0 or None; got {budget!r}.")
    return {names.index(name): int(slots) for name, slots in capacity.items()}


def _enforce_limits(
    codes: IntArray,
    matrix: FloatArray,
    costs: FloatArray,
    slots: Mapping[int, int],
    budget: float | None,
) -> IntArray:
    """Move loans to hold until every capacity and the budget hold exactly.

    Over a full action, the loans of lowest value are held first; over budget, those of
    lowest value per unit of cost. Holding only frees slots and money, so the result never
    violates a limit. Vectorised: one sort per capped action and one for the budget.
    """
    codes = codes.copy()
    value = _value_of(codes, matrix)
    for code, cap in slots.items():
        members = np.flatnonzero(codes == code)
        if len(members) > cap:
            by_value = members[np.argsort(-value[members], kind="stable")]
            codes[by_value[cap:]] = _HOLD_CODE
    if budget is not None:
        cost = _value_of(codes, costs)
        if cost.sum() > budget:
            worked = np.flatnonzero(codes != _HOLD_CODE)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(cost[worked] > 0, value[worked] / cost[worked], np.inf)
            order = worked[np.argsort(-ratio, kind="stable")]
            fits = np.cumsum(cost[order]) <= budget
            codes[order[~fits]] = _HOLD_CODE
    return codes


def _plan(
    codes: IntArray,
    names: tuple[str, ...],
    matrix: FloatArray,
    costs: FloatArray,
    index: pd.Index,
    *,
    upper_bound: float,
    status: str,
    shadow_prices: dict[str, float],
    rounded_loans: int,
) -> CapacityPlan:
    value = _value_of(codes, matrix)
    return CapacityPlan(
        actions=_labels(codes, names, index, schema.RECOMMENDED_ACTION),
        expected_net=pd.Series(value, index=index, name=schema.EXPECTED_NET_RECOVERY),
        objective=float(value.sum()),
        upper_bound=upper_bound,
        total_cost=float(_value_of(codes, costs).sum()),
        status=status,
        shadow_prices=shadow_prices,
        rounded_loans=rounded_loans,
    )


def greedy_with_capacity(
    values: pd.DataFrame,
    allowed: pd.DataFrame,
    costs: pd.DataFrame,
    capacity: Mapping[str, int],
    budget: float | None = None,
) -> CapacityPlan:
    """What a value-sorted worklist does: each loan's best action, until limits run out.

    Each loan takes its best allowed action of positive value; over a full action the
    lowest-value loans are held, and over budget those of lowest value per cost. No loan is
    moved to its second choice, which is what the LP of :func:`optimise_with_capacity` adds.
    Kept as the reference the LP is measured against, and as its fallback.
    """
    names, matrix, mask = _value_matrices(values, allowed)
    cost_matrix = _aligned_matrix(costs, names, values.index, "costs")
    slots = _check_limits(capacity, budget, names)
    codes = _ranked_codes(matrix, mask & (matrix > 0))[:, 0]
    codes = _enforce_limits(codes, matrix, cost_matrix, slots, budget)
    return _plan(
        codes,
        names,
        matrix,
        cost_matrix,
        values.index,
        upper_bound=float("nan"),
        status="greedy",
        shadow_prices={},
        rounded_loans=0,
    )


#: Books up to this many loans are solved as a single LP.
_DIRECT_LOANS = 20_000
#: Larger books: prices (duals) are first estimated on a random sample of this many loans,
_SAMPLE_LOANS = 10_000
#: then the LP is solved for this many loans closest to a tie under those prices, the
#: others keeping their best action at those prices (see :func:`optimise_with_capacity`).
_FREE_LOANS = 20_000
#: After this many rounds of freeing loans whose fixed choice stopped being optimal, the
#: LP takes every loan: slower, but the loop always ends with the exact optimum.
_MAX_ROUNDS = 6


@dataclass(frozen=True, slots=True, eq=False)
class _Book:
    """A capacity problem in arrays: values, costs, the columns worth an LP variable, limits.

    ``slots`` holds each action's capacity, ``inf`` for uncapped actions.
    """

    matrix: FloatArray
    costs: FloatArray
    columns: BoolArray
    slots: FloatArray
    budget: float | None

    @property
    def capped_codes(self) -> IntArray:
        codes: IntArray = np.flatnonzero(np.isfinite(self.slots)).astype(np.int64)
        return codes


@dataclass(frozen=True, slots=True, eq=False)
class _Prices:
    """LP duals: per action (0 where uncapped) and per currency unit of budget."""

    actions: FloatArray
    budget: float


@dataclass(frozen=True, slots=True, eq=False)
class _Restricted:
    """The LP solved over some loans: variable (loan, action) pairs, their values, duals."""

    loan_of: IntArray
    action_of: IntArray
    x: FloatArray
    objective: float
    prices: _Prices


def _useful_columns(
    matrix: FloatArray, costs: FloatArray, candidates: BoolArray, capped: BoolArray
) -> BoolArray:
    """Drop (loan, action) pairs no LP optimum needs, so the LP stays small.

    A pair is dropped when a mix of the same loan's *uncapped* actions and hold (value 0,
    cost 0) brings at least as much for no more cost: that mix uses no capacity, so any
    solution using the pair can use the mix instead. Without a budget (``costs`` all 0)
    this keeps each loan's best uncapped action and the capped actions that beat it. With
    one, it keeps the upper concave hull of the uncapped (cost, value) points plus the capped
    actions above it. Dropped pairs also keep the LP's duals valid for the full problem: their
    reduced value never exceeds the best of the mix. A loop over action pairs and triples
    (at most 6 x 7 x 6), each step vectorised over loans.
    """
    n_actions = matrix.shape[1]
    keep = candidates.copy()
    mixable = candidates & ~capped[np.newaxis, :]
    for a in range(n_actions):
        for b in range(n_actions):
            if a == b:
                continue
            no_worse = (matrix[:, b] >= matrix[:, a]) & (costs[:, b] <= costs[:, a])
            if not capped[a]:
                # Between two uncapped actions, identical points keep the first.
                no_worse &= (matrix[:, b] > matrix[:, a]) | (costs[:, b] < costs[:, a]) | (b < a)
            keep[:, a] &= ~(mixable[:, b] & no_worse)
    zeros = np.zeros((len(matrix), 1))
    point_value = np.concatenate([zeros, matrix], axis=1)  # column 0 is hold
    point_cost = np.concatenate([zeros, costs], axis=1)
    point_ok = np.concatenate([np.ones((len(matrix), 1), dtype=np.bool_), mixable], axis=1)
    for a in range(n_actions):
        for low in range(n_actions + 1):
            for high in range(1, n_actions + 1):
                if a + 1 in (low, high) or low == high:
                    continue
                between = (
                    point_ok[:, low]
                    & point_ok[:, high]
                    & (point_cost[:, low] < costs[:, a])
                    & (costs[:, a] < point_cost[:, high])
                )
                if not between.any():
                    continue
                span = np.where(between, point_cost[:, high] - point_cost[:, low], 1.0)
                weight = (costs[:, a] - point_cost[:, low]) / span
                mix = point_value[:, low] + weight * (point_value[:, high] - point_value[:, low])
                keep[:, a] &= ~(between & (matrix[:, a] <= mix))
    return keep


def _reduced_values(book: _Book, prices: _Prices) -> FloatArray:
    """Value minus the priced use of capacity and budget; -inf where no column."""
    reduced = book.matrix - prices.actions[np.newaxis, :]
    if book.budget is not None:
        reduced = reduced - prices.budget * book.costs
    result: FloatArray = np.where(book.columns, reduced, -np.inf)
    return result


def _best_at(reduced: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
    """Per loan: best action code at these prices (hold: reduced value 0), its reduced value,
    and its margin over the runner-up (how far prices must move to change the choice)."""
    n_loans, n_actions = reduced.shape
    rows = np.arange(n_loans)
    options = np.concatenate([reduced, np.zeros((n_loans, 1))], axis=1)
    best = np.argmax(options, axis=1)
    best_value = options[rows, best]
    options[rows, best] = -np.inf
    margin = best_value - options.max(axis=1)
    codes: IntArray = np.where(best == n_actions, _HOLD_CODE, best).astype(np.int64)
    return codes, best_value, margin


def _usage(codes: IntArray, book: _Book) -> tuple[FloatArray, float]:
    """Slots taken per action and money spent by an assignment."""
    worked = codes != _HOLD_CODE
    taken = np.bincount(codes[worked], minlength=book.matrix.shape[1]).astype(np.float64)
    return taken, float(_value_of(codes, book.costs).sum())


def _release_overflow(
    codes: IntArray, margin: FloatArray, fixed: BoolArray, book: _Book
) -> BoolArray:
    """Fixed loans to hand back to the LP so the fixed ones alone fit every limit.

    Per over-full action, its fixed loans of smallest margin go first; then, if the rest
    still overspend, fixed loans by smallest margin until the overspend is covered.
    """
    release = np.zeros(len(codes), dtype=np.bool_)
    for code in book.capped_codes:
        members = np.flatnonzero(fixed & (codes == code))
        excess = len(members) - int(book.slots[code])
        if excess > 0:
            release[members[np.argsort(margin[members], kind="stable")[:excess]]] = True
    if book.budget is not None:
        kept = fixed & ~release & (codes != _HOLD_CODE)
        spent = float(_value_of(codes, book.costs)[kept].sum())
        if spent > book.budget:
            members = np.flatnonzero(kept)
            members = members[np.argsort(margin[members], kind="stable")]
            freed = np.cumsum(_value_of(codes[members], book.costs[members]))
            count = int(np.searchsorted(freed, spent - book.budget)) + 1
            release[members[:count]] = True
    return release


def _solve_restricted(
    book: _Book, loans: IntArray, slots_left: FloatArray, budget_left: float | None
) -> _Restricted | str:
    """The LP over ``loans`` with the limits left for them; a message if HiGHS fails.

    Loans with a single column need no "one action" row (the variable's bound says it).
    """
    local, action_of = np.nonzero(book.columns[loans])
    loan_of = loans[local].astype(np.int64)
    action_of = action_of.astype(np.int64)
    n_vars = len(loan_of)
    capped = book.capped_codes
    n_limits = len(capped) + (book.budget is not None)
    if n_vars == 0:
        empty = np.zeros(0)
        prices = _Prices(np.zeros(book.matrix.shape[1]), 0.0)
        return _Restricted(loan_of, action_of, empty, 0.0, prices)
    columns_per_loan = np.bincount(local)
    shared = columns_per_loan[local] > 1
    _, loan_row = np.unique(local[shared], return_inverse=True)
    n_loan_rows = int(loan_row.max()) + 1 if len(loan_row) else 0
    rows = [loan_row]
    cols = [np.flatnonzero(shared)]
    data = [np.ones(len(loan_row))]
    rhs = [np.ones(n_loan_rows)]
    for offset, code in enumerate(capped):
        members = np.flatnonzero(action_of == code)
        rows.append(np.full(len(members), n_loan_rows + offset))
        cols.append(members)
        data.append(np.ones(len(members)))
        rhs.append(np.array([max(slots_left[code], 0.0)]))
    if book.budget is not None and budget_left is not None:
        rows.append(np.full(n_vars, n_loan_rows + len(capped)))
        cols.append(np.arange(n_vars))
        data.append(book.costs[loan_of, action_of])
        rhs.append(np.array([max(budget_left, 0.0)]))
    constraints = sparse.csr_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_loan_rows + n_limits, n_vars),
    )
    # Values run to millions; HiGHS converges faster (capacity-only: 3x) on an objective
    # scaled to at most 1, and the duals are scaled back.
    objective_scale = max(1.0, float(np.abs(book.matrix[loan_of, action_of]).max()))
    result = linprog(
        -book.matrix[loan_of, action_of] / objective_scale,
        A_ub=constraints,
        b_ub=np.concatenate(rhs),
        bounds=(0.0, 1.0),
        # Interior point then crossover: 3-4x faster than dual simplex here (the dense
        # budget row slows simplex), and crossover still returns a vertex, so few loans split.
        method="highs-ipm",
    )
    if result.status != 0 or result.x is None:
        return str(result.message)
    duals = (
        np.maximum(-np.asarray(result.ineqlin.marginals, dtype=np.float64), 0.0) * objective_scale
    )
    action_prices = np.zeros(book.matrix.shape[1])
    action_prices[capped] = duals[n_loan_rows : n_loan_rows + len(capped)]
    budget_price = float(duals[-1]) if book.budget is not None else 0.0
    return _Restricted(
        loan_of,
        action_of,
        np.asarray(result.x, dtype=np.float64),
        float(-result.fun) * objective_scale,
        _Prices(action_prices, budget_price),
    )


def optimise_with_capacity(
    values: pd.DataFrame,
    allowed: pd.DataFrame,
    costs: pd.DataFrame,
    capacity: Mapping[str, int],
    budget: float | None = None,
    *,
    random_state: int = 0,
) -> CapacityPlan:
    """The best assignment of actions to loans under action capacities and a budget.

    The linear programme: ``max sum v[i,a] x[i,a]`` subject to each loan getting at most
    one action (the rest of its unit is "hold": value 0, cost 0), ``sum_i x[i,a] <=
    capacity[a]`` per capped action, ``sum cost[i,a] x[i,a] <= budget``, ``x >= 0``, and
    ``x[i,a] = 0`` where not allowed; solved with HiGHS on sparse matrices. Pairs of value
    <= 0, and pairs a mix of uncapped actions beats (:func:`_useful_columns`), are left
    out: that changes neither the optimum nor the duals.

    Books over ``_DIRECT_LOANS`` loans are decomposed, because the LP couples loans only
    through a handful of limits: prices of the limits are estimated on a random sample
    (``random_state``), each loan's best action at those prices is fixed except for the
    ``_FREE_LOANS`` closest to a tie, and the LP is solved for those with the limits the
    fixed loans leave. A fixed loan whose action is no longer best at the new prices is
    freed and the LP solved again; when none is left, the fixed choices and the LP's duals
    satisfy the optimality conditions of the whole LP, so the result is its exact optimum.

    With capacities only the constraint matrix is totally unimodular and the vertex solution
    is 0/1. A budget can split a few loans (at most one per binding limit); they are
    rounded down to hold, a final pass enforces every limit exactly, and they are then
    re-placed greedily where room remains. If HiGHS fails, the greedy plan is returned and
    ``status`` says why.
    """
    names, matrix, mask = _value_matrices(values, allowed)
    cost_matrix = _aligned_matrix(costs, names, values.index, "costs")
    slots = _check_limits(capacity, budget, names)
    n_actions = matrix.shape[1]
    candidates = mask & (matrix > 0)
    if not slots and budget is None:
        codes = _ranked_codes(matrix, candidates)[:, 0]
        objective = float(_value_of(codes, matrix).sum())
        return _plan(
            codes,
            names,
            matrix,
            cost_matrix,
            values.index,
            upper_bound=objective,
            status="optimal",
            shadow_prices={},
            rounded_loans=0,
        )

    slot_array = np.full(n_actions, np.inf)
    for code, cap in slots.items():
        slot_array[code] = float(cap)
    priced_costs = cost_matrix if budget is not None else np.zeros_like(cost_matrix)
    book = _Book(
        matrix=matrix,
        costs=cost_matrix,
        columns=_useful_columns(matrix, priced_costs, candidates, np.isfinite(slot_array)),
        slots=slot_array,
        budget=budget,
    )
    solved = _decomposed_lp(book, random_state)
    if isinstance(solved, str):
        fallback = greedy_with_capacity(values, allowed, costs, capacity, budget)
        return _plan(
            _action_codes(fallback.actions, names, values.index, "greedy plan"),
            names,
            matrix,
            cost_matrix,
            values.index,
            upper_bound=float("nan"),
            status=f"solver failed ({solved}); greedy plan",
            shadow_prices={},
            rounded_loans=0,
        )
    fixed_codes, restricted = solved
    codes = fixed_codes.copy()
    chosen = restricted.x > 1.0 - _INTEGRAL_TOLERANCE
    codes[restricted.loan_of[chosen]] = restricted.action_of[chosen]
    split = (restricted.x > _INTEGRAL_TOLERANCE) & ~chosen
    split_loans = np.setdiff1d(restricted.loan_of[split], restricted.loan_of[chosen])
    codes = _enforce_limits(codes, matrix, cost_matrix, slots, budget)
    codes = _refill(codes, split_loans, book.columns, matrix, cost_matrix, slots, budget)

    shadow_prices = {names[code]: float(restricted.prices.actions[code]) for code in slots}
    if budget is not None:
        shadow_prices["budget"] = restricted.prices.budget
    fixed_value = float(_value_of(fixed_codes, matrix).sum())
    return _plan(
        codes,
        names,
        matrix,
        cost_matrix,
        values.index,
        upper_bound=fixed_value + restricted.objective,
        status="optimal",
        shadow_prices=shadow_prices,
        rounded_loans=len(split_loans),
    )


def _decomposed_lp(book: _Book, random_state: int) -> tuple[IntArray, _Restricted] | str:
    """Fixed choices (hold for the LP's loans) and the LP over the rest; a message on failure.

    Only loans that touch a limit are coupled: without a budget, a loan with no capped
    column simply takes its one remaining column. See :func:`optimise_with_capacity` for
    the decomposition of the coupled loans and why its answer is exact.
    """
    n_loans = len(book.matrix)
    everyone = np.arange(n_loans, dtype=np.int64)
    if book.budget is None:
        coupled = book.columns[:, book.capped_codes].any(axis=1)
    else:
        coupled = book.columns.any(axis=1)
    no_prices = _Prices(np.zeros(book.matrix.shape[1]), 0.0)
    codes, _, margin = _best_at(_reduced_values(book, no_prices))
    pool = np.flatnonzero(coupled)
    if len(pool) <= _DIRECT_LOANS:
        solved = _solve_restricted(book, pool, book.slots, book.budget)
        if isinstance(solved, str):
            return solved
        return np.where(coupled, _HOLD_CODE, codes).astype(np.int64), solved

    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(pool, size=_SAMPLE_LOANS, replace=False)).astype(np.int64)
    share = _SAMPLE_LOANS / len(pool)
    budget_share = None if book.budget is None else book.budget * share
    estimate = _solve_restricted(book, sample, book.slots * share, budget_share)
    if isinstance(estimate, str):
        return estimate
    codes, _, margin = _best_at(_reduced_values(book, estimate.prices))
    free = np.zeros(n_loans, dtype=np.bool_)
    free[pool[np.argpartition(margin[pool], _FREE_LOANS)[:_FREE_LOANS]]] = True
    tolerance = 1e-7 * max(1.0, float(np.abs(book.matrix).max()))
    for round_number in range(_MAX_ROUNDS + 1):
        if round_number == _MAX_ROUNDS:
            free |= coupled
        free |= _release_overflow(codes, margin, ~free, book)
        fixed_codes = np.where(free, _HOLD_CODE, codes).astype(np.int64)
        taken, spent = _usage(fixed_codes, book)
        budget_left = None if book.budget is None else book.budget - spent
        solved = _solve_restricted(book, np.flatnonzero(free), book.slots - taken, budget_left)
        if isinstance(solved, str):
            return solved
        reduced = _reduced_values(book, solved.prices)
        codes, best_value, margin = _best_at(reduced)
        fixed_value = np.where(
            fixed_codes == _HOLD_CODE, 0.0, reduced[everyone, np.clip(fixed_codes, 0, None)]
        )
        stale = ~free & (fixed_value < best_value - tolerance)
        if not stale.any():
            return fixed_codes, solved
        free |= stale
    return "decomposition did not settle"


def _refill(
    codes: IntArray,
    loans: IntArray,
    candidates: BoolArray,
    matrix: FloatArray,
    costs: FloatArray,
    slots: Mapping[int, int],
    budget: float | None,
) -> IntArray:
    """Give held, LP-split loans their best candidate action that still fits, best first.

    A loop, but over the few loans a vertex solution splits (at most one per limit), capped
    at ``_MAX_REFILL`` loans.
    """
    held = loans[codes[loans] == _HOLD_CODE]
    if len(held) == 0:
        return codes
    codes = codes.copy()
    best = np.where(candidates[held], matrix[held], -np.inf).max(axis=1)
    held = held[np.argsort(-best, kind="stable")][:_MAX_REFILL]
    room = {code: cap - int((codes == code).sum()) for code, cap in slots.items()}
    money = None if budget is None else budget - float(_value_of(codes, costs).sum())
    for loan in held:
        options = np.flatnonzero(candidates[loan])
        for code in options[np.argsort(-matrix[loan, options], kind="stable")]:
            if room.get(int(code), 1) <= 0:
                continue
            if money is not None and costs[loan, code] > money:
                continue
            codes[loan] = code
            if int(code) in room:
                room[int(code)] -= 1
            if money is not None:
                money -= float(costs[loan, code])
            break
    return codes


# --- named policies ------------------------------------------------------------------------
def threshold_rules_actions(
    table: pd.DataFrame, risk_score: FloatArray, settings: Settings
) -> npt.NDArray[np.str_]:
    """The original Smart Loan Recovery System's risk tiers (``threshold-rules``), faithfully.

    Critical (risk > legal_risk): legal when secured, never taken to court before and at
    least legal_min_days_past_due late, else agency. High (risk > offer_risk): a
    pre-litigation call with a restructure offer (restructure). Medium (risk > call_risk):
    a call. Low: a reminder.
    """
    rules = settings.strategy.threshold_rules
    dpd = pd.to_numeric(table[schema.DAYS_PAST_DUE], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    secured = (
        pd.to_numeric(table[schema.COLLATERAL_VALUE], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        > 0
    )
    no_prior_legal = (table[schema.LEGAL_ACTION_TAKEN] == schema.YES_NO[1]).to_numpy(dtype=np.bool_)
    critical = risk_score > rules.legal_risk
    actions: npt.NDArray[np.str_] = np.select(
        [
            critical & secured & no_prior_legal & (dpd >= rules.legal_min_days_past_due),
            critical,
            risk_score > rules.offer_risk,
            risk_score > rules.call_risk,
        ],
        ["legal", "agency", "restructure", "call"],
        "reminder",
    )
    return actions


def obey_guardrails(
    actions: npt.ArrayLike, allowed: pd.DataFrame, fallbacks: Mapping[str, str] = FALLBACKS
) -> npt.NDArray[np.str_]:
    """A rule's actions with every forbidden one replaced along its fallback chain.

    Baselines obey the same regulatory guardrails as the learned policy: where the rule's
    action is not allowed, it takes the catalogue's fallback (legal -> agency -> call ->
    reminder -> hold) until an allowed one (hold always is). Vectorised: one pass per link.
    """
    names, codes = _obeyed_codes(actions, allowed, fallbacks)
    obeyed: npt.NDArray[np.str_] = np.asarray(names, dtype=np.str_)[codes]
    return obeyed


def _obeyed_codes(
    actions: npt.ArrayLike | pd.Series, allowed: pd.DataFrame, fallbacks: Mapping[str, str]
) -> tuple[list[str], IntArray]:
    """:func:`obey_guardrails` on integer codes: the names and each loan's code among them.

    The names are the mask's columns, hold, then any other name of the fallback chain; an
    action among none of them is held (it has no allowed column and no fallback).
    """
    columns = [str(column) for column in allowed.columns]
    names = list(dict.fromkeys([*columns, HOLD, *fallbacks, *fallbacks.values()]))
    hold = names.index(HOLD)
    codes = label_codes(actions, names)
    codes[codes < 0] = hold
    mask = np.zeros((len(allowed), len(names)), dtype=np.bool_)
    mask[:, : len(columns)] = allowed.to_numpy(dtype=np.bool_)
    mask[:, hold] = True
    following = np.asarray(
        [names.index(fallbacks[name]) if name in fallbacks else hold for name in names],
        dtype=np.int64,
    )
    rows = np.arange(len(codes))
    for _ in range(len(fallbacks) + 2):
        ok = mask[rows, codes]
        if ok.all():
            break
        codes = np.where(ok, codes, following[codes])
    return names, codes


def _risk_array(
    risk_score: pd.Series | FloatArray | Sequence[float], index: pd.Index
) -> FloatArray:
    if isinstance(risk_score, pd.Series):
        if not risk_score.index.equals(index):
            raise SchemaError(f"risk scores must have the table's index ({len(index)} loans).")
        risk = risk_score.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        risk = np.asarray(risk_score, dtype=np.float64).reshape(-1)
    if len(risk) != len(index):
        raise SchemaError(f"need one risk score per loan ({len(index)}); got {len(risk)}.")
    return risk


def policy_actions(
    name: str,
    *,
    table: pd.DataFrame,
    risk_score: pd.Series | FloatArray | Sequence[float],
    values: pd.DataFrame,
    allowed: pd.DataFrame,
    settings: Settings,
    random_state: int = 0,
    learned: pd.Series | None = None,
    bau: npt.ArrayLike | None = None,
) -> pd.Series:
    """One arm name per loan under the named policy (:data:`POLICY_NAMES`).

    - ``learned``: ``learned`` when given (the plan's safe choice), else the best allowed
      action by ``values`` (uplift over hold), hold when none is positive.
    - ``bau``: the lender's current rule: ``bau`` when given (a rule reconstructed from
      history), else the simulated lender's rule (``settings.simulator.logging_rule``).
    - ``threshold-rules``: :func:`threshold_rules_actions`.
    - ``random``: uniform over the arms each loan is allowed, seeded by ``random_state``.
    - ``all-<arm>``: that arm for every loan.

    Every rule obeys the guardrails through :func:`obey_guardrails`: baselines are what a
    lender could lawfully do today.
    """
    if name not in POLICY_NAMES:
        raise ConfigError(f"unknown policy {name!r}; valid policies are {list(POLICY_NAMES)}.")
    if not values.index.equals(table.index):
        raise SchemaError(f"values must have the table's index ({len(table)} loans).")
    index = table.index
    if name == LEARNED:
        if learned is not None:
            return learned.astype(str).set_axis(index).rename(name)
        positive = allowed & (values > 0)
        actions = best_allowed(values, positive).to_numpy(dtype=np.str_)
        return pd.Series(actions, index=index, name=name, dtype="str")
    proposed: npt.ArrayLike | pd.Series
    if name == BAU:
        if bau is not None:
            proposed = bau if isinstance(bau, pd.Series) else np.asarray(bau, dtype=np.str_)
        else:
            proposed = rule_of_thumb_actions(table, settings.simulator.logging_rule)
    elif name == THRESHOLD_RULES:
        proposed = threshold_rules_actions(table, _risk_array(risk_score, index), settings)
    elif name == RANDOM:
        names = np.asarray([HOLD, *(str(column) for column in values.columns)], dtype=np.str_)
        mask = np.column_stack([np.ones(len(index), dtype=np.bool_), allowed.to_numpy(bool)])
        rng = np.random.default_rng(random_state)
        keys = np.where(mask, rng.random(mask.shape), -1.0)
        proposed = names[np.argmax(keys, axis=1)]
    else:
        proposed = np.full(len(index), name.removeprefix(ALL_PREFIX))
    labels, codes = _obeyed_codes(proposed, allowed, FALLBACKS)
    return label_series(labels, codes, index, name)
