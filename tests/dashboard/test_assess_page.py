"""The "Assess a borrower" page driven through AppTest, and the whole app rendering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from loan_recovery.dashboard.launch import APP_PATH
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table
from loan_recovery.data.schema import ColumnKind
from loan_recovery.data.validation import validate_frame
from loan_recovery.finance import reducing_balance_emi
from loan_recovery.jobs.assess import Assessment
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.money import MoneyFormat
from loan_recovery.simulation.portfolio import typical_loan_terms
from loan_recovery.strategy.plan import plan_loans

PAGE = APP_PATH.parent / "pages" / "assess.py"
#: Seconds an AppTest run may take (first runs load the model).
APP_TIMEOUT = 120
#: Optional columns the form asks for besides the required ones.
FORM_OPTIONAL = (schema.DO_NOT_CONTACT, schema.CONSENT_SMS, schema.CONSENT_EMAIL)
#: Portfolio rows the form is filled with.
FORM_ROWS = (3, 41)


def key(column: str) -> str:
    """The page's widget key of a column."""
    return f"assess_{column}"


def widget_value(column: str, text: str) -> Any:
    """A CSV cell as the value its widget holds."""
    spec = schema.SPECS_BY_NAME[column]
    if spec.kind is ColumnKind.INTEGER:
        return int(text)
    if spec.kind is ColumnKind.NUMBER:
        return float(text)
    return text


def widget(at: AppTest, column: str) -> Any:
    """The widget of ``column``, whatever its kind."""
    spec = schema.SPECS_BY_NAME[column]
    if spec.kind is ColumnKind.CATEGORY:
        return at.selectbox(key=key(column))
    if spec.kind in (ColumnKind.INTEGER, ColumnKind.NUMBER):
        return at.number_input(key=key(column))
    return at.text_input(key=key(column))


def fill(at: AppTest, record: dict[str, str]) -> None:
    """Type a portfolio row into the page: loan type first (it resets rate and tenure)."""
    widget(at, schema.LOAN_TYPE).set_value(record[schema.LOAN_TYPE])
    at.run()
    for column in (*(spec.name for spec in schema.REQUIRED_SPECS), *FORM_OPTIONAL):
        if column != schema.LOAN_TYPE:
            widget(at, column).set_value(widget_value(column, record[column]))


def started(timeout: int = APP_TIMEOUT) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=timeout)
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def gauge_value(at: AppTest) -> float:
    """The number the risk gauge shows (percent)."""
    charts = at.get("plotly_chart")
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        for trace in spec["data"]:
            if trace.get("type") == "indicator":
                return float(trace["value"])
    raise AssertionError("no gauge on the page")


def rupees(value: float) -> str:
    """Money as the page prints it: whole rupees grouped the Indian way, sign first."""
    return MoneyFormat().amount(float(value))


def uplift_bars(at: AppTest) -> dict[str, Any]:
    """The bar trace of the "uplift over leaving the loan alone" chart."""
    spec = json.loads(at.get_by_key("action_uplift_chart").proto.spec)
    (bars,) = spec["data"]
    assert spec["layout"]["title"]["text"].startswith("Uplift over leaving the loan alone")
    return dict(bars)


def test_page_renders_every_input_with_live_emi(dashboard_env) -> None:
    """Every required column has an input; the EMI shown is the reducing-balance EMI."""
    at = started()
    for column in (*(spec.name for spec in schema.REQUIRED_SPECS), *FORM_OPTIONAL):
        assert widget(at, column) is not None
    assert at.selectbox(key=key(schema.GENDER)).options == list(schema.GENDERS)
    age = at.number_input(key=key(schema.AGE))
    assert (age.min, age.max) == (18, 100)
    amount = at.number_input(key=key(schema.LOAN_AMOUNT)).value
    rate = at.number_input(key=key(schema.INTEREST_RATE)).value
    tenure = at.number_input(key=key(schema.LOAN_TENURE)).value
    emi = float(reducing_balance_emi(amount, rate, tenure))
    assert at.metric[0].value == MoneyFormat().amount(emi, decimals=2)
    assert not at.error


def test_a_new_loan_type_prefills_its_typical_terms(dashboard_env) -> None:
    """Another loan type puts in the simulator's rate and tenure for it; the EMI follows."""
    at = started()
    current = at.selectbox(key=key(schema.LOAN_TYPE)).value
    choice = "Home" if current != "Home" else "Auto"
    at.selectbox(key=key(schema.LOAN_TYPE)).set_value(choice).run()
    terms = typical_loan_terms()[choice]
    assert at.number_input(key=key(schema.INTEREST_RATE)).value == terms.interest_rate
    assert at.number_input(key=key(schema.LOAN_TENURE)).value == terms.tenure_months
    amount = at.number_input(key=key(schema.LOAN_AMOUNT)).value
    emi = float(reducing_balance_emi(amount, terms.interest_rate, terms.tenure_months))
    assert at.metric[0].value == MoneyFormat().amount(emi, decimals=2)


@pytest.mark.parametrize("row", FORM_ROWS)
def test_submitting_a_portfolio_row_gives_the_plan_of_that_row(dashboard_env, row: int) -> None:
    """Form filled with a file row: same risk score and action as plan_loans on that row."""
    raw = read_raw_table(dashboard_env.portfolio)
    record = {column: str(value) for column, value in raw.iloc[row].items()}
    table = validate_frame(raw.iloc[[row]], settings=dashboard_env.settings).table
    bundle = load_bundle(ModelRegistry(dashboard_env.models_dir))
    expected = plan_loans(table, bundle, dashboard_env.settings).worklist.iloc[0]

    at = started()
    fill(at, record)
    at.button(key="assess_submit").click().run()
    assert not at.exception, [item.value for item in at.exception]
    assert not at.error, [item.value for item in at.error]

    result = at.session_state["assess_result"]
    assert isinstance(result, Assessment)
    got = result.worklist.iloc[0]
    assert got[schema.LOAN_ID] == record[schema.LOAN_ID]
    assert got[schema.RISK_SCORE] == pytest.approx(expected[schema.RISK_SCORE], abs=1e-12)
    assert got[schema.RECOMMENDED_ACTION] == expected[schema.RECOMMENDED_ACTION]
    assert gauge_value(at) == pytest.approx(round(expected[schema.RISK_SCORE] * 100, 1))
    headings = [item.value for item in at.subheader]
    assert f"Recommended action: {expected[schema.RECOMMENDED_ACTION]}" in headings
    metrics = {item.label: item.value for item in at.metric}
    assert metrics["RBI asset class"] == str(
        result.scores_of(record[schema.LOAN_ID])[schema.SCORED_ASSET_CLASS]
    )
    texts = [item.value for item in at.markdown]
    assert f"**Segment:** {expected[schema.SEGMENT_NAME]}" in texts
    assert metrics["Expected net recovery"] == rupees(expected[schema.EXPECTED_NET_RECOVERY])
    assert metrics["Expected uplift over leaving it alone"] == rupees(
        expected[schema.EXPECTED_UPLIFT]
    )
    assert metrics["Value if left alone"] == rupees(expected[schema.VALUE_IF_LEFT_ALONE])
    baseline = f"Gain over {expected[schema.BASELINE_ACTION]} (bau baseline)"
    assert metrics[baseline] == rupees(expected[schema.UPLIFT_VS_BASELINE])
    # The chart: hold at 0, then every action's uplift as plan_loans gives it for this loan.
    bars = uplift_bars(at)
    actions = list(schema.ACTION_NAMES)
    assert bars["y"] == [schema.HOLD, *actions]
    assert bars["x"] == pytest.approx(
        [0.0, *(float(expected[schema.uplift_column(action)]) for action in actions)],
        rel=1e-9,
    )
    assert bars["customdata"] == [
        rupees(expected[schema.VALUE_IF_LEFT_ALONE]),
        *(rupees(expected[schema.value_column(action)]) for action in actions),
    ]


def test_invalid_input_names_the_field_and_shows_no_result(dashboard_env) -> None:
    """A zero loan amount: the validation message under that field, and no assessment shown."""
    at = started()
    at.number_input(key=key(schema.LOAN_AMOUNT)).set_value(0.0)
    at.number_input(key=key(schema.NUM_DEPENDENTS)).set_value(2)
    at.button(key="assess_submit").click().run()
    assert not at.exception
    errors = [item.value for item in at.error]
    (error,) = errors  # the message also names the schema's cap on amounts
    assert error.startswith("**Loan_Amount**: Loan_Amount must be > 0")
    assert error.endswith("; got 0.0.")
    assert not any("Recommended action" in item.value for item in at.subheader)
    assert not at.get("plotly_chart")
    # Fixing the field removes the message on the next assessment.
    at.number_input(key=key(schema.LOAN_AMOUNT)).set_value(250_000.0)
    at.button(key="assess_submit").click().run()
    assert not at.error
    assert any("Recommended action" in item.value for item in at.subheader)


def test_blank_borrower_id_is_reported_on_its_field(dashboard_env) -> None:
    """A required text field left blank names itself."""
    at = started()
    at.text_input(key=key(schema.BORROWER_ID)).set_value("")
    at.button(key="assess_submit").click().run()
    assert not at.exception
    assert [item.value for item in at.error] == [
        "**Borrower_ID**: Borrower_ID is required; got a blank value."
    ]


def test_no_champion_tells_to_run_the_demo(
    dashboard_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty model registry: an error naming `loan-recovery demo`, no traceback."""
    monkeypatch.setenv("LOAN_RECOVERY_MODELS_DIR", str(tmp_path / "empty"))
    at = started()
    assert len(at.error) == 1
    assert "loan-recovery demo" in at.error[0].value
    assert not at.get("form")


def test_whole_app_renders_assess_and_worklist(dashboard_env) -> None:
    """app.py opens on the borrower page; the worklist page renders from its navigation."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    assert [item.value for item in at.title] == ["Assess a borrower"]
    at.switch_page("pages/worklist.py").run()
    assert not at.exception, [item.value for item in at.exception]
    assert [item.value for item in at.title] == ["Worklist"]
    assert isinstance(at.dataframe[-1].value, pd.DataFrame)
