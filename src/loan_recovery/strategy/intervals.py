"""Doubly robust policy values with paired bootstrap intervals.

A policy comparison on a logged history is only worth acting on if its uncertainty is
shown beside it: a learned policy that "beats" the lender's rule by 2% on one history may
lose on the next. This module gives each candidate policy

* a per-row doubly robust (DR) score, whose sum over the history estimates the policy's
  total value over those loans (unbiased if either the propensities or the outcome model
  are right), and
* a percentile bootstrap interval of that total, with the probability that it beats a
  baseline.

The bootstrap is *paired*: every policy is re-totalled on the same resampled rows in a
replicate. Policies scored on the same loans share most of their noise (a loan that
recovers well does so whatever we planned), so pairing cancels it from the comparison and
``p_beats_baseline`` reflects the difference between policies, not the noise of the book.

Actions are integer codes ``0..k-1`` into the columns of the ``predicted`` value matrix;
``hold`` is a column like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loan_recovery.exceptions import LoanRecoveryError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Upper bound on resampling counts held in memory at once (replicates x rows), so the
#: bootstrap of a large book runs in bounded memory (about 16 MB per array at this size).
_CHUNK_ELEMENTS = 2**21


class IntervalError(LoanRecoveryError, ValueError):
    """Inputs to a DR score or a bootstrap interval do not line up or are out of range."""


@dataclass(frozen=True, slots=True)
class PolicyInterval:
    """Estimated total value of a policy over the loans, with its bootstrap interval.

    ``p_beats_baseline`` is the share of bootstrap replicates in which the policy's total
    exceeds the baseline's (a tie counts half), ``None`` for the baseline itself or when no
    baseline was named.
    """

    total: float
    low: float
    high: float
    p_beats_baseline: float | None

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready form."""
        return {
            "total": self.total,
            "low": self.low,
            "high": self.high,
            "p_beats_baseline": self.p_beats_baseline,
        }


def _codes(values: npt.ArrayLike, name: str, n_rows: int, n_actions: int) -> IntArray:
    """Integer action codes of the right length, each in ``[0, n_actions)``."""
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != n_rows:
        raise IntervalError(f"{name} must be 1-D of length {n_rows}; got shape {array.shape}.")
    if array.dtype.kind not in "iu":
        raise IntervalError(f"{name} must hold integer action codes; got dtype {array.dtype}.")
    codes: IntArray = array.astype(np.int64)
    if n_rows and (codes.min() < 0 or codes.max() >= n_actions):
        raise IntervalError(
            f"{name} codes must lie in [0, {n_actions}); "
            f"got values from {codes.min()} to {codes.max()}."
        )
    return codes


def _finite(values: npt.ArrayLike, name: str, shape: tuple[int, ...] | None = None) -> FloatArray:
    """A float copy, checked finite (and of the given shape when one is given)."""
    array: FloatArray = np.asarray(values, dtype=np.float64)
    if shape is not None and array.shape != shape:
        raise IntervalError(f"{name} must have shape {shape}; got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise IntervalError(
            f"{name} must be finite; got {int((~np.isfinite(array)).sum())} NaN/inf."
        )
    return array


def dr_scores(
    rewards: npt.ArrayLike,
    logged: npt.ArrayLike,
    propensity: npt.ArrayLike,
    target: npt.ArrayLike,
    predicted: npt.ArrayLike,
    *,
    max_weight: float | None = None,
) -> FloatArray:
    """Per-row doubly robust value of choosing ``target`` on each logged row.

    ``score[i] = predicted[i, target[i]]
    + 1[logged[i] == target[i]] / propensity[i] * (rewards[i] - predicted[i, logged[i]])``.

    The outcome model's value of the target action, corrected by the weighted residual of
    the action actually taken where it agrees with the target. The sum over rows
    estimates the target policy's total value. ``max_weight`` caps the inverse propensity
    weight: a loan logged with a 1% propensity would otherwise swing the estimate by a
    hundred times its residual; capping trades that variance for a small bias.
    """
    predicted_matrix: FloatArray = np.asarray(predicted, dtype=np.float64)
    if predicted_matrix.ndim != 2 or predicted_matrix.shape[1] == 0:
        raise IntervalError(
            f"predicted must be an n x k value matrix; got shape {predicted_matrix.shape}."
        )
    n_rows, n_actions = predicted_matrix.shape
    predicted_matrix = _finite(predicted_matrix, "predicted")
    reward = _finite(rewards, "rewards", (n_rows,))
    logged_codes = _codes(logged, "logged", n_rows, n_actions)
    target_codes = _codes(target, "target", n_rows, n_actions)
    probability = _finite(propensity, "propensity", (n_rows,))
    if not np.all((probability > 0) & (probability <= 1)):
        raise IntervalError(
            "propensity must lie in (0, 1]; got values from "
            f"{probability.min():g} to {probability.max():g}."
        )
    weight = 1.0 / probability
    if max_weight is not None:
        if not max_weight >= 1:
            raise IntervalError(f"max_weight must be >= 1 (or None); got {max_weight}.")
        weight = np.minimum(weight, max_weight)
    rows = np.arange(n_rows)
    residual = reward - predicted_matrix[rows, logged_codes]
    matched = logged_codes == target_codes
    scores: FloatArray = predicted_matrix[rows, target_codes] + np.where(
        matched, weight * residual, 0.0
    )
    return scores


def _score_matrix(scores: Mapping[str, FloatArray]) -> tuple[list[str], FloatArray]:
    """Policy names and their scores as columns of one n x p matrix."""
    if not scores:
        raise IntervalError("scores must name at least one policy; got none.")
    names = list(scores)
    columns = [np.asarray(scores[name], dtype=np.float64) for name in names]
    lengths = {name: column.shape for name, column in zip(names, columns, strict=True)}
    first = columns[0].shape
    if len(first) != 1 or first[0] == 0 or any(shape != first for shape in lengths.values()):
        raise IntervalError(
            f"every policy's scores must be 1-D, non-empty and of one length; got {lengths}."
        )
    matrix = np.column_stack(columns)
    bad = [
        name for name, column in zip(names, columns, strict=True) if not np.isfinite(column).all()
    ]
    if bad:
        raise IntervalError(f"scores must be finite; policies {bad} hold NaN/inf.")
    return names, matrix


def _resample_counts(rng: np.random.Generator, n_rows: int, replicates: int) -> FloatArray:
    """How often each row is drawn in each replicate (rows drawn n times with replacement).

    One ``bincount`` over offset indices counts every replicate at once; the counts then
    turn resampled sums into a single matrix product.
    """
    draws = rng.integers(0, n_rows, size=(replicates, n_rows), dtype=np.int64)
    draws += (np.arange(replicates, dtype=np.int64) * n_rows)[:, None]
    counts = np.bincount(draws.ravel(), minlength=replicates * n_rows)
    resampled: FloatArray = counts.reshape(replicates, n_rows).astype(np.float64)
    return resampled


def bootstrap_totals(
    scores: Mapping[str, FloatArray],
    *,
    baseline: str | None,
    n_boot: int = 500,
    level: float = 0.95,
    random_state: int,
) -> dict[str, PolicyInterval]:
    """Total value of each policy with a paired percentile bootstrap interval.

    ``scores`` maps a policy name to its per-row scores (e.g. :func:`dr_scores`) over the
    same loans, in the same order. Each replicate draws the rows once, with replacement,
    and re-totals every policy on that one draw, so the comparison with ``baseline`` is
    paired. ``p_beats_baseline`` is taken from the bootstrap of the per-row *difference*
    to the baseline, so two identical policies tie exactly and score 0.5.

    Cost is one ``(replicates x rows) @ (rows x 2p)`` product (p totals, p differences to
    the baseline), done in chunks of replicates to bound memory.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise IntervalError(f"n_boot must be a positive integer; got {n_boot!r}.")
    if not 0 < level < 1:
        raise IntervalError(f"level must lie in (0, 1); got {level}.")
    names, matrix = _score_matrix(scores)
    if baseline is not None and baseline not in scores:
        raise IntervalError(f"baseline {baseline!r} is not one of the policies {names}.")
    n_rows, n_policies = matrix.shape
    if baseline is not None:
        difference = matrix - matrix[:, [names.index(baseline)]]
        matrix = np.hstack([matrix, difference])

    rng = np.random.default_rng(random_state)
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // n_rows))
    replicate_totals = np.empty((n_boot, matrix.shape[1]), dtype=np.float64)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        replicate_totals[start : start + size] = _resample_counts(rng, n_rows, size) @ matrix

    tail = (1.0 - level) / 2.0
    low, high = np.quantile(replicate_totals[:, :n_policies], [tail, 1.0 - tail], axis=0)
    totals = matrix[:, :n_policies].sum(axis=0)
    p_beats: list[float | None] = [None] * n_policies
    if baseline is not None:
        gaps = replicate_totals[:, n_policies:]
        shares = (gaps > 0).mean(axis=0) + 0.5 * (gaps == 0).mean(axis=0)
        p_beats = [None if name == baseline else float(shares[j]) for j, name in enumerate(names)]
    return {
        name: PolicyInterval(
            total=float(totals[j]),
            low=float(low[j]),
            high=float(high[j]),
            p_beats_baseline=p_beats[j],
        )
        for j, name in enumerate(names)
    }
