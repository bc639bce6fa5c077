"""What a trained version knows about the lender's rule and where it may safely depart.

:class:`PolicySafety` is fitted at training time, on the logged history, and saved with
the model version (JSON, no pickle). It holds:

* the BAU rule: ``None`` when the configured rule is used (``strategy.bau_source =
  "rule"``: the lender's documented rule, ``simulator.logging_rule``), or a shallow tree
  reconstructed from the history (``"history"``), printed as readable rules;
* the safe deviations (:mod:`loan_recovery.strategy.safe`): the (support cell, arm)
  pairs where the history logged the arm often enough and the departures passed the
  configured test of their doubly robust gain over BAU's choice. The test scores the
  choice the plan's own rule makes (:func:`safe_decision`, also after a capacity revert),
  on each history row's out-of-fold values: the deployed policy, judged on rows no model
  behind the judgement learned from.

The plan then lets the learned policy choose, per loan, only BAU's action or arms
approved in the loan's cell (:meth:`PolicySafety.restrict`), so the same restriction
holds for the greedy choice and the capacity LP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.actions import CAPACITY_LIMITED
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import IncompatibleModelError
from loan_recovery.money import MoneyFormat
from loan_recovery.strategy.bau import BauRule, fit_bau_rule
from loan_recovery.strategy.safe import (
    N_CELLS,
    Deploy,
    SafeDeviations,
    cell_labels,
    fit_safe_deviations,
    support_cells,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ARMS: tuple[str, ...] = schema.ARM_NAMES
SAFETY_FILE = "policy_safety.json"
_FORMAT = "loan_recovery.policy_safety/1"
#: The decision value of BAU's own action when it is kept although its predicted uplift is
#: at or below zero (the history never showed that leaving the loan alone is better): it
#: competes at the smallest positive value, one currency unit, so it keeps its slot.
KEPT_VALUE = 1.0


def restricted_candidates(
    candidates: npt.NDArray[np.bool_],
    approved: npt.NDArray[np.bool_],
    is_bau: npt.NDArray[np.bool_],
    hold_approved: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """Loans x actions the safe policy may choose: a candidate approved in the loan's cell,
    or BAU's own action (a candidate or not) unless leaving the loan alone is approved."""
    restricted: npt.NDArray[np.bool_] = (candidates & approved) | (
        is_bau & (candidates | ~hold_approved)
    )
    return restricted


def kept_values(
    uplift: npt.NDArray[np.float64], restricted: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """The safe policy's decision values: a kept action competes at least at KEPT_VALUE."""
    values: npt.NDArray[np.float64] = np.where(
        restricted & (uplift <= KEPT_VALUE), KEPT_VALUE, uplift
    )
    return values


@dataclass(frozen=True)
class PolicySafety:
    """The BAU rule (None: the configured one) and the approved departures from it.

    ``deviations`` hold for a plan without limits; ``capacity_deviations`` for a plan under
    capacity or a budget, tested at BAU's own capacity (None: the same as
    ``deviations``, as the ``pairs`` test and older versions have it).
    """

    deviations: SafeDeviations
    bau_rule: BauRule | None = None
    capacity_deviations: SafeDeviations | None = None

    def bau_actions(self, table: pd.DataFrame) -> npt.NDArray[np.str_] | None:
        """The reconstructed rule's arm per loan; None means "use the configured rule"."""
        if self.bau_rule is None:
            return None
        return np.asarray(self.bau_rule.predict(table), dtype=np.str_)

    def candidate_sets(
        self, table: pd.DataFrame, candidates: pd.DataFrame, bau: pd.Series
    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Candidates the learned policy may use: approved arms in the loan's cell, or BAU's;
        for a plan without limits, and under capacity or a budget (None: the same).

        BAU's own action stays a candidate unless leaving the loan alone is approved in
        the cell (then it must still clear the uplift minimum like any other arm).
        """
        cells = support_cells(table)
        columns = [str(column) for column in candidates.columns]
        arm_columns = [ARMS.index(column) for column in columns]
        is_bau = bau.to_numpy(dtype=object)[:, np.newaxis] == np.asarray(columns, dtype=object)
        mask = candidates.to_numpy(dtype=np.bool_)

        def restricted(deviations: SafeDeviations) -> pd.DataFrame:
            approved = deviations.allowed()[cells]
            kept = restricted_candidates(
                mask, approved[:, arm_columns], is_bau, approved[:, [ARMS.index(schema.HOLD)]]
            )
            return pd.DataFrame(kept, index=candidates.index, columns=candidates.columns)

        limited = None if self.capacity_deviations is None else restricted(self.capacity_deviations)
        return restricted(self.deviations), limited

    def approvals(self, *, limited: bool = False) -> SafeDeviations:
        """The departures approved for a plan without limits, or under them."""
        if limited and self.capacity_deviations is not None:
            return self.capacity_deviations
        return self.deviations

    def departures(self, *, limited: bool = False) -> list[dict[str, Any]]:
        """The approved departures, readable: ``{"cell", "action"}`` per (cell, arm) pair."""
        labels = cell_labels()
        return [
            {"cell": labels[cell], "action": ARMS[arm]}
            for cell, arm in self.approvals(limited=limited).approved
        ]

    def held_out_check(self, *, limited: bool = False) -> dict[str, float] | None:
        """The chosen set's held-out mean gain per history row and its lower bound (None:
        the ``pairs`` test, or no set passed)."""
        checks = self.approvals(limited=limited).checks
        chosen = checks[checks["chosen"]]
        if chosen.empty:
            return None
        row = chosen.iloc[0]
        return {"mean_gain": float(row["mean_gain"]), "lower_bound": float(row["lower_bound"])}

    def summary(self, money: MoneyFormat) -> str:
        """Two sentences for ``train``: where a plan without limits, and one under capacity
        or a budget, may leave the lender's rule, and what that adds on held-out history."""
        if self.capacity_deviations is None:
            return "Safe improvement: " + self._sentence(money, limited=False)
        return (
            f"Safe improvement without limits: {self._sentence(money, limited=False)} "
            f"Under capacity or a budget: {self._sentence(money, limited=True)}"
        )

    def _sentence(self, money: MoneyFormat, *, limited: bool) -> str:
        departures = self.departures(limited=limited)
        if not departures:
            return (
                "no departure from the lender's rule passed the test on this history, so "
                "the learned policy follows the rule."
            )
        cells = len({entry["cell"] for entry in departures})
        sentence = (
            f"the learned policy may leave the lender's rule with {len(departures)} "
            f"action(s) in {cells} of {N_CELLS} loan groups"
        )
        check = self.held_out_check(limited=limited)
        if check is None:
            return sentence + " (each departure tested alone)."
        return (
            sentence + f"; on held-out history they add {money.amount(check['mean_gain'])} "
            f"per loan (lower bound {money.amount(check['lower_bound'])})."
        )

    def rules_text(self) -> str:
        """The BAU rule as readable if/else lines (the configured rule says so)."""
        if self.bau_rule is None:
            return "the configured lender rule (simulator.logging_rule)"
        return self.bau_rule.rules_text()

    # --- persistence ------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "arms": list(ARMS),
            "deviations": self.deviations.to_json(),
            "capacity_deviations": (
                None if self.capacity_deviations is None else self.capacity_deviations.to_json()
            ),
            "bau_rule": None if self.bau_rule is None else self.bau_rule.to_json(),
        }

    def save(self, directory: Path) -> Path:
        path = Path(directory) / SAFETY_FILE
        path.write_text(json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n", "utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> PolicySafety | None:
        """The saved safety of a version; None when the version has none (older models)."""
        path = Path(directory) / SAFETY_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text("utf-8"))
            if data.get("format") != _FORMAT or tuple(data.get("arms", ())) != ARMS:
                raise IncompatibleModelError(
                    f"{path.name} has format {data.get('format')!r} over arms "
                    f"{data.get('arms')}; expected {_FORMAT!r} over {list(ARMS)}."
                )
            rule = data.get("bau_rule")
            capped = data.get("capacity_deviations")
            return cls(
                deviations=SafeDeviations.from_json(data["deviations"]),
                bau_rule=None if rule is None else BauRule.from_json(rule),
                capacity_deviations=None if capped is None else SafeDeviations.from_json(capped),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise IncompatibleModelError(
                f"{path} is not a readable policy safety: {error}."
            ) from error


def realised_net(table: pd.DataFrame, logged: npt.ArrayLike, settings: Settings) -> FloatArray:
    """What each logged arm actually brought in, on the plan's discounted basis."""
    from loan_recovery.finance import discount_factor

    arms = np.asarray(logged, dtype=object)
    economics = settings.economics
    lookup = {
        schema.HOLD: (0.0, 0.0, economics.hold_days_to_money),
        **{
            name: (config.fixed_cost, config.recovery_share, config.days_to_money)
            for name, config in settings.actions.items()
        },
    }
    codes, names = pd.factorize(pd.Series(arms))
    table_of = np.array([lookup[str(name)] for name in names], dtype=np.float64).reshape(-1, 3)
    fixed, share, days = table_of[codes].T
    amount = table[schema.AMOUNT_RECOVERED].to_numpy(dtype=np.float64)
    discount = discount_factor(days, economics.cost_of_funds)
    result: FloatArray = amount * (1.0 - share) * discount - fixed
    return result


def fit_policy_safety(
    table: pd.DataFrame,
    *,
    logged: npt.ArrayLike,
    propensity: npt.ArrayLike,
    uplift: pd.DataFrame,
    hold_value: pd.Series,
    candidates: pd.DataFrame,
    allowed: pd.DataFrame,
    settings: Settings,
    random_state: int = 0,
    scoring_values: npt.NDArray[np.float64] | None = None,
) -> PolicySafety:
    """Fit the BAU rule (when reconstructed) and the safe deviations on the history.

    ``uplift``/``hold_value``/``candidates``/``allowed`` are the plan's inputs on the
    history rows, from out-of-fold models when ``train`` cross-fits (the final model's
    proposals on rows it learned from flatter departures). ``scoring_values`` (n x arms
    in ``ARMS`` order) are the values the doubly robust gains are scored with:
    out-of-fold predictions, so no row is scored by a model that saw its outcome; default
    the plan's own values. Rows without
    ``Amount_Recovered`` cannot be scored and are left out of the test.
    """
    from loan_recovery.strategy.policy import BAU, obey_guardrails, policy_actions

    logged_arms = np.asarray(logged, dtype=object)
    bau_rule: BauRule | None = None
    if settings.strategy.bau_source == "history":
        bau_rule = fit_bau_rule(
            table,
            logged_arms,
            max_depth=settings.strategy.bau_tree_depth,
            random_state=random_state,
        )
        bau_names = obey_guardrails(bau_rule.predict(table), allowed)
    else:
        bau_names = policy_actions(
            BAU,
            table=table,
            risk_score=np.zeros(len(table)),
            values=uplift,
            allowed=allowed,
            settings=settings,
        ).to_numpy(dtype=np.str_)
    values = np.column_stack(
        [hold_value.to_numpy(dtype=np.float64), (uplift.add(hold_value, axis=0)).to_numpy()]
    )
    columns = [schema.HOLD, *(str(c) for c in uplift.columns)]
    order = [columns.index(arm) for arm in ARMS if arm in columns]
    predicted = values[:, order] if scoring_values is None else scoring_values
    action_names = np.asarray(uplift.columns, dtype=object)
    candidate_mask = candidates.to_numpy(dtype=np.bool_)
    uplift_matrix = uplift.to_numpy(dtype=np.float64)
    proposed_names = _best_names(uplift_matrix, candidate_mask, action_names)
    arm_index = pd.Index(ARMS)
    rewards = realised_net(table, logged_arms, settings)
    usable = np.isfinite(rewards)
    safe = settings.strategy.safe
    cells = support_cells(table)

    bau_array = np.asarray(bau_names, dtype=object)
    # BAU's own use of the capacity-limited actions on the history: the "same capacity"
    # the plan's departures must also pay under (departures into a full action go back).
    same_capacity = {action: int((bau_array == action).sum()) for action in CAPACITY_LIMITED}

    def codes_of(names: npt.NDArray[np.object_]) -> IntArray:
        codes: IntArray = arm_index.get_indexer(pd.Index(names))[usable].astype(np.int64)
        return codes

    def deploy(approved: npt.NDArray[np.bool_]) -> IntArray:
        """What the plan would choose on each usable history row under ``approved``."""
        return codes_of(
            safe_decision(
                uplift_matrix, candidate_mask, action_names, bau_array, approved[cells]
            ).actions
        )

    def deploy_at_bau_capacity(approved: npt.NDArray[np.bool_]) -> IntArray:
        """The same choice held to BAU's own capacity, as the capacity plan reverts it."""
        from loan_recovery.strategy.plan import departure_gain, revert_departures

        chosen, decision = safe_decision(
            uplift_matrix, candidate_mask, action_names, bau_array, approved[cells]
        )
        gain = departure_gain(chosen, bau_array, pd.DataFrame(decision, columns=uplift.columns))
        return codes_of(revert_departures(chosen, bau_array, gain, same_capacity))

    # The history's arrays are converted once and shared by both fits.
    on_history = partial(
        fit_safe_deviations,
        cells=cells[usable],
        proposed=codes_of(proposed_names),
        bau=codes_of(bau_array),
        logged=codes_of(logged_arms),
        propensity=np.asarray(propensity, dtype=np.float64)[usable],
        rewards=rewards[usable],
        predicted=predicted[usable],
    )

    def fit(*deploys: Deploy) -> SafeDeviations:
        return on_history(
            min_support=safe.min_support,
            confidence=safe.confidence,
            n_cells=N_CELLS,
            max_weight=safe.max_weight,
            test=safe.test,
            thresholds=safe.thresholds,
            deploys=deploys,
            random_state=random_state,
        )

    if safe.test == "pairs":  # each departure pays alone, whatever the plan's limits
        return PolicySafety(deviations=fit(), bau_rule=bau_rule)
    # A plan without limits deploys the approved departures as they are; one under
    # capacity sends departures into a full action back, so what is left must pay too.
    return PolicySafety(
        deviations=fit(deploy),
        bau_rule=bau_rule,
        capacity_deviations=fit(deploy_at_bau_capacity),
    )


class SafeDecision(NamedTuple):
    """The safe learned policy's arm per loan and the decision values it chose on."""

    actions: npt.NDArray[np.object_]
    values: npt.NDArray[np.float64]


def safe_decision(
    uplift: npt.NDArray[np.float64],
    candidates: npt.NDArray[np.bool_],
    actions: npt.NDArray[np.object_],
    bau: npt.ArrayLike,
    approved: npt.NDArray[np.bool_],
) -> SafeDecision:
    """The safe learned policy's choice per loan, as the plan makes it (no capacity).

    ``uplift`` and ``candidates`` are loans x ``actions`` (the plan's columns),
    ``approved`` loans x ``ARMS``: the approval mask of each loan's cell. The safety test
    scores this choice, so the rule it judges is the rule the plan deploys; ``values``
    are what a capacity revert ranks departures by.
    """
    arm_columns = pd.Index(ARMS).get_indexer(pd.Index(actions))
    is_bau = np.asarray(bau, dtype=object)[:, np.newaxis] == actions[np.newaxis, :]
    restricted = restricted_candidates(
        candidates, approved[:, arm_columns], is_bau, approved[:, [ARMS.index(schema.HOLD)]]
    )
    decision = kept_values(uplift, restricted)
    return SafeDecision(_best_names(decision, restricted, actions), decision)


def _best_names(
    values: npt.NDArray[np.float64],
    mask: npt.NDArray[np.bool_],
    names: npt.NDArray[np.object_],
) -> npt.NDArray[np.object_]:
    """Per row, the name of the masked column of highest value (first on ties); hold if none."""
    masked = np.where(mask, values, -np.inf)
    best = np.argmax(masked, axis=1)
    has_any = mask.any(axis=1)
    chosen: npt.NDArray[np.object_] = np.where(has_any, names[best], schema.HOLD)
    return chosen
