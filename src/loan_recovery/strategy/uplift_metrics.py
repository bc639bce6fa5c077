"""How well a predicted uplift ranks loans: uplift curves, AUUC and the Qini coefficient.

An uplift model is used to decide *which* loans to work first, so what matters is its
ranking, not its level: a model that doubles every uplift ranks as well as the truth.
The measures here therefore look only at the order the predictions put loans in.

* On the simulator every loan's true uplift is known, so :func:`uplift_curve` and
  :func:`auuc` sum the *true* uplift of the loans a model would target first; nothing
  has to be estimated and the score is exact.
* On a real history only one arm per loan was observed, so :func:`qini_coefficient`
  estimates the gain from treated and control groups instead (Radcliffe's Qini curve).

Ties in the predictions carry no ranking information. :func:`uplift_curve` breaks them by
row order (a curve must pick an order), while :func:`auuc` and :func:`qini_coefficient`
join tie-group boundaries with straight lines, which is the expected curve under a random
order within each tie: a constant prediction scores exactly 0 whatever the row order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loan_recovery.exceptions import LoanRecoveryError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class UpliftMetricError(LoanRecoveryError, ValueError):
    """Inputs to an uplift metric are of different lengths, empty, or not finite."""


def _vector(values: npt.ArrayLike, name: str) -> FloatArray:
    array: FloatArray = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise UpliftMetricError(f"{name} must be a non-empty 1-D array; got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise UpliftMetricError(
            f"{name} must be finite; got {int((~np.isfinite(array)).sum())} NaN/inf."
        )
    return array


def _pair(
    predicted: npt.ArrayLike, other: npt.ArrayLike, other_name: str
) -> tuple[FloatArray, FloatArray]:
    score = _vector(predicted, "predicted")
    values = _vector(other, other_name)
    if score.shape != values.shape:
        raise UpliftMetricError(
            f"predicted and {other_name} differ in length: {score.shape[0]} vs {values.shape[0]}."
        )
    return score, values


def _descending_order(score: FloatArray) -> IntArray:
    """Rows by score, highest first; ties keep row order (a stable sort of ``-score``)."""
    order: IntArray = np.argsort(-score, kind="stable").astype(np.int64)
    return order


def _tie_ends(sorted_score: FloatArray) -> IntArray:
    """Number of rows targeted at the end of each tie group, with the leading 0."""
    ends = np.flatnonzero(np.diff(sorted_score) != 0) + 1
    counts: IntArray = np.concatenate(([0], ends, [sorted_score.size])).astype(np.int64)
    return counts


def _running_total(values: FloatArray) -> FloatArray:
    """Sums of the first 0, 1, ..., n values (the curve's value after targeting k loans)."""
    total: FloatArray = np.concatenate((np.zeros(1), np.cumsum(values)))
    return total


def _trapezoid(x: FloatArray, y: FloatArray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def uplift_curve(
    predicted: npt.ArrayLike, true: npt.ArrayLike, n_points: int = 101
) -> tuple[FloatArray, FloatArray]:
    """Cumulative true uplift of the loans targeted first, at ``n_points`` shares of the book.

    Loans are targeted in descending order of predicted uplift (ties in row order). At
    share ``s`` the first ``round(s x n)`` loans are targeted and the curve holds the sum
    of their true uplifts: it starts at 0 and ends at the total uplift of the book.
    """
    score, truth = _pair(predicted, true, "true")
    if n_points < 2:
        raise UpliftMetricError(f"n_points must be >= 2; got {n_points}.")
    cumulative = _running_total(truth[_descending_order(score)])
    share: FloatArray = np.linspace(0.0, 1.0, n_points)
    targeted = np.rint(share * truth.size).astype(np.int64)
    curve: FloatArray = cumulative[targeted]
    return share, curve


def _area_by_ranking(score: FloatArray, truth: FloatArray) -> float:
    """Area under the cumulative-true-uplift curve against share targeted, ties averaged."""
    order = _descending_order(score)
    cumulative = _running_total(truth[order])
    ends = _tie_ends(score[order])
    return _trapezoid(ends / truth.size, cumulative[ends])


def auuc(predicted: npt.ArrayLike, true: npt.ArrayLike) -> float:
    """Normalised area under the uplift curve: 1 for a perfect ranking, 0 for random.

    ``(area(model) - area(random)) / (area(perfect) - area(random))`` where the random
    curve is the straight line to the total uplift and the perfect one ranks by the true
    uplift itself. Negative when the model ranks worse than random; NaN when every order
    gives the same area (all true uplifts equal), since there is then nothing to rank.
    """
    score, truth = _pair(predicted, true, "true")
    random_area = float(truth.sum()) / 2.0
    perfect = _area_by_ranking(truth, truth) - random_area
    scale = float(np.abs(truth).sum())
    if perfect <= 1e-12 * scale or perfect <= 0:
        return float("nan")
    return (_area_by_ranking(score, truth) - random_area) / perfect


def qini_coefficient(
    predicted: npt.ArrayLike, outcome: npt.ArrayLike, treated: npt.ArrayLike
) -> float:
    """Radcliffe's Qini coefficient from observed treated and control outcomes.

    Loans are ranked by predicted uplift. After targeting the top ``k`` the Qini curve is
    the incremental outcome those ``k`` are estimated to bring::

        Q(k) = R_t(k) - R_c(k) x N_t(k) / N_c(k)

    with ``R_t``/``R_c`` the summed outcomes and ``N_t``/``N_c`` the counts of treated and
    control loans among the top ``k`` (the control term is 0 while ``N_c(k)`` is 0). The
    random policy is the straight line from 0 to ``Q(n)``. The coefficient is the area
    between the model's curve and that line with both axes divided by ``n`` (x = share
    targeted, y = incremental outcome per loan of the book), so it is in outcome units
    per loan, comparable across book sizes: positive when the model finds the responsive
    loans first, about 0 for random scores, negative when it finds them last.

    Outcomes may be binary (recovered or not) or continuous (amount recovered).
    """
    score, value = _pair(predicted, outcome, "outcome")
    arm = np.asarray(treated)
    if arm.shape != score.shape or arm.dtype.kind not in "biu":
        raise UpliftMetricError(
            f"treated must be a boolean array of length {score.size}; "
            f"got shape {arm.shape}, dtype {arm.dtype}."
        )
    if arm.dtype.kind != "b" and not np.isin(arm, (0, 1)).all():
        raise UpliftMetricError("treated must hold only 0/1 or True/False.")
    is_treated = arm.astype(np.bool_)
    if is_treated.all() or not is_treated.any():
        raise UpliftMetricError(
            "Qini needs both treated and control loans; "
            f"got {int(is_treated.sum())} treated of {score.size}."
        )
    order = _descending_order(score)
    treated_sorted = is_treated[order]
    value_sorted = value[order]
    n_treated = _running_total(treated_sorted.astype(np.float64))
    n_control = _running_total((~treated_sorted).astype(np.float64))
    sum_treated = _running_total(np.where(treated_sorted, value_sorted, 0.0))
    sum_control = _running_total(np.where(treated_sorted, 0.0, value_sorted))
    with np.errstate(divide="ignore", invalid="ignore"):
        control_scaled = np.where(n_control > 0, sum_control * n_treated / n_control, 0.0)
    qini = sum_treated - control_scaled
    ends = _tie_ends(score[order])
    n = score.size
    share = ends / n
    gain = qini[ends] / n
    return _trapezoid(share, gain) - float(gain[-1]) / 2.0
