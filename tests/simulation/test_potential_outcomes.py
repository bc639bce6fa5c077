"""Potential outcomes: response shapes (hold included), horizons, discounted money and the
oracles, on hand-made drivers and the session's small portfolio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.finance import discount_factor
from loan_recovery.simulation import outcomes
from loan_recovery.simulation.outcomes import (
    ARMS,
    NOTHING_MEAN,
    Drivers,
    Responses,
    arm_economics,
    expected_fraction,
    expected_net,
    over_horizon,
    realised_fraction,
    responses,
    self_cure,
)
from loan_recovery.simulation.portfolio import SimulatedPortfolio
from loan_recovery.strategy.actions import ActionCatalogue

HOLD_AT = ARMS.index(schema.HOLD)
SETTLEMENT_AT = ARMS.index("settlement")
RESTRUCTURE_AT = ARMS.index("restructure")
LEGAL_AT = ARMS.index("legal")


def _drivers(n: int = 1, **overrides: float | list[float] | list[bool]) -> Drivers:
    """``n`` average borrowers (traits 0, reachable, 90 DPD), with some fields overridden."""
    fields: dict[str, object] = {
        "capacity": 0.0,
        "willingness": 0.0,
        "earning": 0.0,
        "forgetfulness": 0.0,
        "phone_reach": 0.8,
        "digital_reach": 0.7,
        "severity": np.sqrt(90 / 180),
        "current": 0.0,
        "coverage": 0.0,
        "strain": 0.0,
        "prior_legal": 0.0,
        "enforceable": False,
        "rate": 12.0,
        "remaining_months": 24.0,
    }
    fields.update(overrides)
    arrays = {
        name: np.broadcast_to(
            np.asarray(value, dtype=bool if name == "enforceable" else np.float64), (n,)
        ).copy()
        for name, value in fields.items()
    }
    return Drivers(**arrays)


def _uniform_responses(
    p_cure: float, p_partial: float, partial_mean: float, n: int = 1, cure_value: float = 1.0
) -> Responses:
    """The same mixture for every loan and arm."""
    shape = (n, len(ARMS))
    return Responses(
        p_cure=np.full(shape, p_cure),
        p_partial=np.full(shape, p_partial),
        partial_mean=np.full(shape, partial_mean),
        cure_value=np.full(shape, cure_value),
    )


# --- the arms ------------------------------------------------------------------------------
def test_arms_are_hold_then_the_catalogue() -> None:
    """Expects hold first, then the six actions in catalogue order."""
    assert ARMS == schema.ARM_NAMES == (schema.HOLD, *schema.ACTION_NAMES)
    assert HOLD_AT == 0


# --- money ---------------------------------------------------------------------------------
def test_arm_economics_of_the_default_catalogue(settings: Settings) -> None:
    """Expects hold to cost nothing, keep everything and pay in 30 days; the actions their
    configured costs, shares and days to money (15, 30, 60, 45, 540, 90) at 9%."""
    fixed, share, discount = arm_economics(settings)
    np.testing.assert_array_equal(fixed, [0.0, 50.0, 600.0, 4_000.0, 2_000.0, 25_000.0, 3_000.0])
    np.testing.assert_array_equal(share, [0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.15])
    np.testing.assert_allclose(
        discount, discount_factor([30, 15, 30, 60, 45, 540, 90], 0.09), rtol=1e-12
    )
    assert discount[HOLD_AT] == pytest.approx(1.09 ** (-30 / 365), rel=1e-12)


def test_expected_net_known_answers(settings: Settings) -> None:
    """Gives one loan of 100,000 with hand-picked fractions; expects the discounted values
    worked by hand: hold 30,000 x DF(30) = 29,788.26 at no cost, legal 57,000 x DF(540)
    - 25,000 = 25,176.94, agency 42,500 x DF(90) - 3,000 = 38,606.43."""
    fraction = np.array([[0.3, 0.1, 0.2, 0.5, 0.55, 0.6, 0.5]])
    net = expected_net(fraction, np.array([100_000.0]), settings)[0]
    assert net[HOLD_AT] == pytest.approx(29_788.258, abs=1e-3)
    assert net[LEGAL_AT] == pytest.approx(25_176.937, abs=1e-3)
    assert net[ARMS.index("agency")] == pytest.approx(38_606.432, abs=1e-3)
    assert net[ARMS.index("reminder")] == pytest.approx(10_000 * 1.09 ** (-15 / 365) - 50)


def test_expected_net_is_the_plans_formula(settings: Settings) -> None:
    """Gives random fractions and balances; expects the simulator's money to equal the
    plan's (ActionCatalogue.expected_net for actions, hold_value for hold) exactly."""
    rng = np.random.default_rng(5)
    fraction = rng.random((40, len(ARMS)))
    outstanding = rng.uniform(1.0, 2e6, 40)
    net = expected_net(fraction, outstanding, settings)
    catalogue = ActionCatalogue.from_settings(settings)
    frame = pd.DataFrame(fraction, columns=list(ARMS))
    np.testing.assert_allclose(
        net[:, 1:], catalogue.expected_net(frame[list(ARMS[1:])], outstanding), rtol=1e-12
    )
    np.testing.assert_allclose(
        net[:, HOLD_AT], catalogue.hold_value(frame, outstanding), rtol=1e-12
    )
    assert (net[:, HOLD_AT] >= 0).all()


def test_hold_value_moves_only_with_its_own_timing() -> None:
    """Gives dearer actions, then a 60-day hold; expects hold's value untouched by action
    costs and discounted over the configured days."""
    dearer = load_settings(actions={"reminder": {"fixed_cost": 5_000.0}})
    fraction = np.full((1, len(ARMS)), 0.5)
    base = expected_net(fraction, np.array([1_000.0]), load_settings())[0]
    assert expected_net(fraction, np.array([1_000.0]), dearer)[0][HOLD_AT] == base[HOLD_AT]
    slower = load_settings(economics={"hold_days_to_money": 60})
    assert expected_net(fraction, np.array([1_000.0]), slower)[0][HOLD_AT] == pytest.approx(
        500.0 * 1.09 ** (-60 / 365), rel=1e-12
    )


def test_a_missing_action_cost_is_a_config_error(settings: Settings) -> None:
    """Gives settings without agency; expects a ConfigError naming it."""
    actions = {name: config for name, config in settings.actions.items() if name != "agency"}
    partial = settings.model_copy(update={"actions": actions})
    with pytest.raises(ConfigError, match=r"\['agency'\]"):
        arm_economics(partial)


# --- mixtures and horizons -----------------------------------------------------------------
def test_expected_fraction_known_answers() -> None:
    """Cure 0.5, partial 0.3 at mean 0.4, nothing 0.2 at 3%: 0.5 + 0.12 + 0.006 = 0.626; a
    cure worth 0.8 (a restructure's schedule) gives 0.4 + 0.12 + 0.006 = 0.526."""
    np.testing.assert_allclose(expected_fraction(_uniform_responses(0.5, 0.3, 0.4)), 0.626)
    np.testing.assert_allclose(
        expected_fraction(_uniform_responses(0.5, 0.3, 0.4, cure_value=0.8)), 0.526
    )
    assert NOTHING_MEAN == 0.03


def test_over_horizon_known_answers() -> None:
    """Constant hazard: at 360 days a 0.5 cure chance becomes 0.75 and a 0.6 partial chance
    given no cure 0.84 (partial 0.25 x 0.84 = 0.21); at 90 days the cure is 1 - 0.5^0.5;
    at the calibration horizon nothing changes."""
    base = _uniform_responses(0.5, 0.3, 0.4)
    assert over_horizon(base, 180) is base
    longer = over_horizon(base, 360)
    np.testing.assert_allclose(longer.p_cure, 0.75)
    np.testing.assert_allclose(longer.p_partial, 0.25 * 0.84)
    np.testing.assert_array_equal(longer.partial_mean, base.partial_mean)
    shorter = over_horizon(base, 90)
    np.testing.assert_allclose(shorter.p_cure, 1 - np.sqrt(0.5))
    assert (expected_fraction(shorter) < expected_fraction(base)).all()
    assert (expected_fraction(base) < expected_fraction(longer)).all()


# --- response shapes -----------------------------------------------------------------------
def test_self_cure_known_answers() -> None:
    """An average current borrower stays current with chance sigmoid(0.1 + 2.2) = 0.909;
    an average one 180 days late cures alone with sigmoid(0.1 - 2.2) = 0.109."""
    current = _drivers(severity=0.0, current=1.0)
    late = _drivers(severity=1.0)
    assert self_cure(current)[0] == pytest.approx(1 / (1 + np.exp(-2.3)), rel=1e-12)
    assert self_cure(current)[0] == pytest.approx(0.909, abs=1e-3)
    assert self_cure(late)[0] == pytest.approx(0.109, abs=1e-3)


def test_hold_is_self_cure_and_every_action_but_settlement_adds_to_it(
    settings: Settings,
) -> None:
    """Gives 200 random borrowers; expects hold's cure chance = self-cure, every lifting
    action's >= it, settlement's <= it (accepting a discount replaces a cure), valid
    mixtures, and a cure worth 1 except under restructure (its schedule's value < 1)."""
    rng = np.random.default_rng(0)
    n = 200
    dpd = rng.integers(0, 400, n)
    coverage = rng.uniform(0, 2, n)
    drivers = _drivers(
        n,
        capacity=rng.normal(size=n).tolist(),
        willingness=rng.normal(size=n).tolist(),
        earning=rng.normal(size=n).tolist(),
        forgetfulness=rng.normal(size=n).tolist(),
        severity=np.sqrt(dpd / 180).tolist(),
        current=(dpd == 0).astype(float).tolist(),
        coverage=coverage.tolist(),
        strain=rng.random(n).tolist(),
        enforceable=((dpd > 90) & (coverage > 0.5)).tolist(),
    )
    shapes = responses(drivers, settings)
    np.testing.assert_allclose(shapes.p_cure[:, HOLD_AT], self_cure(drivers), rtol=1e-12)
    lifting = [i for i, arm in enumerate(ARMS) if arm not in (schema.HOLD, "settlement")]
    assert (shapes.p_cure[:, lifting] >= shapes.p_cure[:, [HOLD_AT]] - 1e-12).all()
    assert (shapes.p_cure[:, SETTLEMENT_AT] <= shapes.p_cure[:, HOLD_AT] + 1e-12).all()
    total = shapes.p_cure + shapes.p_partial
    assert ((shapes.p_cure >= 0) & (shapes.p_partial >= 0) & (total <= 1 + 1e-12)).all()
    others = [i for i in range(len(ARMS)) if i != RESTRUCTURE_AT]
    np.testing.assert_array_equal(shapes.cure_value[:, others], 1.0)
    restructure = shapes.cure_value[:, RESTRUCTURE_AT]
    assert ((restructure > 0.35) & (restructure < 1.0)).all()
    fractions = expected_fraction(shapes)
    assert ((fractions > 0) & (fractions < 1)).all()


def test_legal_enforces_collateral_only_on_secured_npas(settings: Settings) -> None:
    """Gives one enforceable loan (coverage 1.0) and one not; expects a partial recovery of
    75% of the collateral with chance 0.65 (given no cure) on the first, 20% with 0.15 on
    the second; a prior legal action halves the enforcement chance."""
    drivers = _drivers(2, coverage=[1.0, 1.0], enforceable=[True, False])
    shapes = responses(drivers, settings)
    no_cure = 1 - shapes.p_cure[:, LEGAL_AT]
    np.testing.assert_allclose(shapes.p_partial[:, LEGAL_AT], no_cure * [0.65, 0.15])
    np.testing.assert_allclose(shapes.partial_mean[:, LEGAL_AT], [0.75, 0.2])
    tried = responses(_drivers(1, coverage=1.0, enforceable=[True], prior_legal=1.0), settings)
    assert tried.p_partial[0, LEGAL_AT] == pytest.approx(
        (1 - tried.p_cure[0, LEGAL_AT]) * 0.325, rel=1e-12
    )


def test_realised_outcomes_share_one_draw_across_arms() -> None:
    """Gives the same mixture on every arm; expects each loan to cure, part-pay or pay
    nothing alike under every arm (common random numbers), cures worth the cure value,
    and the mean near the expected fraction."""
    shapes = _uniform_responses(0.5, 0.3, 0.4, n=40_000)
    draws = realised_fraction(np.random.default_rng(1), shapes)
    assert draws.shape == shapes.p_cure.shape
    assert ((draws >= 0) & (draws <= 1)).all()
    cured = draws == 1.0
    assert (cured == cured[:, [0]]).all()
    assert cured[:, 0].mean() == pytest.approx(0.5, abs=0.01)
    assert draws.mean() == pytest.approx(0.626, abs=0.005)


# --- the simulated truth -------------------------------------------------------------------
def test_truth_hold_net_is_discounted_fraction_at_no_cost(
    small_portfolio: SimulatedPortfolio, settings: Settings
) -> None:
    """Expects Expected_Net_Recovery_hold = fraction x outstanding x DF(30 days), >= 0,
    while actions can lose money (a 25,000 lawsuit on a small balance)."""
    truth, loans = small_portfolio.truth, small_portfolio.loans
    outstanding = loans[schema.OUTSTANDING_LOAN_AMOUNT]
    fraction = truth[schema.expected_fraction_column(schema.HOLD)]
    hold = truth[schema.expected_net_column(schema.HOLD)]
    np.testing.assert_allclose(hold, fraction * outstanding * 1.09 ** (-30 / 365), rtol=1e-9)
    assert (hold >= 0).all()
    assert (truth[schema.expected_net_column("legal")] < 0).any()
    assert settings.economics.hold_days_to_money == 30


def test_oracle_respects_the_catalogue_and_the_unconstrained_one_need_not(
    small_portfolio: SimulatedPortfolio,
) -> None:
    """Expects Oracle_Action never legal before 91 DPD (legal needs an NPA), while
    Oracle_Action_Unconstrained picks legal there for some loans, and never an oracle
    worth more than the unconstrained one."""
    truth, loans = small_portfolio.truth, small_portfolio.loans
    early = loans[schema.DAYS_PAST_DUE] <= 90
    assert not (truth.loc[early, schema.ORACLE_ACTION] == "legal").any()
    assert (truth.loc[early, schema.ORACLE_ACTION_UNCONSTRAINED] == "legal").any()
    assert (truth.loc[~early, schema.ORACLE_ACTION] == "legal").any()
    net = truth[[schema.expected_net_column(arm) for arm in ARMS]].to_numpy()
    position = {arm: i for i, arm in enumerate(ARMS)}
    rows = np.arange(len(truth))
    oracle = net[rows, truth[schema.ORACLE_ACTION].map(position).to_numpy()]
    free = net[rows, truth[schema.ORACLE_ACTION_UNCONSTRAINED].map(position).to_numpy()]
    np.testing.assert_array_equal(free, net.max(axis=1))
    assert (oracle <= free).all()
    assert (oracle >= net[:, HOLD_AT]).all()  # hold is always allowed


def test_module_constants_point_at_their_arms() -> None:
    """The hold and restructure columns the shapes write to are the named arms."""
    assert ARMS[outcomes.HOLD_COLUMN] == schema.HOLD
    assert ARMS[outcomes.RESTRUCTURE_COLUMN] == "restructure"
