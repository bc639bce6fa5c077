"""The early-warning model: time-split evaluation, saved versions, reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import IncompatibleModelError, TamperedModelError, TrainingDataError
from loan_recovery.models.early_warning import (
    EARLY_WARNING_FEATURES,
    FEATURE_DESCRIPTIONS,
    MODEL_KIND,
    EarlyWarningModel,
    EarlyWarningTraining,
    early_warning_registry,
    load_early_warning,
    save_early_warning,
    time_split,
    top_fraction_metrics,
)
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.payments import SimulatedPayments, history_end


def test_time_split_trains_only_on_data_before_the_test_cut_off(
    ew_training: EarlyWarningTraining, ew_payments: SimulatedPayments
) -> None:
    """Gives the trained model; expects the test cut-off 3 months before the history's end,
    six monthly training cut-offs whose label windows close by it, and training data
    (every instalment read) due strictly before it."""
    evaluation = ew_training.evaluation
    end = history_end(ew_payments.history)
    assert evaluation.test_cutoff == end - pd.DateOffset(months=3)
    assert len(evaluation.train_cutoffs) == 6
    assert list(evaluation.train_cutoffs) == sorted(evaluation.train_cutoffs)
    for cutoff in evaluation.train_cutoffs:
        assert cutoff + pd.DateOffset(months=3) <= evaluation.test_cutoff
    assert evaluation.train_max_due_date < evaluation.test_cutoff
    assert (ew_training.test_rows[schema.CUTOFF_DATE] == evaluation.test_cutoff).all()


def test_model_ranks_future_defaults_well_above_chance(ew_training: EarlyWarningTraining) -> None:
    """Gives the held-out cut-off; expects ROC-AUC >= 0.75 (measured 0.80-0.83 on 3,000-loan
    books) and the top 5% at least 2.5 times as often in default as the book (~4)."""
    found = ew_training.evaluation.test_metrics
    assert found["rows"] > 1_000
    assert 0.05 < found["base_rate"] < 0.5
    assert found["roc_auc"] >= 0.75
    assert found["lift_at_top"] >= 2.5
    assert found["precision_at_top"] > found["base_rate"]


def test_top_fraction_metrics_by_hand() -> None:
    """Gives 10 rows, 2 positives, the best score positive; expects top 10% precision 1, lift 5."""
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    found = top_fraction_metrics(y, p, 0.1)
    assert found["precision_at_top"] == 1.0
    assert found["lift_at_top"] == pytest.approx(5.0)
    assert found["base_rate"] == pytest.approx(0.2)


def test_saved_version_loads_and_scores_the_same(
    ew_training: EarlyWarningTraining, settings: Settings, tmp_path: Path
) -> None:
    """Gives the model saved in the early-warning registry; expects its own champion, equal
    scores after loading, metrics in the listing, and the risk registry left empty."""
    registry = early_warning_registry(tmp_path, settings.early_warning)
    info = save_early_warning(registry, ew_training, settings=settings.early_warning)
    registry.promote(info.version)
    bundle = load_early_warning(registry)
    assert bundle.version == info.version == "v0001"
    assert bundle.metadata["model_kind"] == MODEL_KIND
    assert bundle.metadata["evaluation"]["test_cutoff"] == "2026-03-30"
    X = ew_training.test_rows[list(EARLY_WARNING_FEATURES)]
    np.testing.assert_array_equal(
        bundle.model.predict_probability(X), ew_training.model.predict_probability(X)
    )
    assert registry.versions()[0].summary["metrics"]["roc_auc"] > 0.75
    assert ModelRegistry(tmp_path).versions() == []


def test_changed_model_file_is_refused(
    ew_training: EarlyWarningTraining, settings: Settings, tmp_path: Path
) -> None:
    """Gives a saved version whose booster file was altered; expects TamperedModelError."""
    registry = early_warning_registry(tmp_path, settings.early_warning)
    info = save_early_warning(registry, ew_training, settings=settings.early_warning)
    booster = info.path / "early_warning_xgboost.ubj"
    booster.chmod(0o644)
    booster.write_bytes(booster.read_bytes() + b"\0")
    with pytest.raises(TamperedModelError, match="checksum"):
        load_early_warning(registry, info.version)


def test_a_risk_version_is_not_an_early_warning_model(tmp_path: Path) -> None:
    """Gives a registry version without the early-warning kind; expects IncompatibleModelError."""
    registry = ModelRegistry(tmp_path)
    registry.save_version(lambda folder: (folder / "x.json").write_text("{}"), {"a": 1})
    with pytest.raises(IncompatibleModelError, match="model_kind"):
        load_early_warning(registry, "v0001")


def test_reasons_use_plain_descriptions(ew_training: EarlyWarningTraining) -> None:
    """Gives the 20 riskiest test loans; expects three reasons each, worded with the feature
    descriptions and the effect in log-odds."""
    order = np.argsort(-ew_training.test_scores)[:20]
    X = ew_training.test_rows[list(EARLY_WARNING_FEATURES)].iloc[order]
    reasons = ew_training.model.reasons(X, top_k=3)
    assert reasons.sentences.shape == (20, 3)
    assert (reasons.sentences[:, 0] != "").all()
    descriptions = tuple(FEATURE_DESCRIPTIONS.values())
    for sentence in reasons.sentences[:, 0]:
        assert sentence.startswith(descriptions), sentence
        assert sentence.endswith("log-odds)")


def test_training_needs_both_classes(ew_training: EarlyWarningTraining) -> None:
    """Gives labels all 0; expects TrainingDataError naming the counts."""
    X = ew_training.test_rows[list(EARLY_WARNING_FEATURES)]
    with pytest.raises(TrainingDataError, match="at least 10 rows of each class"):
        EarlyWarningModel(n_jobs=1).fit(X, np.zeros(len(X), dtype=np.int64))


def test_time_split_dates(settings: Settings) -> None:
    """Gives data ending 30 June; expects test 30 March and training 30 July .. 30 December."""
    train, test = time_split("2026-06-30", settings.early_warning)
    assert test == pd.Timestamp("2026-03-30")
    assert [day.strftime("%m-%d") for day in train] == [
        "07-30",
        "08-30",
        "09-30",
        "10-30",
        "11-30",
        "12-30",
    ]
