"""Model card: HTML and Markdown rendering, the terminal table and the JSON payload."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from loan_recovery.data import schema
from loan_recovery.exceptions import ModelError, UnsupportedFormatError
from loan_recovery.models.report import (
    CHART_NAMES,
    ModelCard,
    metrics_rich_table,
    render_model_card,
)

CANDIDATES = ("xgboost", "random_forest", "base_rate", f"logistic_{schema.DAYS_PAST_DUE}")
METRICS = ("roc_auc", "pr_auc", "gini", "ks", "brier", "log_loss", "ece")
EVIL_SEGMENT = "<script>alert('x')</script>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _card(**changes: object) -> ModelCard:
    """A card like training would build: 4 candidates, 1,500 out-of-fold scores, 3 segments."""
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 1_500)
    y_score = np.clip(0.35 * y_true + 0.65 * rng.random(1_500), 0, 1)
    metrics = pd.DataFrame(
        {
            f"{metric}_{stat}": rng.random(len(CANDIDATES))
            for metric in METRICS
            for stat in ("mean", "std")
        },
        index=pd.Index(CANDIDATES, name="candidate"),
    )
    metrics.loc["base_rate", "roc_auc_std"] = np.nan
    importance = pd.Series(
        {
            schema.SPECS_BY_NAME[name].description: float(value)
            for value, name in enumerate(schema.REQUIRED_COLUMNS, start=1)
        }
        | {"Cost in $ per loan": 0.5}
    )
    segments = pd.DataFrame(
        {
            schema.SEGMENT_NAME: ["Low income, high DPD", EVIL_SEGMENT, "Secured | large"],
            schema.LOANS: [500, 600, 400],
            schema.MEAN_DAYS_PAST_DUE: [120.5, 15.25, 60.0],
        },
        index=pd.Index([0, 1, 2], name=schema.SEGMENT_ID),
    )
    fields: dict[str, object] = {
        "title": "Recovery risk model",
        "version": "v0007",
        "created_at": "2026-06-30T12:00:00+00:00",
        "champion_family": "xgboost",
        "metrics": metrics,
        "y_true": y_true,
        "y_score": y_score,
        "threshold": 0.5,
        "importance": importance,
        "segment_profile": segments,
        "fingerprint": {
            "rows": 1_500,
            "columns": list(schema.REQUIRED_COLUMNS),
            "sha256": "0" * 64,
        },
        "label_definition": (
            f"{schema.RECOVERY_STATUS} is {schema.PARTIALLY_RECOVERED} or {schema.WRITTEN_OFF}"
        ),
        "excluded_columns": (schema.GENDER,),
        "calibration_method": "isotonic",
        "library_versions": {"numpy": np.__version__},
    }
    fields.update(changes)
    return ModelCard(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def card() -> ModelCard:
    """One card shared by the module's tests (cards are immutable)."""
    return _card()


@pytest.fixture(scope="module")
def html(card: ModelCard, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The card rendered once as HTML."""
    out = render_model_card(card, tmp_path_factory.mktemp("html") / "card.html")
    return out.read_text(encoding="utf-8")


def test_html_shows_title_candidates_and_embedded_charts(card: ModelCard, html: str) -> None:
    """Gives the HTML card; expects title, version, every candidate and 5 inline PNGs."""
    assert card.title in html
    assert card.version in html
    for candidate in CANDIDATES:
        assert candidate in html
    assert html.count("data:image/png;base64,") == len(CHART_NAMES) == 5
    assert "± " in html
    assert 'src="http' not in html  # self-contained: nothing fetched from elsewhere


def test_html_escapes_names_from_data(html: str) -> None:
    """Gives a segment named like a script tag; expects it escaped, never live markup."""
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_html_is_deterministic(card: ModelCard, html: str, tmp_path: Path) -> None:
    """Gives the same card rendered again; expects byte-identical output."""
    again = render_model_card(card, tmp_path / "again.html").read_text(encoding="utf-8")
    assert again == html


def test_markdown_writes_linked_png_files(card: ModelCard, tmp_path: Path) -> None:
    """Gives a .md target; expects 5 PNG files beside it, each linked from the Markdown."""
    out = render_model_card(card, tmp_path / "model card.md")
    text = out.read_text(encoding="utf-8")
    folder = tmp_path / "model card_files"
    pngs = sorted(folder.glob("*.png"))
    assert [path.stem for path in pngs] == sorted(CHART_NAMES)
    for path in pngs:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        assert f"(model%20card_files/{path.name})" in text
    assert "data:image/png" not in text
    assert "<script" not in text
    assert r"Secured \| large" in text  # a pipe cannot break the table
    for candidate in CANDIDATES:
        assert candidate.replace("_", r"\_") in text


def test_rich_table_lists_every_candidate(card: ModelCard) -> None:
    """Gives the card; expects one row per candidate with mean ± std, champion starred."""
    console = Console(record=True, width=220)
    console.print(metrics_rich_table(card))
    text = console.export_text()
    for candidate in CANDIDATES:
        assert candidate in text
    assert "xgboost ★" in text
    assert re.search(r"\d\.\d{3} ± \d\.\d{3}", text)


def test_rich_table_from_a_metrics_frame(card: ModelCard) -> None:
    """Gives only the metrics frame (train has no card yet); expects the named champion starred."""
    assert card.metrics is not None
    console = Console(record=True, width=220)
    console.print(metrics_rich_table(card.metrics, champion_family="random_forest"))
    text = console.export_text()
    assert "random_forest ★" in text
    assert "xgboost ★" not in text


def test_card_without_cross_validation(tmp_path: Path) -> None:
    """Gives a card with no metrics and no out-of-fold scores; expects an honest, smaller card."""
    card = _card(metrics=None, y_true=None, y_score=None)
    assert not card.has_out_of_fold
    html = render_model_card(card, tmp_path / "card.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 1  # importance only
    assert "Not cross-validated" in html
    markdown = render_model_card(card, tmp_path / "card.md").read_text(encoding="utf-8")
    assert "Not cross-validated" in markdown
    assert [path.name for path in (tmp_path / "card_files").iterdir()] == ["importance.png"]
    payload = card.to_json_dict()
    assert payload["metrics"] is None
    assert payload["evaluation"] is None
    json.dumps(payload, allow_nan=False)
    with pytest.raises(ModelError, match="cross-validation"):
        card.confusion()


def test_json_dict_is_plain_json(card: ModelCard) -> None:
    """Gives the card with a NaN metric; expects strict JSON with null and no raw arrays."""
    payload = card.to_json_dict()
    text = json.dumps(payload, allow_nan=False)
    assert payload["metrics"]["base_rate"]["roc_auc_std"] is None
    assert set(payload["metrics"]) == set(CANDIDATES)
    assert payload["evaluation"]["rows"] == 1_500
    assert sum(payload["evaluation"]["confusion_matrix"].values()) == 1_500
    assert payload["segment_profile"][1][schema.SEGMENT_NAME] == EVIL_SEGMENT
    assert len(text) < 20_000  # out-of-fold arrays are summarised, not dumped


def test_confusion_and_calibration_by_hand() -> None:
    """Gives 4 scores around a 0.5 threshold; expects hand-counted cells and bins."""
    card = _card(y_true=np.array([0, 1, 0, 1]), y_score=np.array([0.1, 0.9, 0.6, 0.4]))
    assert card.confusion() == {"tn": 1, "fp": 1, "fn": 1, "tp": 1}
    bins = card.calibration_table()
    assert bins["count"].sum() == 4
    assert bins.loc[9, "observed_rate"] == 1.0
    assert bins.loc[6, "mean_score"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"y_true": np.zeros(10, dtype=int), "y_score": np.full(10, 0.2)}, "both classes"),
        ({"y_true": np.array([0, 1]), "y_score": np.array([0.2, 1.5])}, r"\[0, 1\]"),
        ({"y_true": np.array([0, 1]), "y_score": np.array([0.2])}, "equal length"),
        ({"threshold": 1.0}, "threshold"),
        ({"y_score": None}, "together"),
    ],
)
def test_invalid_card_is_refused(changes: dict[str, object], message: str) -> None:
    """Gives one-class labels, out-of-range scores, ragged arrays, a bad threshold."""
    with pytest.raises(ModelError, match=message):
        _card(**changes)


def test_unknown_suffix_is_refused(card: ModelCard, tmp_path: Path) -> None:
    """Gives a .pdf target; expects UnsupportedFormatError and no file written."""
    with pytest.raises(UnsupportedFormatError, match=r"\.html or \.md"):
        render_model_card(card, tmp_path / "card.pdf")
    assert not list(tmp_path.iterdir())
