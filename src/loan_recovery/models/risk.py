"""The risk model served by ``score``: P(a loan is not fully recovered), calibrated.

Why it is built this way:

* The learner (:class:`~loan_recovery.models.risk_learner.RiskModel`: boosted trees, a
  random forest or a scorecard) is cross-fitted: ``k`` fold models give every row an
  out-of-fold score, the calibrator is fitted on those scores, and the served learner is
  refitted on *every* row, with the number of trees chosen by the same CV. scikit-learn's
  ``CalibratedClassifierCV(ensemble=False)`` does the same. On a lender's 500-loan export
  the previous hold-outs (20% to calibrate, 15% of the rest to stop early) left the served
  booster ~256 rows; now it learns from all of them, and the CV that ``train`` reports is
  the CV of this very procedure (out-of-fold scores, each calibrated by a map fitted on
  the other folds).
* Below ``risk.small_data.rows_below`` rows, the boosted model's depth, learning rate and
  minimum child weight come from a small grid searched inside every training fold (see
  :mod:`loan_recovery.models.small_data`), so the reported CV is a nested one.
* Models are saved as JSON plus XGBoost's UBJSON, a ``skops`` file or scorecard JSON,
  never pickle (:mod:`loan_recovery.models.risk_io`).

Every hyperparameter comes from :mod:`loan_recovery.config`; the constants here are
structural (file names), not tuning choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from loan_recovery.config import RiskSettings
from loan_recovery.models.calibration import (
    CALIBRATION_METHODS,
    CalibrationMethod,
    Calibrator,
    cross_fitted_calibration,
)
from loan_recovery.models.risk_inputs import (
    MIN_ROWS_PER_CLASS,
    Float32Array,
    FloatArray,
    IntArray,
    check_training_data,
    require_both_classes,
    thread_count,
)
from loan_recovery.models.risk_learner import (
    FAMILIES,
    Family,
    RiskModel,
    boost_with_curve,
    check_family,
)
from loan_recovery.models.small_data import GridChoice, SmallDataSearch

__all__ = [
    "CALIBRATION_METHODS",
    "FAMILIES",
    "MODEL_JSON",
    "RANDOM_FOREST_FILE",
    "SCORECARD_FILE",
    "XGBOOST_FILE",
    "CalibratedRiskModel",
    "Calibrator",
    "Family",
    "RiskModel",
    "risk_folds",
]

MODEL_JSON = "risk_model.json"
XGBOOST_FILE = "risk_xgboost.ubj"
RANDOM_FOREST_FILE = "risk_random_forest.skops"
SCORECARD_FILE = "risk_scorecard.json"

#: Called after each fold model is scored: (fold index from 0, number of folds).
FoldCallback = Callable[[int, int], None]


def risk_folds(labels: IntArray, n_folds: int, random_state: int) -> IntArray:
    """Fold index of every row: stratified and shuffled, shared by every candidate of a
    training run, so their out-of-fold scores and per-fold metrics compare like for like."""
    require_both_classes(labels, n_folds, "cross-validation")
    fold_of_row = np.empty(labels.shape[0], dtype=np.int64)
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(labels.shape[0]), labels)):
        fold_of_row[test] = fold
    return fold_of_row


@dataclass(frozen=True, eq=False)
class _CrossFit:
    """A learner's out-of-fold margins and its refit on every row."""

    oof_margin: FloatArray
    base: RiskModel
    grid_choice: GridChoice | None


class CalibratedRiskModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A cross-fitted :class:`RiskModel` and a :class:`Calibrator` fitted on its
    out-of-fold scores.

    ``monotone`` None follows ``settings.monotone`` (constrained unless "off"); model
    selection passes True or False explicitly. Fitted, it has ``base_`` (the learner
    refitted on every row: SHAP reads ``base_.booster_`` or ``base_.estimator_``),
    ``calibrator_``, ``calibration_method_``, ``calibration_brier_`` (cross-validated
    Brier of each map on the out-of-fold scores, and of the raw score), ``monotone_``,
    ``hyperparameters_`` (the boosted model's depth, learning rate, minimum child weight
    and trees), ``grid_choice_`` (the small-data search, or None), the honest
    ``oof_margin_`` / ``oof_risk_`` / ``fold_of_row_`` of training, ``feature_names_in_``,
    ``n_features_in_`` and ``classes_``.
    """

    def __init__(
        self,
        family: str = "xgboost",
        settings: RiskSettings | None = None,
        random_state: int = 0,
        monotone: bool | None = None,
    ) -> None:
        self.family = family
        self.settings = settings
        self.random_state = random_state
        self.monotone = monotone

    def _settings(self) -> RiskSettings:
        return self.settings if self.settings is not None else RiskSettings()

    def _monotone(self) -> bool:
        if self.monotone is not None:
            return bool(self.monotone)
        return self._settings().monotone != "off"

    def fit(
        self, X: pd.DataFrame, y: npt.ArrayLike, on_fold: FoldCallback | None = None
    ) -> CalibratedRiskModel:
        """Cross-fit the learner, calibrate on its out-of-fold scores, refit on every row."""
        check_family(self.family)
        values, labels, names = check_training_data(X, y)
        folds = risk_folds(labels, self._settings().cv_folds, self.random_state)
        return self.fit_arrays(values, labels, names, folds, on_fold)

    def fit_arrays(
        self,
        values: Float32Array,
        labels: IntArray,
        names: tuple[str, ...],
        fold_of_row: IntArray,
        on_fold: FoldCallback | None = None,
    ) -> CalibratedRiskModel:
        """Fit on checked arrays with the given folds (shared across candidates)."""
        family = check_family(self.family)
        for fold in np.unique(fold_of_row):
            require_both_classes(labels[fold_of_row != fold], MIN_ROWS_PER_CLASS, "a training fold")
        crossfit = self._cross_fit(family, values, labels, names, fold_of_row, on_fold)
        calibration = cross_fitted_calibration(
            crossfit.oof_margin, labels, fold_of_row, self.random_state
        )
        self.base_ = crossfit.base
        self.monotone_ = self._monotone() if family != "scorecard" else False
        self.grid_choice_ = crossfit.grid_choice
        self.calibrator_ = calibration.calibrator
        self.calibration_method_: CalibrationMethod = calibration.method
        self.calibration_brier_ = calibration.briers
        self.oof_risk_ = calibration.oof_risk
        self.oof_margin_ = crossfit.oof_margin
        self.fold_of_row_ = fold_of_row
        self.feature_names_in_ = crossfit.base.feature_names_in_
        self.n_features_in_ = crossfit.base.n_features_in_
        self.classes_ = crossfit.base.classes_
        return self

    def _learner(
        self, family: Family, n_rounds: int | None = None, n_jobs: int | None = None, **update: Any
    ) -> RiskModel:
        settings = self._settings()
        return RiskModel(
            n_jobs=n_jobs,
            family=family,
            xgboost=settings.xgboost.model_copy(update=update) if update else settings.xgboost,
            random_forest=settings.random_forest,
            random_state=self.random_state,
            monotone=self._monotone(),
            n_rounds=n_rounds,
        )

    def _cross_fit(
        self,
        family: Family,
        values: Float32Array,
        labels: IntArray,
        names: tuple[str, ...],
        fold_of_row: IntArray,
        on_fold: FoldCallback | None,
    ) -> _CrossFit:
        settings = self._settings()
        n_folds = int(fold_of_row.max()) + 1
        if family == "xgboost" and labels.shape[0] < settings.small_data.rows_below:
            return self._cross_fit_small(values, labels, names, fold_of_row, on_fold)
        if family == "xgboost":
            return self._cross_fit_boosted(values, labels, names, fold_of_row, on_fold)
        oof = np.empty(labels.shape[0], dtype=np.float64)
        for fold in range(n_folds):
            test = fold_of_row == fold
            model = self._learner(family).fit_arrays(values[~test], labels[~test], names)
            oof[test] = model.margin_values(values[test])
            if on_fold is not None:
                on_fold(fold, n_folds)
        base = self._learner(family).fit_arrays(values, labels, names)
        return _CrossFit(oof_margin=oof, base=base, grid_choice=None)

    def _cross_fit_boosted(
        self,
        values: Float32Array,
        labels: IntArray,
        names: tuple[str, ...],
        fold_of_row: IntArray,
        on_fold: FoldCallback | None,
    ) -> _CrossFit:
        """Fold boosters record their test curves; one tree count, the argmin of the mean
        curve, scores every fold and sizes the refit on all rows."""
        settings = self._settings().xgboost
        threads = thread_count(None)
        n_folds = int(fold_of_row.max()) + 1
        boosters, curves = [], []
        for fold in range(n_folds):
            test = fold_of_row == fold
            booster, curve = boost_with_curve(
                (values[~test], labels[~test]),
                (values[test], labels[test]),
                names,
                settings,
                self.random_state,
                threads,
                monotone=self._monotone(),
            )
            boosters.append(booster)
            curves.append(curve)
            if on_fold is not None:
                on_fold(fold, n_folds)
        common = min(len(curve) for curve in curves)
        mean_curve = np.mean([curve[:common] for curve in curves], axis=0)
        n_rounds = int(np.argmin(mean_curve)) + 1
        oof = np.empty(labels.shape[0], dtype=np.float64)
        for fold, booster in enumerate(boosters):
            test = fold_of_row == fold
            oof[test] = booster.inplace_predict(
                values[test], iteration_range=(0, n_rounds), predict_type="margin"
            )
        base = self._learner("xgboost", n_rounds).fit_arrays(values, labels, names)
        return _CrossFit(oof_margin=oof, base=base, grid_choice=None)

    def _cross_fit_small(
        self,
        values: Float32Array,
        labels: IntArray,
        names: tuple[str, ...],
        fold_of_row: IntArray,
        on_fold: FoldCallback | None,
    ) -> _CrossFit:
        """Nested: every training fold picks its grid point by an inner CV; the refit
        picks one on all rows the same way."""
        settings = self._settings()
        search = SmallDataSearch(settings.small_data, settings.xgboost)
        # A few hundred rows: one thread is as fast as two, and immune to a busy machine
        # (XGBoost's threads on tiny data spin-wait for each other; measured 60x slower
        # with another process on the second core).
        threads = 1
        n_folds = int(fold_of_row.max()) + 1
        oof = np.empty(labels.shape[0], dtype=np.float64)

        def chosen_learner(rows: npt.NDArray[np.bool_]) -> tuple[RiskModel, GridChoice]:
            choice = search.choose(
                values[rows],
                labels[rows],
                names,
                self.random_state,
                threads,
                monotone=self._monotone(),
                fits_to_come=n_folds + 1,
            )
            learner = self._learner(
                "xgboost",
                choice.n_rounds,
                1,
                max_depth=choice.settings.max_depth,
                learning_rate=choice.settings.learning_rate,
                min_child_weight=choice.settings.min_child_weight,
            )
            return learner.fit_arrays(values[rows], labels[rows], names), choice

        for fold in range(n_folds):
            test = fold_of_row == fold
            model, _ = chosen_learner(~test)
            oof[test] = model.margin_values(values[test])
            if on_fold is not None:
                on_fold(fold, n_folds)
        base, choice = chosen_learner(np.ones(labels.shape[0], dtype=bool))
        return _CrossFit(oof_margin=oof, base=base, grid_choice=choice)

    @property
    def hyperparameters_(self) -> dict[str, float | int]:
        """What the served boosted model was grown with (empty for other families)."""
        check_is_fitted(self, "base_")
        if not hasattr(self.base_, "booster_"):
            return {}
        xgb_settings = self.base_.xgboost or self._settings().xgboost
        return {
            "max_depth": xgb_settings.max_depth,
            "learning_rate": xgb_settings.learning_rate,
            "min_child_weight": xgb_settings.min_child_weight,
            "n_trees": int(self.base_.best_iteration_) + 1,
        }

    def risk_values(self, values: Float32Array) -> FloatArray:
        """Calibrated P(not recovered) of checked values."""
        return self.calibrator_.transform(self.base_.margin_values(values))

    def risk_score(self, X: pd.DataFrame) -> FloatArray:
        """Calibrated P(not recovered) per row."""
        check_is_fitted(self, "calibrator_")
        return self.risk_values(self.base_.values_of(X))

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Calibrated (P(recovered), P(not recovered)) per row, shape (n, 2)."""
        positive = self.risk_score(X)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: pd.DataFrame) -> IntArray:
        """1 where the risk score reaches ``settings.decision_threshold``."""
        return (self.risk_score(X) >= self._settings().decision_threshold).astype(np.int64)

    def save(self, directory: Path | str) -> list[Path]:
        """Write ``risk_model.json`` and the learner's file (see :mod:`risk_io`)."""
        from loan_recovery.models.risk_io import save_risk_model

        return save_risk_model(self, Path(directory))

    @classmethod
    def load(cls, directory: Path | str) -> CalibratedRiskModel:
        """Rebuild a saved model; scores are bit-identical to the model that was saved."""
        from loan_recovery.models.risk_io import load_risk_model

        return load_risk_model(Path(directory))
