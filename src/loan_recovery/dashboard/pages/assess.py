"""Assess a borrower: one loan's risk, segment, best action and reasons, as `plan` gives them.

Every input is a canonical column of the schema, checked by the same validation as a file;
the numbers come from :func:`loan_recovery.jobs.assess.assess_loans`, which plans the row
exactly as ``loan-recovery plan`` would. The loan terms sit outside the form so the EMI
is recomputed as they change; the rest is submitted at once.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import streamlit as st

from loan_recovery import features
from loan_recovery.config import Settings
from loan_recovery.dashboard import state
from loan_recovery.dashboard.borrower_charts import (
    action_uplift_chart,
    contributions_chart,
    risk_gauge,
)
from loan_recovery.dashboard.formatting import money_format, percent
from loan_recovery.data import schema
from loan_recovery.data.schema import ColumnKind, ColumnSpec
from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.finance import reducing_balance_emi
from loan_recovery.jobs.assess import (
    Assessment,
    RawValue,
    action_net_values,
    action_uplift_values,
    assess_loans,
    engineered_features,
    guardrail_sentences,
    raw_frame,
    reason_sentences,
)
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.money import MoneyFormat
from loan_recovery.simulation.portfolio import typical_loan_terms

#: Loan terms outside the form: changing them recomputes the EMI at once.
TERM_COLUMNS: tuple[str, ...] = (
    schema.LOAN_TYPE,
    schema.LOAN_AMOUNT,
    schema.INTEREST_RATE,
    schema.LOAN_TENURE,
)
#: The form's fields by section (every required column plus the contact rules).
FORM_SECTIONS: dict[str, tuple[str, ...]] = {
    "Borrower": (
        schema.BORROWER_ID,
        schema.AGE,
        schema.GENDER,
        schema.EMPLOYMENT_TYPE,
        schema.MONTHLY_INCOME,
        schema.NUM_DEPENDENTS,
    ),
    "Loan": (
        schema.LOAN_ID,
        schema.MONTHLY_EMI,
        schema.COLLATERAL_VALUE,
        schema.OUTSTANDING_LOAN_AMOUNT,
    ),
    "Repayment and collections": (
        schema.PAYMENT_HISTORY,
        schema.NUM_MISSED_PAYMENTS,
        schema.DAYS_PAST_DUE,
        schema.COLLECTION_ATTEMPTS,
        schema.COLLECTION_METHOD,
        schema.LEGAL_ACTION_TAKEN,
    ),
    "Contact rules": (schema.DO_NOT_CONTACT, schema.CONSENT_SMS, schema.CONSENT_EMAIL),
}
INPUT_COLUMNS: tuple[str, ...] = (
    *TERM_COLUMNS,
    *(column for columns in FORM_SECTIONS.values() for column in columns),
)
#: Session keys: the last assessment, the field values it was made from, a whole-row error.
RESULT_KEY = "assess_result"
ASSESSED_KEY = "assess_values"
ERROR_KEY = "assess_error"
SUBMIT_KEY = "assess_submit"


def widget_key(column: str) -> str:
    """Session-state key of a column's input widget."""
    return f"assess_{column}"


def _label(spec: ColumnSpec, symbol: str) -> str:
    unit = {"currency": symbol, "percent": "% a year"}.get(spec.unit, spec.unit)
    return f"{spec.description} ({unit})" if unit else spec.description


def _help(spec: ColumnSpec) -> str:
    return f"{spec.name}: {spec.domain_text()}"


def _seed_defaults(settings: Settings) -> None:
    """Fill every input once per session from one simulated loan (EMI blank: derived)."""
    if widget_key(schema.LOAN_ID) in st.session_state:
        return
    example = state.example_loan(settings.demo.seed, settings)
    for column in INPUT_COLUMNS:
        spec = schema.SPECS_BY_NAME[column]
        value = example.get(column)
        if column == schema.MONTHLY_EMI or value is None:
            st.session_state[widget_key(column)] = None
        elif spec.kind is ColumnKind.INTEGER:
            st.session_state[widget_key(column)] = int(value)  # type: ignore[call-overload]
        elif spec.kind is ColumnKind.NUMBER:
            st.session_state[widget_key(column)] = float(value)  # type: ignore[arg-type]
        else:
            st.session_state[widget_key(column)] = str(value)


def _apply_typical_terms() -> None:
    """On a new loan type: its usual rate and tenure (the simulator's product terms)."""
    terms = typical_loan_terms().get(str(st.session_state.get(widget_key(schema.LOAN_TYPE))))
    if terms is not None:
        st.session_state[widget_key(schema.INTEREST_RATE)] = terms.interest_rate
        st.session_state[widget_key(schema.LOAN_TENURE)] = terms.tenure_months


def _input(column: str, symbol: str, *, on_change: bool = False) -> None:
    """One widget for a schema column: a selectbox for categories, bounded numbers."""
    spec = schema.SPECS_BY_NAME[column]
    key, label, help_text = widget_key(column), _label(spec, symbol), _help(spec)
    callback = _apply_typical_terms if on_change else None
    if spec.kind is ColumnKind.CATEGORY:
        st.selectbox(label, spec.categories, key=key, help=help_text, on_change=callback)
    elif spec.kind is ColumnKind.INTEGER:
        st.number_input(
            label,
            min_value=None if spec.minimum is None else int(spec.minimum),
            max_value=None if spec.maximum is None else int(spec.maximum),
            step=1,
            key=key,
            help=help_text,
        )
    elif spec.kind is ColumnKind.NUMBER:
        st.number_input(
            label,
            min_value=None if spec.minimum is None else float(spec.minimum),
            max_value=None if spec.maximum is None else float(spec.maximum),
            step=1_000.0 if spec.unit == "currency" else 0.1,
            format="%.2f",
            key=key,
            help=help_text,
        )
    else:
        st.text_input(label, key=key, help=help_text)


def _current_values() -> dict[str, RawValue]:
    values: dict[str, RawValue] = {}
    for column in INPUT_COLUMNS:
        value = st.session_state.get(widget_key(column))
        values[column] = value if isinstance(value, str | int | float) else None
    return values


def _show_field_errors(column: str) -> None:
    """The last assessment's validation messages for ``column``, while its value is unchanged."""
    assessment = st.session_state.get(RESULT_KEY)
    assessed: Mapping[str, RawValue] = st.session_state.get(ASSESSED_KEY, {})
    if not isinstance(assessment, Assessment) or assessment.accepted:
        return
    if assessed.get(column) != st.session_state.get(widget_key(column)):
        return
    for message in assessment.field_errors().get(column, []):
        st.error(f"**{column}**: {message}")


def _assess() -> None:
    """Form callback: assess the submitted values (before the page redraws)."""
    values = _current_values()
    st.session_state.pop(ERROR_KEY, None)
    try:
        settings = state.get_settings()
        assessment = assess_loans(raw_frame([values]), state.champion_bundle(settings), settings)
    except LoanRecoveryError as error:
        st.session_state.pop(RESULT_KEY, None)
        st.session_state[ERROR_KEY] = str(error)
        return
    st.session_state[RESULT_KEY] = assessment
    st.session_state[ASSESSED_KEY] = values


def _terms(money: MoneyFormat) -> None:
    st.subheader("Loan terms")
    columns = st.columns(len(TERM_COLUMNS) + 1)
    for slot, column in zip(columns, TERM_COLUMNS, strict=False):
        with slot:
            _input(column, money.symbol, on_change=column == schema.LOAN_TYPE)
            _show_field_errors(column)
    emi = reducing_balance_emi(
        st.session_state.get(widget_key(schema.LOAN_AMOUNT)) or np.nan,
        st.session_state.get(widget_key(schema.INTEREST_RATE)) or 0.0,
        st.session_state.get(widget_key(schema.LOAN_TENURE)) or np.nan,
    )
    with columns[-1]:
        st.metric(
            "Monthly EMI",
            money.amount(float(emi), decimals=2),
            help="Reducing-balance EMI of these terms; used when the EMI field is blank.",
        )


def _form(symbol: str) -> None:
    with st.form("assess_form"):
        for section, section_columns in FORM_SECTIONS.items():
            st.markdown(f"**{section}**")
            slots = st.columns(3)
            for position, column in enumerate(section_columns):
                with slots[position % 3]:
                    _input(column, symbol)
                    _show_field_errors(column)
        st.form_submit_button("Assess", type="primary", on_click=_assess, key=SUBMIT_KEY)


def _feature_text(scores: pd.DataFrame, name: str, value: object, money: MoneyFormat) -> str:
    if pd.api.types.is_integer_dtype(scores[name].dtype):  # 0/1 flags
        return "yes" if bool(value) else "no"
    if isinstance(value, float | np.floating):
        return money.number(float(value), decimals=2)
    return str(value)


def _ratios_table(assessment: Assessment, loan_id: str, money: MoneyFormat) -> str:
    values = engineered_features(assessment.scores_of(loan_id))
    lines = ["| Feature | Value |", "|---|---|"]
    for name, value in values.items():
        description = features.FEATURE_DESCRIPTIONS.get(str(name), str(name))
        text = _feature_text(assessment.scores, str(name), value, money)
        lines.append(f"| {description} | {text} |")
    return "\n".join(lines)


def _result(assessment: Assessment, settings: Settings, bundle: ModelBundle) -> None:
    money = money_format(settings)
    row = assessment.worklist.iloc[0]
    loan_id = str(row[schema.LOAN_ID])
    scores = assessment.scores_of(loan_id)
    st.divider()
    if st.session_state.get(ASSESSED_KEY) != _current_values():
        st.info("The inputs changed since this assessment; press **Assess** to update it.")
    st.subheader(f"Assessment of loan {loan_id}")
    gauge, facts = st.columns([3, 2])
    with gauge:
        st.plotly_chart(
            risk_gauge(
                float(row[schema.RISK_SCORE]),
                str(row[schema.RISK_BAND]),
                settings.risk.band_edges,
                settings.risk.band_names,
                settings.dashboard.band_colours,
            ),
        )
    with facts:
        st.metric("RBI asset class", str(scores[schema.SCORED_ASSET_CLASS]))
        st.markdown(f"**Segment:** {scores[schema.SEGMENT_NAME]}")
        st.caption(str(assessment.segment_descriptions.loc[loan_id]))
        st.caption(f"Model version {bundle.version}")

    action = str(row[schema.RECOMMENDED_ACTION])
    st.subheader(f"Recommended action: {action}")
    st.caption(
        "Money is discounted expected net recovery (recovered minus cost); the plan picks the "
        "action that adds most over leaving the loan alone."
    )
    first, second = st.columns(3), st.columns(2)
    first[0].metric(
        "Expected uplift over leaving it alone", money.amount(float(row[schema.EXPECTED_UPLIFT]))
    )
    first[1].metric("Value if left alone", money.amount(float(row[schema.VALUE_IF_LEFT_ALONE])))
    first[2].metric("Expected net recovery", money.amount(float(row[schema.EXPECTED_NET_RECOVERY])))
    second[0].metric(
        "Expected recovered / cost",
        f"{money.amount(float(row[schema.EXPECTED_RECOVERED]))} / "
        f"{money.amount(float(row[schema.EXPECTED_COST]))}",
    )
    second[1].metric(
        f"Gain over {row[schema.BASELINE_ACTION]} ({settings.strategy.baseline_policy} baseline)",
        money.amount(float(row[schema.UPLIFT_VS_BASELINE])),
    )
    st.plotly_chart(
        action_uplift_chart(
            action_uplift_values(row),
            action_net_values(row),
            float(row[schema.VALUE_IF_LEFT_ALONE]),
            action,
            money,
            assessment.allowed_of(loan_id),
        ),
        key="action_uplift_chart",
    )
    sentences = guardrail_sentences(row)
    st.markdown("**Guardrails**")
    if sentences:
        st.markdown("\n".join(f"- {sentence}" for sentence in sentences))
    else:
        st.caption("No business or legal rule narrowed the choice.")

    st.subheader("Why this risk")
    reasons, ratios = st.columns([3, 2])
    with reasons:
        st.plotly_chart(
            contributions_chart(assessment.contributions_of(loan_id), assessment.contribution_unit),
        )
        top = reason_sentences(row, settings.explain.top_k)
        st.markdown("\n".join(f"{rank}. {text}" for rank, text in enumerate(top, 1)) or "—")
    with ratios:
        st.markdown("**Engineered ratios**")
        st.markdown(_ratios_table(assessment, loan_id, money))
        st.caption(f"Risk score {percent(float(row[schema.RISK_SCORE]))} (calibrated).")


def main() -> None:
    """Draw the page."""
    st.title("Assess a borrower")
    try:
        settings = state.get_settings()
        bundle = state.champion_bundle(settings)
    except LoanRecoveryError as error:
        st.error(f"{error} Run `loan-recovery demo` to train and promote a champion model.")
        return
    money = money_format(settings)
    st.caption(
        "Enter one loan as it appears in a portfolio file; it is validated and planned "
        "exactly as `loan-recovery plan` would plan it."
    )
    _seed_defaults(settings)
    _terms(money)
    _form(money.symbol)
    if ERROR_KEY in st.session_state:
        st.error(str(st.session_state[ERROR_KEY]))
        return
    assessment = st.session_state.get(RESULT_KEY)
    if not isinstance(assessment, Assessment):
        return
    if not assessment.accepted:
        shown = set(INPUT_COLUMNS)
        for column, messages in assessment.field_errors().items():
            if column not in shown:
                for message in messages:
                    st.error(f"**{column}**: {message}")
        st.warning("Fix the fields marked above, then press **Assess** again.")
        return
    _result(assessment, settings, bundle)


main()
