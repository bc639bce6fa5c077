"""The model card: what a trained risk model is, how good it is, and on what data.

A risk score drives who gets a legal notice, so the people who sign off a model (risk,
compliance, audit) need one document that answers: which candidates were compared and
how they scored (mean ± std over folds), how the champion's probabilities behave
(ROC, precision-recall, calibration, a confusion matrix at the decision threshold),
what drives it (global importance), what the label means, which columns were kept out
(protected attributes), and which exact data trained it (fingerprint).

:class:`ModelCard` holds those facts as plain data; :func:`render_model_card` turns them
into a self-contained HTML page (charts embedded, so it can be mailed or archived as one
file) or Markdown with the charts beside it (for a repository or a wiki). The output is
deterministic for the same card: no timestamps but the card's own ``created_at``, PNGs
without a software/time stamp. Curve points are computed here from the out-of-fold
scores, so the card does not depend on how training computed its metrics.
"""

from __future__ import annotations

import base64
import io
import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from matplotlib.figure import Figure
from rich.table import Table
from rich.text import Text
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from loan_recovery.exceptions import ModelError, UnsupportedFormatError
from loan_recovery.money import MoneyFormat

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Display order and names of the metrics a card knows; other ``*_mean`` columns follow.
METRIC_LABELS: Final[dict[str, str]] = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "gini": "Gini",
    "ks": "KS",
    "brier": "Brier",
    "log_loss": "Log loss",
    "ece": "ECE",
}
#: Metrics where smaller is better, flagged in the table header so nobody misreads them.
LOWER_IS_BETTER: Final[frozenset[str]] = frozenset({"brier", "log_loss", "ece"})
MEAN_SUFFIX: Final = "_mean"
STD_SUFFIX: Final = "_std"
#: Chart file stems, in the order the card shows them.
CHART_NAMES: Final = ("roc", "precision_recall", "calibration", "confusion_matrix", "importance")
TOP_FEATURES: Final = 15
HTML_TEMPLATE: Final = "model_card.html.j2"
MARKDOWN_TEMPLATE: Final = "model_card.md.j2"
_DPI: Final = 100
_MISSING: Final = "—"
#: Large numbers in the card grouped as the display groups them (en_IN: 12,34,567).
_NUMBERS: Final = MoneyFormat()
_LABEL_WIDTH: Final = 48


@dataclass(frozen=True, eq=False)
class ModelCard:
    """Everything a model card shows, as JSON-able values, arrays and frames.

    ``metrics`` has one row per candidate (index: ``"xgboost"``, ``"random_forest"``,
    ``"base_rate"``, ...) and ``<metric>_mean`` / ``<metric>_std`` columns. ``y_true`` /
    ``y_score`` are the champion's out-of-fold labels (1 = positive class, e.g. not
    recovered) and calibrated scores: out-of-fold, so the charts show performance on
    loans the model did not train on. A model trained without cross-validation has no
    honest evaluation to show, so ``metrics`` and the two arrays may be None: the card
    then says so instead of drawing curves from training data. ``importance`` maps a
    feature description to its mean |SHAP|. Arrays and frames are checked and copied on
    construction, so a card cannot change after it is built.
    """

    title: str
    version: str
    created_at: str
    champion_family: str
    metrics: pd.DataFrame | None
    y_true: npt.NDArray[np.integer[Any]] | None
    y_score: npt.NDArray[np.floating[Any]] | None
    threshold: float
    importance: pd.Series[float]
    segment_profile: pd.DataFrame
    fingerprint: Mapping[str, Any]
    label_definition: str
    excluded_columns: tuple[str, ...]
    calibration_method: str
    positive_label: str = "Not recovered"
    negative_label: str = "Recovered"
    library_versions: Mapping[str, Any] = field(default_factory=dict)
    #: Sentences on how the served model was chosen: monotone decision and its cost,
    #: hyperparameters, small-data search, calibration, data-profile flags.
    model_choice: tuple[str, ...] = ()
    calibration_bins: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ModelError(f"threshold must be in (0, 1); got {self.threshold}.")
        if self.calibration_bins < 2:
            raise ModelError(f"calibration_bins must be >= 2; got {self.calibration_bins}.")
        if self.metrics is not None and self.metrics.empty:
            raise ModelError("metrics must have at least one candidate row (or be None).")
        if (self.y_true is None) != (self.y_score is None):
            raise ModelError("y_true and y_score must be given together (or both be None).")
        if self.y_true is not None and self.y_score is not None:
            y_true, y_score = _checked_out_of_fold(self.y_true, self.y_score)
            object.__setattr__(self, "y_true", y_true)
            object.__setattr__(self, "y_score", y_score)
        object.__setattr__(self, "excluded_columns", tuple(self.excluded_columns))
        if self.metrics is not None:
            object.__setattr__(self, "metrics", self.metrics.copy())
        object.__setattr__(self, "importance", self.importance.copy())
        object.__setattr__(self, "segment_profile", self.segment_profile.copy())
        object.__setattr__(self, "fingerprint", dict(self.fingerprint))
        object.__setattr__(self, "library_versions", dict(self.library_versions))

    @property
    def has_out_of_fold(self) -> bool:
        """True when the card can show curves, calibration and a confusion matrix."""
        return self.y_true is not None and self.y_score is not None

    def confusion(self) -> dict[str, int]:
        """Counts at the decision threshold: a score >= threshold is called positive."""
        y_true, y_score = self._out_of_fold()
        predicted = y_score >= self.threshold
        actual = y_true == 1
        return {
            "tn": int(np.sum(~predicted & ~actual)),
            "fp": int(np.sum(predicted & ~actual)),
            "fn": int(np.sum(~predicted & actual)),
            "tp": int(np.sum(predicted & actual)),
        }

    def calibration_table(self) -> pd.DataFrame:
        """Reliability bins of equal width on [0, 1]: count, mean score, observed rate.

        Equal-width bins (not quantiles) so the diagram reads against the diagonal, with
        counts shown beside it because sparse bins are noisy.
        """
        y_true, y_score = self._out_of_fold()
        bins = self.calibration_bins
        edges = np.linspace(0.0, 1.0, bins + 1)
        # floor(score * bins), not digitize on linspace edges: 0.6 must fall in [0.6, 0.7)
        # although linspace makes that edge 0.6000000000000001. A score of 1 joins the top bin.
        index = np.minimum(np.floor(y_score * bins).astype(np.int64), bins - 1)
        counts = np.bincount(index, minlength=bins)
        score_sums = np.bincount(index, weights=y_score, minlength=bins)
        positive_sums = np.bincount(index, weights=y_true.astype(np.float64), minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_score = np.where(counts > 0, score_sums / counts, np.nan)
            observed = np.where(counts > 0, positive_sums / counts, np.nan)
        return pd.DataFrame(
            {
                "bin_low": edges[:-1],
                "bin_high": edges[1:],
                "count": counts.astype(np.int64),
                "mean_score": mean_score,
                "observed_rate": observed,
            }
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The card as plain JSON types (NaN -> null), for ``report --json`` and the API.

        The out-of-fold arrays are summarised (size, positives, confusion, calibration
        bins), not listed: they can hold a million rows.
        """
        metric_table = (
            None
            if self.metrics is None
            else {
                str(candidate): {str(column): _plain(value) for column, value in row.items()}
                for candidate, row in self.metrics.iterrows()
            }
        )
        evaluation: dict[str, Any] | None = None
        if self.has_out_of_fold:
            y_true, _ = self._out_of_fold()
            evaluation = {
                "rows": len(y_true),
                "positives": int(y_true.sum()),
                "base_rate": float(y_true.mean()),
                "confusion_matrix": self.confusion(),
                "calibration": self.calibration_table().to_dict(orient="records"),
            }
        profile = self.segment_profile.reset_index()
        payload: dict[str, Any] = _plain(
            {
                "title": self.title,
                "version": self.version,
                "created_at": self.created_at,
                "champion_family": self.champion_family,
                "calibration_method": self.calibration_method,
                "label_definition": self.label_definition,
                "positive_label": self.positive_label,
                "negative_label": self.negative_label,
                "excluded_columns": list(self.excluded_columns),
                "threshold": self.threshold,
                "metrics": metric_table,
                "evaluation": evaluation,
                "importance": {str(name): value for name, value in self.importance.items()},
                "segment_profile": profile.to_dict(orient="records"),
                "fingerprint": dict(self.fingerprint),
                "library_versions": dict(self.library_versions),
                "model_choice": list(self.model_choice),
            }
        )
        return payload

    def _out_of_fold(self) -> tuple[IntArray, FloatArray]:
        if self.y_true is None or self.y_score is None:
            raise ModelError(
                f"model card {self.version} has no out-of-fold scores (the model was trained "
                "without cross-validation)."
            )
        return self.y_true.astype(np.int64, copy=False), self.y_score.astype(np.float64, copy=False)


def _checked_out_of_fold(y_true: Any, y_score: Any) -> tuple[IntArray, FloatArray]:
    """Copies of the out-of-fold arrays, refused when they cannot draw honest curves."""
    labels_array = np.asarray(y_true)
    scores = np.asarray(y_score, dtype=np.float64).copy()
    if labels_array.ndim != 1 or scores.ndim != 1 or len(labels_array) != len(scores):
        raise ModelError(
            "y_true and y_score must be 1-D and of equal length; got shapes "
            f"{labels_array.shape} and {scores.shape}."
        )
    labels = set(np.unique(labels_array).tolist())
    if labels != {0, 1}:
        raise ModelError(
            f"y_true must hold both classes 0 and 1 (and nothing else); got {sorted(labels)}."
        )
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise ModelError("y_score must be finite probabilities in [0, 1].")
    return labels_array.astype(np.int64), scores


# --- rendering ---------------------------------------------------------------------------
def render_model_card(card: ModelCard, out: Path) -> Path:
    """Write ``card`` to ``out``: ``.html`` (one self-contained file) or ``.md``.

    HTML embeds the charts as base64 PNG data URIs so the page needs nothing else; the
    Markdown card writes them to ``<stem>_files/`` beside it and links them relatively.
    All text from the card is escaped (segment or feature names are data, not markup).
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".md"):
        raise UnsupportedFormatError(f"a model card is written as .html or .md; got {out.name!r}.")
    charts = chart_pngs(card)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        sources = {
            name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            for name, png in charts.items()
        }
        template = HTML_TEMPLATE
    else:
        folder = out.parent / f"{out.stem}_files"
        folder.mkdir(exist_ok=True)
        sources = {}
        for name, png in charts.items():
            (folder / f"{name}.png").write_bytes(png)
            sources[name] = urllib.parse.quote(f"{folder.name}/{name}.png")
        template = MARKDOWN_TEMPLATE
    text = _environment().get_template(template).render(**_context(card, sources))
    out.write_text(text, encoding="utf-8", newline="\n")
    return out


def metrics_rich_table(
    source: ModelCard | pd.DataFrame,
    *,
    champion_family: str | None = None,
    title: str | None = None,
) -> Table:
    """Candidates x metrics as ``mean ± std`` for the terminal; the champion starred.

    Takes a card (``report``) or just its metrics frame (``train``, before any card
    exists); with a frame, ``champion_family`` names the row to highlight.
    """
    champion: str | None
    if isinstance(source, ModelCard):
        metrics = source.metrics
        champion = champion_family if champion_family is not None else source.champion_family
        default_title = f"{source.title} {source.version}: candidates (mean ± std over folds)"
    else:
        metrics, champion = source, champion_family
        default_title = "Candidates (mean ± std over folds)"
    table = Table(title=title if title is not None else default_title)
    table.add_column("candidate", no_wrap=True)
    if metrics is None:
        table.add_row(Text("not cross-validated: no candidate comparison"))
        return table
    columns = _metric_columns(metrics)
    for name, _, _ in columns:
        table.add_column(_metric_header(name), justify="right")
    for candidate, row in metrics.iterrows():
        is_champion = str(candidate) == champion
        label = Text(f"{candidate} ★" if is_champion else str(candidate))
        cells = [Text(_mean_std(row, mean, std)) for _, mean, std in columns]
        table.add_row(label, *cells, style="bold" if is_champion else None)
    return table


def chart_pngs(card: ModelCard) -> dict[str, bytes]:
    """The card's charts as PNG bytes, keyed by :data:`CHART_NAMES`, in that order.

    All five when the card has out-of-fold scores, else the importance chart alone.
    Figures are built with the object-oriented API (``Figure`` + the Agg canvas chosen by
    ``savefig``), never pyplot, so rendering sets no backend, keeps no global figure
    registry and is safe inside a web server.
    """
    charts: dict[str, bytes] = {}
    if card.has_out_of_fold:
        y_true, y_score = card._out_of_fold()
        charts["roc"] = _png(_roc_figure(card, y_true, y_score))
        charts["precision_recall"] = _png(_pr_figure(card, y_true, y_score))
        charts["calibration"] = _png(_calibration_figure(card))
        charts["confusion_matrix"] = _png(_confusion_figure(card))
    charts["importance"] = _png(_importance_figure(card))
    return charts


def _environment() -> Environment:
    """Jinja environment over the packaged templates, autoescaping everything."""
    environment = Environment(
        loader=PackageLoader("loan_recovery.models", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["md"] = _markdown_text
    return environment


def _markdown_text(value: object) -> Markup:
    """Text safe in Markdown (tables included): HTML-escaped, Markdown syntax backslashed."""
    text = " ".join(str(value).splitlines())
    escaped = str(escape(text))
    for character in ("\\", "`", "*", "_", "[", "]", "|", "#"):
        escaped = escaped.replace(character, "\\" + character)
    return Markup(escaped)


def _context(card: ModelCard, sources: Mapping[str, str]) -> dict[str, Any]:
    """Everything the templates show, already formatted as text (templates do no maths)."""
    columns = _metric_columns(card.metrics) if card.metrics is not None else []
    metric_rows = (
        []
        if card.metrics is None
        else [
            {
                "candidate": str(candidate),
                "is_champion": str(candidate) == card.champion_family,
                "cells": [_mean_std(row, mean, std) for _, mean, std in columns],
            }
            for candidate, row in card.metrics.iterrows()
        ]
    )
    top = _top_importance(card.importance)
    importance = [
        {"feature": str(name), "value": _format_value(value)} for name, value in top.items()
    ]
    profile = card.segment_profile.reset_index()
    fingerprint = dict(card.fingerprint)
    chart_titles = {
        "roc": "ROC curve",
        "precision_recall": "Precision-recall curve",
        "calibration": "Calibration (reliability diagram)",
        "confusion_matrix": f"Confusion matrix at threshold {card.threshold:.2f}",
        "importance": f"Global importance (top {TOP_FEATURES}, mean |SHAP|)",
    }
    return {
        "card": card,
        "threshold": f"{card.threshold:.2f}",
        "metric_headers": [_metric_header(name) for name, _, _ in columns],
        "metric_rows": metric_rows,
        "evaluation": _evaluation_context(card) if card.has_out_of_fold else None,
        "importance": importance,
        "segment_headers": [str(column) for column in profile.columns],
        "segment_rows": [
            [_format_value(value) for value in row] for row in profile.itertuples(index=False)
        ],
        "fingerprint": {
            "rows": _format_value(fingerprint.get("rows", _MISSING)),
            "sha256": str(fingerprint.get("sha256", _MISSING)),
            "columns": [str(column) for column in fingerprint.get("columns", [])],
        },
        "library_versions": {str(k): str(v) for k, v in card.library_versions.items()},
        "charts": [
            {"name": name, "title": chart_titles[name], "src": sources[name]}
            for name in CHART_NAMES
            if name in sources
        ],
    }


def _evaluation_context(card: ModelCard) -> dict[str, Any]:
    confusion = card.confusion()
    tp, fp, fn, tn = confusion["tp"], confusion["fp"], confusion["fn"], confusion["tn"]
    rows = tp + fp + fn + tn
    calibration = [
        {
            "range": f"{row['bin_low']:.1f}–{row['bin_high']:.1f}",
            "count": _format_value(int(row["count"])),
            "mean_score": _format_value(row["mean_score"]),
            "observed_rate": _format_value(row["observed_rate"]),
        }
        for row in card.calibration_table().to_dict(orient="records")
    ]
    return {
        "rows": _format_value(rows),
        "positives": _format_value(tp + fn),
        "base_rate": _ratio(tp + fn, rows),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "flagged": _ratio(tp + fp, rows),
        "confusion": {key: _format_value(value) for key, value in confusion.items()},
        "calibration": calibration,
    }


# --- charts ------------------------------------------------------------------------------
def _png(figure: Figure) -> bytes:
    """PNG bytes without a Software tag, so the same card gives the same bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _new_figure(width: float = 5.0, height: float = 4.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _roc_figure(card: ModelCard, y_true: IntArray, y_score: FloatArray) -> Figure:
    fpr, tpr, _ = roc_curve(y_true, y_score)
    auc = float(roc_auc_score(y_true, y_score))
    confusion = card.confusion()
    point_fpr = confusion["fp"] / max(confusion["fp"] + confusion["tn"], 1)
    point_tpr = confusion["tp"] / max(confusion["tp"] + confusion["fn"], 1)
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(
        fpr,
        tpr,
        color="#1f77b4",
        linewidth=2,
        label=f"{_chart_text(card.champion_family)} (AUC {auc:.3f})",
    )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    axes.scatter(
        [point_fpr], [point_tpr], color="#d62728", zorder=3, label=f"threshold {card.threshold:.2f}"
    )
    axes.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
    axes.set_title("ROC curve (out-of-fold)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return figure


def _pr_figure(card: ModelCard, y_true: IntArray, y_score: FloatArray) -> Figure:
    # drop_intermediate: a million out-of-fold scores need not become a million plotted points.
    precision, recall, _ = precision_recall_curve(y_true, y_score, drop_intermediate=True)
    average_precision = float(average_precision_score(y_true, y_score))
    base_rate = float(y_true.mean())
    confusion = card.confusion()
    flagged = confusion["tp"] + confusion["fp"]
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.step(
        recall,
        precision,
        where="post",
        color="#1f77b4",
        linewidth=2,
        label=f"{_chart_text(card.champion_family)} (AP {average_precision:.3f})",
    )
    axes.axhline(
        base_rate, linestyle="--", color="grey", linewidth=1, label=f"base rate {base_rate:.1%}"
    )
    if flagged:
        axes.scatter(
            [confusion["tp"] / max(confusion["tp"] + confusion["fn"], 1)],
            [confusion["tp"] / flagged],
            color="#d62728",
            zorder=3,
            label=f"threshold {card.threshold:.2f}",
        )
    axes.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01))
    axes.set_title("Precision-recall curve (out-of-fold)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    return figure


def _calibration_figure(card: ModelCard) -> Figure:
    bins = card.calibration_table()
    filled = bins[bins["count"] > 0]
    figure = _new_figure(5.0, 5.0)
    grid = figure.add_gridspec(2, 1, height_ratios=(3, 1))
    top = figure.add_subplot(grid[0])
    top.plot(
        [0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated"
    )
    top.plot(
        filled["mean_score"],
        filled["observed_rate"],
        marker="o",
        color="#1f77b4",
        label=f"{_chart_text(card.champion_family)} ({_chart_text(card.calibration_method)})",
    )
    top.set(
        ylabel=f"Observed rate: {_chart_text(card.positive_label, 30)}", xlim=(0, 1), ylim=(0, 1.01)
    )
    top.set_title("Calibration (reliability diagram)")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    bottom = figure.add_subplot(grid[1], sharex=top)
    centres = (bins["bin_low"] + bins["bin_high"]) / 2
    width = float(bins["bin_high"].iloc[0] - bins["bin_low"].iloc[0]) * 0.9
    bars = bottom.bar(centres, bins["count"], width=width, color="#aec7e8", edgecolor="#1f77b4")
    bottom.bar_label(bars, labels=[f"{int(count):,}" for count in bins["count"]], fontsize=7)
    bottom.set(xlabel="Mean predicted score", ylabel="Loans")
    bottom.margins(y=0.25)
    return figure


def _confusion_figure(card: ModelCard) -> Figure:
    confusion = card.confusion()
    matrix = np.array([[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]])
    row_totals = matrix.sum(axis=1, keepdims=True)
    shares = matrix / np.maximum(row_totals, 1)
    figure = _new_figure(4.5, 4.0)
    axes = figure.add_subplot()
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if shares[row, column] > 0.6 else "black"
        axes.text(
            column,
            row,
            f"{count:,}\n{shares[row, column]:.1%}",
            ha="center",
            va="center",
            color=colour,
            fontsize=10,
        )
    labels = [card.negative_label, card.positive_label]
    axes.set_xticks([0, 1], labels=[_chart_text(label, 24) for label in labels])
    axes.set_yticks([0, 1], labels=[_chart_text(label, 24) for label in labels])
    axes.set(xlabel="Predicted", ylabel="Actual")
    axes.set_title(f"Confusion matrix at threshold {card.threshold:.2f}")
    return figure


def _importance_figure(card: ModelCard) -> Figure:
    top = _top_importance(card.importance)
    figure = _new_figure(6.5, max(2.5, 0.32 * len(top) + 1.2))
    axes = figure.add_subplot()
    if top.empty:
        axes.text(0.5, 0.5, "no importance recorded", ha="center", va="center")
        axes.set_axis_off()
        return figure
    ordered = top.iloc[::-1]
    positions = np.arange(len(ordered))
    axes.barh(positions, ordered.to_numpy(dtype=np.float64), color="#1f77b4")
    axes.set_yticks(
        positions, labels=[_chart_text(name, _LABEL_WIDTH) for name in ordered.index], fontsize=8
    )
    axes.set_xlabel("mean |SHAP|")
    axes.set_title(f"Global importance (top {len(top)})")
    axes.grid(axis="x", alpha=0.3)
    return figure


# --- small helpers -----------------------------------------------------------------------
def _metric_columns(metrics: pd.DataFrame) -> list[tuple[str, str, str | None]]:
    """(metric, mean column, std column or None), known metrics first in a fixed order."""
    names = [
        str(column)[: -len(MEAN_SUFFIX)]
        for column in metrics.columns
        if str(column).endswith(MEAN_SUFFIX)
    ]
    known = [name for name in METRIC_LABELS if name in names]
    others = [name for name in names if name not in METRIC_LABELS]
    columns: list[tuple[str, str, str | None]] = []
    for name in known + others:
        std = f"{name}{STD_SUFFIX}"
        columns.append((name, f"{name}{MEAN_SUFFIX}", std if std in metrics.columns else None))
    return columns


def _metric_header(name: str) -> str:
    label = METRIC_LABELS.get(name, name)
    return f"{label} ↓" if name in LOWER_IS_BETTER else label


def _mean_std(row: pd.Series[Any], mean_column: str, std_column: str | None) -> str:
    mean = _as_float(row.get(mean_column))
    if mean is None:
        return _MISSING
    std = _as_float(row.get(std_column)) if std_column is not None else None
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _top_importance(importance: pd.Series[float]) -> pd.Series[float]:
    """Largest first; ties broken by name so the order never depends on input order."""
    frame = pd.DataFrame({"name": importance.index.astype(str), "value": importance.to_numpy()})
    frame = frame.sort_values(["value", "name"], ascending=[False, True], kind="mergesort")
    top = frame.head(TOP_FEATURES)
    return pd.Series(top["value"].to_numpy(dtype=np.float64), index=pd.Index(top["name"]))


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.1%}" if denominator else _MISSING


def _format_value(value: Any) -> str:
    """Compact, locale-free text for table cells: 1,234 / 0.1235 / 52.3 / —."""
    if value is None or value is pd.NA or value is pd.NaT:
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return _NUMBERS.number(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return _MISSING
        return _NUMBERS.number(number) if abs(number) >= 1000 else f"{number:.4g}"
    return str(value)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _chart_text(text: object, width: int | None = None) -> str:
    """Card text for a chart: ``$`` escaped so matplotlib never parses names as math."""
    plain = str(text) if width is None else _truncate(str(text), width)
    return plain.replace("$", r"\$")


def _plain(value: Any) -> Any:
    """Recursively turn numpy/pandas values into JSON types; NaN and NA become None."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_plain(item) for item in items]
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    return str(value)
