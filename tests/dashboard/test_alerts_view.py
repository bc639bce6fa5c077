"""The Alerts page's table logic and chart: KPIs, filters, histogram split, threshold line."""

from __future__ import annotations

import pandas as pd
import pytest

from loan_recovery.config import load_settings
from loan_recovery.dashboard import alerts_view, charts
from loan_recovery.data import schema


def _alerts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LOAN_ID: ["L3", "L1", "L4"],
            schema.EARLY_WARNING_SCORE: [0.9, 0.6, 0.35],
            schema.ALERT_PATTERN: ["missed", "late", "burden"],
            schema.SUGGESTED_ACTION: ["call", "reminder", "restructure"],
            schema.reason_column(1): ["a", "b", "c"],
            schema.reason_column(2): ["d", "e", "f"],
        }
    )


def _scored() -> pd.DataFrame:
    scores = {"L1": 0.6, "L2": 0.1, "L3": 0.9, "L4": 0.35, "L5": 1.0}
    return pd.DataFrame(
        {schema.EARLY_WARNING_SCORE: list(scores.values())},
        index=pd.Index(list(scores), name=schema.LOAN_ID),
    )


def test_action_order_follows_the_catalogue() -> None:
    """The default pattern-to-action map gives its actions in catalogue order, once each."""
    actions = alerts_view.action_order(load_settings().early_warning.alert_actions)
    assert actions == [a for a in schema.ACTION_NAMES if a in {"reminder", "call", "restructure"}]


def test_kpis_count_every_action_and_the_share() -> None:
    """Three alerts of five scored; an action with no alert reads 0; unknown ones still count."""
    kpis = alerts_view.alert_kpis(_scored(), _alerts(), ["reminder", "call", "legal"])
    assert (kpis.scored, kpis.alerts) == (5, 3)
    assert kpis.share == pytest.approx(0.6)
    assert kpis.by_action == {"reminder": 1, "call": 1, "legal": 0, "restructure": 1}
    empty = alerts_view.alert_kpis(_scored().iloc[:0], _alerts().iloc[:0], ["call"])
    assert empty.share == 0.0


def test_filters_keep_order_and_combine() -> None:
    """No choice keeps all; one action; action and pattern both; a mismatch keeps none."""
    alerts = _alerts()
    assert alerts_view.filter_alerts(alerts).equals(alerts)
    chosen = alerts_view.filter_alerts(alerts, actions=["call", "restructure"])
    assert list(chosen[schema.LOAN_ID]) == ["L3", "L4"]
    both = alerts_view.filter_alerts(alerts, actions=["call", "restructure"], patterns=["burden"])
    assert list(both[schema.LOAN_ID]) == ["L4"]
    assert alerts_view.filter_alerts(alerts, actions=["call"], patterns=["late"]).empty
    order = alerts_view.options(alerts, schema.ALERT_PATTERN, schema.ALERT_PATTERNS)
    assert order == ["missed", "late", "burden"]


def test_histogram_splits_by_the_alerts_table_not_by_a_threshold() -> None:
    """Alerted = listed in the alerts (L5 scores 1.0 but is not listed: counted as not)."""
    histogram = alerts_view.score_histogram(_scored(), _alerts(), bins=4)
    assert list(histogram[schema.SCORE_BIN_LOW]) == [0.0, 0.25, 0.5, 0.75]
    assert list(histogram[schema.ALERTED]) == [0, 1, 1, 1]
    assert list(histogram[schema.NOT_ALERTED]) == [1, 0, 0, 1]  # 1.0 falls in the top bin
    with pytest.raises(ValueError, match="bins"):
        alerts_view.score_histogram(_scored(), _alerts(), bins=0)


def test_reason_columns_in_rank_order() -> None:
    assert alerts_view.reason_columns(_alerts()) == [
        schema.reason_column(1),
        schema.reason_column(2),
    ]


def test_early_warning_histogram_stacks_two_traces_and_draws_the_threshold() -> None:
    """Below-threshold and alert bars, stacked, with a dashed vertical line at the threshold."""
    histogram = alerts_view.score_histogram(_scored(), _alerts(), bins=4)
    figure = charts.early_warning_histogram(histogram, 0.3)
    assert [trace.name for trace in figure.data] == ["Below the threshold", "Alert"]
    assert [trace.marker.color for trace in figure.data] == [charts.NEUTRAL, charts.ALERT]
    assert list(figure.data[1].y) == [0, 1, 1, 1]
    assert figure.layout.barmode == "stack"
    (line,) = figure.layout.shapes
    assert (line.x0, line.x1) == (0.3, 0.3)
    assert "0.30" in figure.layout.annotations[0].text
    assert figure.layout.yaxis.type == "linear"
    logged = charts.early_warning_histogram(histogram, 0.3, log_scale=True)
    assert logged.layout.yaxis.type == "log"
