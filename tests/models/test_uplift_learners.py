"""Uplift learners (DR and X): the plan's fraction frame, determinism, the plug-in
fallback, input checks, and recovery of a known effect under confounded logging."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from loan_recovery.config import OutcomeSettings, Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.exceptions import ModelError, TrainingDataError
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.outcomes import logged_actions, recovered_fraction
from loan_recovery.models.uplift_learners import (
    UPLIFT_LEARNERS,
    DRLearner,
    EffectParams,
    XLearner,
    make_uplift_learner,
)
from loan_recovery.simulation.portfolio import simulate_portfolio

HISTORY_LOANS, HISTORY_SEED = 4_000, 401
#: Fewer, faster trees in both stages keep the module to a few seconds.
FAST_EFFECT = EffectParams(n_estimators=100, learning_rate=0.1, early_stopping_rounds=15)


class History(NamedTuple):
    X: pd.DataFrame
    actions: np.ndarray
    fraction: np.ndarray
    propensity: np.ndarray


@pytest.fixture(scope="module")
def fast_settings(settings: Settings) -> OutcomeSettings:
    """Faster trees; a support floor that a 4,000-loan history's folds clear for most arms
    (the default 200 wants ~10,000 loans, and a prior has no effect to learn)."""
    return settings.strategy.outcomes.model_copy(
        update={
            "n_estimators": 120,
            "learning_rate": 0.1,
            "early_stopping_rounds": 15,
            "min_effective_sample_size": 50,
        }
    )


@pytest.fixture(scope="module")
def history(settings: Settings) -> History:
    portfolio = simulate_portfolio(HISTORY_LOANS, HISTORY_SEED, settings=settings)
    table = validate_frame(portfolio.loans, settings=settings, require_label=True).table
    return History(
        X=risk_design_matrix(table, settings.risk),
        actions=logged_actions(table, settings.actions),
        fraction=recovered_fraction(table, settings.strategy.outcomes),
        propensity=table[schema.ACTION_PROPENSITY].to_numpy(dtype=np.float64),
    )


def _learner(name: str, settings: OutcomeSettings, seed: int = 0) -> DRLearner | XLearner:
    return make_uplift_learner(name, settings, effect=FAST_EFFECT, random_state=seed)


@pytest.fixture(scope="module")
def fitted(fast_settings: OutcomeSettings, history: History) -> dict[str, DRLearner | XLearner]:
    return {
        name: _learner(name, fast_settings).fit(
            history.X, history.actions, history.fraction, history.propensity
        )
        for name in UPLIFT_LEARNERS
    }


@pytest.mark.parametrize("name", UPLIFT_LEARNERS)
def test_predicts_a_fraction_in_unit_interval_for_every_arm(
    name: str, fitted: dict[str, DRLearner | XLearner], history: History
) -> None:
    """Fits on a simulated history; expects the plan's frame: every arm, hold included."""
    learner = fitted[name]
    fractions = learner.predict_fractions(history.X)
    assert list(fractions.columns) == list(schema.ARM_NAMES)
    assert fractions.index.equals(history.X.index)
    values = fractions.to_numpy()
    assert np.isfinite(values).all()
    assert values.min() >= 0.0
    assert values.max() <= 1.0
    # Hold is mu_0 itself; each arm is mu_0 plus its effect, before clipping.
    hold = learner.outcome_model_.predict_fractions(history.X)[schema.HOLD]
    np.testing.assert_allclose(fractions[schema.HOLD], hold)
    effects = learner.predict_effects(history.X)
    np.testing.assert_allclose(
        fractions.to_numpy(), np.clip(effects.to_numpy() + hold.to_numpy()[:, None], 0, 1)
    )
    assert learner.modelled_, "no arm learned an effect on 4,000 loans"
    # Not a copy of the plug-in: the effect stage moved at least one arm.
    mu = learner.outcome_model_.predict_fractions(history.X)
    moved = [
        arm
        for arm in learner.modelled_
        if not np.allclose(effects[arm], mu[arm] - mu[schema.HOLD], atol=1e-6)
    ]
    assert moved


@pytest.mark.parametrize("name", UPLIFT_LEARNERS)
def test_fit_is_deterministic_given_the_seed(
    name: str,
    fitted: dict[str, DRLearner | XLearner],
    fast_settings: OutcomeSettings,
    history: History,
) -> None:
    """Refits a clone with the same seed, then another seed; same answer only for the first."""
    first = fitted[name].predict_fractions(history.X)
    again = clone(fitted[name]).fit(
        history.X, history.actions, history.fraction, history.propensity
    )
    pd.testing.assert_frame_equal(again.predict_fractions(history.X), first)
    other = _learner(name, fast_settings, seed=1).fit(
        history.X, history.actions, history.fraction, history.propensity
    )
    assert not np.allclose(other.predict_fractions(history.X).to_numpy(), first.to_numpy())


# --- a toy world with a known effect ------------------------------------------------------
TOY_ROWS, TOY_EFFECT = 4_000, 0.10


class Toy(NamedTuple):
    X: pd.DataFrame
    actions: np.ndarray
    fraction: np.ndarray
    propensity: np.ndarray


def _toy(seed: int) -> Toy:
    """Hold or treat, logged by a policy that treats good loans more often.

    The untreated fraction rises with x0 and so does the chance of treatment, so the
    naive treated-minus-held gap overstates the constant effect ``TOY_EFFECT`` (by about
    0.1 here); fractions stay inside [0, 1] unclipped, so the effect is exact.
    """
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(TOY_ROWS, 3))
    chance = np.clip(1.0 / (1.0 + np.exp(-2.0 * features[:, 0])), 0.1, 0.9)
    treated = rng.random(TOY_ROWS) < chance
    base = 0.2 + 0.5 / (1.0 + np.exp(-2.0 * features[:, 0])) + rng.uniform(-0.1, 0.1, TOY_ROWS)
    return Toy(
        X=pd.DataFrame(features.astype(np.float32), columns=["x0", "x1", "x2"]),
        actions=np.where(treated, "treat", schema.HOLD),
        fraction=base + TOY_EFFECT * treated,
        propensity=np.where(treated, chance, 1.0 - chance),
    )


@pytest.fixture(scope="module")
def toy() -> Toy:
    return _toy(7)


@pytest.mark.parametrize("name", UPLIFT_LEARNERS)
def test_recovers_a_constant_effect_despite_confounding(
    name: str, fast_settings: OutcomeSettings, toy: Toy
) -> None:
    """Confounded toy history; expects the effect within 0.02 where the naive gap is 0.05+ off."""
    treated = toy.actions == "treat"
    naive = toy.fraction[treated].mean() - toy.fraction[~treated].mean()
    assert naive - TOY_EFFECT > 0.05  # the test has teeth: ignoring confounding fails it
    learner = make_uplift_learner(
        name, fast_settings, actions=(schema.HOLD, "treat"), effect=FAST_EFFECT, random_state=0
    ).fit(toy.X, toy.actions, toy.fraction, toy.propensity)
    effect = learner.predict_effects(toy.X)["treat"].to_numpy()
    assert abs(effect.mean() - TOY_EFFECT) < 0.02
    assert np.sqrt(np.mean((effect - TOY_EFFECT) ** 2)) < 0.04
    assert abs(learner.average_effect_["treat"] - TOY_EFFECT) < 0.02


def test_dr_corrects_a_biased_outcome_model(fast_settings: OutcomeSettings, toy: Toy) -> None:
    """Outcome models cut to one tiny tree (a constant per arm: the naive gap); expects the
    DR learner to find the effect all the same from the known propensities."""
    crippled = fast_settings.model_copy(
        update={"n_estimators": 1, "learning_rate": 0.01, "early_stopping_rounds": 1}
    )
    learner = DRLearner(
        settings=crippled, actions=(schema.HOLD, "treat"), nuisance="t-naive", effect=FAST_EFFECT
    ).fit(toy.X, toy.actions, toy.fraction, toy.propensity)
    mu = learner.outcome_model_.predict_fractions(toy.X)
    plug_in = (mu["treat"] - mu[schema.HOLD]).to_numpy()
    assert abs(plug_in.mean() - TOY_EFFECT) > 0.15  # the outcome models alone are far off
    effect = learner.predict_effects(toy.X)["treat"].to_numpy()
    assert abs(effect.mean() - TOY_EFFECT) < 0.03
    assert np.sqrt(np.mean((effect - TOY_EFFECT) ** 2)) < 0.05


def test_arm_without_support_keeps_the_plug_in(fast_settings: OutcomeSettings, toy: Toy) -> None:
    """An arm never logged, and the treated arm barred from every loan; expects both to
    skip the effect stage and keep the outcome model's plug-in effect."""
    learner = DRLearner(
        settings=fast_settings, actions=(schema.HOLD, "treat", "never"), effect=FAST_EFFECT
    )
    barred = pd.DataFrame({"treat": np.zeros(TOY_ROWS, dtype=bool)}, index=toy.X.index)
    learner.fit(toy.X, toy.actions, toy.fraction, toy.propensity, eligible=barred)
    assert learner.modelled_ == ()
    mu = learner.outcome_model_.predict_fractions(toy.X)
    effects = learner.predict_effects(toy.X)
    for arm in ("treat", "never"):
        np.testing.assert_allclose(effects[arm], mu[arm] - mu[schema.HOLD])
    # The arm nobody took holds its conservative prior, whatever the loan.
    assert learner.predict_fractions(toy.X)["never"].nunique() == 1


def test_bad_inputs_are_refused(fast_settings: OutcomeSettings, toy: Toy) -> None:
    """No hold arm, a mis-sized eligibility mask, an unknown nuisance; expects clear errors."""
    with pytest.raises(ModelError, match="hold"):
        DRLearner(settings=fast_settings, actions=("treat", "other")).fit(
            toy.X, toy.actions, toy.fraction, toy.propensity
        )
    with pytest.raises(TrainingDataError, match="eligible"):
        XLearner(settings=fast_settings, actions=(schema.HOLD, "treat")).fit(
            toy.X,
            toy.actions,
            toy.fraction,
            toy.propensity,
            eligible=pd.DataFrame({"treat": [True]}),
        )
    with pytest.raises(ModelError, match="nuisance"):
        DRLearner(settings=fast_settings, actions=(schema.HOLD, "treat"), nuisance="magic").fit(
            toy.X, toy.actions, toy.fraction, toy.propensity
        )
    with pytest.raises(ModelError, match="uplift learner"):
        make_uplift_learner("r", fast_settings)
