"""One valid raw row (text, as a CSV gives it), shared by the validation tests."""

from __future__ import annotations

from loan_recovery.data import schema

VALID_ROW: dict[str, str] = {
    schema.BORROWER_ID: "B1",
    schema.AGE: "35",
    schema.GENDER: "Female",
    schema.EMPLOYMENT_TYPE: "Salaried",
    schema.MONTHLY_INCOME: "60000",
    schema.NUM_DEPENDENTS: "2",
    schema.LOAN_ID: "L1",
    schema.LOAN_AMOUNT: "100000",
    schema.LOAN_TENURE: "12",
    schema.INTEREST_RATE: "12",
    schema.LOAN_TYPE: "Personal",
    schema.COLLATERAL_VALUE: "0",
    schema.OUTSTANDING_LOAN_AMOUNT: "50000",
    schema.MONTHLY_EMI: "8884.88",
    schema.PAYMENT_HISTORY: "On-Time",
    schema.NUM_MISSED_PAYMENTS: "0",
    schema.DAYS_PAST_DUE: "0",
    schema.COLLECTION_ATTEMPTS: "1",
    schema.COLLECTION_METHOD: "Calls",
    schema.LEGAL_ACTION_TAKEN: "No",
}
