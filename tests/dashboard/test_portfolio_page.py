"""Portfolio page: default table, uploads with bad rows, snapshot history, KPIs = plan totals."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from loan_recovery import features
from loan_recovery.config import load_settings
from loan_recovery.dashboard.formatting import money_format, percent
from loan_recovery.dashboard.state import SESSION_PORTFOLIO_KEY, SESSION_PORTFOLIO_RESULT
from loan_recovery.data import schema
from loan_recovery.data.validation import ValidationResult, validate_file
from loan_recovery.models.bundle import load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.strategy.plan import plan_loans

PAGE = Path(__file__).resolve().parents[2] / "src/loan_recovery/dashboard/pages/portfolio.py"
APP_TIMEOUT = 120  # seconds: a first run loads the model and plans the portfolio
UPLOAD = "Upload a file"


def run_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def table_of(at: AppTest, key: str) -> pd.DataFrame:
    """The data frame shown in the page's container ``key``."""
    return at.get_by_key(key).dataframe[0].value


def raw_rows(path: Path, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of a CSV as text, exactly as written."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, nrows=rows)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="portfolio_source").set_value(UPLOAD).run()
    at.file_uploader(key="portfolio_upload").set_value((name, data, "text/csv")).run()
    assert not at.exception, [error.value for error in at.exception]
    return at


def test_default_portfolio_kpis_equal_the_plan_totals(dashboard_env: Any) -> None:
    """Gives the default 1,500-loan file; expects every KPI tile to read the CLI plan's totals."""
    at = run_page()
    settings = load_settings()
    table = validate_file(dashboard_env.portfolio, settings=settings).table
    registry = ModelRegistry(dashboard_env.models_dir)
    bundle = load_bundle(registry, registry.resolve("champion"))
    totals = plan_loans(table, bundle, settings).totals()
    money = money_format(settings)
    exposure = float(table[schema.OUTSTANDING_LOAN_AMOUNT].sum())
    shown = metrics(at)
    assert shown["Rows read"] == money.number(1_500)
    assert shown["Rejected"] == "0"
    assert shown["Loans"] == money.number(totals["loans"])
    assert shown["Exposure"] == money.amount(exposure)
    assert shown["Expected recovery"] == money.amount(totals["expected_recovered"])
    assert shown["Expected cost"] == money.amount(totals["expected_cost"])
    assert shown["Expected net"] == money.amount(totals["expected_net"])
    assert shown["Value if left alone"] == money.amount(totals["value_if_all_left_alone"])
    assert shown["Added by the plan"] == money.amount(totals["incremental_net"])
    assert shown["Recovery rate"] == percent(totals["expected_recovered"] / exposure)
    assert len(at.get("plotly_chart")) == 4
    assert table_of(at, "segment_table")[schema.LOANS].sum() == 1_500
    assert isinstance(at.session_state[SESSION_PORTFOLIO_RESULT], ValidationResult)
    assert at.session_state[SESSION_PORTFOLIO_KEY].startswith(str(dashboard_env.portfolio))
    assert any("needs history" in info.value for info in at.info)


def test_upload_with_bad_rows_shows_the_rejections(dashboard_env: Any) -> None:
    """Gives 200 rows, 3 of them bad in 3 ways; expects 3 rejected by reason, 197 planned."""
    frame = raw_rows(dashboard_env.portfolio, 200)
    frame.loc[0, schema.AGE] = "abc"
    frame.loc[2, schema.LOAN_ID] = frame.loc[1, schema.LOAN_ID]  # a later row repeats a loan
    frame.loc[3, schema.OUTSTANDING_LOAN_AMOUNT] = "-5"
    at = upload(run_page(), "bad.csv", csv_bytes(frame))
    shown = metrics(at)
    assert (shown["Rows read"], shown["Accepted"], shown["Rejected"]) == ("200", "197", "3")
    assert shown["Loans"] == "197"
    reasons = table_of(at, "rejection_reasons")
    assert dict(zip(reasons["Reason"], reasons["Rows"], strict=True)) == {
        "wrong_type": 1,
        "duplicate_loan_id": 1,
        "out_of_range": 1,
    }
    assert "3 rejected rows" in at.download_button[0].label
    result = at.session_state[SESSION_PORTFOLIO_RESULT]
    assert (result.accepted, result.rejected) == (197, 3)
    assert at.session_state[SESSION_PORTFOLIO_KEY].startswith("upload:")


def test_snapshot_upload_plans_the_latest_rows_and_shows_the_roll_forward(
    dashboard_env: Any,
) -> None:
    """Gives 120 loans at 0 DPD on 31 May and as simulated on 30 June; expects no rejection,
    120 loans planned (June rows) and a roll-forward out of bucket 0 matching June's buckets."""
    june = raw_rows(dashboard_env.portfolio, 120)
    june[schema.AS_OF_DATE] = "2026-06-30"
    may = june.assign(**{schema.DAYS_PAST_DUE: "0", schema.AS_OF_DATE: "2026-05-31"})
    at = upload(run_page(), "snapshots.csv", csv_bytes(pd.concat([may, june])))
    shown = metrics(at)
    assert (shown["Rows read"], shown["Rejected"], shown["Loans"]) == ("240", "0", "120")
    result = at.session_state[SESSION_PORTFOLIO_RESULT]
    assert len(result.table) == 120
    assert (result.table[schema.AS_OF_DATE] == pd.Timestamp("2026-06-30")).all()
    assert at.session_state[SESSION_PORTFOLIO_KEY].endswith("#current")
    roll = table_of(at, "roll_forward_table")
    june_buckets = features.dpd_bucket(
        june.assign(**{schema.DAYS_PAST_DUE: june[schema.DAYS_PAST_DUE].astype(int)})
    )
    expected = june_buckets.value_counts().reindex(list(schema.DPD_BUCKETS), fill_value=0)
    assert roll.loc["0"].tolist() == expected.tolist()
    assert int(roll.to_numpy().sum()) == 120


def test_missing_default_portfolio_says_what_to_do(
    dashboard_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Gives a data file that does not exist; expects a hint to run the demo, no traceback."""
    monkeypatch.setenv("LOAN_RECOVERY_DASHBOARD__DATA_FILE", str(tmp_path / "absent.csv"))
    at = run_page()
    assert any("loan-recovery demo" in info.value for info in at.info)
    assert not at.metric


def test_unreadable_upload_is_an_error_not_a_traceback(dashboard_env: Any) -> None:
    """Gives a CSV without the required columns; expects st.error naming a missing column."""
    at = upload(run_page(), "wrong.csv", b"a,b\n1,2\n")
    assert at.error
    assert schema.LOAN_ID in at.error[0].value


def test_case_store_source_plans_the_stored_loans(
    dashboard_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives an empty store, then 80 imported loans; expects a hint, then 80 loans planned."""
    from loan_recovery.store.db import create_store_engine, upgrade
    from loan_recovery.store.loans import import_loans

    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", url)
    engine = create_store_engine(url)
    upgrade(engine)
    at = run_page()
    at.radio(key="portfolio_source").set_value("Case store").run()
    assert not at.exception
    assert any("no loans yet" in info.value for info in at.info)
    table = validate_file(dashboard_env.portfolio, settings=load_settings()).table.head(80)
    import_loans(engine, table, actor="test", batch_size=50)
    engine.dispose()
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    shown = metrics(at)
    assert shown["Rows read"] == "80"
    assert shown["Loans"] == "80"
    assert at.session_state[SESSION_PORTFOLIO_KEY].startswith("store:")
