"""Choosing actions: decide(), capacity plans (LP vs greedy, exact limits, shadow prices),
and every named policy on hand-made loans."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loan_recovery.actions import FALLBACKS
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.simulation.logging_policy import rule_of_thumb_actions
from loan_recovery.strategy import policy
from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.policy import (
    DECISION_COLUMNS,
    POLICY_NAMES,
    CapacityPlan,
    best_allowed,
    decide,
    greedy_with_capacity,
    obey_guardrails,
    optimise_with_capacity,
    policy_actions,
)

ACTIONS = list(schema.ACTION_NAMES)


def _frame(rows: list[dict[str, float]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _all_allowed(values: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(True, index=values.index, columns=values.columns)


# --- decide -----------------------------------------------------------------------------
def test_decide_known_answers() -> None:
    """Gives three loans with hand-picked values and masks; expects every column by hand."""
    columns = ["reminder", "call", "legal"]
    values = _frame(
        [
            {"reminder": 100.0, "call": 300.0, "legal": 900.0},  # legal not allowed
            {"reminder": -50.0, "call": -20.0, "legal": -500.0},  # all lose money
            {"reminder": 10.0, "call": 40.0, "legal": 70.0},  # only call allowed
        ],
        columns,
    )
    allowed = _frame(
        [
            {"reminder": True, "call": True, "legal": False},
            {"reminder": True, "call": True, "legal": True},
            {"reminder": False, "call": True, "legal": False},
        ],
        columns,
    ).astype(bool)
    baseline = pd.Series(["legal", "reminder", HOLD])
    decision = decide(values, allowed, baseline)
    assert list(decision.columns) == list(DECISION_COLUMNS)
    assert decision[schema.RECOMMENDED_ACTION].tolist() == ["call", "call", "call"]
    assert decision[schema.EXPECTED_NET_RECOVERY].tolist() == [300.0, -20.0, 40.0]
    assert decision[schema.NEXT_BEST_ACTION].iloc[0] == "reminder"
    assert decision[schema.NEXT_BEST_ACTION].iloc[1] == "reminder"
    assert pd.isna(decision[schema.NEXT_BEST_ACTION].iloc[2])
    assert decision[schema.UPLIFT_VS_NEXT_BEST].tolist() == [200.0, 30.0, 0.0]
    assert decision[schema.BASELINE_ACTION].tolist() == ["legal", "reminder", HOLD]
    # The baseline is valued as it acts: legal's 900 counts though the guardrails forbid it.
    assert decision[schema.UPLIFT_VS_BASELINE].tolist() == [-600.0, 30.0, 40.0]
    assert decision[schema.PRIORITY].tolist() == [300.0, 0.0, 40.0]


def test_decide_ties_go_to_the_action_listed_first() -> None:
    """Gives equal values; expects the first column (the cheaper action) and a zero margin."""
    values = _frame([{"reminder": 5.0, "call": 5.0}], ["reminder", "call"])
    decision = decide(values, _all_allowed(values), pd.Series(["call"]))
    assert decision[schema.RECOMMENDED_ACTION].iloc[0] == "reminder"
    assert decision[schema.UPLIFT_VS_NEXT_BEST].iloc[0] == 0.0


def test_decide_checks_inputs() -> None:
    """Gives an unknown baseline action, a misaligned mask and NaN values; expects errors."""
    values = _frame([{"reminder": 1.0, "call": 2.0}], ["reminder", "call"])
    with pytest.raises(SchemaError, match="teleport"):
        decide(values, _all_allowed(values), pd.Series(["teleport"]))
    with pytest.raises(SchemaError, match="allowed mask"):
        decide(values, _all_allowed(values)[["call"]], pd.Series(["call"]))
    with pytest.raises(SchemaError, match="finite"):
        decide(values.assign(call=np.nan), _all_allowed(values), pd.Series(["call"]))


# --- capacity ---------------------------------------------------------------------------
def _limits_respected(
    plan: CapacityPlan,
    allowed: pd.DataFrame,
    costs: pd.DataFrame,
    capacity: dict[str, int],
    budget: float | None,
) -> None:
    counts = plan.actions.value_counts()
    for action, slots in capacity.items():
        assert counts.get(action, 0) <= slots, action
    worked = plan.actions != HOLD
    codes = pd.Index(allowed.columns).get_indexer(pd.Index(plan.actions[worked]))
    rows = np.flatnonzero(worked.to_numpy())
    assert allowed.to_numpy()[rows, codes].all(), "assigned an action that is not allowed"
    spent = costs.to_numpy()[rows, codes].sum()
    assert plan.total_cost == pytest.approx(spent)
    if budget is not None:
        assert spent <= budget


def test_lp_beats_greedy_on_a_constructed_case() -> None:
    """Gives two loans that both want the one legal slot; expects the LP to give it to the
    loan that gains most from it (185) where the greedy worklist gets 100."""
    columns = ["call", "legal"]
    values = _frame([{"call": 90.0, "legal": 100.0}, {"call": 5.0, "legal": 95.0}], columns)
    costs = _frame([{"call": 1.0, "legal": 1.0}] * 2, columns)
    allowed = _all_allowed(values)
    greedy = greedy_with_capacity(values, allowed, costs, {"legal": 1})
    assert greedy.actions.tolist() == ["legal", HOLD]
    assert greedy.objective == pytest.approx(100.0)
    plan = optimise_with_capacity(values, allowed, costs, {"legal": 1})
    assert plan.status == "optimal"
    assert plan.actions.tolist() == ["call", "legal"]
    assert plan.objective == pytest.approx(185.0)
    assert plan.upper_bound == pytest.approx(185.0)
    assert plan.expected_net.tolist() == [90.0, 95.0]


def test_capacity_shadow_price_known_answer() -> None:
    """Gives two loans each gaining 10 from the single legal slot; expects a legal shadow
    price of 10 (one more slot is worth exactly 10, one fewer costs exactly 10)."""
    columns = ["call", "legal"]
    values = _frame([{"call": 90.0, "legal": 100.0}, {"call": 85.0, "legal": 95.0}], columns)
    costs = _frame([{"call": 0.0, "legal": 0.0}] * 2, columns)
    plan = optimise_with_capacity(values, _all_allowed(values), costs, {"legal": 1})
    assert plan.objective == pytest.approx(185.0)
    assert plan.shadow_prices == pytest.approx({"legal": 10.0})


def test_budget_shadow_price_and_conservative_rounding() -> None:
    """Gives two calls costing 100 each against a budget of 150; expects the LP to fund
    loan A and half of B (bound 130, 0.6 per currency unit), and the plan to hold B."""
    values = _frame([{"call": 100.0}, {"call": 60.0}], ["call"])
    costs = _frame([{"call": 100.0}, {"call": 100.0}], ["call"])
    plan = optimise_with_capacity(values, _all_allowed(values), costs, {}, budget=150.0)
    assert plan.upper_bound == pytest.approx(130.0)
    assert plan.shadow_prices == pytest.approx({"budget": 0.6})
    assert plan.actions.tolist() == ["call", HOLD]
    assert plan.rounded_loans == 1
    assert plan.total_cost == pytest.approx(100.0)


def test_split_loan_is_refilled_where_room_remains() -> None:
    """Gives a loan the LP splits and a cheaper second action that fits; expects the loan
    re-placed on that action rather than held."""
    columns = ["reminder", "call"]
    values = _frame([{"reminder": 1.0, "call": 100.0}, {"reminder": 30.0, "call": 60.0}], columns)
    costs = _frame([{"reminder": 10.0, "call": 100.0}, {"reminder": 10.0, "call": 100.0}], columns)
    budget = 150.0
    plan = optimise_with_capacity(values, _all_allowed(values), costs, {}, budget=budget)
    _limits_respected(plan, _all_allowed(values), costs, {}, budget)
    assert plan.actions.tolist() == ["call", "reminder"]
    assert plan.objective == pytest.approx(130.0)


def _random_book(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    outstanding = rng.lognormal(11, 1, n)
    fractions = rng.beta(2, 3, (n, 6))
    fixed = np.array([50, 600, 4_000, 2_000, 25_000, 3_000.0])
    share = np.array([0, 0, 0, 0, 0.05, 0.15])
    recovered = fractions * outstanding[:, None]
    values = pd.DataFrame(recovered * (1 - share) - fixed, columns=ACTIONS)
    costs = pd.DataFrame(fixed + share * recovered, columns=ACTIONS)
    allowed = pd.DataFrame(rng.random((n, 6)) < 0.8, columns=ACTIONS)
    return values, allowed, costs


@pytest.mark.parametrize("with_budget", [False, True])
def test_capacity_respected_exactly_on_5k_loans(with_budget: bool) -> None:
    """Gives 5,000 random loans, tight legal/call/agency capacities and maybe a budget;
    expects every limit and the guardrails respected, and a plan between greedy and the
    LP bound (equal to it without a budget: the capacity LP is integral)."""
    values, allowed, costs = _random_book(1, 5_000)
    capacity = {"legal": 60, "call": 700, "agency": 300}  # each below what loans want
    budget = float(costs.to_numpy().mean()) * 5_000 * 0.2 if with_budget else None
    plan = optimise_with_capacity(values, allowed, costs, capacity, budget)
    assert plan.status == "optimal"
    _limits_respected(plan, allowed, costs, capacity, budget)
    greedy = greedy_with_capacity(values, allowed, costs, capacity, budget)
    _limits_respected(greedy, allowed, costs, capacity, budget)
    assert plan.objective > greedy.objective
    assert plan.objective <= plan.upper_bound + 1e-6 * abs(plan.upper_bound)
    if budget is not None:
        assert plan.total_cost <= budget
        assert set(plan.shadow_prices) == {"legal", "call", "agency", "budget"}
        assert plan.shadow_prices["budget"] > 0
    else:
        assert plan.counts() | capacity == plan.counts()  # every capacity used up exactly
        assert plan.rounded_loans == 0
        assert plan.objective == pytest.approx(plan.upper_bound, rel=1e-9)
    assert all(price >= 0 for price in plan.shadow_prices.values())


@pytest.mark.parametrize("with_budget", [False, True])
@pytest.mark.parametrize(("sample", "free"), [(200, 150), (20, 20)])
def test_decomposition_matches_the_single_lp(
    monkeypatch: pytest.MonkeyPatch, with_budget: bool, sample: int, free: int
) -> None:
    """Gives 3,000 loans with the decomposition thresholds shrunk; expects the same LP
    optimum, plan value and budget price as one LP over every loan. A 20-loan sample gives
    poor prices, so fixed loans overflow the limits and go stale: the repair rounds run."""
    values, allowed, costs = _random_book(2, 3_000)
    capacity = {"legal": 100, "call": 400}
    budget = float(costs.to_numpy().mean()) * 3_000 * 0.15 if with_budget else None
    direct = optimise_with_capacity(values, allowed, costs, capacity, budget)
    monkeypatch.setattr(policy, "_DIRECT_LOANS", 400)
    monkeypatch.setattr(policy, "_SAMPLE_LOANS", sample)
    monkeypatch.setattr(policy, "_FREE_LOANS", free)
    decomposed = optimise_with_capacity(values, allowed, costs, capacity, budget)
    assert decomposed.status == "optimal"
    assert decomposed.upper_bound == pytest.approx(direct.upper_bound, rel=1e-9)
    assert decomposed.objective == pytest.approx(direct.objective, rel=1e-6)
    _limits_respected(decomposed, allowed, costs, capacity, budget)
    if with_budget:
        assert decomposed.shadow_prices["budget"] == pytest.approx(
            direct.shadow_prices["budget"], rel=1e-6
        )


def test_no_limits_is_each_loans_best_positive_action() -> None:
    """Gives no capacity and no budget; expects the best positive action, hold otherwise."""
    values = _frame(
        [{"reminder": 5.0, "call": 7.0}, {"reminder": -1.0, "call": -2.0}], ["reminder", "call"]
    )
    plan = optimise_with_capacity(values, _all_allowed(values), values.abs(), {})
    assert plan.actions.tolist() == ["call", HOLD]
    assert plan.objective == plan.upper_bound == 7.0


def test_zero_capacity_is_never_assigned() -> None:
    """Gives a legal capacity of 0; expects no legal in the plan."""
    values, allowed, costs = _random_book(3, 500)
    plan = optimise_with_capacity(values, allowed, costs, {"legal": 0})
    assert "legal" not in plan.counts()


def test_capacity_inputs_are_checked() -> None:
    """Gives an unknown action, fractional slots and a negative budget; expects ConfigErrors."""
    values, allowed, costs = _random_book(4, 10)
    with pytest.raises(ConfigError, match="teleport"):
        optimise_with_capacity(values, allowed, costs, {"teleport": 1})
    with pytest.raises(ConfigError, match="whole number"):
        optimise_with_capacity(values, allowed, costs, {"legal": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="budget"):
        optimise_with_capacity(values, allowed, costs, {}, budget=-1.0)
    with pytest.raises(SchemaError, match="costs"):
        optimise_with_capacity(values, allowed, -costs, {"legal": 1})


def test_solver_failure_falls_back_to_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gives a solver that fails; expects the greedy plan, limits respected, status saying so."""
    values, allowed, costs = _random_book(5, 300)

    def failing(*args: Any, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(status=4, x=None, message="numerical difficulties")

    monkeypatch.setattr(policy, "linprog", failing)
    plan = optimise_with_capacity(values, allowed, costs, {"legal": 5}, budget=1e5)
    assert plan.status.startswith("solver failed (numerical difficulties)")
    _limits_respected(plan, allowed, costs, {"legal": 5}, 1e5)


# --- named policies ---------------------------------------------------------------------
def _policy_table() -> tuple[pd.DataFrame, pd.Series]:
    """Loans chosen so each threshold-rules and BAU branch fires, with the band edges."""
    rows: list[dict[str, Any]] = [
        # risk, DPD, EMI (income 50,000), collateral, legal before
        {"risk": 0.80, "dpd": 120, "emi": 10_000, "collateral": 1e5, "legal": "No"},
        {"risk": 0.80, "dpd": 45, "emi": 10_000, "collateral": 0.0, "legal": "No"},
        {"risk": 0.70, "dpd": 75, "emi": 30_000, "collateral": 0.0, "legal": "No"},
        {"risk": 0.70, "dpd": 75, "emi": 10_000, "collateral": 0.0, "legal": "No"},
        {"risk": 0.50, "dpd": 10, "emi": 10_000, "collateral": 0.0, "legal": "No"},
        {"risk": 0.20, "dpd": 120, "emi": 10_000, "collateral": 0.0, "legal": "Yes"},
        {"risk": 0.72, "dpd": 120, "emi": 30_000, "collateral": 1e5, "legal": "Yes"},
        {"risk": 0.80, "dpd": 90, "emi": 10_000, "collateral": 1e5, "legal": "No"},
        {"risk": 0.65, "dpd": 0, "emi": 10_000, "collateral": 0.0, "legal": "No"},
        {"risk": 0.32, "dpd": 91, "emi": 10_000, "collateral": 1e5, "legal": "No"},
    ]
    table = pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: [row["dpd"] for row in rows],
            schema.MONTHLY_EMI: [float(row["emi"]) for row in rows],
            schema.MONTHLY_INCOME: [50_000.0] * len(rows),
            schema.COLLATERAL_VALUE: [row["collateral"] for row in rows],
            schema.LEGAL_ACTION_TAKEN: [row["legal"] for row in rows],
        }
    )
    return table, pd.Series([row["risk"] for row in rows])


N_POLICY_LOANS = len(_policy_table()[0])


def _run(name: str, settings: Settings, **kwargs: Any) -> list[str]:
    table, risk = _policy_table()
    values = kwargs.pop("values", pd.DataFrame(0.0, index=table.index, columns=ACTIONS))
    allowed = kwargs.pop("allowed", _all_allowed(values))
    actions = policy_actions(
        name,
        table=table,
        risk_score=risk,
        values=values,
        allowed=allowed,
        settings=settings,
        **kwargs,
    )
    assert actions.index.equals(table.index)
    return actions.tolist()


#: The original system's tiers on :func:`_policy_table`, by hand.
THRESHOLD_RULES_ANSWERS = [
    "legal",  # critical (0.80 > 0.72), secured, no prior legal, DPD 120 >= 91
    "agency",  # critical but DPD 45 and unsecured: no legal, agency
    "restructure",  # high (0.70 > 0.65): pre-litigation call with a restructure offer
    "restructure",  # high, whatever the burden
    "call",  # medium (0.50 > 0.32)
    "reminder",  # low (0.20)
    "restructure",  # risk 0.72 is not > 0.72: high, not critical
    "agency",  # critical and secured, but DPD 90 < 91: not yet an NPA
    "call",  # risk 0.65 is not > 0.65: medium
    "reminder",  # risk 0.32 is not > 0.32: low
]
#: The lender's DPD rule (business as usual) on :func:`_policy_table`, by hand.
BAU_ANSWERS = [
    "legal",  # DPD > 90, secured, never taken to court
    "call",  # DPD 31-60
    "restructure",  # DPD 61-90, EMI/income 0.6 > 0.45
    "settlement",  # DPD 61-90, EMI/income 0.2
    "reminder",  # DPD 1-30
    "agency",  # DPD > 90, unsecured
    "agency",  # DPD > 90, secured but taken to court before
    "settlement",  # DPD 90 is still the offer band
    HOLD,  # current: left alone
    "legal",  # DPD 91, secured, never taken to court
]


def test_threshold_rules_policy(settings: Settings) -> None:
    """Gives one loan per tier and each tier edge; expects the original system's tiers."""
    assert _run("threshold-rules", settings) == THRESHOLD_RULES_ANSWERS


def test_bau_policy_is_the_simulators_rule_of_thumb(settings: Settings) -> None:
    """Gives the same loans; expects the logging rule's DPD bands, by hand and by reuse."""
    table, _ = _policy_table()
    assert _run("bau", settings) == BAU_ANSWERS
    assert rule_of_thumb_actions(table, settings.simulator.logging_rule).tolist() == BAU_ANSWERS


def test_bau_policy_takes_a_reconstructed_rule(settings: Settings) -> None:
    """Gives BAU actions reconstructed from history; expects them, forbidden ones falling
    back along the catalogue (legal -> agency)."""
    given = ["call"] * (N_POLICY_LOANS - 1) + ["legal"]
    values = pd.DataFrame(0.0, index=range(N_POLICY_LOANS), columns=ACTIONS)
    allowed = _all_allowed(values)
    assert _run("bau", settings, bau=given) == given
    allowed.loc[N_POLICY_LOANS - 1, "legal"] = False
    assert _run("bau", settings, bau=given, allowed=allowed)[-1] == "agency"


@pytest.mark.parametrize("arm", schema.ARM_NAMES)
def test_all_arm_policies(settings: Settings, arm: str) -> None:
    """Gives loans where every action is allowed; expects the one arm for all of them."""
    assert _run(f"all-{arm}", settings) == [arm] * N_POLICY_LOANS


def test_baselines_obey_the_guardrails(settings: Settings) -> None:
    """Forbids legal everywhere and agency on the first loan; expects all-legal and
    threshold-rules to fall back (legal -> agency -> call) and BAU to do the same."""
    values = pd.DataFrame(0.0, index=range(N_POLICY_LOANS), columns=ACTIONS)
    allowed = _all_allowed(values)
    allowed["legal"] = False
    allowed.loc[0, "agency"] = False
    assert _run("all-legal", settings, allowed=allowed) == ["call"] + ["agency"] * (
        N_POLICY_LOANS - 1
    )
    rules = _run("threshold-rules", settings, allowed=allowed)
    assert rules == ["call", *THRESHOLD_RULES_ANSWERS[1:]]
    bau = _run("bau", settings, allowed=allowed)
    assert bau == ["call", *BAU_ANSWERS[1:-1], "agency"]


def test_obey_guardrails_follows_the_fallback_chain() -> None:
    """Gives one forbidden action per link of the catalogue's chain (legal -> agency ->
    call -> reminder -> hold; restructure and settlement -> call); expects the first
    allowed one down the chain, hold when none is, and allowed actions untouched."""
    assert FALLBACKS == {
        "reminder": HOLD,
        "call": "reminder",
        "restructure": "call",
        "settlement": "call",
        "legal": "agency",
        "agency": "call",
    }
    cases = [
        ("legal", set(ACTIONS), "legal"),
        ("legal", set(ACTIONS) - {"legal"}, "agency"),
        ("legal", {"reminder", "restructure"}, "reminder"),
        ("restructure", {"call", "settlement"}, "call"),
        ("settlement", {"restructure", "legal"}, HOLD),
        ("reminder", set(ACTIONS) - {"reminder"}, HOLD),
        ("call", {"reminder"}, "reminder"),
        (HOLD, set(), HOLD),
        ("agency", {"agency"}, "agency"),
    ]
    allowed = pd.DataFrame(
        [{action: action in ok for action in ACTIONS} for _, ok, _ in cases], columns=ACTIONS
    )
    got = obey_guardrails([proposed for proposed, _, _ in cases], allowed)
    assert got.tolist() == [expected for _, _, expected in cases]
    no_link = {"agency": "call"}  # legal has no fallback here
    custom = obey_guardrails(["legal"], allowed.iloc[[0]].reset_index(drop=True), no_link)
    assert custom.tolist() == ["legal"]  # allowed: untouched whatever the chain
    blocked = allowed.iloc[[2]].reset_index(drop=True)
    assert obey_guardrails(["legal"], blocked, {"legal": "restructure"}).tolist() == ["restructure"]
    assert obey_guardrails(["legal"], blocked, no_link).tolist() == [HOLD]


def test_random_policy_is_seeded_and_uniform_over_the_allowed_arms(settings: Settings) -> None:
    """Gives two seeds; expects reproducible draws, about 1/7 on each arm (hold included)
    where all six actions are allowed, 1/6 where legal is not, and never a forbidden one."""
    first = _run("random", settings, random_state=1)
    assert first == _run("random", settings, random_state=1)
    assert set(first) <= set(schema.ARM_NAMES)
    n = 12_000
    table = pd.DataFrame(index=range(n))
    values = pd.DataFrame(0.0, index=table.index, columns=ACTIONS)
    allowed = _all_allowed(values)
    half = table.index >= n // 2
    allowed.loc[half, "legal"] = False
    draws = policy_actions(
        "random",
        table=table,
        risk_score=np.zeros(n),
        values=values,
        allowed=allowed,
        settings=settings,
        random_state=3,
    )
    open_shares = draws[~half].value_counts(normalize=True)
    assert set(open_shares.index) == set(schema.ARM_NAMES)
    assert ((open_shares - 1 / 7).abs() < 0.03).all()
    closed_shares = draws[half].value_counts(normalize=True)
    assert set(closed_shares.index) == set(schema.ARM_NAMES) - {"legal"}
    assert ((closed_shares - 1 / 6).abs() < 0.03).all()


def test_learned_policy_respects_guardrails_and_holds_without_gain(settings: Settings) -> None:
    """Gives uplifts favouring legal where legal is removed; expects the best allowed action
    of positive uplift, hold where nothing is allowed or nothing adds value, and agreement
    with best_allowed() over the positive allowed actions."""
    table, _ = _policy_table()
    rng = np.random.default_rng(0)
    values = pd.DataFrame(rng.normal(0, 100, (len(table), 6)), columns=ACTIONS)
    values["legal"] = 1e6
    values.iloc[1] = -np.arange(1.0, 7.0)  # every action loses against leaving it alone
    allowed = _all_allowed(values)
    allowed["legal"] = False
    allowed.iloc[0] = False
    chosen = _run("learned", settings, values=values, allowed=allowed)
    assert chosen[0] == HOLD
    assert chosen[1] == HOLD
    assert "legal" not in chosen
    rest = values.drop(columns="legal")
    expected = [
        str(best) if top > 0 else HOLD
        for best, top in zip(rest.idxmax(axis=1), rest.max(axis=1), strict=True)
    ]
    assert chosen[2:] == expected[2:]
    assert chosen == best_allowed(values, allowed & (values > 0)).tolist()


def test_learned_policy_takes_the_plans_choice(settings: Settings) -> None:
    """Gives the plan's (safe) choice; expects it back unchanged, named learned."""
    given = pd.Series([HOLD, "call"] * (N_POLICY_LOANS // 2))
    assert _run("learned", settings, learned=given) == given.tolist()


def test_policy_names_and_unknown_policy(settings: Settings) -> None:
    """Gives the registry and a typo; expects every all-<arm> listed (hold included) and a
    ConfigError that lists the valid names."""
    assert (
        "learned",
        "bau",
        "threshold-rules",
        "random",
        *(f"all-{arm}" for arm in schema.ARM_NAMES),
    ) == POLICY_NAMES
    assert "dpd-rule" not in POLICY_NAMES
    with pytest.raises(ConfigError, match=r"unknown policy 'treshold-rules'.*'threshold-rules'"):
        _run("treshold-rules", settings)
