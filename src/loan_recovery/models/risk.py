"""The risk model: P(a loan is not fully recovered) from the risk design matrix.

Why it is built this way:

* :class:`RiskModel` is one learner (gradient-boosted trees or a random forest) behind the
  scikit-learn estimator contract, so ``clone``, ``Pipeline`` and CV work on it. The
  boosted trees obey the domain's monotone directions (more days past due never lowers
  risk), stop early on a stratified validation split, and score through
  ``Booster.inplace_predict``, which is fast and thread-safe for the API.
* :class:`CalibratedRiskModel` wraps it, as ``CalibratedClassifierCV`` does: a hold-out the
  base learner never sees fits a monotone map from raw scores to probabilities, because
  expected-recovery arithmetic downstream multiplies by the score and needs 0.7 to mean 70%.
* Models are saved as JSON plus XGBoost's UBJSON or a ``skops`` file, never pickle, so
  loading a model file cannot run code; loading refuses any type it does not expect.
* :func:`cross_validate_risk` compares both families against two baselines a reviewer
  would ask about (the base rate and a one-feature logistic regression), and
  :func:`tune_xgboost` searches hyperparameters within a wall-clock budget.

Every hyperparameter comes from :mod:`loan_recovery.config`; the constants below are
structural (file names, search ranges, minimum class counts), not tuning choices.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd
import sklearn
import skops
import skops.io
import xgboost as xgb
from pydantic import ValidationError
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

import loan_recovery
from loan_recovery.config import RandomForestSettings, RiskSettings, XGBoostSettings
from loan_recovery.exceptions import (
    IncompatibleModelError,
    ModelError,
    ModelNotFoundError,
    TamperedModelError,
    TrainingDataError,
)
from loan_recovery.models import metrics
from loan_recovery.models.design import monotone_constraints
from loan_recovery.models.model_json import (
    column_difference,
    incompatible,
    load_checked_booster,
    read_model_json,
)

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

Family = Literal["xgboost", "random_forest"]
CalibrationMethod = Literal["isotonic", "sigmoid"]

#: Learner families a risk model can be; the champion is chosen among these.
FAMILIES: tuple[Family, ...] = ("xgboost", "random_forest")
#: Calibration maps; on equal cross-validated Brier the first (fewer parameters) wins.
CALIBRATION_METHODS: tuple[CalibrationMethod, ...] = ("sigmoid", "isotonic")
#: Folds of the cross-validation that picks the calibration map within the hold-out.
CALIBRATION_CV_FOLDS = 5
#: Fewest rows of each class a learner trains on: fewer cannot fill a stratified
#: early-stopping split with both classes.
MIN_ROWS_PER_CLASS = 10
#: Rows per block when a forest scores in parallel (trees release the GIL per block).
_FOREST_BLOCK_ROWS = 5_000
#: Scores of a random forest are clipped to [eps, 1 - eps] before taking their logit.
_LOGIT_EPS = 1e-6

MODEL_JSON = "risk_model.json"
XGBOOST_FILE = "risk_xgboost.ubj"
RANDOM_FOREST_FILE = "risk_random_forest.skops"
_MODEL_FILES: dict[str, str] = {"xgboost": XGBOOST_FILE, "random_forest": RANDOM_FOREST_FILE}
FORMAT_NAME = "loan_recovery.risk_model"
FORMAT_VERSION = 1
#: Types a saved forest may hold beyond those skops trusts by default.
_TRUSTED_SKOPS_TYPES = frozenset({"sklearn.tree._tree.Tree"})

#: Candidates of :func:`cross_validate_risk` besides the families; the logistic one is
#: named after its feature, ``logistic_<feature>``.
BASE_RATE = "base_rate"
LOGISTIC_PREFIX = "logistic_"

#: Search ranges of :func:`tune_xgboost`: (low, high, log scale).
TUNING_SPACE: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.01, 0.3, True),
    "max_depth": (2, 10, False),
    "min_child_weight": (0.5, 50.0, True),
    "subsample": (0.5, 1.0, False),
    "colsample_bytree": (0.4, 1.0, False),
    "reg_lambda": (1e-3, 50.0, True),
}


# --- input checks -------------------------------------------------------------------------
def _check_family(family: object) -> Family:
    if family not in FAMILIES:
        raise ModelError(f"family must be one of {list(FAMILIES)}; got {family!r}.")
    return family


def _available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _threads(n_jobs: int | None) -> int:
    """joblib-style ``n_jobs`` as a thread count; None means every available core."""
    cores = _available_cores()
    if n_jobs is None:
        return cores
    if n_jobs == 0:
        raise ModelError("n_jobs must not be 0; use None or -1 for all cores.")
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def _labels(y: object, n_rows: int) -> IntArray:
    """y as 0/1 int64 of length ``n_rows``, or a TrainingDataError saying what came."""
    labels = np.asarray(y).ravel()
    if labels.shape[0] != n_rows:
        raise TrainingDataError(
            f"y must have one label per row of X ({n_rows}); got {labels.shape[0]}."
        )
    if labels.dtype == np.bool_:
        labels = labels.astype(np.int64)
    try:
        valid = bool(np.isin(labels, (0, 1)).all())
    except TypeError:
        valid = False
    if not valid:
        shown = pd.unique(pd.Series(labels, dtype=object)).tolist()[:5]
        raise TrainingDataError(
            f"y must hold only 0 (recovered) and 1 (not recovered); got values {shown}."
        )
    return labels.astype(np.int64)


def _require_both_classes(labels: IntArray, minimum: int, where: str) -> None:
    counts = np.bincount(labels, minlength=2)
    if counts.min() == 0:
        present = int(np.argmax(counts))
        raise TrainingDataError(
            f"{where} holds a single class (all {counts[present]} rows are {present}); a risk "
            "model needs both recovered (0) and not-recovered (1) loans."
        )
    if counts.min() < minimum:
        raise TrainingDataError(
            f"{where} needs at least {minimum} rows of each class; got {counts[0]} recovered "
            f"(0) and {counts[1]} not recovered (1). Train on more labelled loans."
        )


def _check_training_data(
    frame: object, y: object
) -> tuple[Float32Array, IntArray, tuple[str, ...]]:
    """X as a finite float32 array with its column names, y as 0/1 labels."""
    if not isinstance(frame, pd.DataFrame):
        raise TrainingDataError(
            "X must be a pandas DataFrame with named columns (build it with "
            f"risk_design_matrix); got {type(frame).__name__}."
        )
    if frame.shape[1] == 0 or len(frame) == 0:
        raise TrainingDataError(f"X must have rows and columns; got shape {frame.shape}.")
    names = tuple(str(column) for column in frame.columns)
    if len(set(names)) != len(names):
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        raise TrainingDataError(f"X has repeated column names {repeated}.")
    non_numeric = [
        name
        for name, dtype in zip(names, frame.dtypes, strict=True)
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if non_numeric:
        raise TrainingDataError(f"X must be numeric; columns {non_numeric} are not.")
    labels = _labels(y, len(frame))
    values = frame.to_numpy(dtype=np.float32)
    finite = np.isfinite(values).all(axis=0)
    if not finite.all():
        bad = [name for name, ok in zip(names, finite, strict=True) if not ok]
        raise TrainingDataError(
            f"X must be finite; columns {bad} hold NaN or inf (or overflow float32)."
        )
    _require_both_classes(labels, MIN_ROWS_PER_CLASS, "the training data")
    return values, labels, names


def _scoring_values(frame: object, expected: list[str]) -> Float32Array:
    """X's values in the model's column order, or IncompatibleModelError naming the gap."""
    if not isinstance(frame, pd.DataFrame):
        raise IncompatibleModelError(
            "the risk model scores a pandas DataFrame with its training columns (build it "
            f"with risk_design_matrix); got {type(frame).__name__}."
        )
    got = [str(column) for column in frame.columns]
    if got != expected:
        raise IncompatibleModelError(
            f"X does not match the {len(expected)} columns the risk model was trained on: "
            f"{column_difference(got, expected)}. Build X with risk_design_matrix and the "
            "settings the model was trained with."
        )
    values: Float32Array = frame.to_numpy(dtype=np.float32)
    return values


def _logit(probabilities: FloatArray) -> FloatArray:
    clipped = np.clip(probabilities, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    result: FloatArray = np.log(clipped) - np.log1p(-clipped)
    return result


def _expit(z: FloatArray) -> FloatArray:
    """Logistic function without overflow warnings for large |z|."""
    e = np.exp(-np.abs(z))
    result: FloatArray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return result


# --- XGBoost training ---------------------------------------------------------------------
class _Deadline(xgb.callback.TrainingCallback):
    """Stops boosting once a wall-clock deadline passes (tuning budgets)."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.reached = False

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if time.monotonic() >= self.deadline:
            self.reached = True
        return self.reached


def _xgboost_params(
    settings: XGBoostSettings, names: tuple[str, ...], random_state: int, threads: int
) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "learning_rate": settings.learning_rate,
        "max_depth": settings.max_depth,
        "min_child_weight": settings.min_child_weight,
        "subsample": settings.subsample,
        "colsample_bytree": settings.colsample_bytree,
        "reg_lambda": settings.reg_lambda,
        "monotone_constraints": monotone_constraints(names),
        "seed": random_state,
        "nthread": threads,
        "verbosity": 0,
    }


def _train_booster(
    values: Float32Array,
    labels: IntArray,
    names: tuple[str, ...],
    settings: XGBoostSettings,
    random_state: int,
    threads: int,
    deadline: float | None = None,
) -> tuple[xgb.Booster, int, bool]:
    """Boost with early stopping on a stratified split; returns (booster, best, timed out).

    The booster is cut to its best iteration, so every consumer (scoring, SHAP,
    ``Booster.predict``) sees exactly the trees that score.
    """
    fit_rows, valid_rows = train_test_split(
        np.arange(labels.shape[0]),
        test_size=settings.validation_fraction,
        stratify=labels,
        random_state=random_state,
    )
    feature_names = list(names)
    train = xgb.QuantileDMatrix(
        values[fit_rows], labels[fit_rows], feature_names=feature_names, nthread=threads
    )
    valid = xgb.QuantileDMatrix(
        values[valid_rows],
        labels[valid_rows],
        feature_names=feature_names,
        ref=train,
        nthread=threads,
    )
    callbacks: list[xgb.callback.TrainingCallback] = []
    stopper = _Deadline(deadline) if deadline is not None else None
    if stopper is not None:
        callbacks.append(stopper)
    booster = xgb.train(
        _xgboost_params(settings, names, random_state, threads),
        train,
        num_boost_round=settings.n_estimators,
        evals=[(valid, "validation")],
        early_stopping_rounds=settings.early_stopping_rounds,
        verbose_eval=False,
        callbacks=callbacks,
    )
    if stopper is not None and stopper.reached:
        # Early stopping may not have run this round: the caller discards the booster.
        return booster, booster.num_boosted_rounds() - 1, True
    best = int(booster.best_iteration)
    return booster[: best + 1], best, False


def _forest_positive(
    forest: RandomForestClassifier, values: Float32Array, threads: int
) -> FloatArray:
    """P(class 1) of a forest, parallel over row blocks with every row summing its trees in
    the same order, so scores are bit-identical whatever the thread count or call."""
    n_rows = values.shape[0]
    blocks = min(threads * 4, max(1, n_rows // _FOREST_BLOCK_ROWS))
    if threads <= 1 or blocks <= 1:
        return np.asarray(forest.predict_proba(values)[:, 1], dtype=np.float64)
    edges = np.linspace(0, n_rows, blocks + 1).astype(np.int64)

    def block(bounds: tuple[int, int]) -> FloatArray:
        return np.asarray(
            forest.predict_proba(values[bounds[0] : bounds[1]])[:, 1], dtype=np.float64
        )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = list(pool.map(block, zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)))
    return np.concatenate(parts)


# --- the learner --------------------------------------------------------------------------
class RiskModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """One uncalibrated learner of P(not recovered): boosted trees or a random forest.

    ``n_jobs`` None (the default) uses every available core for both families, since
    training and scoring a loan book is the only work the process does at that moment.
    Fitted, it has ``feature_names_in_``, ``n_features_in_``, ``classes_`` ([0, 1]) and
    either ``booster_`` / ``best_iteration_`` (xgboost) or ``estimator_`` (random_forest).
    """

    def __init__(
        self,
        family: str = "xgboost",
        xgboost: XGBoostSettings | None = None,
        random_forest: RandomForestSettings | None = None,
        random_state: int = 0,
        n_jobs: int | None = None,
    ) -> None:
        self.family = family
        self.xgboost = xgboost
        self.random_forest = random_forest
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> RiskModel:
        """Train on a design matrix and 0/1 labels (1 = not recovered)."""
        _check_family(self.family)
        values, labels, names = _check_training_data(X, y)
        return self._fit_arrays(values, labels, names)

    def _fit_arrays(
        self, values: Float32Array, labels: IntArray, names: tuple[str, ...]
    ) -> RiskModel:
        """Train on checked arrays (callers inside this module skip re-checking)."""
        family = _check_family(self.family)
        for stale in ("booster_", "best_iteration_", "estimator_"):
            if hasattr(self, stale):
                delattr(self, stale)
        threads = _threads(self.n_jobs)
        if family == "xgboost":
            settings = self.xgboost if self.xgboost is not None else XGBoostSettings()
            self.booster_, self.best_iteration_, _ = _train_booster(
                values, labels, names, settings, self.random_state, threads
            )
        else:
            forest = (
                self.random_forest if self.random_forest is not None else RandomForestSettings()
            )
            max_samples = forest.max_samples
            if max_samples is not None and max_samples >= labels.shape[0]:
                max_samples = None
            self.estimator_ = RandomForestClassifier(
                n_estimators=forest.n_estimators,
                max_depth=forest.max_depth,
                min_samples_leaf=forest.min_samples_leaf,
                max_features=forest.max_features,
                max_samples=max_samples,
                n_jobs=threads,
                random_state=self.random_state,
                # The same domain knowledge binds both families, so they compete fairly.
                monotonic_cst=list(monotone_constraints(names)),
            ).fit(values, labels)
            # Its own predict_proba sums trees in thread completion order, so scores would
            # differ in the last bit from call to call; _forest_positive splits rows instead.
            self.estimator_.n_jobs = 1
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1], dtype=np.int64)
        return self

    def _values(self, frame: pd.DataFrame) -> Float32Array:
        check_is_fitted(self, "feature_names_in_")
        return _scoring_values(frame, [str(name) for name in self.feature_names_in_])

    def _positive_values(self, values: Float32Array) -> FloatArray:
        # Dispatch on what was fitted, not on ``family``, which set_params may have changed.
        if hasattr(self, "booster_"):
            raw = self.booster_.inplace_predict(
                values, iteration_range=(0, self.best_iteration_ + 1)
            )
            return np.asarray(raw, dtype=np.float64)
        return _forest_positive(self.estimator_, values, _threads(self.n_jobs))

    def _margin_values(self, values: Float32Array) -> FloatArray:
        if hasattr(self, "booster_"):
            raw = self.booster_.inplace_predict(
                values, iteration_range=(0, self.best_iteration_ + 1), predict_type="margin"
            )
            return np.asarray(raw, dtype=np.float64)
        return _logit(self._positive_values(values))

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Uncalibrated (P(recovered), P(not recovered)) per row, shape (n, 2)."""
        positive = self._positive_values(self._values(X))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: pd.DataFrame) -> IntArray:
        """1 where the uncalibrated P(not recovered) is at least 0.5."""
        positive = self._positive_values(self._values(X))
        return (positive >= 0.5).astype(np.int64)

    def decision_margin(self, X: pd.DataFrame) -> FloatArray:
        """Log-odds of not recovered: the booster's raw margin, or the forest's logit."""
        return self._margin_values(self._values(X))


# --- calibration --------------------------------------------------------------------------
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
        p = _expit(a * scores + b)
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


def _float_list(value: object, what: str) -> FloatArray:
    if not isinstance(value, list) or not value:
        raise IncompatibleModelError(f"calibrator {what} must be a non-empty list of numbers.")
    if not all(isinstance(item, int | float) and not isinstance(item, bool) for item in value):
        raise IncompatibleModelError(f"calibrator {what} must hold only numbers.")
    array = np.asarray(value, dtype=np.float64)
    if not np.isfinite(array).all():
        raise IncompatibleModelError(f"calibrator {what} must be finite.")
    return array


def _finite_number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IncompatibleModelError(f"calibrator {what} must be a finite number; got {value!r}.")
    return float(value)


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
        labels = _labels(y, values.shape[0])
        if not np.isfinite(values).all():
            raise TrainingDataError("calibration scores must be finite.")
        _require_both_classes(labels, 1, "the calibration data")
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
        return _expit(self.a_ * values + self.b_)

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
            thresholds = _float_list(data.get("thresholds"), "thresholds")
            probabilities = _float_list(data.get("probabilities"), "probabilities")
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
            calibrator.a_ = _finite_number(data.get("a"), "a")
            calibrator.b_ = _finite_number(data.get("b"), "b")
        else:
            raise IncompatibleModelError(
                f"calibrator method must be one of {list(CALIBRATION_METHODS)}; got {method!r}."
            )
        calibrator.method_ = method
        return calibrator


def _calibration_briers(
    margins: FloatArray, labels: IntArray, random_state: int
) -> dict[str, float]:
    """Out-of-fold Brier of each calibration map on the hold-out, and the raw score's."""
    folds = StratifiedKFold(CALIBRATION_CV_FOLDS, shuffle=True, random_state=random_state)
    predicted = {method: np.empty(labels.shape[0]) for method in CALIBRATION_METHODS}
    for fit_rows, test_rows in folds.split(margins, labels):
        for method in CALIBRATION_METHODS:
            calibrator = Calibrator(method).fit(margins[fit_rows], labels[fit_rows])
            predicted[method][test_rows] = calibrator.transform(margins[test_rows])
    briers = {"uncalibrated": metrics.brier(labels, _expit(margins))}
    briers.update({method: metrics.brier(labels, p) for method, p in predicted.items()})
    return briers


# --- the calibrated model -----------------------------------------------------------------
class CalibratedRiskModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A :class:`RiskModel` and a :class:`Calibrator` fitted on rows the learner never saw.

    Fitted, it has ``base_`` (the learner: SHAP reads ``base_.booster_`` or
    ``base_.estimator_``), ``calibrator_``, ``calibration_method_``, ``calibration_brier_``
    (cross-validated Brier of each map on the hold-out, and of the raw score),
    ``feature_names_in_``, ``n_features_in_`` and ``classes_``.
    """

    def __init__(
        self,
        family: str = "xgboost",
        settings: RiskSettings | None = None,
        random_state: int = 0,
    ) -> None:
        self.family = family
        self.settings = settings
        self.random_state = random_state

    def _settings(self) -> RiskSettings:
        return self.settings if self.settings is not None else RiskSettings()

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> CalibratedRiskModel:
        """Train the learner on most rows, then calibrate on a stratified hold-out."""
        _check_family(self.family)
        values, labels, names = _check_training_data(X, y)
        return self._fit_arrays(values, labels, names)

    def _fit_arrays(
        self, values: Float32Array, labels: IntArray, names: tuple[str, ...]
    ) -> CalibratedRiskModel:
        family = _check_family(self.family)
        settings = self._settings()
        fit_rows, calibration_rows = train_test_split(
            np.arange(labels.shape[0]),
            test_size=settings.calibration_fraction,
            stratify=labels,
            random_state=self.random_state,
        )
        held_out = labels[calibration_rows]
        _require_both_classes(
            held_out,
            CALIBRATION_CV_FOLDS,
            f"the calibration hold-out ({settings.calibration_fraction:.0%} of rows)",
        )
        _require_both_classes(labels[fit_rows], MIN_ROWS_PER_CLASS, "the learner's rows")
        base = RiskModel(
            family=family,
            xgboost=settings.xgboost,
            random_forest=settings.random_forest,
            random_state=self.random_state,
        )._fit_arrays(values[fit_rows], labels[fit_rows], names)
        margins = base._margin_values(values[calibration_rows])
        briers = _calibration_briers(margins, held_out, self.random_state)
        method = min(CALIBRATION_METHODS, key=lambda name: briers[name])
        self.base_ = base
        self.calibration_brier_ = briers
        self.calibration_method_: CalibrationMethod = method
        self.calibrator_ = Calibrator(method).fit(margins, held_out)
        self.feature_names_in_ = base.feature_names_in_
        self.n_features_in_ = base.n_features_in_
        self.classes_ = base.classes_
        return self

    def _risk_values(self, values: Float32Array) -> FloatArray:
        return self.calibrator_.transform(self.base_._margin_values(values))

    def risk_score(self, X: pd.DataFrame) -> FloatArray:
        """Calibrated P(not recovered) per row."""
        check_is_fitted(self, "calibrator_")
        return self._risk_values(self.base_._values(X))

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Calibrated (P(recovered), P(not recovered)) per row, shape (n, 2)."""
        positive = self.risk_score(X)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: pd.DataFrame) -> IntArray:
        """1 where the risk score reaches ``settings.decision_threshold``."""
        return (self.risk_score(X) >= self._settings().decision_threshold).astype(np.int64)

    # --- persistence ----------------------------------------------------------------------
    def save(self, directory: Path | str) -> list[Path]:
        """Write ``risk_model.json`` and the learner's file; returns both paths.

        The learner goes to XGBoost's UBJSON or a skops file (never pickle); the JSON holds
        everything else, the learner file's SHA-256, and the library versions.
        """
        check_is_fitted(self, "calibrator_")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        family = _check_family(self.family)
        model_path = folder / _MODEL_FILES[family]
        if family == "xgboost":
            self.base_.booster_.save_model(str(model_path))
        else:
            skops.io.dump(self.base_.estimator_, model_path)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "family": family,
            "feature_names": [str(name) for name in self.feature_names_in_],
            "params": {
                "random_state": self.random_state,
                "settings": self._settings().model_dump(mode="json"),
            },
            "best_iteration": self.base_.best_iteration_ if family == "xgboost" else None,
            "calibration": {
                "method": self.calibration_method_,
                "calibrator": self.calibrator_.to_dict(),
                "brier": self.calibration_brier_,
            },
            "model_file": model_path.name,
            "model_sha256": _sha256(model_path),
            "libraries": _library_versions(),
        }
        json_path = folder / MODEL_JSON
        json_path.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", "utf-8")
        return [json_path, model_path]

    @classmethod
    def load(cls, directory: Path | str) -> CalibratedRiskModel:
        """Rebuild a saved model; scores are bit-identical to the model that was saved.

        Raises ModelNotFoundError when there is no model, TamperedModelError when the
        learner file changed since it was saved, and IncompatibleModelError when the
        files do not describe a model this code can run.
        """
        folder = Path(directory)
        json_path = folder / MODEL_JSON
        if not json_path.is_file():
            raise ModelNotFoundError(f"no risk model in {folder}: {MODEL_JSON} is missing.")
        manifest = _read_manifest(json_path)
        family = manifest["family"]
        names: list[str] = manifest["feature_names"]
        settings: RiskSettings = manifest["settings"]
        model_path = folder / _MODEL_FILES[family]
        if not model_path.is_file():
            raise ModelNotFoundError(f"{json_path} names {model_path.name}, which is missing.")
        if _sha256(model_path) != manifest["model_sha256"]:
            raise TamperedModelError(
                f"{model_path} does not match the SHA-256 recorded in {json_path.name}; "
                "refusing to load it."
            )
        base = RiskModel(
            family=family,
            xgboost=settings.xgboost,
            random_forest=settings.random_forest,
            random_state=manifest["random_state"],
        )
        if family == "xgboost":
            base.booster_ = _load_booster(model_path, names, manifest["best_iteration"])
            base.best_iteration_ = manifest["best_iteration"]
        else:
            base.estimator_ = _load_forest(model_path, len(names))
        base.feature_names_in_ = np.asarray(names, dtype=object)
        base.n_features_in_ = len(names)
        base.classes_ = np.array([0, 1], dtype=np.int64)
        model = cls(family=family, settings=settings, random_state=manifest["random_state"])
        model.base_ = base
        model.calibrator_ = manifest["calibrator"]
        model.calibration_method_ = manifest["calibrator"].method_
        model.calibration_brier_ = manifest["brier"]
        model.feature_names_in_ = base.feature_names_in_
        model.n_features_in_ = base.n_features_in_
        model.classes_ = base.classes_
        return model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    return {
        "loan_recovery": loan_recovery.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgb.__version__,
        "skops": skops.__version__,
    }


def _read_manifest(json_path: Path) -> dict[str, Any]:
    """The checked contents of ``risk_model.json`` (typed objects, not raw JSON)."""

    def bad(detail: str) -> IncompatibleModelError:
        return incompatible(json_path, "a risk model", detail)

    raw = read_model_json(
        json_path, kind="a risk model", format_name=FORMAT_NAME, format_version=FORMAT_VERSION
    )
    family = raw.get("family")
    if family not in FAMILIES:
        raise bad(f"family {family!r} is not one of {list(FAMILIES)}")
    names = raw.get("feature_names")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(name, str) for name in names)
        or len(set(names)) != len(names)
    ):
        raise bad("feature_names must be a non-empty list of distinct strings")
    params = raw.get("params")
    if not isinstance(params, dict):
        raise bad("params must be an object")
    random_state = params.get("random_state")
    if not isinstance(random_state, int) or isinstance(random_state, bool):
        raise bad(f"random_state must be an integer; got {random_state!r}")
    try:
        settings = RiskSettings.model_validate(params.get("settings"))
    except ValidationError as error:
        raise bad(f"settings are invalid ({error.error_count()} problems: {error})") from None
    best = raw.get("best_iteration")
    if family == "xgboost" and (not isinstance(best, int) or isinstance(best, bool) or best < 0):
        raise bad(f"best_iteration must be a non-negative integer; got {best!r}")
    calibration = raw.get("calibration")
    if not isinstance(calibration, dict):
        raise bad("calibration must be an object")
    calibrator = Calibrator.from_dict(calibration.get("calibrator", {}))
    if calibration.get("method") != calibrator.method_:
        raise bad(
            f"calibration method {calibration.get('method')!r} disagrees with the calibrator's "
            f"{calibrator.method_!r}"
        )
    brier = calibration.get("brier")
    if not isinstance(brier, dict) or not all(
        isinstance(value, int | float) for value in brier.values()
    ):
        raise bad("calibration brier must map names to numbers")
    if raw.get("model_file") != _MODEL_FILES[family]:
        raise bad(f"model_file must be {_MODEL_FILES[family]!r}; got {raw.get('model_file')!r}")
    digest = raw.get("model_sha256")
    if not isinstance(digest, str):
        raise bad("model_sha256 is missing")
    return {
        "family": family,
        "feature_names": names,
        "settings": settings,
        "random_state": random_state,
        "best_iteration": best,
        "calibrator": calibrator,
        "brier": {str(key): float(value) for key, value in brier.items()},
        "model_sha256": digest,
    }


def _load_booster(path: Path, names: list[str], best_iteration: int) -> xgb.Booster:
    return load_checked_booster(
        path, names, best_iteration, described_in=MODEL_JSON, nthread=_threads(None)
    )


def _load_forest(path: Path, n_features: int) -> RandomForestClassifier:
    """Load a skops forest, trusting only the types a RandomForestClassifier needs."""
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as error:  # skops raises assorted errors for a malformed archive
        raise IncompatibleModelError(f"{path} is not a readable skops file: {error}") from None
    unexpected = sorted(set(untrusted) - _TRUSTED_SKOPS_TYPES)
    if unexpected:
        raise IncompatibleModelError(
            f"{path.name} holds types this code does not trust: {unexpected}; expected only "
            "a scikit-learn RandomForestClassifier."
        )
    try:
        estimator = skops.io.load(path, trusted=list(untrusted))
    except Exception as error:  # same: any failure to rebuild means an unusable file
        raise IncompatibleModelError(f"{path} cannot be loaded: {error}") from None
    if (
        not isinstance(estimator, RandomForestClassifier)
        or getattr(estimator, "n_features_in_", None) != n_features
        or list(getattr(estimator, "classes_", [])) != [0, 1]
    ):
        raise IncompatibleModelError(
            f"{path.name} is not a fitted 0/1 RandomForestClassifier on {n_features} features."
        )
    estimator.n_jobs = 1  # scoring parallelises over row blocks: see _forest_positive
    return estimator


# --- evaluation ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RiskEvaluation:
    """Cross-validated comparison of the risk-model candidates.

    ``metrics`` has one row per candidate and ``<metric>_mean`` / ``<metric>_std`` columns
    over folds; ``fold_metrics`` one row per (candidate, fold). ``oof_scores`` holds each
    candidate's out-of-fold probabilities aligned with ``labels`` (the rows of X), for
    report curves. ``baseline_features`` is the logistic baseline's feature per fold.
    """

    metrics: pd.DataFrame
    champion_family: Family
    oof_scores: dict[str, FloatArray]
    labels: IntArray
    fold_metrics: pd.DataFrame
    baseline_features: tuple[str, ...]
    decision_threshold: float

    def to_dict(self) -> dict[str, Any]:
        """Summary, metrics and downsampled curves per candidate, as plain JSON values."""
        table = {
            str(candidate): {str(column): _json_float(value) for column, value in row.items()}
            for candidate, row in self.metrics.iterrows()
        }
        return {
            "champion_family": self.champion_family,
            "cv_folds": len(self.baseline_features),
            "rows": int(self.labels.shape[0]),
            "positive_rate": float(self.labels.mean()),
            "baseline_features": list(self.baseline_features),
            "metrics": table,
            "curves": {
                name: metrics.curves(self.labels, scores, self.decision_threshold)
                for name, scores in self.oof_scores.items()
            },
        }


def _json_float(value: object) -> float | None:
    number = float(cast(float, value))
    return number if math.isfinite(number) else None


def _strongest_feature(values: Float32Array, labels: IntArray) -> int:
    """Column whose univariate ROC-AUC is farthest from 0.5 (either direction)."""
    distances = [abs(metrics.roc_auc(labels, values[:, j]) - 0.5) for j in range(values.shape[1])]
    return int(np.nanargmax(np.asarray(distances, dtype=np.float64)))


def _logistic_scores(
    train: Float32Array, labels: IntArray, test: Float32Array, random_state: int
) -> FloatArray:
    model = make_pipeline(StandardScaler(), LogisticRegression(random_state=random_state))
    model.fit(train.reshape(-1, 1), labels)
    return np.asarray(model.predict_proba(test.reshape(-1, 1))[:, 1], dtype=np.float64)


def cross_validate_risk(
    X: pd.DataFrame,
    y: npt.ArrayLike,
    *,
    settings: RiskSettings,
    random_state: int,
    on_fold: Callable[[str, int], None] | None = None,
) -> RiskEvaluation:
    """Stratified ``settings.cv_folds``-fold CV of both families and two baselines.

    Families are scored as :class:`CalibratedRiskModel` (calibrated probabilities, the
    hold-out carved from each training fold); ``base_rate`` predicts the training fold's
    prevalence; ``logistic_<feature>`` is a logistic regression on the single feature
    with the strongest univariate AUC on the training fold (named after the feature
    chosen most often). ``on_fold(candidate, fold)`` is called after each candidate is
    scored on each fold (fold from 0), ``4 * cv_folds`` calls in all.
    """
    values, labels, names = _check_training_data(X, y)
    _require_both_classes(labels, settings.cv_folds, "cross-validation")
    folds = StratifiedKFold(settings.cv_folds, shuffle=True, random_state=random_state)
    n_rows = labels.shape[0]
    oof: dict[str, FloatArray] = {
        name: np.full(n_rows, np.nan) for name in (*FAMILIES, "logistic", BASE_RATE)
    }
    rows: list[dict[str, Any]] = []
    chosen: list[str] = []

    def record(candidate: str, label: str, fold: int, test: IntArray, scores: FloatArray) -> None:
        oof[candidate][test] = scores
        rows.append(
            {
                "candidate": candidate,
                "fold": fold,
                **metrics.classification_metrics(labels[test], scores),
            }
        )
        if on_fold is not None:
            on_fold(label, fold)

    for fold, (train, test) in enumerate(folds.split(values, labels)):
        for family in FAMILIES:
            model = CalibratedRiskModel(family, settings, random_state)
            model._fit_arrays(values[train], labels[train], names)
            record(family, family, fold, test, model._risk_values(values[test]))
        column = _strongest_feature(values[train], labels[train])
        chosen.append(names[column])
        scores = _logistic_scores(
            values[train, column], labels[train], values[test, column], random_state
        )
        record("logistic", LOGISTIC_PREFIX + names[column], fold, test, scores)
        prevalence = np.full(test.shape[0], float(labels[train].mean()))
        record(BASE_RATE, BASE_RATE, fold, test, prevalence)

    logistic_name = LOGISTIC_PREFIX + Counter(chosen).most_common(1)[0][0]
    rename = {"logistic": logistic_name}
    fold_metrics = pd.DataFrame(rows).replace({"candidate": rename})
    grouped = fold_metrics.groupby("candidate", sort=False)[list(metrics.METRIC_NAMES)]
    means, stds = grouped.mean(), grouped.std(ddof=1)
    table = pd.DataFrame(index=means.index)
    for name in metrics.METRIC_NAMES:
        table[f"{name}_mean"] = means[name]
        table[f"{name}_std"] = stds[name]
    table.index.name = "candidate"
    auc = {str(name): float(value) for name, value in table["roc_auc_mean"].items()}
    champion = max(FAMILIES, key=lambda family: auc[family])
    return RiskEvaluation(
        metrics=table,
        champion_family=champion,
        oof_scores={rename.get(name, name): scores for name, scores in oof.items()},
        labels=labels,
        fold_metrics=fold_metrics,
        baseline_features=tuple(chosen),
        decision_threshold=settings.decision_threshold,
    )


# --- tuning -------------------------------------------------------------------------------
def _suggest(trial: optuna.Trial, name: str) -> float:
    low, high, log = TUNING_SPACE[name]
    if name == "max_depth":
        return float(trial.suggest_int(name, int(low), int(high)))
    return float(trial.suggest_float(name, low, high, log=log))


def tune_xgboost(
    X: pd.DataFrame,
    y: npt.ArrayLike,
    *,
    settings: RiskSettings,
    random_state: int,
    budget_seconds: float,
) -> XGBoostSettings:
    """Search XGBoost hyperparameters for held-out ROC-AUC within ``budget_seconds``.

    The first trial is the configured settings (clipped into :data:`TUNING_SPACE`), so the
    result is never worse than them on the tuning split; they come back unchanged when
    no other trial beats them or the budget allows none. A trial still running at the
    deadline is stopped and discarded, so the wall clock holds to within one boosting
    round.
    """
    if not (budget_seconds > 0 and math.isfinite(budget_seconds)):
        raise ModelError(f"budget_seconds must be a finite number > 0; got {budget_seconds!r}.")
    deadline = time.monotonic() + budget_seconds
    values, labels, names = _check_training_data(X, y)
    defaults = settings.xgboost
    fit_rows, valid_rows = train_test_split(
        np.arange(labels.shape[0]),
        test_size=defaults.validation_fraction,
        stratify=labels,
        random_state=random_state,
    )
    _require_both_classes(labels[valid_rows], 1, "the tuning validation split")
    threads = _threads(None)

    def objective(trial: optuna.Trial) -> float:
        update = {name: _suggest(trial, name) for name in TUNING_SPACE}
        update["max_depth"] = int(update["max_depth"])
        candidate = defaults.model_copy(update=update)
        booster, best, timed_out = _train_booster(
            values[fit_rows], labels[fit_rows], names, candidate, random_state, threads, deadline
        )
        if timed_out:
            raise optuna.TrialPruned()
        scores = booster.inplace_predict(values[valid_rows], iteration_range=(0, best + 1))
        return metrics.roc_auc(labels[valid_rows], np.asarray(scores))

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=random_state)
        )
        start = {
            name: min(max(getattr(defaults, name), low), high)
            for name, (low, high, _) in TUNING_SPACE.items()
        }
        study.enqueue_trial(start)
        remaining = deadline - time.monotonic()
        if remaining > 0:
            study.optimize(objective, timeout=remaining)
    finally:
        optuna.logging.set_verbosity(verbosity)
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        return defaults
    best_trial = max(completed, key=lambda t: cast(float, t.value))
    if best_trial.number == 0:
        return defaults
    params = dict(best_trial.params)
    params["max_depth"] = int(params["max_depth"])
    return defaults.model_copy(update=params)
