"""Planning on uplift over leaving a loan alone, on a hand-made book of three loans.

Each loan owes 100,000; its predicted recovered fractions are set by hand, so every
number below is worked out from DESIGN's decision economics at the default 9% cost of
funds, DF(t) = 1.09 ** (-t / 365):

* value(a) = fraction(a) x 100,000 x (1 - share(a)) x DF(days(a)) - fixed(a)
* value(hold) = fraction(hold) x 100,000 x DF(30)
* uplift(a) = value(a) - value(hold)

Loan A (45 DPD, unsecured) gains most from a settlement; loan B (current) loses on every
action, so it is left alone; loan C (120 DPD, secured, never sued) gains most from legal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.plan import (
    ActionValues,
    PlanResult,
    plan_loans,
    policy_choice,
    value_actions,
)

OUTSTANDING = 100_000.0
ARMS = list(schema.ARM_NAMES)
FRACTIONS = pd.DataFrame(
    [
        # hold, reminder, call, restructure, settlement, legal, agency
        [0.30, 0.35, 0.50, 0.30, 0.55, 0.60, 0.50],  # A: 45 DPD
        [0.90, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85],  # B: current, would pay anyway
        [0.10, 0.10, 0.15, 0.20, 0.45, 0.70, 0.40],  # C: 120 DPD, secured NPA
    ],
    columns=ARMS,
)


def _df(days: float) -> float:
    return float(1.09 ** (-days / 365))


#: Values worked by hand (see the module docstring).
HOLD_VALUE = [30_000 * _df(30), 90_000 * _df(30), 10_000 * _df(30)]
A_VALUES = {
    "reminder": 35_000 * _df(15) - 50,
    "call": 50_000 * _df(30) - 600,
    "restructure": 30_000 * _df(60) - 4_000,
    "settlement": 55_000 * _df(45) - 2_000,
    "legal": 60_000 * 0.95 * _df(540) - 25_000,
    "agency": 50_000 * 0.85 * _df(90) - 3_000,
}
C_LEGAL = 70_000 * 0.95 * _df(540) - 25_000
C_AGENCY = 40_000 * 0.85 * _df(90) - 3_000


def _book() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The three loans and their scores (risk 0.4, 0.1 and 0.8)."""
    table = pd.DataFrame(
        {
            schema.LOAN_ID: ["LN-A", "LN-B", "LN-C"],
            schema.DAYS_PAST_DUE: [45, 0, 120],
            schema.COLLATERAL_VALUE: [0.0, 0.0, 200_000.0],
            schema.OUTSTANDING_LOAN_AMOUNT: [OUTSTANDING] * 3,
            schema.LEGAL_ACTION_TAKEN: ["No"] * 3,
            schema.COLLECTION_ATTEMPTS: [2, 0, 6],
            schema.MONTHLY_EMI: [10_000.0] * 3,
            schema.MONTHLY_INCOME: [50_000.0] * 3,
        }
    )
    scores = pd.DataFrame(
        {
            schema.RISK_SCORE: [0.4, 0.1, 0.8],
            schema.RISK_BAND: ["Medium", "Low", "Very High"],
            schema.SEGMENT_NAME: ["s1", "s2", "s3"],
        }
    )
    return table, scores


def _values(settings: Settings) -> ActionValues:
    table, scores = _book()
    return value_actions(table, scores, FRACTIONS, settings)


def _plan(settings: Settings, **kwargs: object) -> PlanResult:
    table, _ = _book()
    return plan_loans(
        table,
        None,  # type: ignore[arg-type]  # the inputs are given: no model is needed
        settings,
        inputs=_values(settings),
        **kwargs,  # type: ignore[arg-type]
    )


def test_hold_value_is_the_hold_fraction_discounted_over_30_days(settings: Settings) -> None:
    """Expects value_if_left_alone = fraction(hold) x outstanding x DF(30): 29,788.26,
    89,364.77 and 9,929.42."""
    inputs = _values(settings)
    np.testing.assert_allclose(inputs.hold_value, HOLD_VALUE, rtol=1e-12)
    np.testing.assert_allclose(inputs.hold_value, [29_788.258, 89_364.774, 9_929.419], atol=1e-3)


def test_uplift_is_value_minus_hold_value(settings: Settings) -> None:
    """Expects each action's discounted value as worked by hand and its uplift the value
    less the loan's hold value (loan A: settlement +22,630.48, call +19,258.84,
    restructure -4,210.25)."""
    inputs = _values(settings)
    assert list(inputs.values.columns) == list(schema.ACTION_NAMES)
    for action, value in A_VALUES.items():
        assert inputs.values.loc[0, action] == pytest.approx(value, rel=1e-12), action
        assert inputs.uplift.loc[0, action] == pytest.approx(value - HOLD_VALUE[0], rel=1e-9)
    np.testing.assert_allclose(
        inputs.uplift.to_numpy(),
        inputs.values.to_numpy() - np.asarray(HOLD_VALUE)[:, None],
        rtol=1e-12,
    )
    assert inputs.uplift.loc[0, "settlement"] == pytest.approx(22_630.479, abs=1e-3)
    assert inputs.uplift.loc[0, "call"] == pytest.approx(19_258.839, abs=1e-3)
    assert inputs.uplift.loc[0, "restructure"] == pytest.approx(-4_210.248, abs=1e-3)
    assert inputs.uplift.loc[2, "legal"] == pytest.approx(C_LEGAL - HOLD_VALUE[2], rel=1e-9)
    assert (inputs.uplift.loc[1] < 0).all()  # B loses on every action


def test_candidates_are_allowed_actions_of_positive_uplift(settings: Settings) -> None:
    """Expects legal only on the NPA, no settlement below the 50% floor, no reminder alone
    on an NPA, and no action that does not beat leaving the loan alone."""
    inputs = _values(settings)
    candidates = inputs.candidates
    assert candidates.loc[0].to_dict() == {
        "reminder": True,
        "call": True,
        "restructure": False,  # uplift < 0
        "settlement": True,
        "legal": False,  # 45 DPD: not an NPA
        "agency": True,
    }
    assert not candidates.loc[1].any()  # nothing pays on B
    assert candidates.loc[2].to_dict() == {
        "reminder": False,  # NPA: never a reminder alone
        "call": True,
        "restructure": True,
        "settlement": False,  # 45% < the 50% floor
        "legal": True,
        "agency": True,
    }
    assert inputs.bau.tolist() == ["call", HOLD, "legal"]


def test_plan_recommends_the_largest_uplift_and_holds_when_nothing_pays(
    settings: Settings,
) -> None:
    """Expects settlement on A, hold on B (priority 0, no uplift, worth its hold value)
    and legal on C, ordered by priority = uplift."""
    worklist = _plan(settings).worklist.set_index(schema.LOAN_ID)
    assert worklist[schema.RECOMMENDED_ACTION].to_dict() == {
        "LN-A": "settlement",
        "LN-B": HOLD,
        "LN-C": "legal",
    }
    a_uplift = A_VALUES["settlement"] - HOLD_VALUE[0]
    c_uplift = C_LEGAL - HOLD_VALUE[2]
    np.testing.assert_allclose(
        worklist.loc[["LN-A", "LN-B", "LN-C"], schema.PRIORITY], [a_uplift, 0.0, c_uplift]
    )
    np.testing.assert_allclose(
        worklist.loc[["LN-A", "LN-B", "LN-C"], schema.EXPECTED_UPLIFT], [a_uplift, 0.0, c_uplift]
    )
    held = worklist.loc["LN-B"]
    assert held[schema.VALUE_IF_LEFT_ALONE] == pytest.approx(HOLD_VALUE[1])
    assert held[schema.EXPECTED_NET_RECOVERY] == pytest.approx(HOLD_VALUE[1])
    assert held[schema.EXPECTED_COST] == 0.0
    assert held[schema.EXPECTED_RECOVERED] == pytest.approx(90_000.0)
    assert worklist.loc["LN-A", schema.EXPECTED_NET_RECOVERY] == pytest.approx(
        A_VALUES["settlement"]
    )
    assert worklist.loc["LN-A", schema.UPLIFT_VS_BASELINE] == pytest.approx(
        A_VALUES["settlement"] - A_VALUES["call"]
    )
    assert _plan(settings).worklist[schema.LOAN_ID].tolist() == ["LN-C", "LN-A", "LN-B"]
    assert policy_choice("learned", _book()[0], _values(settings), settings).tolist() == [
        "settlement",
        HOLD,
        "legal",
    ]


def test_plan_totals_add_up_over_hold(settings: Settings) -> None:
    """Expects the plan's net = hold values + uplifts, and value if all left alone = the
    hold values."""
    totals = _plan(settings).totals()
    assert totals["value_if_all_left_alone"] == pytest.approx(sum(HOLD_VALUE))
    uplift = (A_VALUES["settlement"] - HOLD_VALUE[0]) + (C_LEGAL - HOLD_VALUE[2])
    assert totals["incremental_net"] == pytest.approx(uplift)
    assert totals["expected_net"] == pytest.approx(sum(HOLD_VALUE) + uplift)


@pytest.mark.parametrize(
    ("min_uplift", "expected"),
    [
        (0.0, ["settlement", HOLD, "legal"]),
        (23_000.0, [HOLD, HOLD, "legal"]),  # A's best adds 22,630: not enough
        (25_000.0, [HOLD, HOLD, HOLD]),  # C's legal adds 23,610: nothing clears the bar
    ],
)
def test_min_uplift_holds_loans_whose_best_action_adds_too_little(
    min_uplift: float, expected: list[str]
) -> None:
    """Raises strategy.min_uplift; expects hold (priority 0) where no allowed action adds
    more than it over leaving the loan alone."""
    settings = load_settings(strategy={"min_uplift": min_uplift})
    worklist = _plan(settings).worklist.set_index(schema.LOAN_ID)
    got = worklist.loc[["LN-A", "LN-B", "LN-C"], schema.RECOMMENDED_ACTION].tolist()
    assert got == expected
    held = worklist[schema.RECOMMENDED_ACTION] == HOLD
    assert (worklist.loc[held, schema.PRIORITY] == 0.0).all()
    assert (worklist.loc[held, schema.EXPECTED_UPLIFT] == 0.0).all()


def test_capacity_moves_a_loan_to_its_next_best_uplift(settings: Settings) -> None:
    """Gives no legal slot; expects C moved to agency (uplift 20,355.73 over hold)."""
    worklist = _plan(settings, capacity={"legal": 0}).worklist.set_index(schema.LOAN_ID)
    assert worklist.loc["LN-C", schema.RECOMMENDED_ACTION] == "agency"
    assert worklist.loc["LN-C", schema.EXPECTED_UPLIFT] == pytest.approx(
        C_AGENCY - HOLD_VALUE[2], rel=1e-9
    )
    assert worklist.loc["LN-C", schema.EXPECTED_UPLIFT] == pytest.approx(20_355.727, abs=1e-3)
    assert worklist.loc["LN-B", schema.RECOMMENDED_ACTION] == HOLD


def test_worklist_carries_every_value_and_uplift(settings: Settings) -> None:
    """Expects value_<action> and uplift_<action> per action, no expected_net_<action>."""
    worklist = _plan(settings).worklist.set_index(schema.LOAN_ID)
    for action in schema.ACTION_NAMES:
        assert worklist.loc["LN-A", schema.value_column(action)] == pytest.approx(A_VALUES[action])
        assert worklist.loc["LN-A", schema.uplift_column(action)] == pytest.approx(
            A_VALUES[action] - HOLD_VALUE[0]
        )
    retired = {f"expected_net_{action}" for action in schema.ACTION_NAMES}
    assert not retired & set(worklist.columns)


def test_departures_give_way_to_bau_when_an_action_is_full() -> None:
    """Gives one call slot, BAU calling loan 0 and two loans departing to call; expects the
    departures reverted to BAU's reminder, smallest predicted gain first, and BAU's own
    caller kept."""
    from loan_recovery.strategy.plan import departure_gain, revert_departures

    uplift = pd.DataFrame({"reminder": [10.0, 50.0, 50.0, 0.0], "call": [100.0, 90.0, 60.0, 0.0]})
    chosen = np.array(["call", "call", "call", "hold"], dtype=object)
    bau = np.array(["call", "reminder", "reminder", "hold"], dtype=object)
    gain = departure_gain(chosen, bau, uplift)
    assert gain.tolist() == [0.0, 40.0, 10.0, 0.0]
    kept = revert_departures(chosen, bau, gain, {"call": 2})
    assert kept.tolist() == ["call", "call", "reminder", "hold"]
    strict = revert_departures(chosen, bau, gain, {"call": 1})
    assert strict.tolist() == ["call", "reminder", "reminder", "hold"]
    # The same decision on integer codes (a streamed book's compact table).
    codes = revert_departures(np.array([1, 1, 1, -1]), np.array([1, 0, 0, -1]), gain, {1: 1})
    assert codes.tolist() == [1, 0, 0, -1]
