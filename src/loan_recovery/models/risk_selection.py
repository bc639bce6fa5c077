"""Choosing the served risk model: one cross-validation of every candidate, and tuning.

Every candidate goes through the very procedure that produces a served model
(:class:`~loan_recovery.models.risk.CalibratedRiskModel`: cross-fitted, calibrated on
out-of-fold scores, refitted on every row) on the same folds, so:

* the CV that ``train`` reports is the out-of-fold performance of the model ``score``
  serves, not of a cousin trained on fewer rows;
* the champion needs no second fit: the winning candidate *is* the served model.

Candidates: the boosted trees with and without the domain's monotone constraints (the
``risk.monotone`` decision below), the random forest under the same decision, the
scorecard challenger, and two baselines a reviewer asks about (the base rate and a
one-feature logistic regression). :func:`tune_xgboost` searches hyperparameters within a
wall-clock budget.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loan_recovery.config import RiskSettings, XGBoostSettings
from loan_recovery.exceptions import ModelError
from loan_recovery.models import metrics
from loan_recovery.models.risk import CalibratedRiskModel, risk_folds
from loan_recovery.models.risk_inputs import (
    Float32Array,
    FloatArray,
    IntArray,
    check_training_data,
    require_both_classes,
    thread_count,
)
from loan_recovery.models.risk_learner import Family, train_booster

if TYPE_CHECKING:  # imported when tuning: optuna is the optional [tune] extra
    import optuna

#: Candidates besides the families; the logistic one is named ``logistic_<feature>``.
BASE_RATE = "base_rate"
LOGISTIC_PREFIX = "logistic_"
#: The boosted candidate that is not served, named for what it is.
XGBOOST_MONOTONE = "xgboost_monotone"
XGBOOST_UNCONSTRAINED = "xgboost_unconstrained"
#: The row that scores the whole choosing procedure (see :func:`selection_aware_scores`);
#: it is what ``train`` reports.
CHAMPION_PROCEDURE = "champion_procedure"

#: Search ranges of :func:`tune_xgboost`: (low, high, log scale).
TUNING_SPACE: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.01, 0.3, True),
    "max_depth": (2, 10, False),
    "min_child_weight": (0.5, 50.0, True),
    "subsample": (0.5, 1.0, False),
    "colsample_bytree": (0.4, 1.0, False),
    "reg_lambda": (1e-3, 50.0, True),
}

#: Called after each fold of each candidate: (candidate label, fold from 0).
CandidateCallback = Callable[[str, int], None]


@dataclass(frozen=True)
class MonotoneDecision:
    """Whether the tree families obey the domain's monotone directions, and its price.

    ``cost`` is the CV ROC-AUC the constraints give up against the unconstrained boosted
    model (negative: they help). ``contradictions`` names each constrained feature whose
    observed direction on this data is the opposite of the expected one, with its
    univariate ROC-AUC; the train job fills it from the data profile.
    """

    mode: str
    constrained: bool
    tolerance: float
    constrained_auc: float | None
    unconstrained_auc: float | None
    contradictions: tuple[tuple[str, int, float], ...] = ()

    @property
    def cost(self) -> float | None:
        if self.constrained_auc is None or self.unconstrained_auc is None:
            return None
        return self.unconstrained_auc - self.constrained_auc

    def sentence(self) -> str:
        """One line for the train output and the model card."""
        served = "monotone-constrained" if self.constrained else "unconstrained"
        cost = self.cost
        if cost is None:
            return f"Serving {served} trees (risk.monotone = {self.mode})."
        price = (
            f"constraints cost {cost:+.4f} CV ROC-AUC "
            f"({self.constrained_auc:.4f} constrained vs {self.unconstrained_auc:.4f} not)"
        )
        if self.mode == "auto":
            rule = f"tolerance {self.tolerance:.3f}"
            return f"Serving {served} trees (risk.monotone = auto, {rule}): {price}."
        return f"Serving {served} trees (risk.monotone = {self.mode}): {price}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "constrained": self.constrained,
            "tolerance": self.tolerance,
            "constrained_auc": self.constrained_auc,
            "unconstrained_auc": self.unconstrained_auc,
            "cost": self.cost,
            "sentence": self.sentence(),
            "contradictions": [
                {"feature": name, "expected": expected, "roc_auc": auc}
                for name, expected, auc in self.contradictions
            ],
        }


@dataclass(frozen=True, eq=False)
class RiskEvaluation:
    """Cross-validated comparison of the risk-model candidates, and the served champion.

    ``metrics`` has one row per candidate and ``<metric>_mean`` / ``<metric>_std`` columns
    over folds; ``fold_metrics`` one row per (candidate, fold). ``oof_scores`` holds each
    candidate's out-of-fold probabilities aligned with ``labels``. The row named
    ``champion_family`` is the served model's; ``champion`` is that fitted model.
    """

    metrics: pd.DataFrame
    champion_family: Family
    oof_scores: dict[str, FloatArray]
    labels: IntArray
    fold_metrics: pd.DataFrame
    baseline_features: tuple[str, ...]
    decision_threshold: float
    champion: CalibratedRiskModel
    monotone: MonotoneDecision
    models: dict[str, CalibratedRiskModel] = field(default_factory=dict)
    procedure_picks: tuple[str, ...] = ()

    @property
    def reported_metrics(self) -> pd.Series:
        """The CV that ``train`` reports: the procedure's row, else the champion's."""
        row = CHAMPION_PROCEDURE if CHAMPION_PROCEDURE in self.metrics.index else None
        return cast(pd.Series, self.metrics.loc[row or self.champion_family])

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
            "monotone": self.monotone.to_dict(),
            "procedure_picks": list(self.procedure_picks),
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


def candidate_count(settings: RiskSettings) -> int:
    """Candidates :func:`cross_validate_risk` scores per fold (for progress bars)."""
    boosted = 1 if settings.monotone == "off" else 2
    return boosted + 1 + int(settings.scorecard) + 2


def _boosted_variants(mode: str) -> tuple[bool, ...]:
    """Constraint settings to cross-validate: the served one first."""
    if mode == "off":
        return (False,)
    return (True, False)


def cross_validate_risk(
    X: pd.DataFrame,
    y: npt.ArrayLike,
    *,
    settings: RiskSettings,
    random_state: int,
    on_fold: CandidateCallback | None = None,
) -> RiskEvaluation:
    """Stratified ``settings.cv_folds``-fold CV of every candidate on the same folds.

    The monotone decision: ``required`` serves constrained trees, ``off`` unconstrained,
    ``auto`` constrained unless they lose more than ``settings.monotone_tolerance`` CV
    ROC-AUC to the unconstrained boosted model. The forest follows the decision. The
    champion is the family with the best CV ROC-AUC; the scorecard wins only by beating
    the tree families. The :data:`CHAMPION_PROCEDURE` row scores that choice itself.
    """
    values, labels, names = check_training_data(X, y)
    fold_of_row = risk_folds(labels, settings.cv_folds, random_state)
    n_folds = settings.cv_folds
    rows: list[dict[str, Any]] = []
    oof: dict[str, FloatArray] = {}

    def record(candidate: str, scores: FloatArray) -> None:
        oof[candidate] = scores
        for fold in range(n_folds):
            test = fold_of_row == fold
            rows.append(
                {
                    "candidate": candidate,
                    "fold": fold,
                    **metrics.classification_metrics(labels[test], scores[test]),
                }
            )

    def fit(family: Family, label: str, monotone: bool | None) -> CalibratedRiskModel:
        def progress(fold: int, _: int) -> None:
            if on_fold is not None:
                on_fold(label, fold)

        model = CalibratedRiskModel(family, settings, random_state, monotone=monotone)
        return model.fit_arrays(values, labels, names, fold_of_row, on_fold=progress)

    boosted = {
        constrained: fit("xgboost", _boosted_label(constrained), constrained)
        for constrained in _boosted_variants(settings.monotone)
    }
    auc = {
        constrained: metrics.roc_auc(labels, model.oof_risk_)
        for constrained, model in boosted.items()
    }
    decision = _monotone_decision(settings, auc)
    served_boosted = boosted[decision.constrained]
    models: dict[str, CalibratedRiskModel] = {"xgboost": served_boosted}
    record("xgboost", served_boosted.oof_risk_)
    for constrained, model in boosted.items():
        if constrained != decision.constrained:
            record(_boosted_label(constrained), model.oof_risk_)
    models["random_forest"] = fit("random_forest", "random_forest", decision.constrained)
    record("random_forest", models["random_forest"].oof_risk_)
    if settings.scorecard:
        models["scorecard"] = fit("scorecard", "scorecard", None)
        record("scorecard", models["scorecard"].oof_risk_)

    others = {family: model.oof_risk_ for family, model in models.items() if family != "xgboost"}
    boosted_oof = {constrained: model.oof_risk_ for constrained, model in boosted.items()}
    procedure, picks = selection_aware_scores(boosted_oof, others, labels, fold_of_row, settings)
    record(CHAMPION_PROCEDURE, procedure)
    chosen = _baselines(values, labels, names, fold_of_row, random_state, record, on_fold)
    logistic_name = LOGISTIC_PREFIX + Counter(chosen).most_common(1)[0][0]
    rename = {"logistic": logistic_name}
    fold_metrics = pd.DataFrame(rows).replace({"candidate": rename})
    table = _summary(fold_metrics)
    family_auc = {family: float(table["roc_auc_mean"][family]) for family in models}
    champion = cast(Family, max(models, key=lambda family: family_auc[family]))
    return RiskEvaluation(
        metrics=table,
        champion_family=champion,
        oof_scores={rename.get(name, name): scores for name, scores in oof.items()},
        labels=labels,
        fold_metrics=fold_metrics,
        baseline_features=tuple(chosen),
        decision_threshold=settings.decision_threshold,
        champion=models[champion],
        monotone=decision,
        models=models,
        procedure_picks=tuple(picks),
    )


def _boosted_label(constrained: bool) -> str:
    return XGBOOST_MONOTONE if constrained else XGBOOST_UNCONSTRAINED


def selection_aware_scores(
    boosted_oof: dict[bool, FloatArray],
    other_oof: dict[str, FloatArray],
    labels: IntArray,
    fold_of_row: IntArray,
    settings: RiskSettings,
) -> tuple[FloatArray, list[str]]:
    """Score each fold with the candidate the choosing rule picks on the *other* folds.

    Picking the best of several candidates on the same CV that then reports the winner's
    score flatters it (the winner's curse): on a 500-row file by 0.015-0.03 ROC-AUC. Here
    the monotone decision and the champion choice for fold ``k`` see only the out-of-fold
    scores of the other folds, so fold ``k`` grades the whole procedure on rows the choice
    never looked at. Costs no fit: it reuses every candidate's out-of-fold scores. Returns
    the scores and, per fold, the candidate picked.
    """
    n_folds = int(fold_of_row.max()) + 1
    masks = [fold_of_row == fold for fold in range(n_folds)]
    boosted_names = {constrained: _boosted_label(constrained) for constrained in boosted_oof}
    candidates = {boosted_names[c]: oof for c, oof in boosted_oof.items()} | other_oof
    fold_auc = {
        name: np.asarray([metrics.roc_auc(labels[mask], oof[mask]) for mask in masks])
        for name, oof in candidates.items()
    }
    scores = np.empty(labels.shape[0], dtype=np.float64)
    picks: list[str] = []
    for fold, held in enumerate(masks):
        rest = ~held
        auc = {
            constrained: metrics.roc_auc(labels[rest], oof[rest])
            for constrained, oof in boosted_oof.items()
        }
        constrained = _monotone_decision(settings, auc).constrained
        pool = [boosted_names[constrained], *other_oof]
        others = np.arange(n_folds) != fold
        pick = max(pool, key=lambda name: float(fold_auc[name][others].mean()))
        scores[held] = candidates[pick][held]
        picks.append(pick)
    return scores, picks


def _monotone_decision(settings: RiskSettings, auc: dict[bool, float]) -> MonotoneDecision:
    constrained_auc, free_auc = auc.get(True), auc.get(False)
    if settings.monotone == "off":
        constrained = False
    elif settings.monotone == "required":
        constrained = True
    elif constrained_auc is None or free_auc is None:
        raise ModelError("risk.monotone = auto needs both boosted variants cross-validated.")
    else:
        constrained = free_auc - constrained_auc <= settings.monotone_tolerance
    return MonotoneDecision(
        mode=settings.monotone,
        constrained=constrained,
        tolerance=settings.monotone_tolerance,
        constrained_auc=constrained_auc,
        unconstrained_auc=free_auc,
    )


def _baselines(
    values: Float32Array,
    labels: IntArray,
    names: tuple[str, ...],
    fold_of_row: IntArray,
    random_state: int,
    record: Callable[[str, FloatArray], None],
    on_fold: CandidateCallback | None,
) -> list[str]:
    """Base rate and one-feature logistic regression on the same folds; returns the
    logistic feature chosen per fold."""
    logistic = np.empty(labels.shape[0], dtype=np.float64)
    prevalence = np.empty(labels.shape[0], dtype=np.float64)
    chosen: list[str] = []
    for fold in range(int(fold_of_row.max()) + 1):
        test = fold_of_row == fold
        column = _strongest_feature(values[~test], labels[~test])
        chosen.append(names[column])
        logistic[test] = _logistic_scores(
            values[~test, column], labels[~test], values[test, column], random_state
        )
        prevalence[test] = float(labels[~test].mean())
        if on_fold is not None:
            on_fold(LOGISTIC_PREFIX + names[column], fold)
            on_fold(BASE_RATE, fold)
    record("logistic", logistic)
    record(BASE_RATE, prevalence)
    return chosen


def _summary(fold_metrics: pd.DataFrame) -> pd.DataFrame:
    grouped = fold_metrics.groupby("candidate", sort=False)[list(metrics.METRIC_NAMES)]
    means, stds = grouped.mean(), grouped.std(ddof=1)
    table = pd.DataFrame(index=means.index)
    for name in metrics.METRIC_NAMES:
        table[f"{name}_mean"] = means[name]
        table[f"{name}_std"] = stds[name]
    table.index.name = "candidate"
    return table


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
    round. optuna is imported here, not with the module: it is the optional [tune] extra,
    and only tuning needs it (a :class:`ModelError` says how to install it).
    """
    if not (budget_seconds > 0 and math.isfinite(budget_seconds)):
        raise ModelError(f"budget_seconds must be a finite number > 0; got {budget_seconds!r}.")
    try:
        import optuna
    except ModuleNotFoundError:
        raise ModelError(
            "train --tune needs the [tune] extra: pip install 'loan-recovery[tune]' "
            "(not installed: optuna)"
        ) from None
    deadline = time.monotonic() + budget_seconds
    values, labels, names = check_training_data(X, y)
    defaults = settings.xgboost
    fit_rows, valid_rows = train_test_split(
        np.arange(labels.shape[0]),
        test_size=defaults.validation_fraction,
        stratify=labels,
        random_state=random_state,
    )
    require_both_classes(labels[valid_rows], 1, "the tuning validation split")
    threads = thread_count(None)
    monotone = settings.monotone != "off"

    def objective(trial: optuna.Trial) -> float:
        update = {name: _suggest(trial, name) for name in TUNING_SPACE}
        update["max_depth"] = int(update["max_depth"])
        candidate = defaults.model_copy(update=update)
        booster, best, timed_out = train_booster(
            values[fit_rows],
            labels[fit_rows],
            names,
            candidate,
            random_state,
            threads,
            deadline,
            monotone=monotone,
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
