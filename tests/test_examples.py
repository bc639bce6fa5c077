"""The shipped lender export: a realistic file with its own column names and bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import ValidationResult, validate_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def result(settings: Settings) -> ValidationResult:
    """The example export validated through its mapping file."""
    return validate_file(
        EXAMPLES / "lender_export.csv",
        mapping_path=EXAMPLES / "lender_mapping.toml",
        settings=settings,
    )


def test_counts_reconcile_with_one_row_per_reason(result: ValidationResult) -> None:
    """Expects 60 rows: 51 accepted, 9 rejected, one per planted problem."""
    assert (result.rows_read, result.accepted, result.rejected) == (60, 51, 9)
    assert result.reason_counts() == {
        "out_of_range": 2,
        "wrong_type": 1,
        "not_finite": 1,
        "unknown_category": 1,
        "blank_required": 1,
        "duplicate_loan_id": 1,
        "outstanding_exceeds_limit": 1,
        "invalid_date": 1,
    }
    assert result.issues["line"].tolist() == [12, 14, 16, 18, 20, 22, 24, 26, 28]


def test_lender_quirks_are_normalised(result: ValidationResult) -> None:
    """Expects spellings normalised, unknown loan type -> Other, blank EMI derived, extras kept."""
    table = result.table.set_index(schema.LOAN_ID)
    assert table.loc["LN0000003", schema.PAYMENT_HISTORY] == "On-Time"
    assert table.loc["LN0000005", schema.EMPLOYMENT_TYPE] == "Self-Employed"
    assert table.loc["LN0000007", schema.LOAN_TYPE] == "Other"
    assert table.loc["LN0000008", schema.LEGAL_ACTION_TAKEN] == "No"
    assert table.loc["LN0000002", schema.MONTHLY_EMI] > 0
    assert "branch_code" in table.columns
