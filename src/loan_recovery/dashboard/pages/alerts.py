"""Alerts: loans that are current or early today and likely to reach default soon.

Every number comes from :mod:`loan_recovery.jobs.alerts` through the state caches:
:func:`~loan_recovery.jobs.alerts.score_early_warning` once per input and
:func:`~loan_recovery.jobs.alerts.alerts_from_scores` once per threshold, so the page
lists exactly what ``loan-recovery alerts --threshold P`` lists. The slider re-lists
(no re-scoring); the filters only narrow what is shown and downloaded.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from loan_recovery.config import Settings
from loan_recovery.dashboard import alerts_view, charts, state
from loan_recovery.dashboard.formatting import money_format, percent
from loan_recovery.dashboard.worklist_filters import csv_bytes
from loan_recovery.data import schema
from loan_recovery.data.validation import ValidationResult
from loan_recovery.exceptions import LoanRecoveryError, ModelNotFoundError
from loan_recovery.models.early_warning import EarlyWarningBundle, early_warning_registry
from loan_recovery.money import MoneyFormat

DEFAULT_SOURCE = "Default files"
STORE_SOURCE = "Case store"
SOURCES = (DEFAULT_SOURCE, STORE_SOURCE)
#: Session key remembering the source while the user is on other pages.
SOURCE_CHOICE = "alerts_source_choice"
#: Widget keys (tests and the benchmark drive the page through them).
SOURCE_KEY = "alerts_source"
THRESHOLD_KEY = "alerts_threshold"
ACTION_FILTER_KEY = "alerts_actions"
PATTERN_FILTER_KEY = "alerts_patterns"
DOWNLOAD_KEY = "alerts_csv"
LOG_SCALE_KEY = "alerts_log_scale"
_TABLE_HEIGHT = 560
_TRAIN_HINT = (
    "Run `loan-recovery demo` (builds the demo payment history and trains one) or "
    "`loan-recovery train-early-warning --payments FILE --loans FILE`."
)

Tables = tuple[tuple[str, ValidationResult], tuple[str, ValidationResult]]


def _model(settings: Settings) -> EarlyWarningBundle | None:
    """The early-warning champion, or None after telling the user how to get one."""
    try:
        return state.early_warning_bundle(settings)
    except ModelNotFoundError:
        registry = early_warning_registry(settings.registry_dir, settings.early_warning)
        st.error(f"No early-warning model in `{registry.root}` yet. {_TRAIN_HINT}")
    except LoanRecoveryError as error:
        st.error(f"Cannot load the early-warning model: {error} {_TRAIN_HINT}")
    return None


def _files(settings: Settings) -> Tables | None:
    """(payments, loans) of the configured files, or None after saying what is missing."""
    loans_path = state.default_portfolio_path(settings)
    payments_path = state.default_payments_path(settings)
    if payments_path is None:
        st.info(
            f"No payment history is configured for `{loans_path}`. Set `dashboard."
            "payments_file` (or `LOAN_RECOVERY_DASHBOARD__PAYMENTS_FILE`) to its instalment "
            "history, or pick the case store."
        )
        return None
    missing = [path for path in (payments_path, loans_path) if not path.is_file()]
    if missing:
        names = " and ".join(f"`{path}`" for path in missing)
        st.info(
            f"No file at {names} yet. Run `loan-recovery demo` to build the demo portfolio "
            "and its payment history, or `loan-recovery simulate --payments-out FILE`."
        )
        return None
    st.caption(f"Reading `{payments_path}` and `{loans_path}`.")
    return (
        state.validated_payments_file(payments_path, settings),
        state.validated_file(loans_path, settings),
    )


def _store(settings: Settings) -> Tables | None:
    """(payments, loans) of the case store, or None after saying what it lacks."""
    try:
        loans = state.validated_store(settings)
        payments = state.validated_store_payments(settings)
    except LoanRecoveryError as error:
        st.info(f"Case store: {error}")
        return None
    st.caption("Reading every loan and installment in the case store.")
    return payments, loans


def _inputs(settings: Settings) -> Tables | None:
    """The source the user picked (kept across pages, as on the Portfolio page)."""
    remembered = st.session_state.get(SOURCE_CHOICE, DEFAULT_SOURCE)
    source = st.radio(
        "Source",
        SOURCES,
        index=SOURCES.index(remembered) if remembered in SOURCES else 0,
        horizontal=True,
        key=SOURCE_KEY,
    )
    st.session_state[SOURCE_CHOICE] = source
    return _store(settings) if source == STORE_SOURCE else _files(settings)


def _rejections(payments: ValidationResult, loans: ValidationResult, money: MoneyFormat) -> None:
    rejected = [
        f"{money.number(result.rejected)} of {money.number(result.rows_read)} {name} rows"
        for name, result in (("payment", payments), ("loan", loans))
        if result.rejected
    ]
    if rejected:
        st.warning(
            f"Validation rejected {' and '.join(rejected)}; they are not scored. "
            "`loan-recovery alerts` writes them, with the reasons, beside the files."
        )


def _number(metrics: Any, name: str) -> float | None:
    """A test metric of the model's metadata, or None (missing, or NaN saved as null)."""
    value = metrics.get(name) if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _model_caption(bundle: EarlyWarningBundle, scored: pd.DataFrame) -> None:
    """Which model, what it predicts, the cut-off scored and how it tested on a later month."""
    parts = [f"Model {bundle.version}: {bundle.metadata.get('label_definition', '')}."]
    if len(scored):
        parts.append(f"Scored as of {pd.Timestamp(scored[schema.CUTOFF_DATE].iloc[0]):%Y-%m-%d}.")
    metrics = bundle.metadata.get("metrics")
    auc, lift = _number(metrics, "roc_auc"), _number(metrics, "lift_at_top")
    top = _number(metrics, "top_fraction")
    if auc is not None:
        tested = f"Tested on a later month: ROC-AUC {auc:.3f}"
        if lift is not None and top is not None:
            tested += f", lift {lift:.1f}x in the top {percent(top, decimals=0)}"
        parts.append(f"{tested}.")
    st.caption(" ".join(parts))


def _kpis(kpis: alerts_view.AlertKpis, money: MoneyFormat) -> None:
    first = st.columns(3)
    first[0].metric("Loans scored", money.number(kpis.scored))
    first[1].metric("Alerts", money.number(kpis.alerts))
    first[2].metric("Share alerted", percent(kpis.share))
    actions = st.columns(max(len(kpis.by_action), 1))
    for slot, (action, alerts) in zip(actions, kpis.by_action.items(), strict=False):
        slot.metric(f"Suggested: {action}", money.number(alerts))


def _filters(alerts: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    left, right = st.columns(2)
    actions = left.multiselect(
        "Suggested action",
        alerts_view.options(
            alerts,
            schema.SUGGESTED_ACTION,
            alerts_view.action_order(settings.early_warning.alert_actions),
        ),
        key=ACTION_FILTER_KEY,
        placeholder="All",
    )
    patterns = right.multiselect(
        "Pattern",
        alerts_view.options(alerts, schema.ALERT_PATTERN, schema.ALERT_PATTERNS),
        key=PATTERN_FILTER_KEY,
        placeholder="All",
    )
    return alerts_view.filter_alerts(alerts, actions=actions, patterns=patterns)


def _table(shown: pd.DataFrame) -> None:
    reasons = alerts_view.reason_columns(shown)
    config: dict[str, Any] = {
        schema.LOAN_ID: st.column_config.TextColumn("Loan ID"),
        schema.EARLY_WARNING_SCORE: st.column_config.NumberColumn("Score", format="%.3f"),
        schema.DPD_AT_CUTOFF: st.column_config.NumberColumn("DPD at cut-off", format="%d"),
        schema.ALERT_PATTERN: st.column_config.TextColumn("Pattern"),
        schema.SUGGESTED_ACTION: st.column_config.TextColumn("Suggested action"),
        **{
            column: st.column_config.TextColumn(f"Reason {rank}")
            for rank, column in enumerate(reasons, start=1)
        },
    }
    st.dataframe(
        shown,
        column_config=config,
        column_order=[*alerts_view.SHOWN_COLUMNS, *reasons],
        hide_index=True,
        height=_TABLE_HEIGHT,
    )


def main() -> None:
    """Draw the page."""
    st.title("Early-warning alerts")
    settings = state.get_settings()
    money = money_format(settings)
    bundle = _model(settings)
    if bundle is None:
        return
    try:
        inputs = _inputs(settings)
        if inputs is None:
            return
        (payments_key, payments), (loans_key, loans) = inputs
        _rejections(payments, loans, money)
        scored = state.early_warning_scores(
            payments_key, payments.table, loans_key, loans.table, bundle, settings
        )
        threshold = st.slider(
            "Alert threshold (probability)",
            min_value=0.01,
            max_value=0.99,
            value=float(settings.early_warning.threshold),
            step=0.01,
            key=THRESHOLD_KEY,
            help="Loans whose early-warning score is at least this are alerted.",
        )
        alerts = state.alerts_at(
            f"{payments_key}|{loans_key}",
            scored,
            loans.table,
            bundle,
            settings,
            threshold=float(threshold),
        )
    except LoanRecoveryError as error:
        st.error(f"Cannot score early warning: {error}")
        return
    _model_caption(bundle, scored)
    actions = alerts_view.action_order(settings.early_warning.alert_actions)
    _kpis(alerts_view.alert_kpis(scored, alerts, actions), money)
    log_scale = st.toggle(
        "Log scale",
        value=True,
        key=LOG_SCALE_KEY,
        help="Most loans score low; a log count axis keeps the alerted tail visible.",
    )
    st.plotly_chart(
        charts.early_warning_histogram(
            alerts_view.score_histogram(scored, alerts), float(threshold), log_scale=log_scale
        ),
        key="early_warning_histogram",
    )

    st.subheader("Alerts")
    if alerts.empty:
        st.info("No loan reaches this threshold; lower it to see more.")
        return
    filtered = _filters(alerts, settings)
    st.metric("Alerts after filters", money.number(len(filtered)))
    if filtered.empty:
        st.info("No alert matches these filters; remove one to see more.")
        return
    shown_rows = settings.dashboard.worklist_rows
    _table(filtered.head(shown_rows))
    if len(filtered) > shown_rows:
        st.caption(
            f"Showing the {money.number(shown_rows)} highest scores of "
            f"{money.number(len(filtered))} alerts; the download holds them all."
        )
    st.download_button(
        f"Download these {money.number(len(filtered))} alerts (CSV)",
        data=lambda: csv_bytes(filtered),  # built only when the button is clicked
        file_name="alerts.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key=DOWNLOAD_KEY,
    )


main()
