"""Plotly figures of the "Assess a borrower" page: pure functions, data in, figure out.

No Streamlit and no model here: each builder takes numbers the pipeline already produced
(a calibrated score, a worklist row's uplift per action, SHAP contributions) and the
settings that style them (band edges, names and colours, the display's money format).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]

from loan_recovery.actions import HOLD
from loan_recovery.dashboard.formatting import money_axis
from loan_recovery.money import MoneyFormat

#: Colours of bars that raise / lower risk, and of actions not recommended or not allowed.
RAISES_RISK = "#c62828"
LOWERS_RISK = "#2e7d32"
OTHER_ACTION = "#90a4ae"
BLOCKED_ACTION = "#e0e0e0"
RECOMMENDED_ACTION = "#1565c0"
#: Contributions shown in the reasons chart (the largest by size).
TOP_CONTRIBUTIONS = 10
_HEIGHT = 300


def _band_ranges(edges: Sequence[float]) -> list[tuple[float, float]]:
    bounds = [0.0, *edges, 1.0]
    return list(pairwise(bounds))


def risk_gauge(
    score: float,
    band: str,
    band_edges: Sequence[float],
    band_names: Sequence[str],
    band_colours: Mapping[str, str],
) -> go.Figure:
    """A 0-100% gauge of the calibrated risk, its bar in the band's colour.

    The dial's background shows every band (its colour, faded), so the reader sees how far
    the loan is from the next band.
    """
    steps = [
        {"range": [low * 100, high * 100], "color": _faded(band_colours.get(name, OTHER_ACTION))}
        for (low, high), name in zip(_band_ranges(band_edges), band_names, strict=True)
    ]
    figure = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=round(float(score) * 100, 1),
            number={"suffix": "%", "valueformat": ".1f"},
            title={"text": f"Risk of not recovering: {band}"},
            gauge={
                "axis": {"range": [0, 100], "ticksuffix": "%"},
                "bar": {"color": band_colours.get(band, OTHER_ACTION), "thickness": 0.35},
                "steps": steps,
                "threshold": {
                    "line": {"color": band_colours.get(band, OTHER_ACTION), "width": 4},
                    "thickness": 0.9,
                    "value": float(score) * 100,
                },
            },
        )
    )
    figure.update_layout(height=_HEIGHT, margin={"l": 30, "r": 30, "t": 60, "b": 10})
    return figure


def _faded(colour: str, alpha: float = 0.25) -> str:
    """``#rrggbb`` as an rgba() colour with ``alpha``; other notations unchanged."""
    text = colour.lstrip("#")
    if len(text) != 6:
        return colour
    try:
        red, green, blue = (int(text[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return colour
    return f"rgba({red},{green},{blue},{alpha})"


def action_uplift_chart(
    uplift: pd.Series,
    values: pd.Series,
    hold_value: float,
    recommended: str,
    money: MoneyFormat,
    allowed: pd.Series | None = None,
) -> go.Figure:
    """What each action adds over leaving the loan alone (bars), the recommended one highlighted.

    ``uplift`` / ``values``: action -> a worklist row's ``uplift_<action>`` /
    ``value_<action>`` (discounted expected net); hold is drawn first at 0, worth
    ``hold_value``, so a loan best left alone shows why. The plan chooses by uplift, not
    by value: an action that recovers a lot from a borrower who would have paid anyway adds
    little. ``allowed``: action -> bool; actions the catalogue or guardrails ruled out are
    greyed and labelled so, since their uplift is not on offer.
    """
    actions = [HOLD, *(str(action) for action in uplift.index)]
    gains = np.concatenate([[0.0], uplift.to_numpy(dtype=np.float64)])
    worth = np.concatenate([[hold_value], values.reindex(uplift.index).to_numpy(dtype=np.float64)])
    permitted = [
        action == HOLD or allowed is None or bool(allowed.get(action, True)) for action in actions
    ]
    colours = [
        RECOMMENDED_ACTION if action == recommended else OTHER_ACTION if ok else BLOCKED_ACTION
        for action, ok in zip(actions, permitted, strict=True)
    ]
    labels = [
        ("+" if gain > 0 else "") + money.amount(float(gain)) + ("" if ok else " (not allowed)")
        for gain, ok in zip(gains, permitted, strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=gains.tolist(),
            y=actions,
            orientation="h",
            marker_color=colours,
            text=labels,
            textposition="auto",
            customdata=[money.amount(float(value)) for value in worth],
            hovertemplate="%{y}: uplift %{text}<br>value %{customdata}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Uplift over leaving the loan alone (worth {money.amount(hold_value)} left alone)",
        xaxis={
            "title": f"Discounted net recovery added over hold ({money.symbol})",
            **money_axis(gains.tolist(), money),
        },
        yaxis={"autorange": "reversed"},
        height=_HEIGHT,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def contributions_chart(
    contributions: pd.Series, unit: str, *, top: int = TOP_CONTRIBUTIONS
) -> go.Figure:
    """The ``top`` largest SHAP contributions (by size) as signed horizontal bars.

    ``contributions``: feature description -> contribution to the risk model's output in
    ``unit`` (log-odds or probability); red raises risk, green lowers it.
    """
    values = contributions.astype(np.float64)
    chosen = values.reindex(values.abs().sort_values(ascending=False, kind="stable").index)
    chosen = chosen.iloc[:top].iloc[::-1]  # largest at the top of the chart
    figure = go.Figure(
        go.Bar(
            x=chosen.to_numpy(),
            y=[str(name) for name in chosen.index],
            orientation="h",
            marker_color=[RAISES_RISK if value > 0 else LOWERS_RISK for value in chosen],
            hovertemplate=f"%{{y}}: %{{x:+.3f}} {unit}<extra></extra>",
        )
    )
    figure.update_layout(
        title="What drives the risk score (SHAP)",
        xaxis_title=f"Contribution ({unit}; right raises risk)",
        height=max(_HEIGHT, 28 * len(chosen) + 80),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure
