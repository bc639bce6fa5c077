"""DR scores and paired bootstrap intervals on cases with a known answer."""

from __future__ import annotations

import time

import numpy as np
import pytest

from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.strategy.intervals import (
    IntervalError,
    PolicyInterval,
    bootstrap_totals,
    dr_scores,
)


def test_dr_scores_match_a_hand_computed_example() -> None:
    """Gives three rows, two actions; expects model value plus weighted residual on matches."""
    predicted = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rewards = np.array([10.0, 0.0, 7.0])
    logged = np.array([0, 1, 1])
    propensity = np.array([0.5, 0.25, 1.0])
    target = np.array([0, 0, 1])
    # row 0: match, 1 + (10 - 1) / 0.5 = 19; row 1: no match, 3; row 2: match, 6 + (7 - 6) = 7
    scores = dr_scores(rewards, logged, propensity, target, predicted)
    np.testing.assert_allclose(scores, [19.0, 3.0, 7.0])


def test_dr_scores_cap_the_inverse_propensity_weight() -> None:
    """Gives a 1% propensity match; expects the weight capped at max_weight."""
    scores = dr_scores([3.0], [0], [0.01], [0], [[1.0]], max_weight=50.0)
    np.testing.assert_allclose(scores, [1.0 + 50.0 * 2.0])


def test_dr_scores_are_unbiased_for_the_true_total() -> None:
    """Gives a logged bandit with a biased model; expects the DR total near the true total."""
    rng = np.random.default_rng(3)
    n, k = 20_000, 3
    truth = rng.uniform(0, 10, (n, k))
    probabilities = rng.dirichlet([3.0, 1.0, 1.0], n)
    logged = (rng.random(n)[:, None] > probabilities.cumsum(axis=1)).sum(axis=1)
    propensity = probabilities[np.arange(n), logged]
    rewards = truth[np.arange(n), logged] + rng.normal(0, 1, n)
    target = rng.integers(0, k, n)
    model = truth + 2.0  # wrong level everywhere: DR must correct it
    estimate = dr_scores(rewards, logged, propensity, target, model).sum()
    true_total = truth[np.arange(n), target].sum()
    assert estimate == pytest.approx(true_total, rel=0.01)
    assert model[np.arange(n), target].sum() == pytest.approx(true_total + 2.0 * n)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"propensity": np.array([0.0, 0.5])}, "propensity must lie in"),
        ({"propensity": np.array([1.5, 0.5])}, "propensity must lie in"),
        ({"logged": np.array([0, 2])}, "logged codes must lie in"),
        ({"target": np.array([-1, 0])}, "target codes must lie in"),
        ({"target": np.array([0.0, 1.0])}, "integer action codes"),
        ({"rewards": np.array([1.0, 2.0, 3.0])}, "rewards must have shape"),
        ({"rewards": np.array([np.nan, 2.0])}, "rewards must be finite"),
        ({"predicted": np.array([1.0, 2.0])}, "n x k value matrix"),
    ],
)
def test_dr_scores_reject_inputs_that_do_not_line_up(
    change: dict[str, np.ndarray], message: str
) -> None:
    """Gives one bad input each; expects an IntervalError naming what was wrong."""
    arguments = {
        "rewards": np.array([1.0, 2.0]),
        "logged": np.array([0, 1]),
        "propensity": np.array([0.5, 0.5]),
        "target": np.array([1, 1]),
        "predicted": np.zeros((2, 2)),
    } | change
    with pytest.raises(IntervalError, match=message):
        dr_scores(**arguments)


def test_interval_covers_the_true_total_in_most_samples() -> None:
    """Gives 50 normal samples; expects the 95% interval to hold n x mean in >= 44 of them."""
    n, mean = 200, 3.0
    covered = 0
    for seed in range(50):
        sample = np.random.default_rng(seed).normal(mean, 5.0, n)
        interval = bootstrap_totals(
            {"policy": sample}, baseline=None, n_boot=400, random_state=seed
        )["policy"]
        assert interval.low < interval.total < interval.high
        covered += interval.low <= n * mean <= interval.high
    assert covered >= 44


def test_interval_width_matches_the_normal_theory() -> None:
    """Gives 2,000 unit-variance rows; expects a 95% width near 2 x 1.96 x sqrt(n)."""
    sample = np.random.default_rng(1).normal(0.0, 1.0, 2_000)
    interval = bootstrap_totals({"p": sample}, baseline=None, n_boot=2_000, random_state=0)["p"]
    assert interval.total == pytest.approx(sample.sum())
    expected_width = 2 * 1.96 * sample.std() * np.sqrt(sample.size)
    assert interval.high - interval.low == pytest.approx(expected_width, rel=0.1)


def test_p_beats_baseline_is_near_one_for_a_clearly_better_policy() -> None:
    """Gives a policy worth 0.5 more per row than BAU; expects p near 1, BAU's p None."""
    rng = np.random.default_rng(2)
    bau = rng.normal(10, 5, 1_000)
    better = bau + 0.5 + rng.normal(0, 1, 1_000)
    worse = bau - 0.5 + rng.normal(0, 1, 1_000)
    result = bootstrap_totals(
        {"bau": bau, "better": better, "worse": worse},
        baseline="bau",
        random_state=0,
    )
    assert result["bau"].p_beats_baseline is None
    assert result["better"].p_beats_baseline == pytest.approx(1.0)
    assert result["worse"].p_beats_baseline == pytest.approx(0.0)


def test_p_beats_baseline_is_one_half_for_identical_policies() -> None:
    """Gives a policy identical to BAU; expects every replicate tied, so p = 0.5 exactly."""
    bau = np.random.default_rng(4).normal(0, 1, 500)
    result = bootstrap_totals({"bau": bau, "same": bau.copy()}, baseline="bau", random_state=0)
    assert result["same"].p_beats_baseline == 0.5
    assert result["same"].low == result["bau"].low


def test_p_beats_baseline_is_near_one_half_for_equally_good_policies() -> None:
    """Gives two policies with the same mean and independent noise; expects p within 0.3-0.7."""
    rng = np.random.default_rng(5)
    shares = []
    for seed in range(20):
        bau = rng.normal(0, 1, 400)
        other = rng.normal(0, 1, 400)
        result = bootstrap_totals(
            {"bau": bau, "other": other}, baseline="bau", n_boot=200, random_state=seed
        )
        share = result["other"].p_beats_baseline
        assert share is not None
        shares.append(share)
    assert 0.3 < float(np.mean(shares)) < 0.7


def test_pairing_gives_certainty_that_independent_resampling_would_not() -> None:
    """Gives BAU plus 0.1 on noisy rows; expects p = 1 though the intervals overlap widely."""
    bau = np.random.default_rng(6).normal(0, 10, 1_000)
    result = bootstrap_totals({"bau": bau, "plus": bau + 0.1}, baseline="bau", random_state=1)
    assert result["plus"].p_beats_baseline == 1.0
    assert result["plus"].low < result["bau"].high


def test_bootstrap_is_deterministic_given_random_state() -> None:
    """Gives the same call twice and once with another seed; expects equal, then different."""
    rng = np.random.default_rng(7)
    scores = {"a": rng.normal(size=300), "b": rng.normal(size=300)}
    first = bootstrap_totals(scores, baseline="a", n_boot=100, random_state=11)
    again = bootstrap_totals(scores, baseline="a", n_boot=100, random_state=11)
    other = bootstrap_totals(scores, baseline="a", n_boot=100, random_state=12)
    assert first == again
    assert first["b"].low != other["b"].low
    assert isinstance(first["b"], PolicyInterval)
    assert first["b"].as_dict()["total"] == first["b"].total


def test_bootstrap_over_several_chunks_keeps_each_total_inside_its_interval() -> None:
    """Gives many rows (several chunks of replicates); expects low <= total <= high per policy."""
    rng = np.random.default_rng(8)
    scores = {f"p{j}": rng.normal(j, 3, 30_000) for j in range(4)}
    result = bootstrap_totals(scores, baseline="p0", n_boot=300, random_state=0)
    for interval in result.values():
        assert interval.low <= interval.total <= interval.high
    assert result["p3"].p_beats_baseline == 1.0


def test_bootstrap_of_a_large_book_is_fast() -> None:
    """Gives 50,000 rows x 12 policies x 500 replicates; expects under 3 s of CPU.

    CPU rather than wall time, so other jobs on a busy machine do not fail the test; it
    takes about 0.3 s wall (0.65 s CPU over two BLAS threads) on an idle two-core machine.
    """
    rng = np.random.default_rng(9)
    scores = {f"p{j}": rng.normal(j, 10, 50_000) for j in range(12)}
    start = time.process_time()
    bootstrap_totals(scores, baseline="p0", n_boot=500, random_state=0)
    assert time.process_time() - start < 3.0


@pytest.mark.parametrize(
    ("scores", "keywords", "message"),
    [
        ({}, {}, "at least one policy"),
        ({"a": np.ones(3), "b": np.ones(4)}, {}, "of one length"),
        ({"a": np.array([])}, {}, "non-empty"),
        ({"a": np.array([1.0, np.inf])}, {}, "finite"),
        ({"a": np.ones(3)}, {"baseline": "bau"}, "baseline 'bau' is not one of"),
        ({"a": np.ones(3)}, {"n_boot": 0}, "n_boot must be a positive integer"),
        ({"a": np.ones(3)}, {"level": 1.0}, "level must lie in"),
    ],
)
def test_bootstrap_rejects_bad_input(
    scores: dict[str, np.ndarray], keywords: dict[str, object], message: str
) -> None:
    """Gives one bad argument each; expects an IntervalError (also a LoanRecoveryError)."""
    arguments: dict[str, object] = {"baseline": None, "random_state": 0} | keywords
    with pytest.raises(IntervalError, match=message) as caught:
        bootstrap_totals(scores, **arguments)  # type: ignore[arg-type]
    assert isinstance(caught.value, LoanRecoveryError)
    assert isinstance(caught.value, ValueError)
