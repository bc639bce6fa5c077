"""Classification metrics and curve data: known answers, edge cases, JSON-ready output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sklearn_log_loss

from loan_recovery.models import metrics

#: Four rows, two of each class, one pair mis-ranked: AUC 3/4 by counting pairs.
Y4 = np.array([0, 0, 1, 1])
P4 = np.array([0.1, 0.4, 0.35, 0.8])


def test_roc_auc_and_gini_count_correctly_ordered_pairs() -> None:
    """Given 4 pairs of (positive, negative) with 3 ordered right, AUC is 0.75, Gini 0.5."""
    assert metrics.roc_auc(Y4, P4) == pytest.approx(0.75)
    assert metrics.gini(Y4, P4) == pytest.approx(0.5)


def test_pr_auc_is_average_precision() -> None:
    """Precision at the two positives' ranks is 1 and 2/3: the average is 5/6."""
    assert metrics.pr_auc(Y4, P4) == pytest.approx(5 / 6)


def test_ks_is_largest_tpr_fpr_gap() -> None:
    """Y4/P4 reach TPR - FPR = 0.5 at best; a perfect ranking reaches 1."""
    assert metrics.ks_statistic(Y4, P4) == pytest.approx(0.5)
    assert metrics.ks_statistic([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)


def test_ranking_metrics_are_nan_for_a_single_class() -> None:
    """AUC, PR-AUC, Gini and KS are undefined with one class: nan, not an exception."""
    for metric in (metrics.roc_auc, metrics.pr_auc, metrics.gini, metrics.ks_statistic):
        assert math.isnan(metric([1, 1, 1], [0.2, 0.5, 0.9]))


def test_brier_and_log_loss_known_answers() -> None:
    """Brier of (0, 0.2), (1, 0.6) is (0.04 + 0.16) / 2; log loss of coin flips is ln 2."""
    assert metrics.brier([0, 1], [0.2, 0.6]) == pytest.approx(0.1)
    assert metrics.log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))


def test_log_loss_is_clipped_to_stay_finite() -> None:
    """A certain miss costs -log(1e-15), not infinity."""
    assert metrics.log_loss([0], [1.0]) == pytest.approx(-math.log(metrics.LOG_LOSS_EPS), rel=1e-3)


def test_brier_and_log_loss_agree_with_sklearn() -> None:
    """On random data both equal scikit-learn's implementations."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 500)
    y = (rng.uniform(size=500) < p).astype(int)
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p))
    assert metrics.log_loss(y, p) == pytest.approx(sklearn_log_loss(y, p))


def test_ece_known_answer() -> None:
    """Four rows alone in four bins, misses of 0.05, 0.85, 0.05 and 0.85: ECE 0.45."""
    y = [0, 1, 1, 0]
    p = [0.05, 0.15, 0.95, 0.85]
    assert metrics.expected_calibration_error(y, p) == pytest.approx(0.45)


def test_ece_is_zero_when_calibrated_and_global_gap_with_one_bin() -> None:
    """Score 0.25 with one positive in four is perfectly calibrated; one bin = |mean gap|."""
    assert metrics.expected_calibration_error([1, 0, 0, 0], [0.25] * 4) == pytest.approx(0.0)
    assert metrics.expected_calibration_error([1, 0], [0.9, 0.5], n_bins=1) == pytest.approx(0.2)


def test_ece_puts_probability_one_in_the_last_bin() -> None:
    """p = 1.0 falls in the last bin instead of a bin past the end."""
    assert metrics.expected_calibration_error([1, 1], [1.0, 0.95]) == pytest.approx(0.025)


def test_classification_metrics_has_every_key() -> None:
    """The summary dict carries all seven metrics, consistent with the single functions."""
    result = metrics.classification_metrics(Y4, P4)
    assert tuple(result) == metrics.METRIC_NAMES
    assert result["roc_auc"] == pytest.approx(0.75)
    assert result["gini"] == pytest.approx(0.5)
    assert result["ece"] == pytest.approx(metrics.expected_calibration_error(Y4, P4))


def test_roc_curve_points_known_curve() -> None:
    """Y4/P4's ROC runs from (0, 0) to (1, 1) through the mis-ranked step."""
    curve = metrics.roc_curve_points(Y4, P4)
    assert curve["fpr"][0] == 0.0
    assert curve["tpr"][0] == 0.0
    assert curve["fpr"][-1] == 1.0
    assert curve["tpr"][-1] == 1.0
    assert (0.5, 0.5) in set(zip(curve["fpr"], curve["tpr"], strict=True))
    assert all(math.isfinite(value) for value in curve["threshold"])


def test_curves_are_downsampled_monotone_and_json() -> None:
    """10,000 distinct scores give at most 200 points per curve, in order, JSON-ready."""
    rng = np.random.default_rng(1)
    p = rng.uniform(size=10_000)
    y = (rng.uniform(size=10_000) < p).astype(int)
    roc = metrics.roc_curve_points(y, p)
    pr = metrics.pr_curve_points(y, p)
    for curve in (roc, pr):
        assert all(len(values) <= metrics.MAX_CURVE_POINTS for values in curve.values())
        assert len({len(values) for values in curve.values()}) == 1
    assert np.all(np.diff(roc["fpr"]) >= 0)
    assert np.all(np.diff(roc["tpr"]) >= 0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(pr["recall"]) <= 0)
    assert (pr["recall"][0], pr["recall"][-1], pr["precision"][-1]) == (1.0, 0.0, 1.0)
    json.dumps(metrics.curves(y, p, 0.5), allow_nan=False)


def test_calibration_curve_points_known_bins() -> None:
    """Rows in bins 1 and 8 give two points with their mean score, positive rate and count."""
    y = [0, 1, 1, 1]
    p = [0.12, 0.18, 0.8, 0.82]
    curve = metrics.calibration_curve_points(y, p, n_bins=10)
    assert curve["mean_predicted"] == pytest.approx([0.15, 0.81])
    assert curve["fraction_positive"] == pytest.approx([0.5, 1.0])
    assert curve["count"] == [2.0, 2.0]


def test_confusion_at_counts_scores_at_the_threshold_as_positive() -> None:
    """Threshold 0.4 flags 0.4 and 0.8: one true positive, one false, one of each negative."""
    assert metrics.confusion_at(Y4, P4, 0.4) == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    assert metrics.confusion_at(Y4, P4, 0.0) == {"tp": 2, "fp": 2, "tn": 0, "fn": 0}


def test_single_class_curves_are_empty() -> None:
    """With one class there is no ROC or PR curve to draw."""
    assert metrics.roc_curve_points([0, 0], [0.1, 0.2])["fpr"] == []
    assert metrics.pr_curve_points([0, 0], [0.1, 0.2])["recall"] == []


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.5], "same length"),
        ([0, 2], [0.5, 0.5], "only 0 and 1"),
        ([0, 1], [0.5, math.nan], "finite"),
        ([], [], "empty"),
    ],
)
def test_bad_inputs_raise_value_error(y: list[int], p: list[float], message: str) -> None:
    """Mismatched, non-binary, non-finite or empty inputs are refused with a clear message."""
    with pytest.raises(ValueError, match=message):
        metrics.brier(y, p)


def test_bad_bin_count_raises() -> None:
    """n_bins must be a positive integer."""
    with pytest.raises(ValueError, match="n_bins"):
        metrics.expected_calibration_error(Y4, P4, n_bins=0)
