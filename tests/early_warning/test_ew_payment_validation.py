"""Validating a payment file: bad rows reported by line, column and reason; counts reconcile."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table, write_table
from loan_recovery.data.payment_validation import validate_payments, validate_payments_file
from loan_recovery.exceptions import DataFileError, SchemaError
from loan_recovery.simulation.payments import SimulatedPayments


@pytest.fixture
def payments_csv(ew_payments: SimulatedPayments, tmp_path: Path) -> Path:
    """The first 60 simulated instalment rows as CSV."""
    return write_table(ew_payments.history.head(60), tmp_path / "payments.csv")


def test_simulated_history_round_trips(
    ew_payments: SimulatedPayments, settings: Settings, tmp_path: Path
) -> None:
    """Gives the whole simulated history as CSV; expects every row accepted, equal to it."""
    path = write_table(ew_payments.history, tmp_path / "all.csv")
    result = validate_payments_file(path, settings=settings)
    assert (result.rows_read, result.rejected) == (len(ew_payments.history), 0)
    pd.testing.assert_frame_equal(result.table, ew_payments.history.reset_index(drop=True))


def test_bad_rows_are_reported_and_quarantined(payments_csv: Path, settings: Settings) -> None:
    """Gives six broken rows; expects each reported with its file line, column and reason,
    the rest accepted, and rows read = accepted + rejected."""
    raw = read_raw_table(payments_csv)
    rows = raw.index  # source lines: the first data row is line 2
    raw.loc[rows[1], schema.AMOUNT_PAID] = "abc"
    raw.loc[rows[2], schema.DUE_DATE] = "2026-13-01"
    raw.loc[rows[3], schema.AMOUNT_DUE] = "-5"
    raw.loc[rows[4], [schema.AMOUNT_PAID, schema.PAID_DATE]] = ["100", ""]
    raw.loc[rows[6], schema.PAID_DATE] = "2020-01-01"
    raw.loc[rows[7], schema.LOAN_ID] = ""
    duplicate = raw.loc[[rows[0]]].set_axis(pd.Index([62], name=raw.index.name))
    raw = pd.concat([raw, duplicate])
    result = validate_payments(raw, settings=settings)

    issues = result.issues.set_index("line")
    expected = {
        3: (schema.AMOUNT_PAID, "wrong_type"),
        4: (schema.DUE_DATE, "invalid_date"),
        5: (schema.AMOUNT_DUE, "out_of_range"),
        6: (schema.PAID_DATE, "blank_required"),
        8: (schema.PAID_DATE, "out_of_range"),
        9: (schema.LOAN_ID, "blank_required"),
        62: (schema.LOAN_ID, "duplicate_loan_id"),
    }
    assert {line: (row["column"], row["reason"]) for line, row in issues.iterrows()} == expected
    assert "repeats line 2" in issues.loc[62, "message"]
    assert "at most 62 days before Due_Date" in issues.loc[8, "message"]
    assert (result.rows_read, result.accepted, result.rejected) == (61, 54, 7)
    assert sorted(result.quarantine["line"]) == sorted(expected)
    assert result.table[schema.DUE_DATE].dtype.kind == "M"


def test_whole_file_problems_raise(payments_csv: Path, settings: Settings) -> None:
    """Gives a file without Paid_Date and one without rows; expects SchemaError, DataFileError."""
    raw = read_raw_table(payments_csv)
    with pytest.raises(SchemaError, match="missing payment column\\(s\\): Paid_Date"):
        validate_payments(raw.drop(columns=schema.PAID_DATE), settings=settings)
    with pytest.raises(DataFileError, match="no data rows"):
        validate_payments(raw.iloc[:0], settings=settings)
