"""What the Alerts page shows, as plain data: KPIs, filters and the score histogram.

Pure functions (no Streamlit, no plotting) over what :mod:`loan_recovery.jobs.alerts`
returns: the scored loans of :func:`~loan_recovery.jobs.alerts.score_early_warning` and
the alerts of :func:`~loan_recovery.jobs.alerts.alerts_from_scores`. Nothing here applies
the threshold or derives a pattern or an action again: which loans are alerted is read
from the alerts table, so the page and ``loan-recovery alerts`` can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loan_recovery.data import schema

#: Equal-width bins of the score histogram on [0, 1].
SCORE_HISTOGRAM_BINS = 20
#: Columns of the alerts table on screen, in order (reasons follow).
SHOWN_COLUMNS: tuple[str, ...] = (
    schema.LOAN_ID,
    schema.EARLY_WARNING_SCORE,
    schema.DPD_AT_CUTOFF,
    schema.ALERT_PATTERN,
    schema.SUGGESTED_ACTION,
)


@dataclass(frozen=True, slots=True)
class AlertKpis:
    """The headline tiles: loans scored, alerts, their share, alerts per suggested action."""

    scored: int
    alerts: int
    by_action: dict[str, int]

    @property
    def share(self) -> float:
        """Alerts as a share of the loans scored (0 when none was scored)."""
        return self.alerts / self.scored if self.scored else 0.0


def action_order(alert_actions: dict[str, str]) -> list[str]:
    """Every action the settings can suggest: catalogue order first, then the rest sorted."""
    suggested = set(alert_actions.values())
    known = [action for action in schema.ACTION_NAMES if action in suggested]
    return known + sorted(suggested - set(known))


def alert_kpis(scored: pd.DataFrame, alerts: pd.DataFrame, actions: Sequence[str]) -> AlertKpis:
    """Counts of the tiles; every action in ``actions`` gets a count (0 when none)."""
    counts = alerts[schema.SUGGESTED_ACTION].astype(str).value_counts()
    by_action = {action: int(counts.get(action, 0)) for action in actions}
    for action in counts.index:  # an action outside ``actions`` is still counted
        by_action.setdefault(str(action), int(counts[action]))
    return AlertKpis(scored=len(scored), alerts=len(alerts), by_action=by_action)


def options(alerts: pd.DataFrame, column: str, order: Iterable[str] = ()) -> list[str]:
    """Distinct values of ``column`` for a filter's choices: ``order`` first, then sorted."""
    present = {str(value) for value in alerts[column].dropna().unique()}
    ordered = [value for value in order if value in present]
    return ordered + sorted(present - set(ordered))


def filter_alerts(
    alerts: pd.DataFrame, *, actions: Iterable[str] = (), patterns: Iterable[str] = ()
) -> pd.DataFrame:
    """The alerts whose suggested action and pattern are among those chosen (empty: all).

    Order (highest score first) is kept.
    """
    keep = np.ones(len(alerts), dtype=bool)
    for column, chosen in (
        (schema.SUGGESTED_ACTION, list(actions)),
        (schema.ALERT_PATTERN, list(patterns)),
    ):
        if chosen:
            keep &= alerts[column].astype(str).isin(chosen).to_numpy(dtype=bool)
    return alerts[keep]


def score_histogram(
    scored: pd.DataFrame, alerts: pd.DataFrame, bins: int = SCORE_HISTOGRAM_BINS
) -> pd.DataFrame:
    """Loans per equal-width score bin on [0, 1], split into alerted and not alerted.

    Alerted means listed in ``alerts`` (matched by Loan_ID), so the split is the
    pipeline's, not a second threshold test. A score of exactly 1 falls in the top bin.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1; got {bins}.")
    edges = np.linspace(0.0, 1.0, bins + 1)
    scores = scored[schema.EARLY_WARNING_SCORE].to_numpy(dtype=np.float64)
    index = np.minimum(np.floor(np.clip(scores, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    alerted = scored.index.astype(str).isin(alerts[schema.LOAN_ID].astype(str))
    return pd.DataFrame(
        {
            schema.SCORE_BIN_LOW: edges[:-1],
            schema.SCORE_BIN_HIGH: edges[1:],
            schema.NOT_ALERTED: np.bincount(index[~alerted], minlength=bins).astype(np.int64),
            schema.ALERTED: np.bincount(index[alerted], minlength=bins).astype(np.int64),
        }
    )


def reason_columns(alerts: pd.DataFrame) -> list[str]:
    """The reason columns the alerts carry (``Reason_1`` ...), in rank order."""
    columns: list[str] = []
    rank = 1
    while schema.reason_column(rank) in alerts.columns:
        columns.append(schema.reason_column(rank))
        rank += 1
    return columns
