"""Plotly figures of the dashboard: pure functions from insight tables to ``go.Figure``.

No Streamlit and no arithmetic beyond layout: each builder draws a table that
:mod:`loan_recovery.dashboard.insights` (or the metrics module) already computed. Risk
bands always take ``settings.dashboard.band_colours``; amounts (axes, hover, cell text)
and counts written into a figure are formatted by :class:`~loan_recovery.money.MoneyFormat`,
so they group as ``[display]`` says (₹12,45,356 in en_IN), never by d3's thousands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]

from loan_recovery.actions import COLOURS
from loan_recovery.dashboard.formatting import money_axis, wrapped_labels
from loan_recovery.dashboard.insights import DR_ESTIMATE, DR_HIGH, DR_LOW
from loan_recovery.data import schema
from loan_recovery.money import MoneyFormat

#: Colour of lines and bars that are not a risk band (a neutral blue).
NEUTRAL = "#1f77b4"
#: Colour of reference lines (chance diagonal, perfect calibration).
REFERENCE = "#9e9e9e"
#: Sequential colour scale of heatmaps (light = few, dark = many).
HEATMAP_SCALE = "Blues"
#: One colour per arm (every action and hold), the same on every chart: the catalogue's,
#: so a new action brings its colour with it.
ACTION_COLOURS: Mapping[str, str] = COLOURS
_HEIGHT = 380
#: Characters per line of category labels, shared between the categories (tick font
#: ``CATEGORY_FONT_SIZE`` px, about 6 px a character): five segment names get 20, about
#: 120 px, where a page-wide chart in a 1440 px window gives each 150 px or more.
CATEGORY_AXIS_CHARS = 100
CATEGORY_FONT_SIZE = 11


def _layout(figure: go.Figure, title: str, *, height: int = _HEIGHT) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0.0, "y": 0.98, "yanchor": "top"},
        height=height,
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0.0},
        separators=".,",
    )
    return figure


def _wrapped_ticks(names: Sequence[str]) -> dict[str, Any]:
    """Category ticks wrapped to share the axis width between them, read without tilting.

    Each category gets about ``CATEGORY_AXIS_CHARS / len(names)`` characters per line
    (at least 8), so five segment names on a page-wide chart no longer run into each other.
    """
    per_line = max(8, CATEGORY_AXIS_CHARS // max(len(names), 1))
    return {
        "tickmode": "array",
        "tickvals": list(names),
        "ticktext": wrapped_labels(names, line_chars=per_line),
        "tickangle": 0,
        "tickfont": {"size": CATEGORY_FONT_SIZE},
        "automargin": True,
    }


def _money_hover(values: Sequence[float], money: MoneyFormat) -> list[str]:
    """Per-point amounts for ``%{customdata}`` in a hover template (d3 groups in threes)."""
    return [money.amount(float(value)) for value in values]


# --- portfolio -----------------------------------------------------------------------------
def segment_exposure_risk(profile: pd.DataFrame, money: MoneyFormat) -> go.Figure:
    """Exposure per segment (bars, left axis) and its mean risk score (markers, right axis)."""
    names = profile[schema.SEGMENT_NAME].astype(str).tolist()
    exposure = profile[schema.EXPOSURE].to_numpy(dtype=float).tolist()
    figure = go.Figure()
    figure.add_bar(
        x=names,
        y=exposure,
        name="Exposure",
        marker_color=NEUTRAL,
        customdata=_money_hover(exposure, money),
        hovertemplate="%{x}<br>Exposure %{customdata}<extra></extra>",
    )
    figure.add_scatter(
        x=names,
        y=profile[schema.MEAN_RISK].tolist(),
        name="Mean risk",
        mode="markers+lines",
        yaxis="y2",
        marker={"color": "#c62828", "size": 10},
        hovertemplate="%{x}<br>Mean risk %{y:.2f}<extra></extra>",
    )
    figure.update_layout(
        xaxis=_wrapped_ticks(names),
        yaxis={"title": "Exposure", **money_axis(exposure, money)},
        yaxis2={
            "title": "Mean risk score",
            "overlaying": "y",
            "side": "right",
            "range": [0, 1],
            "showgrid": False,
        },
    )
    return _layout(figure, "Exposure and mean risk by segment")


def action_mix(mix: pd.DataFrame, action_colours: Mapping[str, str] | None = None) -> go.Figure:
    """Stacked bars: loans per segment (x) by recommended action (one trace per column)."""
    figure = go.Figure()
    for action in mix.columns:
        colour = (action_colours if action_colours is not None else ACTION_COLOURS).get(str(action))
        figure.add_bar(
            x=[str(name) for name in mix.index],
            y=mix[action].tolist(),
            name=str(action),
            marker_color=colour,
            hovertemplate=f"%{{x}}<br>{action}: %{{y:,}} loans<extra></extra>",
        )
    figure.update_layout(
        barmode="stack",
        xaxis=_wrapped_ticks([str(name) for name in mix.index]),
        yaxis={"title": "Loans", "tickformat": ",d"},
    )
    return _layout(figure, "Recommended action mix by segment")


def bucket_band_heatmap(
    matrix: pd.DataFrame, *, value_label: str, money: MoneyFormat, as_money: bool = False
) -> go.Figure:
    """DPD bucket (rows) x risk band (columns) heatmap, each cell labelled with its value
    (an amount when ``as_money``, else a count)."""
    label = money.amount if as_money else money.number
    values = matrix.to_numpy(dtype=float)
    text = [[label(float(cell)) for cell in row] for row in values]
    figure = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=[str(column) for column in matrix.columns],
            y=[str(index) for index in matrix.index],
            text=text,
            texttemplate="%{text}",
            colorscale=HEATMAP_SCALE,
            colorbar={
                "title": value_label,
                **(money_axis(values.ravel(), money) if as_money else {}),
            },
            hovertemplate="DPD %{y} · %{x}<br>%{text}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"title": "Risk band"},
        yaxis={"title": "DPD bucket", "autorange": "reversed"},
    )
    return _layout(figure, f"{value_label} by DPD bucket and risk band")


def risk_histogram(histogram: pd.DataFrame, band_colours: Mapping[str, str]) -> go.Figure:
    """Stacked bars of loans per risk-score bin, one trace (and colour) per risk band."""
    low = histogram[schema.RISK_BIN_LOW].to_numpy(dtype=float)
    high = histogram[schema.RISK_BIN_HIGH].to_numpy(dtype=float)
    centres = ((low + high) / 2).tolist()
    widths = (high - low).tolist()
    figure = go.Figure()
    for band in (
        c for c in histogram.columns if c not in (schema.RISK_BIN_LOW, schema.RISK_BIN_HIGH)
    ):
        figure.add_bar(
            x=centres,
            y=histogram[band].tolist(),
            width=widths,
            name=str(band),
            marker_color=band_colours.get(str(band)),
            hovertemplate=f"{band}<br>score %{{x:.2f}}<br>%{{y:,}} loans<extra></extra>",
        )
    figure.update_layout(
        barmode="stack",
        bargap=0.02,
        xaxis={"title": "Risk score (probability not recovered)", "range": [0, 1]},
        yaxis={"title": "Loans", "tickformat": ",d"},
    )
    return _layout(figure, "Risk score distribution by band")


def roll_forward_heatmap(
    counts: pd.DataFrame, shares: pd.DataFrame, money: MoneyFormat
) -> go.Figure:
    """Transition heatmap: colour = share of the from-bucket's loans, text = share and count."""
    text = [
        [
            f"{share:.0%}<br>{money.number(count)}"
            for share, count in zip(share_row, count_row, strict=True)
        ]
        for share_row, count_row in zip(
            shares.to_numpy(dtype=float), counts.to_numpy(dtype=int), strict=True
        )
    ]
    figure = go.Figure(
        go.Heatmap(
            z=shares.to_numpy(dtype=float).tolist(),
            x=[str(column) for column in counts.columns],
            y=[str(index) for index in counts.index],
            text=text,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            colorscale=HEATMAP_SCALE,
            colorbar={"title": "Share", "tickformat": ".0%"},
            hovertemplate="from %{y} to %{x}<br>%{text}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"title": "DPD bucket at the next snapshot"},
        yaxis={"title": "DPD bucket", "autorange": "reversed"},
    )
    return _layout(figure, "Roll-forward of DPD buckets between snapshots")


# --- model performance ---------------------------------------------------------------------
def roc_curve(points: Mapping[str, Sequence[float]], auc: float | None = None) -> go.Figure:
    """ROC curve (``fpr``/``tpr`` lists) against the chance diagonal."""
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="Chance", line={"color": REFERENCE, "dash": "dash"}
    )
    name = "Model" if auc is None else f"Model (AUC {auc:.3f})"
    figure.add_scatter(
        x=list(points["fpr"]),
        y=list(points["tpr"]),
        mode="lines",
        name=name,
        line={"color": NEUTRAL},
        customdata=list(points.get("threshold", [])),
        hovertemplate="FPR %{x:.2f}, TPR %{y:.2f}<br>threshold %{customdata:.2f}<extra></extra>",
    )
    figure.update_layout(
        xaxis={"title": "False positive rate", "range": [0, 1]},
        yaxis={"title": "True positive rate", "range": [0, 1.02]},
    )
    return _layout(figure, "ROC curve (out-of-fold)")


def pr_curve(points: Mapping[str, Sequence[float]], base_rate: float) -> go.Figure:
    """Precision-recall curve against the base rate (what flagging everyone gives)."""
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1],
        y=[base_rate, base_rate],
        mode="lines",
        name=f"Base rate {base_rate:.2f}",
        line={"color": REFERENCE, "dash": "dash"},
    )
    figure.add_scatter(
        x=list(points["recall"]),
        y=list(points["precision"]),
        mode="lines",
        name="Model",
        line={"color": NEUTRAL},
        customdata=list(points.get("threshold", [])),
        hovertemplate="recall %{x:.2f}, precision %{y:.2f}<br>threshold %{customdata:.2f}"
        "<extra></extra>",
    )
    figure.update_layout(
        xaxis={"title": "Recall", "range": [0, 1]},
        yaxis={"title": "Precision", "range": [0, 1.02]},
    )
    return _layout(figure, "Precision-recall curve (out-of-fold)")


def calibration_curve(points: Mapping[str, Sequence[float]]) -> go.Figure:
    """Reliability diagram: observed rate against mean predicted score per bin."""
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="Perfect calibration",
        line={"color": REFERENCE, "dash": "dash"},
    )
    figure.add_scatter(
        x=list(points["mean_predicted"]),
        y=list(points["fraction_positive"]),
        mode="lines+markers",
        name="Model",
        line={"color": NEUTRAL},
        customdata=list(points.get("count", [])),
        hovertemplate="predicted %{x:.2f}, observed %{y:.2f}<br>%{customdata:,.0f} loans"
        "<extra></extra>",
    )
    figure.update_layout(
        xaxis={"title": "Mean predicted risk", "range": [0, 1]},
        yaxis={"title": "Observed share not recovered", "range": [0, 1]},
    )
    return _layout(figure, "Calibration (out-of-fold)")


def confusion_heatmap(confusion: pd.DataFrame, threshold: float, money: MoneyFormat) -> go.Figure:
    """2 x 2 confusion counts as a labelled heatmap."""
    values = confusion.to_numpy(dtype=float)
    figure = go.Figure(
        go.Heatmap(
            z=values.tolist(),
            x=[str(column) for column in confusion.columns],
            y=[str(index) for index in confusion.index],
            text=[[money.number(float(cell)) for cell in row] for row in values],
            texttemplate="%{text}",
            colorscale=HEATMAP_SCALE,
            showscale=False,
            hovertemplate="%{y}<br>%{x}<br>%{text} loans<extra></extra>",
        )
    )
    figure.update_layout(yaxis={"autorange": "reversed"})
    return _layout(figure, f"Confusion matrix at threshold {threshold:.2f}", height=320)


def importance_bars(importance: pd.Series) -> go.Figure:
    """Horizontal bars of global importance (mean |SHAP|), largest on top."""
    figure = go.Figure(
        go.Bar(
            x=importance.to_numpy(dtype=float).tolist(),
            y=[str(name) for name in importance.index],
            orientation="h",
            marker_color=NEUTRAL,
            hovertemplate="%{y}<br>mean |SHAP| %{x:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"title": "Mean |SHAP| (log-odds)"},
        yaxis={"autorange": "reversed"},
    )
    return _layout(figure, "Global importance", height=max(_HEIGHT, 28 * len(importance) + 80))


def silhouette_bars(table: pd.DataFrame) -> go.Figure:
    """Silhouette score per number of segments tried; the chosen k highlighted."""
    chosen = table[schema.CHOSEN].to_numpy(dtype=bool)
    figure = go.Figure(
        go.Bar(
            x=table[schema.SEGMENT_COUNT].astype(int).tolist(),
            y=table[schema.SILHOUETTE].to_numpy(dtype=float).tolist(),
            marker_color=["#c62828" if flag else NEUTRAL for flag in chosen],
            hovertemplate="k = %{x}<br>silhouette %{y:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"title": "Segments (k)", "dtick": 1},
        yaxis={"title": "Silhouette score"},
    )
    return _layout(figure, "Segment silhouette by k (chosen k in red)", height=320)


# --- strategy lab --------------------------------------------------------------------------
def policy_bars(table: pd.DataFrame, money: MoneyFormat) -> go.Figure:
    """Grouped bars per policy: net recovery, recovered and cost."""
    policies = [str(name) for name in table.index]
    figure = go.Figure()
    shown: list[float] = []
    for column, label, colour in (
        (schema.NET_RECOVERY, "Net recovery", "#2e7d32"),
        (schema.RECOVERED, "Recovered", NEUTRAL),
        (schema.COST, "Cost", "#c62828"),
    ):
        values = table[column].to_numpy(dtype=float).tolist()
        shown += values
        figure.add_bar(
            x=policies,
            y=values,
            name=label,
            marker_color=colour,
            customdata=_money_hover(values, money),
            hovertemplate=f"%{{x}}<br>{label} %{{customdata}}<extra></extra>",
        )
    figure.update_layout(barmode="group", yaxis=money_axis(shown, money))
    return _layout(figure, "Policies on the simulated portfolio (true expected money)")


def policy_intervals(table: pd.DataFrame, money: MoneyFormat) -> go.Figure:
    """Per policy: its true net recovery beside its doubly robust estimate and 95% interval.

    On the simulator the truth is known, so the chart shows how far the off-policy
    estimate (what a lender without a simulator would rely on) lands from it, and how wide
    its interval is.
    """
    policies = [str(name) for name in table.index]
    truth = table[schema.NET_RECOVERY].to_numpy(dtype=float)
    estimate = table[DR_ESTIMATE].to_numpy(dtype=float)
    low, high = table[DR_LOW].to_numpy(dtype=float), table[DR_HIGH].to_numpy(dtype=float)
    figure = go.Figure()
    figure.add_scatter(
        x=policies,
        y=truth.tolist(),
        mode="markers",
        name="True net recovery",
        marker={"color": "#2e7d32", "symbol": "diamond", "size": 11},
        customdata=_money_hover(truth.tolist(), money),
        hovertemplate="%{x}<br>true %{customdata}<extra></extra>",
    )
    figure.add_scatter(
        x=policies,
        y=estimate.tolist(),
        mode="markers",
        name="DR estimate, 95% interval",
        marker={"color": NEUTRAL, "size": 9},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": (high - estimate).tolist(),
            "arrayminus": (estimate - low).tolist(),
            "color": NEUTRAL,
        },
        customdata=_money_hover(estimate.tolist(), money),
        hovertemplate="%{x}<br>DR %{customdata}<extra></extra>",
    )
    bounds = [*truth.tolist(), *low.tolist(), *high.tolist()]
    figure.update_layout(yaxis=money_axis(bounds, money, include_zero=False))
    return _layout(figure, "Off-policy (doubly robust) estimate against the truth")


# --- alerts --------------------------------------------------------------------------------
#: Colour of alerted loans (not alerted ones are NEUTRAL).
ALERT = "#c62828"


def early_warning_histogram(
    histogram: pd.DataFrame, threshold: float, *, log_scale: bool = False
) -> go.Figure:
    """Stacked bars of loans per early-warning score bin, alerted in red; the threshold line.

    ``log_scale``: a logarithmic count axis, so the few high scores (the alerts) stay
    visible beside the many low ones.
    """
    low = histogram[schema.SCORE_BIN_LOW].to_numpy(dtype=float)
    high = histogram[schema.SCORE_BIN_HIGH].to_numpy(dtype=float)
    centres = ((low + high) / 2).tolist()
    widths = (high - low).tolist()
    figure = go.Figure()
    for column, label, colour in (
        (schema.NOT_ALERTED, "Below the threshold", NEUTRAL),
        (schema.ALERTED, "Alert", ALERT),
    ):
        figure.add_bar(
            x=centres,
            y=histogram[column].tolist(),
            width=widths,
            name=label,
            marker_color=colour,
            hovertemplate=f"{label}<br>score %{{x:.2f}}<br>%{{y:,}} loans<extra></extra>",
        )
    figure.add_vline(
        x=threshold,
        line={"color": REFERENCE, "dash": "dash", "width": 2},
        annotation_text=f"threshold {threshold:.2f}",
        annotation_position="top right",
    )
    figure.update_layout(
        barmode="stack",
        bargap=0.02,
        xaxis={
            "title": "Early-warning score (probability of default within the horizon)",
            "range": [0, 1],
        },
        yaxis={
            "title": "Loans (log scale)" if log_scale else "Loans",
            "tickformat": ",d",
            "type": "log" if log_scale else "linear",
        },
    )
    return _layout(figure, "Early-warning score distribution")
