"""Checked inputs of the risk models: design matrices, 0/1 labels, thread counts, logits.

Every risk learner (trees, forest, scorecard), the calibrator and the model selection read
their inputs through these functions, so a bad matrix gets the same clear message
wherever it enters.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.exceptions import IncompatibleModelError, ModelError, TrainingDataError
from loan_recovery.models.model_json import column_difference

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: Fewest rows of each class a learner trains on: fewer cannot fill stratified folds (and
#: an early-stopping split) with both classes.
MIN_ROWS_PER_CLASS = 10
#: Scores of a random forest are clipped to [eps, 1 - eps] before taking their logit.
_LOGIT_EPS = 1e-6


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def thread_count(n_jobs: int | None) -> int:
    """joblib-style ``n_jobs`` as a thread count; None means every available core."""
    cores = available_cores()
    if n_jobs is None:
        return cores
    if n_jobs == 0:
        raise ModelError("n_jobs must not be 0; use None or -1 for all cores.")
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def label_array(y: object, n_rows: int) -> IntArray:
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


def require_both_classes(labels: IntArray, minimum: int, where: str) -> None:
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


def check_training_data(frame: object, y: object) -> tuple[Float32Array, IntArray, tuple[str, ...]]:
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
    labels = label_array(y, len(frame))
    values = frame.to_numpy(dtype=np.float32)
    finite = np.isfinite(values).all(axis=0)
    if not finite.all():
        bad = [name for name, ok in zip(names, finite, strict=True) if not ok]
        raise TrainingDataError(
            f"X must be finite; columns {bad} hold NaN or inf (or overflow float32)."
        )
    require_both_classes(labels, MIN_ROWS_PER_CLASS, "the training data")
    return values, labels, names


def scoring_values(frame: object, expected: list[str]) -> Float32Array:
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


def logit(probabilities: FloatArray) -> FloatArray:
    clipped = np.clip(probabilities, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    result: FloatArray = np.log(clipped) - np.log1p(-clipped)
    return result


def expit(z: FloatArray) -> FloatArray:
    """Logistic function without overflow warnings for large |z|."""
    e = np.exp(-np.abs(z))
    result: FloatArray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return result
