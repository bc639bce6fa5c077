"""Portfolio summary: known totals and breakdowns on a hand-made table."""

from __future__ import annotations

import pandas as pd
import pytest

from loan_recovery.data import schema
from loan_recovery.portfolio import summarise_portfolio


@pytest.fixture
def table() -> pd.DataFrame:
    """Four loans: two borrowers, DPD 0/45/120/400, one unsecured, some recovery logged."""
    return pd.DataFrame(
        {
            schema.BORROWER_ID: ["B1", "B1", "B2", "B2"],
            schema.LOAN_TYPE: ["Home", "Personal", "Auto", "Personal"],
            schema.OUTSTANDING_LOAN_AMOUNT: [1000.0, 2000.0, 3000.0, 4000.0],
            schema.COLLATERAL_VALUE: [5000.0, 0.0, 100.0, 0.0],
            schema.DAYS_PAST_DUE: [0, 45, 120, 400],
            schema.AMOUNT_RECOVERED: [1000.0, 500.0, 0.0, 1000.0],
            schema.RECOVERY_STATUS: [
                "Fully Recovered",
                "Partially Recovered",
                "Written Off",
                "Partially Recovered",
            ],
        }
    )


def test_totals(table: pd.DataFrame) -> None:
    """Expects loans, borrowers, exposure, NPA share and recovery rate computed by hand."""
    totals = summarise_portfolio(table).totals
    assert totals[schema.LOANS] == 4
    assert totals[schema.BORROWERS] == 2
    assert totals[schema.EXPOSURE] == 10_000
    assert totals[schema.SECURED_SHARE] == 0.5
    assert totals[schema.NPA_EXPOSURE_SHARE] == pytest.approx(0.7)
    assert totals[schema.RECOVERY_RATE] == pytest.approx(0.25)
    assert totals[schema.MEAN_DAYS_PAST_DUE] == pytest.approx(141.25)


def test_breakdowns_keep_empty_buckets_and_reconcile(table: pd.DataFrame) -> None:
    """Expects all six DPD buckets listed, shares summing to 1, loans summing to the total."""
    summary = summarise_portfolio(table)
    buckets = summary.by_dpd_bucket
    assert list(buckets.index) == list(schema.DPD_BUCKETS)
    assert buckets[schema.LOANS].tolist() == [1, 0, 1, 0, 1, 1]
    assert buckets[schema.EXPOSURE_SHARE].sum() == pytest.approx(1.0)
    assert summary.by_loan_type.loc["Personal", schema.EXPOSURE] == 6000
    assert summary.by_loan_type.loc["Personal", schema.RECOVERY_RATE] == pytest.approx(0.25)
    assert summary.by_asset_class.loc["NPA", schema.LOANS] == 2
    assert summary.by_recovery_status is not None
    assert summary.by_recovery_status.loc["Partially Recovered", schema.LOANS] == 2
    assert summary.by_collection_method is None


def test_empty_table_gives_zeros(table: pd.DataFrame) -> None:
    """Gives no rows; expects zero totals, not a division error."""
    totals = summarise_portfolio(table.iloc[0:0]).totals
    assert totals[schema.LOANS] == 0
    assert totals[schema.RECOVERY_RATE] == 0
