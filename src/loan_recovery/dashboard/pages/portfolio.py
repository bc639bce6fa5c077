"""Portfolio page: choose a table, see what validation kept, the plan's KPIs and the book.

Layout only: validation, planning and every number come from the pipeline through
:mod:`loan_recovery.dashboard.state` (cached) and :mod:`loan_recovery.dashboard.insights`.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from loan_recovery.dashboard import charts, insights, state
from loan_recovery.dashboard.formatting import money_format, percent, styled
from loan_recovery.data import schema
from loan_recovery.data.validation import ValidationResult, current_snapshot
from loan_recovery.exceptions import LoanRecoveryError

DEFAULT_SOURCE = "Default portfolio"
UPLOAD_SOURCE = "Upload a file"
STORE_SOURCE = "Case store"
SOURCES = (DEFAULT_SOURCE, UPLOAD_SOURCE, STORE_SOURCE)
SOURCE_CHOICE = "portfolio_source_choice"

settings = state.get_settings()
money = money_format(settings)
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
    read.metric("Rows read", money.number(result.rows_read))
    accepted.metric("Accepted", money.number(result.accepted))
    rejected.metric("Rejected", money.number(result.rejected))
    if not result.rejected:
        st.success("Every row passed validation.")
        return
    reasons = result.reason_counts()
    st.container(key="rejection_reasons").dataframe(
        {"Reason": list(reasons), "Rows": list(reasons.values())}, hide_index=True
    )
    quarantine = result.quarantine
    st.download_button(
        f"Download the {money.number(result.rejected)} rejected rows (CSV)",
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
        f"{money.number(len(history))} snapshot rows of {money.number(len(table))} loans: the "
        "plan uses each loan's latest snapshot; the roll-forward below uses them all."
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
# Three tiles a row: a book's exposure in full Indian groups (₹12,45,35,69,501) is cut
# short at four.
book, plan_money, worth = st.columns(3), st.columns(3), st.columns(3)
book[0].metric("Loans", money.number(kpis.loans))
book[1].metric("Exposure", money.amount(kpis.exposure))
book[2].metric(
    "Recovery rate",
    percent(kpis.recovery_rate),
    help="Expected amount recovered (before costs) as a share of the exposure.",
)
plan_money[0].metric("Expected recovery", money.amount(kpis.expected_recovered))
plan_money[1].metric("Expected cost", money.amount(kpis.expected_cost))
plan_money[2].metric(
    "Expected net",
    money.amount(kpis.expected_net),
    help="Discounted expected net recovery (recovered minus cost) under the plan.",
)
worth[0].metric(
    "Value if left alone",
    money.amount(kpis.value_if_left_alone),
    help="Discounted expected net recovery if no loan were worked: the borrowers' own payments.",
)
worth[1].metric(
    "Added by the plan",
    money.amount(kpis.incremental_net),
    help="Expected net minus the value if left alone: what working the loans earns.",
)

band_names = settings.risk.band_names
# Each segment chart spans the page: beside two money axes, half a page leaves five segment
# names about 50 px each, and they ran into each other. Stacked, the segments line up.
st.plotly_chart(charts.segment_exposure_risk(profile, money), key="segment_chart")
st.plotly_chart(
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
            money=money,
            as_money=by_exposure,
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
        f"{money.number(int(counts.to_numpy().sum()))} moves of a loan from one snapshot to "
        "its next."
    )
    st.plotly_chart(
        charts.roll_forward_heatmap(counts, insights.row_shares(counts), money),
        key="roll_forward_chart",
    )
    st.container(key="roll_forward_table").dataframe(styled(counts, money, counts=counts.columns))
else:
    st.info(
        "The roll-forward needs history: upload a file with several `As_Of_Date` snapshots "
        "per `Loan_ID` (one row per loan and date) to see how loans move between DPD buckets."
    )

st.subheader("Segments")
st.container(key="segment_table").dataframe(
    styled(
        profile.set_index(schema.SEGMENT_NAME),
        money,
        amounts=(schema.EXPOSURE,),
        counts=(schema.LOANS,),
    ),
    column_config={
        schema.EXPOSURE: st.column_config.NumberColumn("Exposure"),
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
