"""Dashboard charts: each builder draws its table with the expected traces and colours."""

from __future__ import annotations

import pandas as pd
import pytest

from loan_recovery import actions
from loan_recovery.config import DisplaySettings, load_settings
from loan_recovery.dashboard import charts, insights
from loan_recovery.dashboard.borrower_charts import (
    BLOCKED_ACTION,
    OTHER_ACTION,
    RECOMMENDED_ACTION,
    action_uplift_chart,
)
from loan_recovery.data import schema
from loan_recovery.money import MoneyFormat

MONEY = MoneyFormat()
BAND_COLOURS = load_settings().dashboard.band_colours
BANDS = tuple(BAND_COLOURS)


def test_risk_histogram_has_one_stacked_trace_per_band_in_its_colour() -> None:
    """Gives a 2-bin histogram of 4 bands; expects 4 bar traces coloured by band, centred bins."""
    histogram = pd.DataFrame(
        {
            schema.RISK_BIN_LOW: [0.0, 0.5],
            schema.RISK_BIN_HIGH: [0.5, 1.0],
            **{band: [i, i + 1] for i, band in enumerate(BANDS)},
        }
    )
    figure = charts.risk_histogram(histogram, BAND_COLOURS)
    assert [trace.name for trace in figure.data] == list(BANDS)
    assert [trace.marker.color for trace in figure.data] == [BAND_COLOURS[b] for b in BANDS]
    assert all(trace.type == "bar" for trace in figure.data)
    assert list(figure.data[1].x) == [0.25, 0.75]
    assert list(figure.data[1].y) == [1, 2]
    assert figure.layout.barmode == "stack"


def test_action_mix_stacks_one_trace_per_action_in_the_action_colours() -> None:
    """Gives 2 segments x 2 actions; expects a trace per action with its fixed colour."""
    mix = pd.DataFrame({"call": [3, 0], "legal": [1, 4]}, index=["Current", "Stressed"])
    figure = charts.action_mix(mix)
    assert [trace.name for trace in figure.data] == ["call", "legal"]
    assert [trace.marker.color for trace in figure.data] == [
        actions.spec("call").colour,
        actions.spec("legal").colour,
    ]
    assert list(figure.data[1].y) == [1, 4]
    assert list(figure.data[0].x) == ["Current", "Stressed"]
    assert figure.layout.barmode == "stack"


def test_bucket_band_heatmap_labels_money_cells_in_indian_groups() -> None:
    """Gives an exposure matrix; expects its values as z, ₹ labels grouped in lakhs (en_IN),
    colour-bar ticks the same way, and plain grouped counts for the loans view."""
    matrix = pd.DataFrame(
        [[1_500.0, 0.0], [0.0, 2_000_000.0]], index=["0", "1-30"], columns=["Low", "High"]
    )
    figure = charts.bucket_band_heatmap(matrix, value_label="Exposure", money=MONEY, as_money=True)
    (heatmap,) = figure.data
    assert heatmap.type == "heatmap"
    assert [list(row) for row in heatmap.z] == [[1_500.0, 0.0], [0.0, 2_000_000.0]]
    assert list(heatmap.text[1]) == ["₹0", "₹20,00,000"]
    assert "₹20,00,000" in heatmap.colorbar.ticktext
    assert list(heatmap.y) == ["0", "1-30"]
    counts = charts.bucket_band_heatmap(
        matrix * 100, value_label="Loans", money=MONEY, as_money=False
    )
    assert list(counts.data[0].text[0]) == ["1,50,000", "0"]


def test_roll_forward_heatmap_colours_by_share_and_shows_counts() -> None:
    """Gives counts and shares; expects z = shares on [0, 1] and text with both."""
    counts = pd.DataFrame([[3, 1], [0, 2]], index=["0", "1-30"], columns=["0", "1-30"])
    shares = pd.DataFrame([[0.75, 0.25], [0.0, 1.0]], index=counts.index, columns=counts.columns)
    (heatmap,) = charts.roll_forward_heatmap(counts, shares, MONEY).data
    assert [list(row) for row in heatmap.z] == [[0.75, 0.25], [0.0, 1.0]]
    assert (heatmap.zmin, heatmap.zmax) == (0, 1)
    assert heatmap.text[0][0] == "75%<br>3"


def test_segment_chart_draws_exposure_bars_and_risk_on_a_second_axis() -> None:
    """Gives two segments; expects exposure bars on y, mean risk on y2, ₹ ticks and hover
    amounts grouped in lakhs and crores."""
    profile = pd.DataFrame(
        {
            schema.SEGMENT_NAME: ["Current", "Stressed"],
            schema.EXPOSURE: [1_00_00_000.0, 3_00_00_000.0],
            schema.MEAN_RISK: [0.1, 0.7],
        }
    )
    figure = charts.segment_exposure_risk(profile, MONEY)
    bars, risk = figure.data
    assert (bars.type, list(bars.y)) == ("bar", [1e7, 3e7])
    assert list(bars.customdata) == ["₹1,00,00,000", "₹3,00,00,000"]
    assert (risk.yaxis, list(risk.y)) == ("y2", [0.1, 0.7])
    axis = figure.layout.yaxis
    assert axis.tickmode == "array"
    assert axis.tickvals[0] == 0
    assert axis.tickvals[-1] >= 3e7
    assert "₹1,00,00,000" in axis.ticktext


def test_long_segment_names_are_wrapped_so_ticks_do_not_overlap() -> None:
    """Gives five long segment names (as the demo's); expects level ticks in a small font
    whose lines are at most a fifth of the axis' characters (a longer word alone on its
    line), every word kept, in the segment chart and the action-mix chart alike."""
    names = [
        "Current, few missed payments",
        "High income, current, high outstanding",
        "Well secured, in arrears",
        "Low outstanding, in arrears",
        "High EMI burden, many missed payments, deep arrears",
    ]
    profile = pd.DataFrame(
        {
            schema.SEGMENT_NAME: names,
            schema.EXPOSURE: [1e6] * 5,
            schema.MEAN_RISK: [0.5] * 5,
        }
    )
    mix = pd.DataFrame({"call": [1] * 5}, index=names)
    per_line = charts.CATEGORY_AXIS_CHARS // len(names)
    for figure in (charts.segment_exposure_risk(profile, MONEY), charts.action_mix(mix)):
        axis = figure.layout.xaxis
        assert axis.tickangle == 0
        assert axis.tickfont.size == charts.CATEGORY_FONT_SIZE
        assert list(axis.tickvals) == names
        for name, label in zip(names, axis.ticktext, strict=True):
            lines = label.split("<br>")
            assert all(len(line) <= per_line or " " not in line for line in lines), label
            assert " ".join(lines) == name


def test_curves_draw_the_model_against_its_reference() -> None:
    """Gives ROC, PR and calibration points; expects a reference trace then the model's."""
    roc = charts.roc_curve({"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "threshold": [1, 0.5, 0]}, 0.8)
    assert [trace.name for trace in roc.data] == ["Chance", "Model (AUC 0.800)"]
    assert list(roc.data[1].y) == [0, 0.8, 1]
    pr = charts.pr_curve({"recall": [1, 0], "precision": [0.3, 1], "threshold": [0, 1]}, 0.3)
    assert list(pr.data[0].y) == [0.3, 0.3]
    assert list(pr.data[1].x) == [1, 0]
    calibration = charts.calibration_curve(
        {"mean_predicted": [0.1, 0.9], "fraction_positive": [0.2, 0.8], "count": [5, 5]}
    )
    assert list(calibration.data[1].y) == [0.2, 0.8]


def test_confusion_heatmap_shows_the_counts_and_threshold() -> None:
    """Gives a 2 x 2 table; expects its counts as z and text, the threshold in the title."""
    confusion = pd.DataFrame([[50, 10], [5, 35]], index=["a", "b"], columns=["c", "d"])
    figure = charts.confusion_heatmap(confusion, 0.35, MONEY)
    assert [list(row) for row in figure.data[0].z] == [[50, 10], [5, 35]]
    assert "0.35" in figure.layout.title.text


def test_importance_and_silhouette_bars() -> None:
    """Gives importances and silhouettes; expects horizontal bars and the chosen k in red."""
    importance = charts.importance_bars(pd.Series([0.5, 0.2], index=["DPD", "Income"]))
    assert importance.data[0].orientation == "h"
    assert list(importance.data[0].y) == ["DPD", "Income"]
    table = pd.DataFrame(
        {schema.SEGMENT_COUNT: [4, 5], schema.SILHOUETTE: [0.2, 0.3], schema.CHOSEN: [False, True]}
    )
    silhouette = charts.silhouette_bars(table)
    assert list(silhouette.data[0].marker.color) == [charts.NEUTRAL, "#c62828"]


@pytest.mark.parametrize(
    ("display", "tick"),
    [
        ({}, "₹20,00,000"),
        ({"units": "crore_lakh"}, "₹20 lakh"),
        ({"locale": "en_US", "currency": "USD"}, "$2,000,000"),
        ({"locale": "de_DE", "currency": "EUR"}, "2.000.000\xa0€"),
    ],
)
def test_policy_bars_group_net_recovered_and_cost_per_policy(
    display: dict[str, str], tick: str
) -> None:
    """Gives two policies; expects three grouped traces with the table's values, and money
    ticks and hover text written for the display's locale and units."""
    table = pd.DataFrame(
        {
            schema.NET_RECOVERY: [400.0, 4_500_000.0],
            schema.RECOVERED: [500.0, 5_200_000.0],
            schema.COST: [100.0, 70.0],
        },
        index=["learned", "oracle"],
    )
    money = MoneyFormat(DisplaySettings(**display))
    figure = charts.policy_bars(table, money)
    assert [trace.name for trace in figure.data] == ["Net recovery", "Recovered", "Cost"]
    assert list(figure.data[0].x) == ["learned", "oracle"]
    assert list(figure.data[2].y) == [100.0, 70.0]
    assert figure.layout.barmode == "group"
    assert tick in figure.layout.yaxis.ticktext
    assert list(figure.data[0].customdata) == [money.amount(400.0), money.amount(4_500_000.0)]


def test_action_colours_are_the_catalogues_for_every_arm() -> None:
    """Expects one colour per arm, hold included, taken from the action catalogue."""
    assert dict(charts.ACTION_COLOURS) == {
        arm: actions.spec(arm).colour for arm in actions.ARM_NAMES
    }


def test_policy_intervals_draw_truth_and_dr_with_asymmetric_error_bars() -> None:
    """Gives DR 390 in [340, 445] beside a true 400; expects error bars of +55 / -50."""
    table = pd.DataFrame(
        {
            schema.NET_RECOVERY: [400.0, 360.0],
            insights.DR_ESTIMATE: [390.0, 350.0],
            insights.DR_LOW: [340.0, 300.0],
            insights.DR_HIGH: [445.0, 400.0],
        },
        index=["learned", "bau"],
    )
    figure = charts.policy_intervals(table, MONEY)
    truth, estimate = figure.data
    assert list(truth.x) == ["learned", "bau"]
    assert list(truth.y) == [400.0, 360.0]
    assert list(estimate.y) == [390.0, 350.0]
    assert list(estimate.error_y.array) == [55.0, 50.0]
    assert list(estimate.error_y.arrayminus) == [50.0, 50.0]
    assert list(truth.customdata) == ["₹400", "₹360"]
    ticks = figure.layout.yaxis.tickvals
    assert ticks[0] <= 300.0
    assert ticks[-1] >= 445.0
    assert ticks[0] > 0  # points far from zero: the axis is not forced down to it


def test_action_uplift_chart_draws_hold_at_zero_and_greys_forbidden_actions() -> None:
    """Gives call +500 (recommended) and legal -100 (not allowed) over a 1,000 hold; expects
    hold first at 0, the uplifts as bars, colours by status and values in the hover."""
    uplift = pd.Series({"call": 500.0, "legal": -100.0})
    values = pd.Series({"call": 1_500.0, "legal": 900.0})
    allowed = pd.Series({"call": True, "legal": False})
    (bars,) = action_uplift_chart(uplift, values, 1_000.0, "call", MONEY, allowed).data
    assert list(bars.y) == ["hold", "call", "legal"]
    assert list(bars.x) == [0.0, 500.0, -100.0]
    assert list(bars.marker.color) == [OTHER_ACTION, RECOMMENDED_ACTION, BLOCKED_ACTION]
    assert list(bars.text) == ["₹0", "+₹500", "-₹100 (not allowed)"]
    assert list(bars.customdata) == ["₹1,000", "₹1,500", "₹900"]
