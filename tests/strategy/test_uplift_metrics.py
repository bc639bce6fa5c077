"""Uplift curve, AUUC and Qini on rankings whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from loan_recovery.strategy.uplift_metrics import (
    UpliftMetricError,
    auuc,
    qini_coefficient,
    uplift_curve,
)


def test_uplift_curve_sums_true_uplift_in_predicted_order() -> None:
    """Gives four loans; expects cumulative true uplift at 0, 25, ..., 100% targeted."""
    predicted = np.array([0.1, 0.9, 0.5, 0.3])
    true = np.array([1.0, 4.0, -2.0, 3.0])
    share, curve = uplift_curve(predicted, true, n_points=5)
    np.testing.assert_allclose(share, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve, [0.0, 4.0, 2.0, 5.0, 6.0])


def test_uplift_curve_breaks_ties_by_row_order() -> None:
    """Gives tied predictions; expects the earlier row targeted first."""
    _, curve = uplift_curve([1.0, 1.0, 0.0], [5.0, 7.0, 1.0], n_points=4)
    np.testing.assert_allclose(curve, [0.0, 5.0, 12.0, 13.0])


def test_uplift_curve_ends_at_the_total_uplift() -> None:
    """Gives any ranking; expects 0 at the start, the total at the end, 101 points."""
    rng = np.random.default_rng(0)
    true = rng.normal(size=1_000)
    share, curve = uplift_curve(rng.normal(size=1_000), true)
    assert share.shape == curve.shape == (101,)
    assert curve[0] == 0.0
    assert curve[-1] == pytest.approx(true.sum())


def test_auuc_is_one_for_the_perfect_ranking_and_any_monotone_transform() -> None:
    """Gives predictions ranked like the truth (rescaled); expects exactly 1."""
    true = np.random.default_rng(1).normal(size=500)
    assert auuc(true, true) == pytest.approx(1.0)
    assert auuc(3.0 * true + 7.0, true) == pytest.approx(1.0)
    assert auuc(np.exp(true), true) == pytest.approx(1.0)


def test_auuc_is_minus_one_for_the_reversed_ranking_of_symmetric_uplift() -> None:
    """Gives reversed rankings; expects -1 for symmetric uplift and clearly negative for skewed."""
    true = np.linspace(-1.0, 3.0, 401)
    assert auuc(-true, true) == pytest.approx(-1.0)
    skewed = np.random.default_rng(2).exponential(size=400)
    assert auuc(-skewed, skewed) < -0.5


def test_auuc_is_zero_for_constant_predictions_whatever_the_row_order() -> None:
    """Gives a constant prediction on sorted uplift; expects 0 (ties are averaged)."""
    true = np.sort(np.random.default_rng(3).normal(size=300))[::-1]
    assert auuc(np.zeros(300), true) == pytest.approx(0.0, abs=1e-12)


def test_auuc_is_near_zero_for_random_predictions() -> None:
    """Gives random scores over 20 seeds; expects a mean AUUC near 0."""
    rng = np.random.default_rng(4)
    true = rng.normal(1.0, 1.0, 1_000)
    values = [auuc(rng.normal(size=1_000), true) for _ in range(20)]
    assert abs(float(np.mean(values))) < 0.1


def test_auuc_orders_better_models_higher() -> None:
    """Gives the truth plus growing noise; expects the AUUC to fall as the noise grows."""
    rng = np.random.default_rng(5)
    true = rng.normal(size=5_000)
    noise = rng.normal(size=5_000)
    scores = [auuc(true + scale * noise, true) for scale in (0.1, 1.0, 10.0)]
    assert scores[0] > scores[1] > scores[2] > 0


def test_auuc_is_nan_when_there_is_nothing_to_rank() -> None:
    """Gives equal true uplift everywhere; expects NaN."""
    assert np.isnan(auuc([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]))


def _trial(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A randomised trial: effect, treated flag, binary outcome with base rate 0.3."""
    effect = rng.uniform(-0.1, 0.5, n)
    treated = rng.random(n) < 0.5
    outcome = (rng.random(n) < 0.3 + treated * effect).astype(np.float64)
    return effect, treated, outcome


def test_qini_matches_a_hand_computed_example() -> None:
    """Gives four loans, two treated; expects the area between the curve and the diagonal.

    Ranked: T(1), C(0), T(0), C(1). Q(k) = 1, 1, 1 - 0 x 2/1 = 1, 1 - 1 x 2/2 = 0, so the
    curve Q/4 is 0, 1/4, 1/4, 1/4, 0 at shares 0..1 and the random line is 0: area 3/16.
    """
    predicted = np.array([4.0, 3.0, 2.0, 1.0])
    treated = np.array([True, False, True, False])
    outcome = np.array([1.0, 0.0, 0.0, 1.0])
    assert qini_coefficient(predicted, outcome, treated) == pytest.approx(3 / 16)


def test_qini_ranks_the_true_effect_above_random_and_reversed() -> None:
    """Gives a simulated trial; expects true effect > 0, random ~ 0, reversed < 0."""
    rng = np.random.default_rng(6)
    effect, treated, outcome = _trial(rng, 20_000)
    good = qini_coefficient(effect, outcome, treated)
    random = qini_coefficient(rng.normal(size=effect.size), outcome, treated)
    reversed_ = qini_coefficient(-effect, outcome, treated)
    assert good > 0.02
    assert reversed_ < -0.02
    assert abs(random) < good / 3
    assert qini_coefficient(np.zeros(effect.size), outcome, treated) == pytest.approx(
        0.0, abs=1e-12
    )


def test_qini_accepts_continuous_outcomes_and_integer_flags() -> None:
    """Gives amounts recovered and 0/1 treatment; expects the same sign as the binary case."""
    rng = np.random.default_rng(7)
    effect, treated, _ = _trial(rng, 5_000)
    amount = rng.gamma(2.0, 100.0, effect.size) * (1 + treated * effect)
    assert qini_coefficient(effect, amount, treated.astype(np.int64)) > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: uplift_curve([1.0, 2.0], [1.0]), "differ in length"),
        (lambda: uplift_curve([], []), "non-empty"),
        (lambda: uplift_curve([1.0], [1.0], n_points=1), "n_points must be >= 2"),
        (lambda: auuc([np.nan, 1.0], [1.0, 2.0]), "predicted must be finite"),
        (lambda: qini_coefficient([1.0, 2.0], [1.0, 0.0], [True, True]), "both treated"),
        (lambda: qini_coefficient([1.0, 2.0], [1.0, 0.0], [0, 2]), "only 0/1"),
        (lambda: qini_coefficient([1.0, 2.0], [1.0, 0.0], [True]), "boolean array of length 2"),
    ],
)
def test_metrics_reject_bad_input(call: object, message: str) -> None:
    """Gives mismatched, empty or non-finite input; expects an UpliftMetricError."""
    with pytest.raises(UpliftMetricError, match=message):
        call()  # type: ignore[operator]
