"""Portfolio page: choose a table, see what validation kept, the plan's KPIs and the book.

Layout only: validation, planning and every number come from the pipeline through
:mod:`loan_recovery.dashboard.state` (cached) and :mod:`loan_recovery.dashboard.insights`.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from loan_recovery.dashboard import charts, insights, state
from loan_recovery.dashboard.formatting import count, money, percent
from loan_recovery.data import schema
from loan_recovery.data.validation import ValidationResult, current_snapshot
from loan_recovery.exceptions import LoanRecoveryError

DEFAULT_SOURCE = "Default portfolio"
UPLOAD_SOURCE = "Upload a file"
STORE_SOURCE = "Case store"
SOURCES = (DEFAULT_SOURCE, UPLOAD_SOURCE, STORE_SOURCE)
SOURCE_CHOICE = "portfolio_source_choice"

settings = state.get_settings()
symbol = settings.dashboard.currency_symbol
st.title("Portfolio")


def _chosen_table() -> tuple[str, ValidationResult]:
    """(cache key, validation result) of the source the user picked; stops when none yet."""
    remembered = st.session_state.get(SOURCE_CHOICE, DEFAULT_SOURCE)
    source = st.radio(
        "Source",
        SOURCES,
        index=SOURCES.index(remembered) if remembered in SOURCES else 0,
        horizontal=True,
        key="portfolio_source",
    )
    st.session_state[SOURCE_CHOICE] = source
    if source == DEFAULT_SOURCE:
        path = state.default_portfolio_path(settings)
        if not path.is_file():
            st.info(
                f"No portfolio at `{path}` yet. Run `loan-recovery demo` to build the demo "
                "portfolio, or upload a CSV or Parquet file."
            )
            st.stop()
        st.caption(f"Reading `{path}`")
        return state.validated_file(path, settings)
    if source == STORE_SOURCE:
        try:
            key, result = state.validated_store(settings)
        except LoanRecoveryError as error:
            st.info(f"Case store: {error}")
            st.stop()
        st.caption("Reading every loan in the case store (latest state of each).")
        return key, result
    uploaded = st.file_uploader(
        "Loan table (CSV or Parquet, one row per loan; several `As_Of_Date` snapshots allowed)",
        type=["csv", "parquet"],
        key="portfolio_upload",
    )
    if uploaded is not None:
        st.session_state[state.SESSION_UPLOAD_NAME] = uploaded.name
        st.session_state[state.SESSION_UPLOAD_BYTES] = uploaded.getvalue()
    name = st.session_state.get(state.SESSION_UPLOAD_NAME)
    data = st.session_state.get(state.SESSION_UPLOAD_BYTES)
    if not isinstance(name, str) or not isinstance(data, bytes):
        st.info("Upload a loan table to see its validation report, plan and charts.")
        st.stop()
    if uploaded is None:
        st.caption(f"Showing the last upload, `{name}`.")
    return state.validated_upload(name, data, settings)


def _validation_summary(result: ValidationResult) -> None:
    st.subheader("Validation")
    read, accepted, rejected = st.columns(3)
    read.metric("Rows read", count(result.rows_read))
    accepted.metric("Accepted", count(result.accepted))
    rejected.metric("Rejected", count(result.rejected))
    if not result.rejected:
        st.success("Every row passed validation.")
        return
    reasons = result.reason_counts()
    st.container(key="rejection_reasons").dataframe(
        {"Reason": list(reasons), "Rows": list(reasons.values())}, hide_index=True
    )
    quarantine = result.quarantine
    st.download_button(
        f"Download the {count(result.rejected)} rejected rows (CSV)",
        data=lambda: quarantine.to_csv(index=False).encode("utf-8"),
        file_name="rejected_rows.csv",
        mime="text/csv",
        icon=":material/download:",
    )


try:
    key, result = _chosen_table()
except LoanRecoveryError as error:
    st.error(f"Cannot read the portfolio: {error}")
    st.stop()

_validation_summary(result)
if result.accepted == 0:
    st.warning("No row passed validation, so there is nothing to plan. See the reasons above.")
    st.stop()

history = result.table
table = current_snapshot(history)
if len(table) < len(history):
    # Worklist and KPIs are about the book today: each loan's latest snapshot.
    key = f"{key}#current"
    result = dataclasses.replace(result, table=table)
    st.caption(
        f"{count(len(history))} snapshot rows of {count(len(table))} loans: the plan uses "
        "each loan's latest snapshot; the roll-forward below uses them all."
    )
st.session_state[state.SESSION_PORTFOLIO_KEY] = key
st.session_state[state.SESSION_PORTFOLIO_RESULT] = result

try:
    bundle = state.champion_bundle(settings)
    plan = state.planned(key, table, bundle, settings)
    view = insights.plan_view(table, plan.worklist)
    profile = insights.segment_table(table, view, bundle.segmenter.names_)
except LoanRecoveryError as error:
    st.error(f"Cannot plan the portfolio: {error}")
    st.stop()

kpis = insights.portfolio_kpis(table, plan)
st.subheader(f"Recovery plan ({plan.policy} policy, model {bundle.version})")
first_row, second_row = st.columns(4), st.columns(4)
first_row[0].metric("Loans", count(kpis.loans))
first_row[1].metric("Exposure", money(kpis.exposure, symbol))
first_row[2].metric(
    "Recovery rate",
    percent(kpis.recovery_rate),
    help="Expected amount recovered (before costs) as a share of the exposure.",
)
first_row[3].metric(
    "Value if left alone",
    money(kpis.value_if_left_alone, symbol),
    help="Discounted expected net recovery if no loan were worked: the borrowers' own payments.",
)
second_row[0].metric("Expected recovery", money(kpis.expected_recovered, symbol))
second_row[1].metric("Expected cost", money(kpis.expected_cost, symbol))
second_row[2].metric(
    "Expected net",
    money(kpis.expected_net, symbol),
    help="Discounted expected net recovery (recovered minus cost) under the plan.",
)
second_row[3].metric(
    "Added by the plan",
    money(kpis.incremental_net, symbol),
    help="Expected net minus the value if left alone: what working the loans earns.",
)

band_names = settings.risk.band_names
left, right = st.columns(2)
left.plotly_chart(charts.segment_exposure_risk(profile, symbol), key="segment_chart")
right.plotly_chart(
    charts.action_mix(insights.action_mix(view, profile[schema.SEGMENT_NAME].tolist())),
    key="action_mix_chart",
)

left, right = st.columns(2)
with left:
    measure = st.segmented_control(
        "Heatmap shows", ["Loans", "Exposure"], default="Loans", key="heatmap_measure"
    )
    by_exposure = measure == "Exposure"
    matrix = insights.bucket_band_matrix(view, band_names, "exposure" if by_exposure else "loans")
    st.plotly_chart(
        charts.bucket_band_heatmap(
            matrix,
            value_label="Exposure" if by_exposure else "Loans",
            currency_symbol=symbol if by_exposure else None,
        ),
        key="bucket_band_chart",
    )
right.plotly_chart(
    charts.risk_histogram(
        insights.risk_histogram(view, band_names), settings.dashboard.band_colours
    ),
    key="risk_histogram_chart",
)

st.subheader("Roll-forward of DPD buckets")
if insights.has_snapshot_history(history):
    dates = insights.snapshot_dates(history)
    counts = insights.roll_forward(history)
    st.caption(
        f"{len(dates)} snapshots from {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}; "
        f"{count(int(counts.to_numpy().sum()))} moves of a loan from one snapshot to its next."
    )
    st.plotly_chart(
        charts.roll_forward_heatmap(counts, insights.row_shares(counts)), key="roll_forward_chart"
    )
    st.container(key="roll_forward_table").dataframe(counts)
else:
    st.info(
        "The roll-forward needs history: upload a file with several `As_Of_Date` snapshots "
        "per `Loan_ID` (one row per loan and date) to see how loans move between DPD buckets."
    )

st.subheader("Segments")
st.container(key="segment_table").dataframe(
    profile.set_index(schema.SEGMENT_NAME),
    column_config={
        schema.EXPOSURE: st.column_config.NumberColumn(f"Exposure ({symbol})", format="localized"),
        schema.MEAN_RISK: st.column_config.NumberColumn("Mean risk", format="%.2f"),
        schema.MEAN_DAYS_PAST_DUE: st.column_config.NumberColumn("Mean DPD", format="%.0f"),
        schema.RECOVERY_RATE: st.column_config.NumberColumn("Recovery rate", format="percent"),
        **{
            schema.dpd_bucket_share_column(bucket): st.column_config.NumberColumn(
                f"DPD {bucket}", format="percent"
            )
            for bucket in schema.DPD_BUCKETS
        },
    },
)
