"""Policy evaluation: true value against the simulator's ground truth, and off-policy estimates.

Two ways to know what a policy is worth. On simulated data the ground truth knows every
loan's expected net recovery under every action, so a policy's true value is exact. On a
real lender's history only one action per loan was taken, so its value must be estimated
off-policy from the logged actions, their propensities and the realised outcomes:

* IPS (inverse propensity scoring): unbiased when propensities are right, high variance;
* SNIPS (self-normalised IPS): divides by the realised weight total, less variance, small bias;
* DR (doubly robust): the outcome model's prediction for the policy's action, corrected by
  the weighted residual of the logged action; unbiased if either part is right.

Showing the estimates beside the truth on the simulator is how we learn whether the
estimators can be trusted on real data, where no truth exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.exceptions import LoanRecoveryError

FloatArray = npt.NDArray[np.float64]


class EvaluationError(LoanRecoveryError, ValueError):
    """Inputs to a policy evaluation do not line up (lengths, unknown actions, propensities)."""


@dataclass(frozen=True, slots=True)
class OffPolicyEstimates:
    """Per-loan mean value of a target policy estimated from logged data."""

    ips: float
    snips: float
    dr: float

    def as_dict(self) -> dict[str, float]:
        """JSON-ready, keyed as in ``evaluate-policy --json``."""
        return {"ips": self.ips, "snips": self.snips, "dr": self.dr}


def _matches(logged_actions: npt.ArrayLike, target_actions: npt.ArrayLike) -> FloatArray:
    logged = np.asarray(logged_actions, dtype=object)
    target = np.asarray(target_actions, dtype=object)
    if logged.shape != target.shape:
        raise EvaluationError(
            f"logged and target actions differ in length: {logged.shape} vs {target.shape}."
        )
    matches: FloatArray = (logged == target).astype(np.float64)
    return matches


def _weights(propensities: npt.ArrayLike) -> FloatArray:
    probability = np.asarray(propensities, dtype=np.float64)
    if not np.all((probability > 0) & (probability <= 1)):
        raise EvaluationError("propensities must lie in (0, 1]; a zero makes IPS undefined.")
    weights: FloatArray = 1.0 / probability
    return weights


def ips_estimate(
    rewards: npt.ArrayLike,
    logged_actions: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_actions: npt.ArrayLike,
) -> float:
    """Mean over loans of 1[logged == target] / propensity x reward."""
    weighted = _matches(logged_actions, target_actions) * _weights(propensities)
    return float(np.mean(weighted * np.asarray(rewards, dtype=np.float64)))


def snips_estimate(
    rewards: npt.ArrayLike,
    logged_actions: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_actions: npt.ArrayLike,
) -> float:
    """IPS divided by the mean weight instead of 1: biased but far steadier."""
    weighted = _matches(logged_actions, target_actions) * _weights(propensities)
    total = float(weighted.sum())
    if total == 0:
        return float("nan")
    return float(np.sum(weighted * np.asarray(rewards, dtype=np.float64)) / total)


def _value_of(predicted: pd.DataFrame, actions: npt.ArrayLike) -> FloatArray:
    """predicted[i, actions[i]] for every loan, vectorised."""
    names = np.asarray(actions, dtype=object)
    columns = pd.Index(predicted.columns)
    positions = columns.get_indexer(pd.Index(names))
    if (positions < 0).any():
        unknown = sorted(set(names[positions < 0].tolist()))
        raise EvaluationError(f"actions {unknown} have no predicted value column.")
    values = predicted.to_numpy(dtype=np.float64)
    picked: FloatArray = values[np.arange(len(values)), positions]
    return picked


def doubly_robust_estimate(
    rewards: npt.ArrayLike,
    logged_actions: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_actions: npt.ArrayLike,
    predicted_rewards: pd.DataFrame,
) -> float:
    """Model value of the target action plus the weighted residual of the logged one."""
    weighted = _matches(logged_actions, target_actions) * _weights(propensities)
    direct = _value_of(predicted_rewards, target_actions)
    residual = np.asarray(rewards, dtype=np.float64) - _value_of(predicted_rewards, logged_actions)
    return float(np.mean(direct + weighted * residual))


def off_policy_estimates(
    rewards: npt.ArrayLike,
    logged_actions: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_actions: npt.ArrayLike,
    predicted_rewards: pd.DataFrame,
) -> OffPolicyEstimates:
    """All three estimates of the target policy's per-loan value."""
    return OffPolicyEstimates(
        ips=ips_estimate(rewards, logged_actions, propensities, target_actions),
        snips=snips_estimate(rewards, logged_actions, propensities, target_actions),
        dr=doubly_robust_estimate(
            rewards, logged_actions, propensities, target_actions, predicted_rewards
        ),
    )


@dataclass(frozen=True, slots=True)
class PolicyValue:
    """A policy's true outcome on a simulated portfolio (totals over loans)."""

    net_recovery: float
    recovered: float
    cost: float
    loans: int
    exposure: float

    @property
    def mean_net_recovery(self) -> float:
        """Net recovery per loan."""
        return self.net_recovery / self.loans if self.loans else 0.0

    @property
    def recovery_rate(self) -> float:
        """Recovered (before costs) as a share of the exposure worked."""
        return self.recovered / self.exposure if self.exposure > 0 else 0.0


def true_policy_value(
    actions: npt.ArrayLike,
    *,
    expected_net: pd.DataFrame,
    expected_recovered: pd.DataFrame,
    expected_cost: pd.DataFrame,
    exposure: float,
) -> PolicyValue:
    """Ground-truth totals of a policy, given the truth's per-action expectations.

    ``expected_*`` frames have one column per action (and may hold a ``hold`` column of
    zeros); ``actions`` names each loan's chosen column.
    """
    return PolicyValue(
        net_recovery=float(_value_of(expected_net, actions).sum()),
        recovered=float(_value_of(expected_recovered, actions).sum()),
        cost=float(_value_of(expected_cost, actions).sum()),
        loans=len(expected_net),
        exposure=exposure,
    )


def oracle_capture(policy: float, baseline: float, oracle: float) -> float:
    """Share of the oracle's gain over the baseline that the policy captures."""
    gap = oracle - baseline
    return (policy - baseline) / gap if gap != 0 else float("nan")
