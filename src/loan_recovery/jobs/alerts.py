"""Alerts job: loans likely to default soon, why, and what to do before they do.

For every loan at most ``eligible_max_dpd`` days past due at the cut-off, the early-warning
model's probability of reaching ``default_dpd`` within the horizon; loans at or above the
threshold are listed with their reasons, the behaviour pattern behind them and the
pre-emptive action ``settings.early_warning.alert_actions`` maps that pattern to (a
reminder for late-but-paying borrowers, a call for missed instalments, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.payments import history_end
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.early_warning import run_validate_payments
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.models.early_warning import (
    EARLY_WARNING_FEATURES,
    EarlyWarningBundle,
    EarlyWarningModel,
    alert_patterns,
    behaviour_features,
    early_warning_registry,
    load_early_warning,
)


@dataclass(frozen=True)
class AlertsOutcome:
    """The alerts, how many loans were scored, the cut-off, the model and the inputs."""

    alerts: pd.DataFrame
    scored: int
    cutoff: pd.Timestamp
    threshold: float
    version: str
    out_path: Path | None
    payments: ValidateOutcome
    loans: ValidateOutcome


def default_cutoff(payments: pd.DataFrame, loans: pd.DataFrame) -> pd.Timestamp:
    """The loan table's latest As_Of_Date when it has one, else the history's last date."""
    if schema.AS_OF_DATE in loans.columns:
        latest = pd.to_datetime(loans[schema.AS_OF_DATE], errors="coerce").max()
        if not pd.isna(latest):
            return pd.Timestamp(latest).normalize()
    return history_end(payments)


def _threshold(value: float) -> float:
    if not 0.0 < float(value) < 1.0:
        raise ConfigError(f"threshold must be a probability in (0, 1); got {value}.")
    return float(value)


def alert_columns(top_k: int) -> list[str]:
    """Columns of an alerts table, in order (``Borrower_ID`` only when the loans have it)."""
    return [
        schema.LOAN_ID,
        schema.BORROWER_ID,
        schema.CUTOFF_DATE,
        schema.DPD_AT_CUTOFF,
        schema.EARLY_WARNING_SCORE,
        schema.ALERT_PATTERN,
        schema.SUGGESTED_ACTION,
        *(schema.reason_column(rank + 1) for rank in range(top_k)),
    ]


def _scorer(model: EarlyWarningModel | EarlyWarningBundle) -> EarlyWarningModel:
    return model.model if isinstance(model, EarlyWarningBundle) else model


def score_early_warning(
    payments: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    model: EarlyWarningModel | EarlyWarningBundle,
    settings: Settings,
    cutoff: Any = None,
) -> pd.DataFrame:
    """Behaviour features and probability of every eligible loan at ``cutoff``.

    Eligible: at most ``eligible_max_dpd`` days past due at the cut-off (default
    :func:`default_cutoff`). Indexed by Loan_ID; :data:`EARLY_WARNING_FEATURES`, then
    ``Cutoff_Date`` and ``early_warning_score``.
    """
    warning = settings.early_warning
    stamp = default_cutoff(payments, loans) if cutoff is None else pd.Timestamp(cutoff).normalize()
    found = behaviour_features(payments, loans, stamp, tolerance=warning.coverage_tolerance)
    found = found[found[schema.DPD_AT_CUTOFF] <= warning.eligible_max_dpd].copy()
    found[schema.CUTOFF_DATE] = stamp
    found[schema.EARLY_WARNING_SCORE] = _scorer(model).predict_probability(
        found[list(EARLY_WARNING_FEATURES)]
    )
    return found


def alerts_from_scores(
    scored: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    model: EarlyWarningModel | EarlyWarningBundle,
    settings: Settings,
    threshold: float | None = None,
) -> pd.DataFrame:
    """The rows of :func:`score_early_warning` at or above ``threshold``, as alerts.

    Highest probability first (ties by Loan_ID), columns :func:`alert_columns`: reasons
    from the model's tree SHAP values, the behaviour pattern and its suggested action.
    """
    warning = settings.early_warning
    level = _threshold(warning.threshold if threshold is None else threshold)
    flagged = scored[scored[schema.EARLY_WARNING_SCORE].to_numpy() >= level]
    top_k = settings.explain.top_k
    reasons = _scorer(model).reasons(flagged[list(EARLY_WARNING_FEATURES)], top_k=top_k)
    patterns = alert_patterns(flagged, warning)
    alerts = pd.DataFrame(
        {
            schema.LOAN_ID: flagged.index.to_numpy(dtype=object),
            schema.CUTOFF_DATE: flagged[schema.CUTOFF_DATE].to_numpy(),
            schema.DPD_AT_CUTOFF: flagged[schema.DPD_AT_CUTOFF].to_numpy(dtype=np.int64),
            schema.EARLY_WARNING_SCORE: flagged[schema.EARLY_WARNING_SCORE].to_numpy(),
            schema.ALERT_PATTERN: patterns.to_numpy(dtype=object),
            schema.SUGGESTED_ACTION: patterns.map(warning.alert_actions).to_numpy(dtype=object),
        }
    )
    alerts = pd.concat([alerts, reasons.to_frame()], axis=1)
    for column in (schema.LOAN_ID, schema.ALERT_PATTERN, schema.SUGGESTED_ACTION):
        alerts[column] = alerts[column].astype("str")
    columns = alert_columns(top_k)
    if schema.BORROWER_ID in loans.columns:
        borrowers = (
            loans.drop_duplicates(schema.LOAN_ID, keep="last")
            .set_index(schema.LOAN_ID)[schema.BORROWER_ID]
            .astype("str")
        )
        alerts[schema.BORROWER_ID] = alerts[schema.LOAN_ID].map(borrowers)
    else:
        columns.remove(schema.BORROWER_ID)
    ordered = alerts.sort_values(
        [schema.EARLY_WARNING_SCORE, schema.LOAN_ID], ascending=[False, True], kind="stable"
    )
    return ordered[columns].reset_index(drop=True)


def run_alerts(
    payments: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    model: EarlyWarningModel | EarlyWarningBundle,
    settings: Settings,
    threshold: float | None = None,
    cutoff: Any = None,
) -> pd.DataFrame:
    """Loans whose early-warning probability at ``cutoff`` is at least ``threshold``.

    ``payments`` and ``loans`` are validated tables; ``cutoff`` defaults to
    :func:`default_cutoff`, ``threshold`` to ``settings.early_warning.threshold``. One row
    per alert (see :func:`alerts_from_scores`).
    """
    scored = score_early_warning(payments, loans, model=model, settings=settings, cutoff=cutoff)
    return alerts_from_scores(scored, loans, model=model, settings=settings, threshold=threshold)


def run_alerts_files(
    payments_path: Path,
    loans_path: Path,
    *,
    settings: Settings,
    out: Path | None = None,
    models_dir: Path | None = None,
    version: str | None = None,
    threshold: float | None = None,
    cutoff: Any = None,
    loans_mapping_path: Path | None = None,
    payments_mapping_path: Path | None = None,
    bundle: EarlyWarningBundle | None = None,
) -> AlertsOutcome:
    """Validate both files, load the early-warning model, list the alerts (and write them)."""
    payments = run_validate_payments(
        payments_path, settings=settings, mapping_path=payments_mapping_path
    )
    loans = run_validate(loans_path, settings=settings, mapping_path=loans_mapping_path)
    if bundle is None:
        registry = early_warning_registry(
            models_dir or settings.registry_dir, settings.early_warning
        )
        bundle = load_early_warning(registry, version)
    payment_table, loan_table = payments.result.table, loans.result.table
    scored = score_early_warning(
        payment_table, loan_table, model=bundle, settings=settings, cutoff=cutoff
    )
    alerts = alerts_from_scores(
        scored, loan_table, model=bundle, settings=settings, threshold=threshold
    )
    stamp = (
        default_cutoff(payment_table, loan_table)
        if cutoff is None
        else pd.Timestamp(cutoff).normalize()
    )
    out_path = write_table(alerts, out) if out is not None else None
    return AlertsOutcome(
        alerts=alerts,
        scored=len(scored),
        cutoff=stamp,
        threshold=settings.early_warning.threshold if threshold is None else float(threshold),
        version=bundle.version,
        out_path=out_path,
        payments=payments,
        loans=loans,
    )
