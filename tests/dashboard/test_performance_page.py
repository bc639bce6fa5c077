"""Model performance page: the champion's card, curves and a threshold-driven confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from streamlit.testing.v1 import AppTest

from loan_recovery.config import load_settings
from loan_recovery.dashboard.formatting import money_format
from loan_recovery.jobs.report import build_model_card
from loan_recovery.models import metrics
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry

PAGE = Path(__file__).resolve().parents[2] / "src/loan_recovery/dashboard/pages/performance.py"
APP_TIMEOUT = 120  # seconds: a first run loads the model and its card


def run_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    return at


def table_of(at: AppTest, key: str) -> pd.DataFrame:
    """The data frame shown in the page's container ``key``."""
    return at.get_by_key(key).dataframe[0].value


def confusion_cells(counts: dict[str, int]) -> list[list[int]]:
    return [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]


def test_page_shows_candidates_segments_and_version(dashboard_env: Any) -> None:
    """Gives the trained champion; expects every candidate, chosen k and the model version."""
    at = run_page()
    settings = load_settings()
    card = build_model_card(settings=settings)
    registry = ModelRegistry(dashboard_env.models_dir)
    segmenter = load_bundle(registry, registry.resolve("champion")).segmenter
    candidates = table_of(at, "metrics_table")
    assert card.metrics is not None
    assert [name.removesuffix(" ★") for name in candidates.index] == [
        str(name) for name in card.metrics.index
    ]
    assert f"{card.champion_family} ★" in candidates.index
    assert {"xgboost", "random_forest"} <= set(card.metrics.index)
    silhouette = table_of(at, "silhouette_table")
    chosen = silhouette.loc[silhouette["Chosen"], "Segments"].tolist()
    assert chosen == [segmenter.n_segments_]
    assert sorted(silhouette["Segments"]) == sorted(segmenter.silhouette_)
    facts = table_of(at, "fingerprint").set_index("Fact")["Value"]
    assert facts["Model version"] == card.version
    assert facts["Training data SHA-256"] == card.fingerprint["sha256"]
    assert facts["Training rows"] == money_format(settings).number(card.fingerprint["rows"])
    assert len(at.get("plotly_chart")) == 6  # ROC, PR, calibration, confusion, importance, k


def test_threshold_slider_redraws_the_confusion_matrix(dashboard_env: Any) -> None:
    """Gives the default threshold, then 0.2; expects the counts of confusion_at at each."""
    at = run_page()
    settings = load_settings()
    card = build_model_card(settings=settings)
    assert at.slider(key="threshold").value == settings.risk.decision_threshold
    at_default = table_of(at, "confusion_table").to_numpy().tolist()
    expected = metrics.confusion_at(card.y_true, card.y_score, settings.risk.decision_threshold)
    assert at_default == confusion_cells(expected)

    at.slider(key="threshold").set_value(0.2).run()
    assert not at.exception
    at_low = table_of(at, "confusion_table").to_numpy().tolist()
    assert at_low == confusion_cells(metrics.confusion_at(card.y_true, card.y_score, 0.2))
    assert at_low != at_default
    assert at_low[1][1] >= at_default[1][1]  # a lower threshold catches more positives


def test_no_champion_is_an_error_not_a_traceback(
    dashboard_env: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """Gives an empty registry; expects st.error saying there is no champion."""
    monkeypatch.setenv("LOAN_RECOVERY_MODELS_DIR", str(tmp_path / "empty"))
    at = run_page()
    assert at.error
    assert "champion" in at.error[0].value.lower()
