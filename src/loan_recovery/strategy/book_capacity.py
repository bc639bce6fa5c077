"""Capacity and a budget across a book planned in batches, from a compact table of choices.

Capacity and a budget couple every loan of a book, so a streamed plan cannot decide a
batch on its own. It keeps, for every loan the learned policy would work, a few numbers
(24 bytes a loan): the action the safe policy picked, BAU's action, their decision values
and costs. After the last batch the book's assignment is solved on that table alone, as
:func:`loan_recovery.strategy.plan.learned_capacity_plan` solves it in memory:

1. Departures from BAU may only use slots BAU leaves free: over a full action, the
   departures of smallest predicted gain go back to BAU's action first (the same
   :func:`revert_departures`).
2. Each loan then has one option (its action, or hold), so the linear programme separates:
   a capped action takes its ``slots`` loans of highest value; with a budget, the loans
   compete at value minus ``price`` x cost, and the budget's price is found by bisection
   (the Lagrangian dual; the cost of the loans taken falls as the price rises). The loans
   taken meet every limit exactly.
3. The shadow prices are those of the last loan left out: a capped action's price is the
   best priced value among the loans it could not take (0 when it has room), the budget's
   the bisection's price. They price each loan's ``priority`` as in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.plan import ActionValues, pick_arm, revert_departures
from loan_recovery.strategy.policy import best_allowed

HOLD_CODE = -1
#: Bisection steps for the budget's price: 2**-60 of the starting bracket.
_PRICE_STEPS = 60

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BookAssignment:
    """The book's final action per kept row (:data:`HOLD_CODE` for hold) and the prices."""

    rows: IntArray
    codes: npt.NDArray[np.int8]
    prices: dict[str, float]
    objective: float


@dataclass
class BookChoices:
    """The compact table of a streamed book's learned choices, batch after batch."""

    names: tuple[str, ...]
    _parts: list[dict[str, npt.NDArray[np.generic]]] = field(default_factory=list)
    _rows: int = 0

    def add(self, inputs: ActionValues, order: npt.NDArray[np.intp]) -> None:
        """Keep the batch's loans the safe policy works, in written (worklist) ``order``."""
        decision = inputs.decision_uplift.iloc[order]
        chosen = best_allowed(decision, inputs.candidates.iloc[order]).to_numpy(dtype=object)
        bau = inputs.bau.iloc[order].to_numpy(dtype=object)
        codes, bau_codes = self._codes(chosen), self._codes(bau)
        keep = np.flatnonzero(codes != HOLD_CODE)
        values = decision.to_numpy(dtype=np.float64)[keep]
        costs = inputs.costs[list(self.names)].iloc[order].to_numpy(dtype=np.float64)[keep]
        self._parts.append(
            {
                "row": (self._rows + keep).astype(np.int64),
                "code": codes[keep],
                "bau": bau_codes[keep],
                "value": _at(values, codes[keep]),
                "bau_value": _at(values, bau_codes[keep]),
                "cost": _at(costs, codes[keep]),
                "bau_cost": _at(costs, bau_codes[keep]),
            }
        )
        self._rows += len(order)

    def extend(self, other: BookChoices) -> None:
        """Append a later batch's choices (its rows follow this table's)."""
        for part in other._parts:
            self._parts.append({**part, "row": part["row"] + self._rows})
        self._rows += other._rows

    def _codes(self, labels: npt.NDArray[np.object_]) -> npt.NDArray[np.int8]:
        codes = pd.Index([*self.names, HOLD]).get_indexer(pd.Index(labels))
        return np.where(codes == len(self.names), HOLD_CODE, codes).astype(np.int8)

    def solve(self, capacity: Mapping[str, int], budget: float | None) -> BookAssignment:
        """Every limit met: reverted departures, then the separable LP (see the module)."""
        if not self._parts:
            return BookAssignment(np.empty(0, np.int64), np.empty(0, np.int8), {}, 0.0)
        table = {key: np.concatenate([part[key] for part in self._parts]) for key in self._parts[0]}
        slots = {self.names.index(name): int(count) for name, count in capacity.items()}
        gain = table["value"] - table["bau_value"]
        codes = revert_departures(table["code"], table["bau"], gain, slots)
        back = codes != table["code"]
        value = np.where(back, table["bau_value"], table["value"])
        cost = np.where(back, table["bau_cost"], table["cost"])
        codes = np.where(value > 0, codes, HOLD_CODE).astype(np.int8)
        price = _budget_price(codes, value, cost, slots, budget)
        taken, prices = _take(codes, value - price * cost, slots)
        final = np.where(taken, codes, HOLD_CODE).astype(np.int8)
        named = {self.names[code]: prices[code] for code in slots}
        if budget is not None:
            named["budget"] = price
        return BookAssignment(table["row"], final, named, float(value[taken].sum()))


def arm_positions(codes: npt.NDArray[np.int8], actions: int) -> npt.NDArray[np.intp]:
    """Book codes as columns of n x ``actions`` matrices, hold as the column past the last
    (what :func:`pick_arm` and :func:`chosen_arm_columns` read)."""
    positions: npt.NDArray[np.intp] = np.where(codes == HOLD_CODE, actions, codes).astype(np.intp)
    return positions


def _at(matrix: FloatArray, codes: npt.NDArray[np.int8]) -> FloatArray:
    """matrix[i, codes[i]], 0 where the code is hold."""
    return pick_arm(matrix, arm_positions(codes, matrix.shape[1]))


def _take(
    codes: npt.NDArray[np.int8], reduced: FloatArray, slots: Mapping[int, int]
) -> tuple[npt.NDArray[np.bool_], dict[int, float]]:
    """Loans worked at these reduced values: positive, and within each capped action's
    slots by value (ties to the earlier row); each capped action's price is the best
    reduced value it left out."""
    taken = (codes != HOLD_CODE) & (reduced > 0)
    prices: dict[int, float] = {}
    for code, count in slots.items():
        members = np.flatnonzero(taken & (codes == code))
        prices[code] = 0.0
        if len(members) > count:
            ranked = members[np.argsort(-reduced[members], kind="stable")]
            taken[ranked[count:]] = False
            prices[code] = float(reduced[ranked[count]])
    return taken, prices


def _budget_price(
    codes: npt.NDArray[np.int8],
    value: FloatArray,
    cost: FloatArray,
    slots: Mapping[int, int],
    budget: float | None,
) -> float:
    """The least price per currency unit at which the loans taken fit the budget."""
    if budget is None:
        return 0.0

    def spent(price: float) -> float:
        taken, _ = _take(codes, value - price * cost, slots)
        return float(cost[taken].sum())

    if spent(0.0) <= budget:
        return 0.0
    costly = cost > 0
    high = float(np.max(value[costly] / cost[costly])) if costly.any() else 0.0
    low = 0.0
    for _ in range(_PRICE_STEPS):
        middle = (low + high) / 2.0
        if spent(middle) <= budget:
            high = middle
        else:
            low = middle
    return high
