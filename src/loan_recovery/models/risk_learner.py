"""One uncalibrated risk learner: boosted trees, a random forest or a scorecard.

:class:`RiskModel` puts each family behind the scikit-learn estimator contract, so
``clone`` and CV work on it. Boosted trees and the forest obey the domain's monotone
directions (more days past due never lowers risk) unless ``monotone`` is off, which model
selection decides from the data (see :mod:`loan_recovery.models.risk_selection`). Boosted
trees either stop early on a stratified split (``n_rounds`` None) or grow exactly
``n_rounds`` trees: the count chosen by cross-validation when the served model is refitted
on every row. Scoring goes through ``Booster.inplace_predict``, fast and thread-safe.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from loan_recovery.config import RandomForestSettings, XGBoostSettings
from loan_recovery.exceptions import ModelError
from loan_recovery.models.boosting import BoostRows, fit_booster, named
from loan_recovery.models.design import monotone_constraints
from loan_recovery.models.risk_inputs import (
    Float32Array,
    FloatArray,
    IntArray,
    check_training_data,
    logit,
    scoring_values,
    thread_count,
)
from loan_recovery.models.scorecard import Scorecard

Family = Literal["xgboost", "random_forest", "scorecard"]

#: Learner families a risk model can be; the champion is chosen among these.
FAMILIES: tuple[Family, ...] = ("xgboost", "random_forest", "scorecard")
#: Families whose trees take the domain's monotone constraints.
CONSTRAINABLE: tuple[Family, ...] = ("xgboost", "random_forest")
#: Rows per block when a forest scores in parallel (trees release the GIL per block).
_FOREST_BLOCK_ROWS = 5_000


def check_family(family: object) -> Family:
    """``family`` as a :data:`Family`, or a ModelError listing the choices."""
    if family not in FAMILIES:
        raise ModelError(f"family must be one of {list(FAMILIES)}; got {family!r}.")
    return family


class Deadline(xgb.callback.TrainingCallback):
    """Stops boosting once a wall-clock deadline passes (tuning budgets)."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.reached = False

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if time.monotonic() >= self.deadline:
            self.reached = True
        return self.reached


def xgboost_params(
    settings: XGBoostSettings,
    names: tuple[str, ...],
    random_state: int,
    threads: int,
    *,
    monotone: bool = True,
) -> dict[str, Any]:
    """XGBoost's parameters for ``settings``; constraints only when ``monotone``."""
    params: dict[str, Any] = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "learning_rate": settings.learning_rate,
        "max_depth": settings.max_depth,
        "min_child_weight": settings.min_child_weight,
        "subsample": settings.subsample,
        "colsample_bytree": settings.colsample_bytree,
        "reg_lambda": settings.reg_lambda,
        "seed": random_state,
        "nthread": threads,
        "verbosity": 0,
    }
    if monotone:
        params["monotone_constraints"] = monotone_constraints(names)
    return params


def train_booster(
    values: Float32Array,
    labels: IntArray,
    names: tuple[str, ...],
    settings: XGBoostSettings,
    random_state: int,
    threads: int,
    deadline: float | None = None,
    *,
    monotone: bool = True,
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
    stopper = Deadline(deadline) if deadline is not None else None
    booster, _ = boost_with_curve(
        (values[fit_rows], labels[fit_rows]),
        (values[valid_rows], labels[valid_rows]),
        names,
        settings,
        random_state,
        threads,
        monotone=monotone,
        callbacks=[stopper] if stopper is not None else [],
    )
    if stopper is not None and stopper.reached:
        # Early stopping may not have run this round: the caller discards the booster.
        return booster, booster.num_boosted_rounds() - 1, True
    best = int(booster.best_iteration)
    return named(booster[: best + 1], names), best, False


def boost_rounds(
    values: Float32Array,
    labels: IntArray,
    names: tuple[str, ...],
    settings: XGBoostSettings,
    random_state: int,
    threads: int,
    n_rounds: int,
    *,
    monotone: bool = True,
) -> xgb.Booster:
    """Exactly ``n_rounds`` trees on every row given: no split is held back (on the
    training cluster when one is active: this is the served booster's fit)."""
    booster = fit_booster(
        xgboost_params(settings, names, random_state, threads, monotone=monotone),
        BoostRows(values, labels),
        n_rounds,
    )
    return named(booster, names)


def boost_with_curve(
    train: tuple[Float32Array, IntArray],
    test: tuple[Float32Array, IntArray],
    names: tuple[str, ...],
    settings: XGBoostSettings,
    random_state: int,
    threads: int,
    *,
    monotone: bool = True,
    callbacks: list[xgb.callback.TrainingCallback] | None = None,
) -> tuple[xgb.Booster, FloatArray]:
    """Boost on ``train`` and record the test log-loss after every round.

    Stops ``early_stopping_rounds`` after the test set's best, so a fold's curve covers
    every round that could be chosen; cross-fitting picks one count for all folds from the
    mean curve.
    """
    train_matrix = xgb.QuantileDMatrix(train[0], train[1], nthread=threads)
    test_matrix = xgb.QuantileDMatrix(test[0], test[1], ref=train_matrix, nthread=threads)
    history: dict[str, Any] = {}
    booster = xgb.train(
        xgboost_params(settings, names, random_state, threads, monotone=monotone),
        train_matrix,
        num_boost_round=settings.n_estimators,
        evals=[(test_matrix, "test")],
        early_stopping_rounds=settings.early_stopping_rounds,
        evals_result=history,
        verbose_eval=False,
        callbacks=callbacks or [],
    )
    return named(booster, names), np.asarray(history["test"]["logloss"], dtype=np.float64)


def forest_positive(
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


class RiskModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """One uncalibrated learner of P(not recovered).

    ``n_jobs`` None (the default) uses every available core, since training and scoring a
    loan book is the only work the process does at that moment. ``n_rounds`` fixes the
    number of boosted trees (all rows train); None stops early on a held-out split.
    Fitted, it has ``feature_names_in_``, ``n_features_in_``, ``classes_`` ([0, 1]) and
    ``booster_`` / ``best_iteration_`` (xgboost), ``estimator_`` (random_forest) or
    ``scorecard_`` (scorecard).
    """

    def __init__(
        self,
        family: str = "xgboost",
        xgboost: XGBoostSettings | None = None,
        random_forest: RandomForestSettings | None = None,
        random_state: int = 0,
        n_jobs: int | None = None,
        monotone: bool = True,
        n_rounds: int | None = None,
    ) -> None:
        self.family = family
        self.xgboost = xgboost
        self.random_forest = random_forest
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.monotone = monotone
        self.n_rounds = n_rounds

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> RiskModel:
        """Train on a design matrix and 0/1 labels (1 = not recovered)."""
        check_family(self.family)
        values, labels, names = check_training_data(X, y)
        return self.fit_arrays(values, labels, names)

    def fit_arrays(
        self, values: Float32Array, labels: IntArray, names: tuple[str, ...]
    ) -> RiskModel:
        """Train on checked arrays (callers that checked them skip re-checking)."""
        family = check_family(self.family)
        for stale in ("booster_", "best_iteration_", "estimator_", "scorecard_"):
            if hasattr(self, stale):
                delattr(self, stale)
        threads = thread_count(self.n_jobs)
        if family == "xgboost":
            settings = self.xgboost if self.xgboost is not None else XGBoostSettings()
            if self.n_rounds is None:
                self.booster_, self.best_iteration_, _ = train_booster(
                    values,
                    labels,
                    names,
                    settings,
                    self.random_state,
                    threads,
                    monotone=self.monotone,
                )
            else:
                self.booster_ = boost_rounds(
                    values,
                    labels,
                    names,
                    settings,
                    self.random_state,
                    threads,
                    self.n_rounds,
                    monotone=self.monotone,
                )
                self.best_iteration_ = self.n_rounds - 1
        elif family == "random_forest":
            self.estimator_ = self._fit_forest(values, labels, names, threads)
        else:
            self.scorecard_ = Scorecard().fit(values, labels, names, random_state=self.random_state)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1], dtype=np.int64)
        return self

    def _fit_forest(
        self, values: Float32Array, labels: IntArray, names: tuple[str, ...], threads: int
    ) -> RandomForestClassifier:
        forest = self.random_forest if self.random_forest is not None else RandomForestSettings()
        max_samples = forest.max_samples
        if max_samples is not None and max_samples >= labels.shape[0]:
            max_samples = None
        estimator = RandomForestClassifier(
            n_estimators=forest.n_estimators,
            max_depth=forest.max_depth,
            min_samples_leaf=forest.min_samples_leaf,
            max_features=forest.max_features,
            max_samples=max_samples,
            n_jobs=threads,
            random_state=self.random_state,
            # The same domain knowledge binds both tree families, so they compete fairly.
            monotonic_cst=list(monotone_constraints(names)) if self.monotone else None,
        ).fit(values, labels)
        # Its own predict_proba sums trees in thread completion order, so scores would
        # differ in the last bit from call to call; forest_positive splits rows instead.
        estimator.n_jobs = 1
        return estimator

    @property
    def contribution_unit(self) -> str:
        """What per-feature contributions add up to: log-odds, or a forest's probability."""
        return "probability" if hasattr(self, "estimator_") else "log-odds"

    def values_of(self, frame: pd.DataFrame) -> Float32Array:
        """``frame``'s values in training column order, or a clear error naming the gap."""
        check_is_fitted(self, "feature_names_in_")
        return scoring_values(frame, [str(name) for name in self.feature_names_in_])

    def positive_values(self, values: Float32Array) -> FloatArray:
        """Uncalibrated P(not recovered) of checked values."""
        # Dispatch on what was fitted, not on ``family``, which set_params may have changed.
        if hasattr(self, "booster_"):
            raw = self.booster_.inplace_predict(
                values, iteration_range=(0, self.best_iteration_ + 1)
            )
            return np.asarray(raw, dtype=np.float64)
        if hasattr(self, "scorecard_"):
            return self.scorecard_.predict_proba_positive(values)
        return forest_positive(self.estimator_, values, thread_count(self.n_jobs))

    def margin_values(self, values: Float32Array) -> FloatArray:
        """Log-odds of not recovered of checked values (the calibrator's input)."""
        if hasattr(self, "booster_"):
            raw = self.booster_.inplace_predict(
                values, iteration_range=(0, self.best_iteration_ + 1), predict_type="margin"
            )
            return np.asarray(raw, dtype=np.float64)
        if hasattr(self, "scorecard_"):
            return self.scorecard_.decision_margin(values)
        return logit(self.positive_values(values))

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Uncalibrated (P(recovered), P(not recovered)) per row, shape (n, 2)."""
        positive = self.positive_values(self.values_of(X))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: pd.DataFrame) -> IntArray:
        """1 where the uncalibrated P(not recovered) is at least 0.5."""
        positive = self.positive_values(self.values_of(X))
        return (positive >= 0.5).astype(np.int64)

    def decision_margin(self, X: pd.DataFrame) -> FloatArray:
        """Log-odds of not recovered: the booster's or scorecard's margin, a forest's logit."""
        return self.margin_values(self.values_of(X))
