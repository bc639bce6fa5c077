"""Classification metrics and curve data for binary risk scores.

Pure functions of labels ``y`` (0/1) and predicted probabilities ``p`` of the positive
class, so the CLI, reports, API and tests measure models the same way. Ranking metrics
(ROC-AUC, PR-AUC, Gini, KS) say whether risky loans are ordered first; probability
metrics (Brier, log loss, ECE) say whether a score of 0.7 means 70%, which the expected
recovery arithmetic downstream relies on.

Ranking metrics are ``nan`` when ``y`` holds a single class (they are undefined there),
never an exception, so a report over a thin segment still renders. Curve functions
return plain Python lists, downsampled to at most :data:`MAX_CURVE_POINTS` points, so
they serialise to JSON as they are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.metrics import roc_curve as _sklearn_roc_curve

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Probabilities are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] in :func:`log_loss`, so a
#: confident miss costs a large but finite penalty.
LOG_LOSS_EPS = 1e-15
#: Upper bound on the points of each curve handed to reports.
MAX_CURVE_POINTS = 200
#: Keys of :func:`classification_metrics`, in report order.
METRIC_NAMES: tuple[str, ...] = ("roc_auc", "pr_auc", "gini", "ks", "brier", "log_loss", "ece")


def _as_arrays(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    """Labels as 0/1 int64 and scores as float64, checked for shape and domain."""
    labels = np.asarray(y).ravel()
    scores = np.asarray(p, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(
            f"y and p must have the same length; got {labels.shape[0]} and {scores.shape[0]}."
        )
    if labels.size == 0:
        raise ValueError("y and p are empty; metrics need at least one row.")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"y must hold only 0 and 1; got values {np.unique(labels)[:5].tolist()}.")
    if not np.isfinite(scores).all():
        raise ValueError("p must be finite; got NaN or inf.")
    return labels.astype(np.int64), scores


def _both_classes(labels: IntArray) -> bool:
    return 0 < int(labels.sum()) < labels.size


def roc_auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Area under the ROC curve: chance that a random positive outranks a random negative."""
    labels, scores = _as_arrays(y, p)
    if not _both_classes(labels):
        return math.nan
    return float(roc_auc_score(labels, scores))


def pr_auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Average precision: precision averaged over recall steps (no optimistic interpolation)."""
    labels, scores = _as_arrays(y, p)
    if not _both_classes(labels):
        return math.nan
    return float(average_precision_score(labels, scores))


def gini(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Gini coefficient 2 * AUC - 1, the form credit-risk teams quote."""
    return 2.0 * roc_auc(y, p) - 1.0


def ks_statistic(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov: the largest gap between TPR and FPR over all thresholds."""
    labels, scores = _as_arrays(y, p)
    if not _both_classes(labels):
        return math.nan
    fpr, tpr, _ = _sklearn_roc_curve(labels, scores, drop_intermediate=False)
    return float(np.max(tpr - fpr))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared error of the probabilities (0 is perfect; a coin flip scores 0.25)."""
    labels, scores = _as_arrays(y, p)
    return float(np.mean((scores - labels) ** 2))


def log_loss(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean negative log-likelihood with probabilities clipped to stay finite."""
    labels, scores = _as_arrays(y, p)
    clipped = np.clip(scores, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    losses = -(labels * np.log(clipped) + (1 - labels) * np.log1p(-clipped))
    return float(np.mean(losses))


def _check_bins(n_bins: int) -> None:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")


def _bin_index(scores: FloatArray, n_bins: int) -> IntArray:
    """Equal-width bin of each probability on [0, 1]; 1.0 falls in the last bin."""
    index = np.floor(np.clip(scores, 0.0, 1.0) * n_bins).astype(np.int64)
    return np.minimum(index, n_bins - 1)


def _binned(
    labels: IntArray, scores: FloatArray, n_bins: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per bin: row count, mean probability and positive rate (0 where the bin is empty)."""
    index = _bin_index(scores, n_bins)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    score_sums = np.bincount(index, weights=scores, minlength=n_bins)
    label_sums = np.bincount(index, weights=labels.astype(np.float64), minlength=n_bins)
    safe = np.where(counts > 0, counts, 1.0)
    return counts, score_sums / safe, label_sums / safe


def expected_calibration_error(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> float:
    """Row-weighted mean of |mean probability - positive rate| over equal-width bins."""
    _check_bins(n_bins)
    labels, scores = _as_arrays(y, p)
    counts, mean_score, positive_rate = _binned(labels, scores, n_bins)
    return float(np.sum(counts * np.abs(mean_score - positive_rate)) / labels.size)


def classification_metrics(y: npt.ArrayLike, p: npt.ArrayLike) -> dict[str, float]:
    """Every metric of this module under the keys of :data:`METRIC_NAMES`."""
    labels, scores = _as_arrays(y, p)
    auc = roc_auc(labels, scores)
    return {
        "roc_auc": auc,
        "pr_auc": pr_auc(labels, scores),
        "gini": 2.0 * auc - 1.0,
        "ks": ks_statistic(labels, scores),
        "brier": brier(labels, scores),
        "log_loss": log_loss(labels, scores),
        "ece": expected_calibration_error(labels, scores),
    }


def _downsample_index(n_points: int, max_points: int) -> IntArray:
    """Evenly spaced positions that always keep the first and the last point."""
    if n_points <= max_points:
        return np.arange(n_points, dtype=np.int64)
    return np.unique(np.linspace(0, n_points - 1, max_points).round().astype(np.int64))


def _to_list(values: npt.ArrayLike) -> list[float]:
    return [float(value) for value in np.asarray(values, dtype=np.float64)]


def roc_curve_points(
    y: npt.ArrayLike, p: npt.ArrayLike, max_points: int = MAX_CURVE_POINTS
) -> dict[str, list[float]]:
    """ROC curve as ``fpr``, ``tpr`` and ``threshold`` lists, from (0, 0) to (1, 1).

    A row is flagged when its score is >= the threshold; the first point flags nothing,
    and its threshold is reported as max(1.0, top score) instead of infinity, which JSON
    cannot carry. Empty lists when ``y`` holds one class.
    """
    labels, scores = _as_arrays(y, p)
    if not _both_classes(labels):
        return {"fpr": [], "tpr": [], "threshold": []}
    fpr, tpr, thresholds = _sklearn_roc_curve(labels, scores)
    keep = _downsample_index(fpr.size, max_points)
    thresholds = np.minimum(thresholds, max(1.0, float(scores.max())))
    return {
        "fpr": _to_list(fpr[keep]),
        "tpr": _to_list(tpr[keep]),
        "threshold": _to_list(thresholds[keep]),
    }


def pr_curve_points(
    y: npt.ArrayLike, p: npt.ArrayLike, max_points: int = MAX_CURVE_POINTS
) -> dict[str, list[float]]:
    """Precision-recall curve as ``recall``, ``precision`` and ``threshold`` lists.

    Ordered by rising threshold (recall falls from 1 to 0). The closing point (recall 0,
    precision 1) flags nothing; its threshold is reported as max(1.0, top score). Empty
    lists when ``y`` holds one class.
    """
    labels, scores = _as_arrays(y, p)
    if not _both_classes(labels):
        return {"recall": [], "precision": [], "threshold": []}
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    thresholds = np.append(thresholds, max(1.0, float(scores.max())))
    keep = _downsample_index(recall.size, max_points)
    return {
        "recall": _to_list(recall[keep]),
        "precision": _to_list(precision[keep]),
        "threshold": _to_list(thresholds[keep]),
    }


def calibration_curve_points(
    y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10
) -> dict[str, list[float]]:
    """Reliability diagram: per non-empty equal-width bin, mean probability, positive rate
    and row count (the same bins as :func:`expected_calibration_error`)."""
    _check_bins(n_bins)
    labels, scores = _as_arrays(y, p)
    counts, mean_score, positive_rate = _binned(labels, scores, n_bins)
    filled = counts > 0
    return {
        "mean_predicted": _to_list(mean_score[filled]),
        "fraction_positive": _to_list(positive_rate[filled]),
        "count": _to_list(counts[filled]),
    }


def confusion_at(y: npt.ArrayLike, p: npt.ArrayLike, threshold: float) -> dict[str, int]:
    """Confusion counts when every row with ``p >= threshold`` is called positive."""
    labels, scores = _as_arrays(y, p)
    flagged = scores >= threshold
    actual = labels == 1
    return {
        "tp": int(np.sum(flagged & actual)),
        "fp": int(np.sum(flagged & ~actual)),
        "tn": int(np.sum(~flagged & ~actual)),
        "fn": int(np.sum(~flagged & actual)),
    }


def curves(y: npt.ArrayLike, p: npt.ArrayLike, threshold: float) -> dict[str, Any]:
    """All report curve data of one score in one JSON-able dict."""
    return {
        "roc": roc_curve_points(y, p),
        "pr": pr_curve_points(y, p),
        "calibration": calibration_curve_points(y, p),
        "confusion": confusion_at(y, p, threshold),
        "threshold": float(threshold),
    }
