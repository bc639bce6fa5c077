"""Reading the stored book back as a loan table the plan accepts."""

from __future__ import annotations

import pandas as pd

from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.store.db import Store
from loan_recovery.store.loans import import_loans
from loan_recovery.store.portfolio_read import read_loan_table


def test_stored_loans_read_back_validate_with_the_same_values(store: Store) -> None:
    """Imports 40 loans; expects all 40 back, valid, same outstanding, no personal data."""
    loans = simulate_portfolio(40, 5).loans
    loans[schema.BORROWER_NAME] = "Asha Rao"
    loans[schema.PHONE] = "+91 98765 43210"
    table = validate_frame(loans).table
    import_loans(store.engine, table, actor="test", batch_size=16)
    read = read_loan_table(store.engine)
    assert len(read) == 40
    assert not ({schema.BORROWER_NAME, schema.PHONE, schema.EMAIL} & set(read.columns))
    again = validate_frame(read).table.set_index(schema.LOAN_ID)
    original = table.set_index(schema.LOAN_ID).loc[again.index]
    pd.testing.assert_series_equal(
        again[schema.OUTSTANDING_LOAN_AMOUNT].astype(float),
        original[schema.OUTSTANDING_LOAN_AMOUNT].astype(float),
        check_names=False,
    )
    assert (again[schema.DAYS_PAST_DUE] == original[schema.DAYS_PAST_DUE]).all()
