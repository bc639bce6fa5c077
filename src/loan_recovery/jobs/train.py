"""Train job: validated history -> risk, segments, outcome models -> a registry version.

Stages: validate, profile the data, (tune), cross-fit every risk candidate (the champion
is the winning fitted candidate, calibrated on its out-of-fold scores and refitted on
every row), fit the segmenter, learn each action's outcome, explain, save. The first
version of a registry is promoted to champion automatically; later ones only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.schema import ARM_NAMES
from loan_recovery.data.validation import ValidationResult, validate_frame
from loan_recovery.exceptions import TrainingDataError
from loan_recovery.jobs.progress import ProgressReporter, SilentProgress
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.models.bundle import (
    ModelBundle,
    TrainingArtefacts,
    load_bundle,
    write_bundle_files,
)
from loan_recovery.models.design import describe_feature, risk_design_matrix, risk_label
from loan_recovery.models.explain import global_importance
from loan_recovery.models.outcomes import (
    OutcomeModel,
    cross_fitted_fractions,
    fit_outcome_model,
    history_propensities,
    logged_actions,
)
from loan_recovery.models.profile import DataProfile, profile_features
from loan_recovery.models.registry import ModelRegistry, VersionInfo, data_fingerprint
from loan_recovery.models.risk import CalibratedRiskModel
from loan_recovery.models.risk_selection import (
    CHAMPION_PROCEDURE,
    MonotoneDecision,
    RiskEvaluation,
    candidate_count,
    cross_validate_risk,
    tune_xgboost,
)
from loan_recovery.models.scoring import model_contributions
from loan_recovery.models.segments import Segmenter, segment_profile
from loan_recovery.strategy.plan import value_actions
from loan_recovery.strategy.safety import PolicySafety, fit_policy_safety

#: Rows explained to estimate global importance, by family: mean |SHAP| is stable long
#: before these; forests cost far more to explain exactly (many deep trees) than boosting.
IMPORTANCE_SAMPLE_ROWS = {"xgboost": 20_000, "random_forest": 2_000, "scorecard": 20_000}
#: Fewer labelled rows than this cannot support 5-fold cross-fitting with both classes per fold.
MIN_TRAINING_ROWS = 200


@dataclass(frozen=True)
class TrainOutcome:
    """The saved version and what training measured."""

    version: VersionInfo
    promoted: bool
    validation: ValidateOutcome
    artefacts: TrainingArtefacts
    bundle: ModelBundle


def _label_definition(settings: Settings) -> str:
    statuses = " or ".join(settings.risk.not_recovered_statuses)
    return f"Not recovered: Recovery_Status is {statuses}"


def _metadata(
    *,
    settings: Settings,
    table: pd.DataFrame,
    design: pd.DataFrame,
    model: CalibratedRiskModel,
    artefacts: TrainingArtefacts,
    seed: int,
    tuned: bool,
    source: str,
) -> dict[str, Any]:
    metrics_summary: dict[str, float] = {}
    if artefacts.metrics is not None:
        reported = (
            CHAMPION_PROCEDURE
            if CHAMPION_PROCEDURE in artefacts.metrics.index
            else artefacts.champion_family
        )
        row = artefacts.metrics.loc[reported].astype(float)
        metrics_summary = {str(key): float(value) for key, value in row.to_dict().items()}
    return {
        "champion_family": artefacts.champion_family,
        "feature_names": list(design.columns),
        "label_definition": _label_definition(settings),
        "not_recovered_statuses": list(settings.risk.not_recovered_statuses),
        "excluded_columns": list(settings.risk.excluded_columns),
        "calibration_method": model.calibration_method_,
        "training_data": {"source": source, **data_fingerprint(table)},
        "metrics": metrics_summary,
        "seed": seed,
        "tuned": tuned,
        "settings": settings.model_dump(mode="json"),
        "segment_names": [str(name) for name in artefacts.segment_profile[schema.SEGMENT_NAME]],
    }


def _check_trainable(result: ValidationResult) -> None:
    if result.accepted < MIN_TRAINING_ROWS:
        raise TrainingDataError(
            f"training needs at least {MIN_TRAINING_ROWS} valid labelled rows; "
            f"got {result.accepted} of {result.rows_read}."
        )


def run_train(
    path: Path,
    *,
    settings: Settings,
    models_dir: Path | None = None,
    seed: int = 0,
    tune: bool = False,
    cross_validate: bool = True,
    promote: bool | None = None,
    mapping_path: Path | None = None,
    progress: ProgressReporter | None = None,
) -> TrainOutcome:
    """Train on the labelled file at ``path`` and save a new registry version.

    ``promote``: True makes the new version champion, False never does, None (default)
    does so only when the registry has no champion yet.
    """
    report = progress or SilentProgress()
    candidates = candidate_count(settings.risk) if cross_validate else 1
    report.start(5 + int(tune) + settings.risk.cv_folds * candidates)

    report.stage("Validating training data")
    validation = run_validate(
        path, settings=settings, mapping_path=mapping_path, require_label=True
    )
    _check_trainable(validation.result)
    table = validation.result.table
    design = risk_design_matrix(table, settings.risk)
    label = risk_label(table, settings.risk)
    report.advance()

    risk_settings = settings.risk
    if tune:
        report.stage(f"Tuning XGBoost ({risk_settings.tune_budget_seconds:.0f} s budget)")
        tuned = tune_xgboost(
            design,
            label,
            settings=risk_settings,
            random_state=seed,
            budget_seconds=risk_settings.tune_budget_seconds,
        )
        risk_settings = risk_settings.model_copy(update={"xgboost": tuned})
        settings = settings.model_copy(update={"risk": risk_settings})
        report.advance()

    metrics: pd.DataFrame | None = None
    oof_true = oof_score = None
    monotone: MonotoneDecision | None = None
    scorecard_points: pd.DataFrame | None = None
    evaluation: RiskEvaluation | None = None

    def on_fold(candidate: str, fold: int) -> None:
        report.stage(f"Cross-validating {candidate} (fold {fold + 1}/{settings.risk.cv_folds})")
        report.advance()

    data_profile = profile_features(design, label, table=table)
    if cross_validate:
        evaluation = cross_validate_risk(
            design, label, settings=risk_settings, random_state=seed, on_fold=on_fold
        )
        metrics = evaluation.metrics
        model = evaluation.champion
        if "scorecard" in evaluation.models:
            scorecard_points = evaluation.models["scorecard"].base_.scorecard_.points_table()
        monotone = replace(evaluation.monotone, contradictions=contradictions(data_profile))
        oof_true = label
        oof_score = np.asarray(evaluation.oof_scores[evaluation.champion_family], dtype=np.float64)
    else:
        model = CalibratedRiskModel(family="xgboost", settings=risk_settings, random_state=seed)
        model.fit(design, label, on_fold=lambda fold, _: on_fold("xgboost", fold))
    champion_family = str(model.family)
    scores = model.risk_score(design)

    report.stage("Segmenting borrowers")
    segmenter = Segmenter.from_settings(settings.segments, random_state=seed).fit(table, scores)
    segment_ids = segmenter.predict(table)
    profile = segment_profile(table, scores, segment_ids, segmenter.names_)
    report.advance()

    report.stage("Learning the outcome of every action")
    outcome_model = fit_outcome_model(table, design, settings, random_state=seed)
    safety = _fit_safety(table, design, scores, outcome_model, settings, seed)
    report.advance()

    report.stage("Explaining the risk model")
    sample = design.sample(
        n=min(IMPORTANCE_SAMPLE_ROWS[champion_family], len(design)), random_state=seed
    ).sort_index()
    importance = _importance(model, sample)
    report.advance()

    artefacts = TrainingArtefacts(
        metrics=metrics,
        champion_family=champion_family,
        oof_true=oof_true,
        oof_score=oof_score,
        importance=importance,
        segment_profile=profile,
        model_choice=model_choice(model, monotone, data_profile, evaluation),
    )
    report.stage("Saving the version")
    registry = ModelRegistry(models_dir or settings.registry_dir)
    info = registry.save_version(
        lambda directory: write_bundle_files(
            directory,
            risk_model=model,
            segmenter=segmenter,
            artefacts=artefacts,
            outcome_model=outcome_model,
            safety=safety,
            scorecard_points=scorecard_points,
        ),
        _metadata(
            settings=settings,
            table=table,
            design=design,
            model=model,
            artefacts=artefacts,
            seed=seed,
            tuned=tune,
            source=str(path),
        ),
    )
    should_promote = promote if promote is not None else registry.champion() is None
    if should_promote:
        registry.promote(info.version)
    bundle = load_bundle(registry, info.version)
    report.advance()
    return TrainOutcome(
        version=info,
        promoted=should_promote,
        validation=validation,
        artefacts=artefacts,
        bundle=bundle,
    )


def fit_history_safety(
    history: pd.DataFrame, bundle: ModelBundle, settings: Settings, seed: int
) -> PolicySafety | None:
    """Refit only the safety test of a trained version on its history (tuning, what-ifs).

    ``history`` is the raw history frame the version was trained on; the safety is fitted
    exactly as :func:`run_train` fits it, under ``settings``' safe-improvement knobs.
    """
    if bundle.outcome_model is None:
        return None
    table = validate_frame(history, settings=settings, require_label=True).table
    design = risk_design_matrix(table, settings.risk)
    scores = bundle.risk_model.risk_score(design)
    return _fit_safety(table, design, scores, bundle.outcome_model, settings, seed)


def _fit_safety(
    table: pd.DataFrame,
    design: pd.DataFrame,
    scores: npt.ArrayLike,
    outcome_model: OutcomeModel,
    settings: Settings,
    seed: int,
) -> PolicySafety | None:
    """Where the history supports departing from BAU (None without recorded amounts).

    The test needs realised money (``Amount_Recovered``); a history that only has
    ``Recovery_Status`` cannot support a departure, and the plan then keeps the learned
    policy unrestricted, as before.
    """
    if schema.AMOUNT_RECOVERED not in table.columns:
        return None
    risk = pd.DataFrame(
        {schema.RISK_SCORE: np.asarray(scores, dtype=np.float64)}, index=table.index
    )
    scoring: npt.NDArray[np.float64] | None = None
    folds = settings.strategy.safe.cross_fit_folds
    if folds >= 2:
        held_out = cross_fitted_fractions(table, design, settings, seed, folds)
        proposing = value_actions(table, risk, held_out, settings)
        scoring = np.column_stack(
            [
                proposing.hold_value.to_numpy(),
                *(proposing.values[a].to_numpy() for a in ARM_NAMES[1:]),
            ]
        )
        # Departures must be judged on proposals that no model fitted on the same rows'
        # outcomes made: the final model's proposals on rows it learned from chase their
        # noise, and the doubly robust gain then rewards it (50,000 loans, seed 101: +29,500
        # per loan estimated on the history against +5,900 true).
    else:
        fractions = outcome_model.predict_fractions(design).set_axis(table.index)
        proposing = value_actions(table, risk, fractions, settings)
    logged = logged_actions(table, settings.actions)
    propensity = history_propensities(table, design, logged, settings.strategy.outcomes, seed)
    return fit_policy_safety(
        table,
        logged=logged,
        propensity=propensity,
        uplift=proposing.uplift,
        hold_value=proposing.hold_value,
        candidates=proposing.guard.allowed & (proposing.uplift > settings.strategy.min_uplift),
        allowed=proposing.guard.allowed,
        settings=settings,
        random_state=seed,
        scoring_values=scoring,
    )


def contradictions(data_profile: DataProfile) -> tuple[tuple[str, int, float], ...]:
    """Constrained features whose observed direction on this data opposes the expected one,
    with their univariate ROC-AUC."""
    table = data_profile.table
    flagged = [
        flag.feature for flag in data_profile.flags if flag.flag == "direction_contradiction"
    ]
    return tuple(
        (name, int(table["expected_direction"][name]), float(table["auc"][name]))
        for name in flagged
    )


def model_choice(
    model: CalibratedRiskModel,
    monotone: MonotoneDecision | None,
    data_profile: DataProfile,
    evaluation: RiskEvaluation | None = None,
) -> dict[str, Any]:
    """How the served model was chosen, as plain JSON for the card and the train output."""
    grid = model.grid_choice_
    procedure = None
    if evaluation is not None and evaluation.procedure_picks:
        reported = evaluation.reported_metrics
        procedure = {
            "roc_auc_mean": float(reported["roc_auc_mean"]),
            "roc_auc_std": float(reported["roc_auc_std"]),
            "champion_roc_auc_mean": float(
                evaluation.metrics["roc_auc_mean"][evaluation.champion_family]
            ),
            "picks": list(evaluation.procedure_picks),
        }
    return {
        "procedure": procedure,
        "profile_flags": [flag._asdict() for flag in data_profile.flags],
        "family": str(model.family),
        "monotone": None if monotone is None else monotone.to_dict(),
        "hyperparameters": model.hyperparameters_,
        "small_data_search": None
        if grid is None
        else {
            "searched": grid.searched,
            "grid_size": grid.grid_size,
            "inner_auc": grid.inner_auc,
        },
        "calibration": "cross-fitted on out-of-fold scores; learner refitted on every row",
    }


def _importance(model: CalibratedRiskModel, sample: pd.DataFrame) -> pd.Series:
    """Mean |SHAP| per feature, labelled in plain words, on a sample of the training rows."""
    contributions = model_contributions(model, sample)
    importance = global_importance(contributions, list(sample.columns))
    importance.index = [describe_feature(str(name)) for name in importance.index]
    return importance
