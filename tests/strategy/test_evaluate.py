"""Off-policy estimators and true policy value on cases with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_recovery.strategy.evaluate import (
    EvaluationError,
    doubly_robust_estimate,
    ips_estimate,
    off_policy_estimates,
    oracle_capture,
    snips_estimate,
    true_policy_value,
)

ACTIONS = ("a", "b", "c")


def _bandit(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Per-loan mean rewards, a logging policy's propensities and its logged actions."""
    means = pd.DataFrame(rng.uniform(0, 10, (n, 3)), columns=list(ACTIONS))
    logging = rng.dirichlet([2.0, 1.0, 1.0], n)  # non-uniform, differs per loan
    cumulative = logging.cumsum(axis=1)
    chosen = (rng.random(n)[:, None] > cumulative).sum(axis=1)
    logged = np.asarray(ACTIONS, dtype=object)[chosen]
    propensity = logging[np.arange(n), chosen]
    return means, logged, propensity


def test_ips_and_dr_are_unbiased_over_replications() -> None:
    """Gives 300 logged bandits; expects mean IPS and DR within 1% of the true value."""
    rng = np.random.default_rng(0)
    ips_values, dr_values, truths = [], [], []
    for _ in range(300):
        means, logged, propensity = _bandit(rng, 400)
        rewards = means.to_numpy()[np.arange(400), pd.Index(ACTIONS).get_indexer(logged)]
        rewards = rewards + rng.normal(0, 2, 400)
        target = np.where(means["a"] > means["b"], "a", "c").astype(object)
        biased_model = means * 0.5 + 1.0  # wrong on purpose: DR must still be unbiased
        truths.append(
            means.to_numpy()[np.arange(400), pd.Index(ACTIONS).get_indexer(target)].mean()
        )
        ips_values.append(ips_estimate(rewards, logged, propensity, target))
        dr_values.append(doubly_robust_estimate(rewards, logged, propensity, target, biased_model))
    truth = float(np.mean(truths))
    assert np.mean(ips_values) == pytest.approx(truth, rel=0.01)
    assert np.mean(dr_values) == pytest.approx(truth, rel=0.01)


def test_dr_with_a_perfect_model_and_no_noise_is_exact() -> None:
    """Gives noiseless rewards and the true mean model; expects DR equal to the truth."""
    rng = np.random.default_rng(1)
    means, logged, propensity = _bandit(rng, 1000)
    rewards = means.to_numpy()[np.arange(1000), pd.Index(ACTIONS).get_indexer(logged)]
    target = np.full(1000, "b", dtype=object)
    estimate = doubly_robust_estimate(rewards, logged, propensity, target, means)
    assert estimate == pytest.approx(float(means["b"].mean()), rel=1e-12)


def test_snips_known_answer() -> None:
    """Gives two matching rows with weights 2 and 4; expects the weighted mean of rewards."""
    value = snips_estimate([10.0, 40.0, 99.0], ["a", "a", "b"], [0.5, 0.25, 0.5], ["a", "a", "a"])
    assert value == pytest.approx((2 * 10 + 4 * 40) / 6)
    ips = ips_estimate([10.0, 40.0, 99.0], ["a", "a", "b"], [0.5, 0.25, 0.5], ["a", "a", "a"])
    assert ips == pytest.approx((2 * 10 + 4 * 40) / 3)


def test_estimates_as_dict_and_errors() -> None:
    """Expects the JSON keys, and clear errors for zero propensity or unknown actions."""
    model = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    estimates = off_policy_estimates([1.0, 2.0], ["a", "b"], [0.5, 0.5], ["a", "a"], model)
    assert set(estimates.as_dict()) == {"ips", "snips", "dr"}
    with pytest.raises(EvaluationError, match="propensities"):
        ips_estimate([1.0], ["a"], [0.0], ["a"])
    with pytest.raises(EvaluationError, match="no predicted value"):
        doubly_robust_estimate([1.0], ["a"], [0.5], ["z"], model.iloc[:1])
    with pytest.raises(EvaluationError, match="length"):
        ips_estimate([1.0], ["a"], [0.5], ["a", "b"])


def test_true_policy_value_and_oracle_capture() -> None:
    """Gives per-action truth for 2 loans; expects totals picked by each loan's action."""
    net = pd.DataFrame({"a": [5.0, -1.0], "b": [2.0, 3.0]})
    recovered = pd.DataFrame({"a": [6.0, 0.0], "b": [3.0, 4.0]})
    cost = recovered - net
    value = true_policy_value(
        ["a", "b"], expected_net=net, expected_recovered=recovered, expected_cost=cost, exposure=20
    )
    assert value.net_recovery == 8.0
    assert value.recovered == 10.0
    assert value.cost == 2.0
    assert value.mean_net_recovery == 4.0
    assert value.recovery_rate == 0.5
    assert oracle_capture(policy=9.0, baseline=5.0, oracle=10.0) == pytest.approx(0.8)
