"""The policy the safety test scores is the policy the plan deploys.

The held-out test approves a set of departures by the doubly robust gain of the policy
that departs only there; that is worth something only if the plan, given those
approvals, chooses exactly the same arm for every loan (including falling back to a
second-best approved arm, or keeping BAU's action at a non-positive predicted uplift).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import DisplaySettings, Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.money import MoneyFormat
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.plan import policy_choice, value_actions
from loan_recovery.strategy.policy import LEARNED
from loan_recovery.strategy.safe import N_CELLS, SafeDeviations, checks_frame, support_cells
from loan_recovery.strategy.safety import (
    KEPT_VALUE,
    PolicySafety,
    kept_values,
    restricted_candidates,
    safe_decision,
)

ARMS = schema.ARM_NAMES


def _book(settings: Settings, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A validated simulated book, neutral risk scores and random predicted fractions."""
    loans = simulate_portfolio(600, seed, settings=settings).loans
    table = validate_frame(loans, settings=settings, require_label=True).table
    rng = np.random.default_rng(seed)
    fractions = pd.DataFrame(rng.uniform(0.0, 1.0, (len(table), len(ARMS))), columns=ARMS)
    scores = pd.DataFrame({schema.RISK_SCORE: rng.uniform(0, 1, len(table))})
    return table, scores.set_axis(table.index), fractions.set_axis(table.index)


@pytest.mark.parametrize("seed", range(4))
def test_safe_decision_equals_the_plans_learned_choice(settings: Settings, seed: int) -> None:
    """Gives random approvals (hold among them in some cells) over a simulated book;
    expects safe_decision on the unrestricted candidates to equal the plan's learned arm,
    and its values to be the plan's decision values."""
    table, scores, fractions = _book(settings, seed)
    rng = np.random.default_rng(100 + seed)
    approved_mask = rng.random((N_CELLS, len(ARMS))) < 0.3
    approved = tuple(
        (int(cell), int(arm)) for cell, arm in zip(*np.nonzero(approved_mask), strict=True)
    )
    deviations = SafeDeviations(
        n_cells=N_CELLS, n_actions=len(ARMS), approved=approved, report=pd.DataFrame()
    )
    safety = PolicySafety(deviations=deviations)
    planned = value_actions(table, scores, fractions, settings, safety=safety)
    unrestricted = value_actions(table, scores, fractions, settings)
    candidates = unrestricted.guard.allowed & (unrestricted.uplift > settings.strategy.min_uplift)
    decision = safe_decision(
        unrestricted.uplift.to_numpy(dtype=np.float64),
        candidates.to_numpy(dtype=np.bool_),
        np.asarray(unrestricted.uplift.columns, dtype=object),
        planned.bau.to_numpy(dtype=object),
        approved_mask[support_cells(table)],
    )
    chosen = decision.actions
    expected = policy_choice(LEARNED, table, planned, settings).to_numpy(dtype=object)
    np.testing.assert_array_equal(chosen, expected)
    np.testing.assert_array_equal(
        decision.values, planned.decision_uplift.to_numpy(dtype=np.float64)
    )
    departs = chosen != planned.bau.to_numpy(dtype=object)
    assert 0 < departs.sum() < len(table)


def test_kept_values_lift_only_kept_actions_at_or_below_the_floor() -> None:
    """Gives uplifts around KEPT_VALUE; expects only allowed entries at or below it raised."""
    uplift = np.array([[-5.0, 0.5, 3.0], [2.0, -1.0, KEPT_VALUE]])
    allowed = np.array([[True, False, True], [True, True, True]])
    np.testing.assert_array_equal(
        kept_values(uplift, allowed),
        [[KEPT_VALUE, 0.5, 3.0], [2.0, KEPT_VALUE, KEPT_VALUE]],
    )


def test_restricted_candidates_keep_bau_unless_hold_is_approved() -> None:
    """Gives two loans x three actions; expects approved candidates kept, BAU's action kept
    (even when not a candidate) unless hold is approved in the cell, the rest dropped."""
    candidates = np.array([[True, True, False], [True, False, False]])
    approved = np.array([[True, False, False], [False, False, False]])
    is_bau = np.array([[False, False, True], [False, True, False]])
    kept = restricted_candidates(candidates, approved, is_bau, np.array([[False], [False]]))
    np.testing.assert_array_equal(kept, [[True, False, True], [False, True, False]])
    hold_ok = restricted_candidates(candidates, approved, is_bau, np.array([[True], [True]]))
    np.testing.assert_array_equal(hold_ok, [[True, False, False], [False, False, False]])


def _safety(approved: tuple[tuple[int, int], ...], checks: list[dict[str, object]]) -> PolicySafety:
    deviations = SafeDeviations(
        n_cells=N_CELLS,
        n_actions=len(ARMS),
        approved=approved,
        report=pd.DataFrame(),
        checks=checks_frame(checks),
    )
    return PolicySafety(deviations=deviations)


def test_summary_names_the_departures_and_the_held_out_gain() -> None:
    """Gives two approved actions in one cell and a chosen held-out check; expects them
    named, with the gain and its bound in rupees; with none, that the policy is BAU's."""
    check = {"threshold": 1.0, "pairs": 2, "mean_gain": 1234.4, "lower_bound": 56.0}
    safety = _safety(((11, 2), (11, 6)), [check | {"chosen": True}])
    assert safety.departures() == [
        {"cell": "31-60 DPD, secured, high burden", "action": "call"},
        {"cell": "31-60 DPD, secured, high burden", "action": "agency"},
    ]
    assert safety.held_out_check() == {"mean_gain": 1234.4, "lower_bound": 56.0}
    text = safety.summary(MoneyFormat(DisplaySettings()))
    assert "2 action(s) in 1 of 24 loan groups" in text
    assert "add ₹1,234 per loan (lower bound ₹56)" in text
    none = _safety((), [check | {"chosen": False}])
    assert none.held_out_check() is None
    assert "follows the rule" in none.summary(MoneyFormat(DisplaySettings()))
