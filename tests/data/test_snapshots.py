"""Snapshot tables: one row per loan and As_Of_Date is valid; each loan's latest row is current."""

from __future__ import annotations

import pandas as pd
import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import current_snapshot, validate_frame
from loan_recovery.simulation.portfolio import simulate_portfolio


@pytest.fixture(scope="module")
def loans(settings: Settings) -> pd.DataFrame:
    """Three valid simulated loans (dated 2026-06-30), every cell as text."""
    frame = simulate_portfolio(3, 11, settings=settings).loans
    return frame.astype(str).reset_index(drop=True)


def dated(frame: pd.DataFrame, date: str, dpd: str | None = None) -> pd.DataFrame:
    changes = {schema.AS_OF_DATE: date} | ({schema.DAYS_PAST_DUE: dpd} if dpd else {})
    return frame.assign(**changes)


def test_same_loan_on_two_dates_is_accepted(loans: pd.DataFrame, settings: Settings) -> None:
    """Gives 3 loans on 31 May and 30 June; expects all 6 rows accepted."""
    raw = pd.concat([dated(loans, "2026-05-31"), dated(loans, "2026-06-30")], ignore_index=True)
    result = validate_frame(raw, settings=settings)
    assert (result.accepted, result.rejected) == (6, 0)


def test_same_loan_twice_on_one_date_is_still_a_duplicate(
    loans: pd.DataFrame, settings: Settings
) -> None:
    """Gives loan 1 twice on 30 June; expects line 5 rejected naming the date and line 2."""
    raw = pd.concat([loans, loans.iloc[[0]]], ignore_index=True)
    result = validate_frame(raw, settings=settings)
    assert result.reason_counts() == {"duplicate_loan_id": 1}
    issue = result.issues.iloc[0]
    loan_id = loans.loc[0, schema.LOAN_ID]
    assert issue["line"] == 5
    assert issue["message"] == (
        f"Loan_ID '{loan_id}' on As_Of_Date '2026-06-30' repeats line 2; the first is kept."
    )


def test_without_dates_a_repeated_loan_id_is_rejected_as_before(
    loans: pd.DataFrame, settings: Settings
) -> None:
    """Gives no As_Of_Date column and loan 1 twice; expects the unchanged duplicate message."""
    raw = pd.concat([loans, loans.iloc[[0]]], ignore_index=True).drop(columns=schema.AS_OF_DATE)
    result = validate_frame(raw, settings=settings)
    loan_id = loans.loc[0, schema.LOAN_ID]
    assert result.reason_counts() == {"duplicate_loan_id": 1}
    assert result.issues.iloc[0]["message"] == (
        f"Loan_ID '{loan_id}' repeats line 2; the first is kept."
    )


def test_blank_dates_count_as_one_date(loans: pd.DataFrame, settings: Settings) -> None:
    """Gives loan 1 twice with a blank date and once dated; expects the second blank out."""
    raw = pd.concat(
        [dated(loans, ""), dated(loans.iloc[[0]], ""), dated(loans.iloc[[0]], "2026-06-30")],
        ignore_index=True,
    )
    result = validate_frame(raw, settings=settings)
    assert result.reason_counts() == {"duplicate_loan_id": 1}
    assert result.issues.iloc[0]["line"] == 5


def test_current_snapshot_keeps_each_loans_latest_row_in_file_order(
    loans: pd.DataFrame, settings: Settings
) -> None:
    """Gives June rows before May rows and loan 3 only in May; expects June for 1-2, May for 3."""
    raw = pd.concat(
        [dated(loans.iloc[:2], "2026-06-30", "40"), dated(loans, "2026-05-31", "10")],
        ignore_index=True,
    )
    table = validate_frame(raw, settings=settings).table
    current = current_snapshot(table)
    assert current[schema.LOAN_ID].tolist() == loans[schema.LOAN_ID].tolist()
    assert current[schema.DAYS_PAST_DUE].tolist() == [40, 40, 10]
    assert current.index.tolist() == [0, 1, 4]


def test_current_snapshot_of_a_table_without_history_is_the_table(
    loans: pd.DataFrame, settings: Settings
) -> None:
    """Gives unique loans (with and without As_Of_Date); expects the very same frame back."""
    table = validate_frame(loans, settings=settings).table
    assert current_snapshot(table) is table
    undated = table.drop(columns=schema.AS_OF_DATE)
    assert current_snapshot(undated) is undated
