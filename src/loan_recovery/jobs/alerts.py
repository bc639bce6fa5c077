"""Alerts job: loans likely to default soon, why, and what to do before they do.

For every loan at most ``eligible_max_dpd`` days past due at the cut-off, the early-warning
model's probability of reaching ``default_dpd`` within the horizon; loans at or above the
threshold are listed with their reasons, the behaviour pattern behind them and the
pre-emptive action ``settings.early_warning.alert_actions`` maps that pattern to (a
reminder for late-but-paying borrowers, a call for missed instalments, ...).

Two sources, one computation: files (:func:`run_alerts_files`, validated at the edge) or
the case store (:func:`run_alerts_store`: the stored loans and their imported
installments, read back in the same layouts), so a store and the files it was loaded
from give the same alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.schema import ColumnKind
from loan_recovery.exceptions import ConfigError, DataFileError
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
from loan_recovery.simulation.payments import DATE_DTYPE, history_end
from loan_recovery.store.db import Store, shown_url
from loan_recovery.store.loans import typed_frame
from loan_recovery.store.payments import read_payment_table
from loan_recovery.store.portfolio_read import read_loan_table


class NoStoredHistoryError(DataFileError):
    """The case store holds no loans, or no installments: there is nothing to score.

    ``missing`` names what is missing (``"loans"`` or ``"installments"``), so the API can
    answer an empty list with a note instead of an error.
    """

    def __init__(self, message: str, *, missing: str) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class AlertsOutcome:
    """The alerts, how many loans were scored, the cut-off, the model and the inputs.

    ``payments`` and ``loans`` are the files' validation (None when the inputs came from
    the store, which validated them on import); ``source`` says where they came from.
    """

    alerts: pd.DataFrame
    scored: int
    cutoff: pd.Timestamp
    threshold: float
    version: str
    out_path: Path | None
    payments: ValidateOutcome | None = None
    loans: ValidateOutcome | None = None
    source: str = ""

    @property
    def validations(self) -> tuple[ValidateOutcome, ...]:
        """The files' validation outcomes (none for the store)."""
        return tuple(found for found in (self.payments, self.loans) if found is not None)

    @property
    def rejected(self) -> int:
        """Rows of either file refused by validation (quarantined beside it)."""
        return sum(found.result.rejected for found in self.validations)


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


def load_alert_model(
    settings: Settings,
    *,
    models_dir: Path | None = None,
    version: str | None = None,
    n_jobs: int | None = None,
) -> EarlyWarningBundle:
    """The early-warning version (default: its champion) of the registry under ``models_dir``.

    Raises :class:`~loan_recovery.exceptions.ModelNotFoundError` saying how to train or
    promote one when there is none.
    """
    registry = early_warning_registry(models_dir or settings.registry_dir, settings.early_warning)
    return load_early_warning(registry, version, n_jobs=n_jobs)


def _listed(
    payment_table: pd.DataFrame,
    loan_table: pd.DataFrame,
    *,
    settings: Settings,
    bundle: EarlyWarningBundle,
    threshold: float | None,
    cutoff: Any,
    out: Path | None,
) -> AlertsOutcome:
    """Score, list and (maybe) write the alerts of validated tables: both sources' core."""
    stamp = (
        default_cutoff(payment_table, loan_table)
        if cutoff is None
        else pd.Timestamp(cutoff).normalize()
    )
    scored = score_early_warning(
        payment_table, loan_table, model=bundle, settings=settings, cutoff=stamp
    )
    alerts = alerts_from_scores(
        scored, loan_table, model=bundle, settings=settings, threshold=threshold
    )
    out_path = write_table(alerts, out) if out is not None else None
    return AlertsOutcome(
        alerts=alerts,
        scored=len(scored),
        cutoff=stamp,
        threshold=settings.early_warning.threshold if threshold is None else float(threshold),
        version=bundle.version,
        out_path=out_path,
    )


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
        bundle = load_alert_model(settings, models_dir=models_dir, version=version)
    outcome = _listed(
        payments.result.table,
        loans.result.table,
        settings=settings,
        bundle=bundle,
        threshold=threshold,
        cutoff=cutoff,
        out=out,
    )
    return replace(
        outcome, payments=payments, loans=loans, source=f"{payments_path} and {loans_path}"
    )


# --- from the case store -------------------------------------------------------------------------
def _engine_of(source: Store | Session) -> Engine:
    if isinstance(source, Store):
        return source.engine
    bind = source.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def stored_loan_table(engine: Engine) -> pd.DataFrame:
    """Every stored loan (latest state, no personal data) with one dtype per column kind.

    The store validated each row on import; this only gives the values read back from
    either database (Decimal, date objects, text) the dtypes scoring expects.
    """
    book = read_loan_table(engine)
    specs = [schema.SPECS_BY_NAME[name] for name in book.columns if name in schema.SPECS_BY_NAME]
    typed = typed_frame(book, specs)
    for spec in specs:  # dates in the unit validation gives them
        if spec.kind is ColumnKind.DATE:
            typed[spec.name] = typed[spec.name].astype(np.dtype(DATE_DTYPE))
    return typed


def read_stored_history(source: Store | Session) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(installments, loans) of the case store in the layouts the files would have.

    ``source`` is a store or a session of one (the API passes its request's session; the
    installments are read in it). Raises :class:`NoStoredHistoryError` naming the command
    that fills the store when it holds no loans or no installments.
    """
    engine = _engine_of(source)
    loans = stored_loan_table(engine)
    if loans.empty:
        raise NoStoredHistoryError(
            f"the case store {shown_url(engine.url)} holds no loans; load them with "
            "`loan-recovery import FILE` first.",
            missing="loans",
        )
    if isinstance(source, Store):
        with source.transaction() as session:
            payments = read_payment_table(session.connection())
    else:
        payments = read_payment_table(source.connection())
    if payments.empty:
        raise NoStoredHistoryError(
            f"the case store {shown_url(engine.url)} holds no installments, so early warning "
            "has nothing to score; load them with `loan-recovery import-payments FILE`.",
            missing="installments",
        )
    return payments, loans


def run_alerts_store(
    source: Store | Session,
    *,
    settings: Settings,
    bundle: EarlyWarningBundle | None = None,
    models_dir: Path | None = None,
    version: str | None = None,
    threshold: float | None = None,
    cutoff: Any = None,
    out: Path | None = None,
) -> AlertsOutcome:
    """The alerts of every stored loan, from its stored installments (and write them).

    The store's counterpart of :func:`run_alerts_files`: same model, cut-off default
    (the loans' latest ``As_Of_Date``), threshold and columns. ``bundle`` skips loading
    the model (the API and ``remind`` hold one). Raises :class:`NoStoredHistoryError` for
    a store without loans or installments.
    """
    payments, loans = read_stored_history(source)
    if bundle is None:
        bundle = load_alert_model(settings, models_dir=models_dir, version=version)
    outcome = _listed(
        payments,
        loans,
        settings=settings,
        bundle=bundle,
        threshold=threshold,
        cutoff=cutoff,
        out=out,
    )
    where = shown_url(_engine_of(source).url)
    return replace(
        outcome,
        source=f"{len(loans):,} loans and {len(payments):,} installments in {where}",
    )


def alerts_page(
    scored: pd.DataFrame,
    loans: pd.DataFrame,
    *,
    model: EarlyWarningModel | EarlyWarningBundle,
    settings: Settings,
    threshold: float | None = None,
    suggested_action: str | None = None,
    limit: int,
    offset: int = 0,
) -> tuple[pd.DataFrame, int]:
    """One page of the alerts of ``scored`` and how many there are in all.

    Filtered by threshold and (optionally) suggested action, in :func:`alerts_from_scores`
    order; reasons (tree SHAP, the costly part) are computed for the page's rows only, so
    a client paging through a large book pays for what it reads.
    """
    warning = settings.early_warning
    level = _threshold(warning.threshold if threshold is None else threshold)
    flagged = scored[scored[schema.EARLY_WARNING_SCORE].to_numpy() >= level]
    if suggested_action is not None:
        actions = alert_patterns(flagged, warning).map(warning.alert_actions)
        flagged = flagged[(actions == suggested_action).to_numpy()]
    keys = pd.DataFrame(
        {
            "score": flagged[schema.EARLY_WARNING_SCORE].to_numpy(),
            "loan": flagged.index.astype("str").to_numpy(dtype=object),
        }
    )
    order = keys.sort_values(["score", "loan"], ascending=[False, True], kind="stable").index
    page = flagged.iloc[order[offset : offset + limit]]
    alerts = alerts_from_scores(page, loans, model=model, settings=settings, threshold=level)
    return alerts, len(flagged)
