"""Calibration: a monotone map from a learner's raw risk score to a probability.

Expected-recovery arithmetic downstream multiplies by the risk score, so 0.7 must mean
70%. The map is fitted on *out-of-fold* scores (see
:class:`~loan_recovery.models.risk.CalibratedRiskModel`), as scikit-learn's
``CalibratedClassifierCV(ensemble=False)`` does, so no row the learner trained on bends it.
Both maps are plain numbers, saved as JSON, never pickle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from loan_recovery.exceptions import IncompatibleModelError, ModelError, TrainingDataError
from loan_recovery.models import metrics
from loan_recovery.models.model_json import json_number, json_number_list
from loan_recovery.models.risk_inputs import (
    FloatArray,
    IntArray,
    expit,
    label_array,
    require_both_classes,
)

CalibrationMethod = Literal["isotonic", "sigmoid"]

#: Calibration maps; on equal cross-validated Brier the first (fewer parameters) wins.
CALIBRATION_METHODS: tuple[CalibrationMethod, ...] = ("sigmoid", "isotonic")
#: Folds of the cross-validation that picks the calibration map.
CALIBRATION_CV_FOLDS = 5


def _platt(scores: FloatArray, labels: IntArray) -> tuple[float, float]:
    """Platt scaling p = expit(a * s + b) by Newton steps with a backtracking line search.

    Targets are Platt's smoothed labels, so perfectly separated scores still give a finite
    slope instead of running off to infinity.
    """
    n_pos = float(labels.sum())
    n_neg = float(labels.size) - n_pos
    targets = np.where(labels == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: float, b: float) -> float:
        z = a * scores + b
        return float(np.sum(np.logaddexp(0.0, z) - targets * z))

    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    current = loss(a, b)
    for _ in range(100):
        p = expit(a * scores + b)
        residual = p - targets
        gradient = np.array([np.dot(residual, scores), np.sum(residual)])
        w = p * (1.0 - p)
        hessian = np.array(
            [[np.dot(w, scores * scores), np.dot(w, scores)], [np.dot(w, scores), np.sum(w)]]
        )
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        scale = 1.0
        while scale > 1e-10:
            trial_a, trial_b = a - scale * float(step[0]), b - scale * float(step[1])
            trial = loss(trial_a, trial_b)
            if trial <= current:
                break
            scale /= 2.0
        else:
            break
        improvement = current - trial
        a, b, current = trial_a, trial_b, trial
        if improvement <= 1e-12 * max(1.0, abs(current)):
            break
    return a, b


class Calibrator(BaseEstimator):  # type: ignore[misc]
    """Monotone map from raw risk scores (log-odds) to probabilities.

    ``isotonic`` stores the step function's knots (``thresholds_``, ``probabilities_``) and
    interpolates linearly between them; ``sigmoid`` stores Platt's ``a_`` and ``b_`` with
    p = 1 / (1 + exp(-(a * score + b))). Both are plain numbers, so :meth:`to_dict` is
    JSON and a saved calibrator needs no pickle.
    """

    def __init__(self, method: CalibrationMethod = "isotonic") -> None:
        self.method = method

    def fit(self, scores: npt.ArrayLike, y: npt.ArrayLike) -> Calibrator:
        """Learn the map from scores to the 0/1 outcomes ``y``."""
        if self.method not in CALIBRATION_METHODS:
            raise ModelError(
                f"calibration method must be one of {list(CALIBRATION_METHODS)}; "
                f"got {self.method!r}."
            )
        values = np.asarray(scores, dtype=np.float64).ravel()
        labels = label_array(y, values.shape[0])
        if not np.isfinite(values).all():
            raise TrainingDataError("calibration scores must be finite.")
        require_both_classes(labels, 1, "the calibration data")
        for stale in ("thresholds_", "probabilities_", "a_", "b_"):
            if hasattr(self, stale):
                delattr(self, stale)
        if self.method == "isotonic":
            isotonic = IsotonicRegression(
                y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip"
            ).fit(values, labels)
            self.thresholds_ = np.asarray(isotonic.X_thresholds_, dtype=np.float64)
            self.probabilities_ = np.asarray(isotonic.y_thresholds_, dtype=np.float64)
        else:
            self.a_, self.b_ = _platt(values, labels)
        self.method_: CalibrationMethod = self.method
        return self

    def transform(self, scores: npt.ArrayLike) -> FloatArray:
        """Calibrated probability of each score."""
        check_is_fitted(self, "method_")
        values = np.asarray(scores, dtype=np.float64).ravel()
        if self.method_ == "isotonic":
            result: FloatArray = np.interp(values, self.thresholds_, self.probabilities_)
            return result
        return expit(self.a_ * values + self.b_)

    def to_dict(self) -> dict[str, Any]:
        """The fitted map as plain JSON values (floats round-trip exactly)."""
        check_is_fitted(self, "method_")
        if self.method_ == "isotonic":
            return {
                "method": "isotonic",
                "thresholds": [float(x) for x in self.thresholds_],
                "probabilities": [float(x) for x in self.probabilities_],
            }
        return {"method": "sigmoid", "a": float(self.a_), "b": float(self.b_)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """Rebuild a fitted calibrator; IncompatibleModelError when ``data`` is malformed."""
        if not isinstance(data, Mapping):
            raise IncompatibleModelError("calibrator must be a JSON object.")
        method = data.get("method")
        if method == "isotonic":
            thresholds = json_number_list(
                data.get("thresholds"), "calibrator thresholds", non_empty=True
            )
            probabilities = json_number_list(
                data.get("probabilities"), "calibrator probabilities", non_empty=True
            )
            if thresholds.shape != probabilities.shape:
                raise IncompatibleModelError(
                    f"calibrator has {thresholds.size} thresholds but {probabilities.size} "
                    "probabilities."
                )
            if np.any(np.diff(thresholds) < 0) or np.any(np.diff(probabilities) < 0):
                raise IncompatibleModelError(
                    "calibrator thresholds and probabilities must both be non-decreasing."
                )
            if probabilities.min() < 0.0 or probabilities.max() > 1.0:
                raise IncompatibleModelError("calibrator probabilities must lie in [0, 1].")
            calibrator = cls(method="isotonic")
            calibrator.thresholds_, calibrator.probabilities_ = thresholds, probabilities
        elif method == "sigmoid":
            calibrator = cls(method="sigmoid")
            calibrator.a_ = json_number(data.get("a"), "calibrator a")
            calibrator.b_ = json_number(data.get("b"), "calibrator b")
        else:
            raise IncompatibleModelError(
                f"calibrator method must be one of {list(CALIBRATION_METHODS)}; got {method!r}."
            )
        calibrator.method_ = method
        return calibrator


def calibration_briers(
    margins: FloatArray, labels: IntArray, random_state: int
) -> dict[str, float]:
    """Out-of-fold Brier of each calibration map on the hold-out, and the raw score's."""
    folds = StratifiedKFold(CALIBRATION_CV_FOLDS, shuffle=True, random_state=random_state)
    predicted = {method: np.empty(labels.shape[0]) for method in CALIBRATION_METHODS}
    for fit_rows, test_rows in folds.split(margins, labels):
        for method in CALIBRATION_METHODS:
            calibrator = Calibrator(method).fit(margins[fit_rows], labels[fit_rows])
            predicted[method][test_rows] = calibrator.transform(margins[test_rows])
    briers = {"uncalibrated": metrics.brier(labels, expit(margins))}
    briers.update({method: metrics.brier(labels, p) for method, p in predicted.items()})
    return briers


@dataclass(frozen=True, eq=False)
class CrossFittedCalibration:
    """The served map (fitted on every out-of-fold score) and honest out-of-fold risks.

    ``oof_risk`` calibrates each fold's scores with a map fitted on the other folds only,
    so metrics on it describe what a loan the model never saw gets, calibration included.
    """

    calibrator: Calibrator
    method: CalibrationMethod
    briers: dict[str, float]
    oof_risk: FloatArray


def cross_fitted_calibration(
    oof_margin: FloatArray, labels: IntArray, fold_of_row: IntArray, random_state: int
) -> CrossFittedCalibration:
    """Choose the map by cross-validated Brier, fit it on all out-of-fold margins."""
    briers = calibration_briers(oof_margin, labels, random_state)
    method = min(CALIBRATION_METHODS, key=lambda name: briers[name])
    oof_risk = np.empty(labels.shape[0], dtype=np.float64)
    for fold in np.unique(fold_of_row):
        test = fold_of_row == fold
        fitted = Calibrator(method).fit(oof_margin[~test], labels[~test])
        oof_risk[test] = fitted.transform(oof_margin[test])
    return CrossFittedCalibration(
        calibrator=Calibrator(method).fit(oof_margin, labels),
        method=method,
        briers=briers,
        oof_risk=oof_risk,
    )
