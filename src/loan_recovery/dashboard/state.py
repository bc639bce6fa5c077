"""Cached access to settings, the champion model and planned tables for every page.

Why caching here: models load once per server (``st.cache_resource``: shared, never
copied), tables and plans once per distinct input (``st.cache_data``: keyed by the file's
path and modification time or the upload's bytes), so a page answers from memory after
its first load. Errors come back as :class:`~loan_recovery.exceptions.LoanRecoveryError`
for the page to show with ``st.error``; nothing here draws.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from loan_recovery.config import Settings, load_settings
from loan_recovery.dashboard.worklist_filters import with_loan_columns
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table
from loan_recovery.data.payment_validation import validate_payments, validate_payments_file
from loan_recovery.data.validation import ValidationResult, validate_file, validate_frame
from loan_recovery.exceptions import DataFileError, ModelError
from loan_recovery.jobs.alerts import alerts_from_scores, score_early_warning
from loan_recovery.jobs.demo import DemoPaths
from loan_recovery.jobs.evaluate import (
    EvaluationReport,
    EvaluationSetup,
    evaluate_policies,
    prepare_evaluation,
)
from loan_recovery.jobs.report import build_model_card
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.early_warning import (
    EarlyWarningBundle,
    early_warning_registry,
    load_early_warning,
)
from loan_recovery.models.metrics import curves, roc_auc
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.report import ModelCard
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.store.db import Store, open_store, settings_url
from loan_recovery.store.payments import payments_stamp, read_payment_table
from loan_recovery.store.portfolio_read import book_stamp, read_loan_table
from loan_recovery.strategy.plan import ActionValues, PlanResult, action_values, plan_loans


@st.cache_resource
def get_settings() -> Settings:
    """Settings from defaults, ``LOAN_RECOVERY_CONFIG`` and the environment (the CLI sets them)."""
    return load_settings()


@st.cache_resource(show_spinner="Loading the champion model…")
def _bundle(registry_dir: str, version: str) -> ModelBundle:
    return load_bundle(ModelRegistry(Path(registry_dir)), version)


def champion_bundle(settings: Settings) -> ModelBundle:
    """The registry's champion, verified and loaded once per server and version.

    Resolving the alias first means promoting a new champion is picked up without a restart.
    """
    registry = ModelRegistry(settings.registry_dir)
    return _bundle(str(settings.registry_dir), registry.resolve("champion"))


def default_portfolio_path(settings: Settings) -> Path:
    """``dashboard.data_file`` when set, else the demo portfolio ``make run`` builds."""
    configured = settings.dashboard.data_file
    return configured if configured is not None else DemoPaths.from_settings(settings).portfolio


@st.cache_data(show_spinner="Validating the portfolio…", max_entries=8)
def _validated_path(path: str, modified_ns: int, _settings: Settings) -> ValidationResult:
    del modified_ns  # part of the cache key only: a rewritten file is read again
    return validate_file(Path(path), settings=_settings)


def validated_file(path: Path, settings: Settings) -> tuple[str, ValidationResult]:
    """(cache key, validation result) of a portfolio file on disk."""
    modified = path.stat().st_mtime_ns
    return f"{path.resolve()}@{modified}", _validated_path(str(path.resolve()), modified, settings)


@st.cache_data(show_spinner="Validating the upload…", max_entries=8)
def _validated_upload(
    digest: str, name: str, _data: bytes, _settings: Settings
) -> ValidationResult:
    del digest  # cache key
    import tempfile

    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="loan-recovery-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(_data)
        raw = read_raw_table(path)
    return validate_frame(raw, settings=_settings)


def validated_upload(name: str, data: bytes, settings: Settings) -> tuple[str, ValidationResult]:
    """(cache key, validation result) of an uploaded CSV or Parquet file."""
    digest = hashlib.sha256(data).hexdigest()
    return f"upload:{digest}", _validated_upload(digest, name, data, settings)


@st.cache_resource(show_spinner="Scoring the portfolio…", max_entries=8)
def _action_values(
    table_key: str, version: str, _table: pd.DataFrame, _bundle: ModelBundle, _settings: Settings
) -> ActionValues:
    """Scores, reasons and every action's value: the costly part, once per table and model.

    Every loan is explained (``explain.scope = "all"``): any loan may be opened on a page,
    and each re-plan under new limits then reuses the reasons instead of making them for
    its worked loans again.
    """
    del table_key, version  # cache key
    return action_values(_table, _bundle, explain_every_loan(_settings))


def explain_every_loan(settings: Settings) -> Settings:
    """``settings`` with reasons for every loan of a plan."""
    return settings if settings.explain.scope == "all" else settings.with_explain(scope="all")


@st.cache_data(show_spinner="Planning the portfolio…", max_entries=16)
def _plan(
    table_key: str,
    version: str,
    policy: str,
    capacity: tuple[tuple[str, int], ...],
    budget: float | None,
    _table: pd.DataFrame,
    _bundle: ModelBundle,
    _settings: Settings,
) -> PlanResult:
    """A policy's choice under limits, re-using the cached action values of the table."""
    inputs = _action_values(table_key, version, _table, _bundle, _settings)
    return plan_loans(
        _table,
        _bundle,
        explain_every_loan(_settings),
        policy=policy,
        capacity=dict(capacity),
        budget=budget,
        inputs=inputs,
    )


def planned(
    table_key: str,
    table: pd.DataFrame,
    bundle: ModelBundle,
    settings: Settings,
    *,
    policy: str = "learned",
    capacity: dict[str, int] | None = None,
    budget: float | None = None,
) -> PlanResult:
    """The plan of a validated table, cached per table, model version, policy and limits."""
    limits = tuple(sorted((capacity or {}).items()))
    return _plan(table_key, bundle.version, policy, limits, budget, table, bundle, settings)


# --- assess and worklist pages --------------------------------------------------------------
#: Session keys the Portfolio page sets after an upload: the table's cache key (str) and its
#: ValidationResult. Pages that show "the current portfolio" read them; absent: default file.
SESSION_PORTFOLIO_KEY = "portfolio_key"
SESSION_PORTFOLIO_RESULT = "portfolio_result"


def current_portfolio(settings: Settings) -> tuple[str, ValidationResult]:
    """The session's uploaded portfolio if the Portfolio page set one, else the default file.

    Raises :class:`~loan_recovery.exceptions.DataFileError` when the default file is missing.
    """
    key = st.session_state.get(SESSION_PORTFOLIO_KEY)
    result = st.session_state.get(SESSION_PORTFOLIO_RESULT)
    if isinstance(key, str) and isinstance(result, ValidationResult):
        return key, result
    path = default_portfolio_path(settings)
    if not path.is_file():
        raise DataFileError(
            f"portfolio file {path} not found; run `loan-recovery demo` or upload a file."
        )
    return validated_file(path, settings)


@st.cache_data(show_spinner="Preparing the worklist…", max_entries=16)
def _worklist_view(
    table_key: str,
    version: str,
    capacity: tuple[tuple[str, int], ...],
    budget: float | None,
    _table: pd.DataFrame,
    _bundle: ModelBundle,
    _settings: Settings,
) -> pd.DataFrame:
    del version  # cache key
    plan = planned(table_key, _table, _bundle, _settings, capacity=dict(capacity), budget=budget)
    return with_loan_columns(plan.worklist, _table)


def worklist_view(
    table_key: str,
    table: pd.DataFrame,
    bundle: ModelBundle,
    settings: Settings,
    *,
    capacity: dict[str, int] | None = None,
    budget: float | None = None,
) -> pd.DataFrame:
    """The plan's worklist with exposure, DPD, DPD bucket and asset class beside each loan."""
    limits = tuple(sorted((capacity or {}).items()))
    return _worklist_view(table_key, bundle.version, limits, budget, table, bundle, settings)


@st.cache_data(max_entries=4)
def example_loan(seed: int, _settings: Settings) -> dict[str, object]:
    """One simulated loan's canonical fields: the borrower form's starting values."""
    row = simulate_portfolio(1, seed, settings=_settings).loans.iloc[0]
    return {
        name: row[name].item() if hasattr(row[name], "item") else row[name]
        for name in row.index
        if name in schema.SPECS_BY_NAME
    }


# --- portfolio, model performance and strategy lab pages -----------------------------------
#: Session keys of the Portfolio page's last upload (file name, bytes): the file uploader
#: forgets its file when the user visits another page, the portfolio should not.
SESSION_UPLOAD_NAME = "portfolio_upload_name"
SESSION_UPLOAD_BYTES = "portfolio_upload_bytes"


@st.cache_resource(show_spinner="Loading the model card…", max_entries=4)
def _model_card(registry_dir: str, version: str, _settings: Settings) -> ModelCard:
    return build_model_card(settings=_settings, models_dir=Path(registry_dir), version=version)


def model_card(settings: Settings) -> ModelCard:
    """The champion's model card, built once per server and version (cards are immutable)."""
    version = ModelRegistry(settings.registry_dir).resolve("champion")
    return _model_card(str(settings.registry_dir), version, settings)


@st.cache_resource(max_entries=4)
def _card_curves(registry_dir: str, version: str, _card: ModelCard) -> dict[str, Any]:
    del registry_dir, version  # cache key
    y_true, y_score = _card.y_true, _card.y_score
    if y_true is None or y_score is None:
        raise ModelError(f"model card {_card.version} has no out-of-fold scores to draw.")
    return {**curves(y_true, y_score, _card.threshold), "roc_auc": roc_auc(y_true, y_score)}


def card_curves(settings: Settings, card: ModelCard) -> dict[str, Any]:
    """ROC (with its AUC), precision-recall and calibration points of the out-of-fold scores."""
    return _card_curves(str(settings.registry_dir), card.version, card)


def _settings_digest(settings: Settings) -> str:
    return hashlib.sha256(settings.model_dump_json().encode("utf-8")).hexdigest()


@st.cache_resource(
    show_spinner="Simulating a history, training on it and predicting fresh loans "
    "(first load only; takes a few seconds)…",
    max_entries=2,
)
def _evaluation_setup(n_loans: int, seed: int, digest: str, _settings: Settings) -> EvaluationSetup:
    del digest  # cache key
    return prepare_evaluation(settings=_settings, n_loans=n_loans, seed=seed)


def evaluation_setup(settings: Settings) -> tuple[str, EvaluationSetup]:
    """(cache key, setup) of the strategy lab: simulated, trained and predicted once."""
    lab = settings.dashboard
    digest = _settings_digest(settings)
    setup = _evaluation_setup(lab.strategy_lab_loans, lab.strategy_lab_seed, digest, settings)
    return f"lab:{lab.strategy_lab_loans}:{lab.strategy_lab_seed}:{digest}", setup


@st.cache_resource(show_spinner="Valuing the policies…", max_entries=32)
def _policy_evaluation(
    setup_key: str,
    digest: str,
    same_capacity: bool,
    _setup: EvaluationSetup,
    _settings: Settings,
) -> EvaluationReport:
    del setup_key, digest  # cache key
    return evaluate_policies(_setup, _settings, same_capacity=same_capacity)


def policy_evaluation(
    setup_key: str, setup: EvaluationSetup, settings: Settings, *, same_capacity: bool = False
) -> EvaluationReport:
    """Every policy valued under ``settings``' action costs, once per distinct settings.

    ``same_capacity`` holds every policy to BAU's use of the capacity-limited actions, so
    a policy cannot look better merely by working more loans than the lender has staff for.
    """
    digest = _settings_digest(settings)
    return _policy_evaluation(setup_key, digest, same_capacity, setup, settings)


# --- case store source ----------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _store(database_url: str) -> Store:
    return open_store(database_url)


def case_store(settings: Settings) -> Store:
    """The case store of ``settings`` (migrated; errors say what to run), opened once."""
    return _store(str(settings_url(settings).render_as_string(hide_password=False)))


@st.cache_data(show_spinner="Reading the case store…", max_entries=4)
def _validated_store(
    url_key: str, stamp: str, _store: Store, _settings: Settings
) -> ValidationResult:
    del url_key, stamp  # cache key: the book is read again once it changes
    book = read_loan_table(_store.engine)
    if book.empty:
        raise DataFileError("it holds no loans yet; `loan-recovery import FILE` loads them.")
    return validate_frame(book, settings=_settings)


def validated_store(settings: Settings) -> tuple[str, ValidationResult]:
    """(cache key, validation result) of every loan in the case store."""
    store = case_store(settings)
    stamp = book_stamp(store.engine)
    url_key = settings_url(settings).render_as_string(hide_password=True)
    return f"store:{url_key}@{stamp}", _validated_store(url_key, stamp, store, settings)


# --- alerts page ----------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the early-warning model…")
def _early_warning_bundle(registry_root: str, version: str) -> EarlyWarningBundle:
    return load_early_warning(ModelRegistry(Path(registry_root)), version)


def early_warning_bundle(settings: Settings) -> EarlyWarningBundle:
    """The early-warning registry's champion, verified and loaded once per server and version.

    Raises :class:`~loan_recovery.exceptions.ModelNotFoundError` when none was promoted.
    """
    registry = early_warning_registry(settings.registry_dir, settings.early_warning)
    return _early_warning_bundle(str(registry.root), registry.resolve("champion"))


def default_payments_path(settings: Settings) -> Path | None:
    """``dashboard.payments_file`` when set, else the demo's history beside the demo portfolio.

    None when ``dashboard.data_file`` names another portfolio and no history was given:
    the demo's history would describe other loans.
    """
    dashboard = settings.dashboard
    if dashboard.payments_file is not None:
        return dashboard.payments_file
    if dashboard.data_file is None:
        return DemoPaths.from_settings(settings).payments
    return None


@st.cache_resource(show_spinner="Validating the payment history…", max_entries=4)
def _validated_payments_path(path: str, modified_ns: int, _settings: Settings) -> ValidationResult:
    # cache_resource, not cache_data: a history has ~14 rows per loan, and copying it on
    # every rerun would cost more than the page's drawing. Pages never modify it.
    del modified_ns  # part of the cache key only: a rewritten file is read again
    return validate_payments_file(Path(path), settings=_settings)


def validated_payments_file(path: Path, settings: Settings) -> tuple[str, ValidationResult]:
    """(cache key, validation result) of a payment-history file on disk."""
    modified = path.stat().st_mtime_ns
    resolved = str(path.resolve())
    return f"payments:{resolved}@{modified}", _validated_payments_path(resolved, modified, settings)


def _payments_stamp(engine: Engine) -> str:
    """Installments stored and the latest change: a cheap cache key of the stored history."""
    with engine.connect() as connection:
        return payments_stamp(connection)


def _read_store_payments(engine: Engine) -> pd.DataFrame:
    """Every stored installment in the payment layout (what ``alerts --from-store`` reads)."""
    with engine.connect() as connection:
        return read_payment_table(connection)


@st.cache_resource(show_spinner="Reading the stored payment history…", max_entries=2)
def _validated_store_payments(
    url_key: str, stamp: str, _store: Store, _settings: Settings
) -> ValidationResult:
    del url_key, stamp  # cache key: the history is read again once it changes
    history = _read_store_payments(_store.engine)
    if history.empty:
        raise DataFileError(
            "it holds no payment history yet, so there is nothing to score; "
            "`loan-recovery import-payments FILE` loads it."
        )
    return validate_payments(history, settings=_settings)


def validated_store_payments(settings: Settings) -> tuple[str, ValidationResult]:
    """(cache key, validation result) of every installment in the case store."""
    store = case_store(settings)
    stamp = _payments_stamp(store.engine)
    url_key = settings_url(settings).render_as_string(hide_password=True)
    return f"store-payments:{url_key}@{stamp}", _validated_store_payments(
        url_key, stamp, store, settings
    )


@st.cache_resource(show_spinner="Scoring early warning…", max_entries=8)
def _early_warning_scores(
    payments_key: str,
    loans_key: str,
    version: str,
    _payments: pd.DataFrame,
    _loans: pd.DataFrame,
    _bundle: EarlyWarningBundle,
    _settings: Settings,
) -> pd.DataFrame:
    """Features and probability of every eligible loan: the costly part, once per input."""
    del payments_key, loans_key, version  # cache key
    return score_early_warning(_payments, _loans, model=_bundle, settings=_settings)


def early_warning_scores(
    payments_key: str,
    payments_table: pd.DataFrame,
    loans_key: str,
    loans_table: pd.DataFrame,
    bundle: EarlyWarningBundle,
    settings: Settings,
) -> pd.DataFrame:
    """:func:`~loan_recovery.jobs.alerts.score_early_warning` of the tables at their cut-off."""
    return _early_warning_scores(
        payments_key, loans_key, bundle.version, payments_table, loans_table, bundle, settings
    )


@st.cache_data(show_spinner="Listing the alerts…", max_entries=32)
def _alerts(
    scores_key: str,
    version: str,
    threshold: float,
    _scored: pd.DataFrame,
    _loans: pd.DataFrame,
    _bundle: EarlyWarningBundle,
    _settings: Settings,
) -> pd.DataFrame:
    del scores_key, version  # cache key
    return alerts_from_scores(
        _scored, _loans, model=_bundle, settings=_settings, threshold=threshold
    )


def alerts_at(
    scores_key: str,
    scored: pd.DataFrame,
    loans_table: pd.DataFrame,
    bundle: EarlyWarningBundle,
    settings: Settings,
    *,
    threshold: float,
) -> pd.DataFrame:
    """:func:`~loan_recovery.jobs.alerts.alerts_from_scores` at ``threshold``, cached per level.

    ``scores_key`` names the scored inputs (both tables' keys): moving the slider back to
    a level seen before answers from memory.
    """
    return _alerts(scores_key, bundle.version, threshold, scored, loans_table, bundle, settings)
