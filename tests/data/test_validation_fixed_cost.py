"""Validation gives every row the same answer however many rows come with it.

Columns of one kind are parsed together and small tables go through in one batch (to keep
the fixed cost of validating one loan low), so these tests pin that neither the batching
nor the table's size changes a row's typed values, issues, warnings or quarantine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from validation_rows import VALID_ROW

from loan_recovery.config import load_settings
from loan_recovery.data import schema, validation, validation_columns
from loan_recovery.data.validation import LINE, ValidationResult, validate_frame

_VALID: dict[str, str] = {
    **VALID_ROW,
    schema.MONTHLY_EMI: "",
    schema.AMOUNT_RECOVERED: "",
    schema.AS_OF_DATE: "2024-01-31",
    schema.PHONE: "+919876543210",
    schema.EMAIL: "asha.rao@example.co.in",
    schema.PREFERRED_LANGUAGE: "hi",
    schema.CONSENT_SMS: "Yes",
    "Branch": "Pune",
}

#: One change per row: clean rows, every kind of rejection, and unusable contacts.
_CHANGES: list[dict[str, str]] = [
    {},
    {schema.AGE: "abc"},
    {schema.AGE: "35.5", schema.GENDER: " m "},
    {schema.MONTHLY_INCOME: "inf"},
    {schema.LOAN_AMOUNT: "-5", schema.LOAN_TYPE: "Gold"},
    {schema.NUM_DEPENDENTS: "1e20"},
    {schema.GENDER: "X", schema.PAYMENT_HISTORY: "on_time"},
    {schema.LOAN_ID: ""},
    {schema.AS_OF_DATE: "2024-02-30"},
    {schema.AS_OF_DATE: "2024-01-31T10:00:00+05:30"},
    {schema.AS_OF_DATE: "31/01/2024"},
    {schema.AS_OF_DATE: ""},
    {schema.OUTSTANDING_LOAN_AMOUNT: "900000"},
    {schema.AMOUNT_RECOVERED: "12.5", schema.MONTHLY_EMI: "9000"},
    {schema.PHONE: "98765", schema.EMAIL: "not an address"},
    {schema.EMAIL: "Asha.Rao@Example.COM", schema.PREFERRED_LANGUAGE: "Tamil"},
    {schema.PHONE: "+91 98765 43210", schema.PREFERRED_LANGUAGE: "pt_br"},
    {schema.CONSENT_SMS: "maybe", schema.INTEREST_RATE: " 7.5 "},
]


def _raw(changes: list[dict[str, str]]) -> pd.DataFrame:
    rows = [
        {**_VALID, schema.LOAN_ID: f"L{i}", schema.BORROWER_ID: f"B{i}", **change}
        for i, change in enumerate(changes)
    ]
    frame = pd.DataFrame(rows, dtype="str")
    lines = np.arange(schema.FIRST_DATA_LINE, schema.FIRST_DATA_LINE + len(rows))
    frame.index = pd.Index(lines, dtype=np.int64, name=schema.SOURCE_LINE)
    return frame


def _validate(raw: pd.DataFrame) -> ValidationResult:
    return validate_frame(raw, settings=load_settings())


def _only_line(frame: pd.DataFrame, line: int) -> pd.DataFrame:
    return frame[frame[LINE] == line].reset_index(drop=True)


def test_each_row_alone_gets_the_answer_it_gets_among_all_rows() -> None:
    raw = _raw(_CHANGES)
    together = _validate(raw)
    assert together.rejected > 0
    assert len(together.warnings) > 0
    accepted_lines = [line for line in raw.index if line not in set(together.issues[LINE])]
    for position, line in enumerate(raw.index):
        alone = _validate(raw.iloc[[position]])
        pd.testing.assert_frame_equal(alone.issues, _only_line(together.issues, line))
        if line in accepted_lines:  # an empty quarantine's reason column is object, as before
            assert alone.rejected == 0
        else:
            quarantined = _only_line(together.quarantine, line)
            pd.testing.assert_frame_equal(alone.quarantine, quarantined)
        warned = _only_line(together.warnings, line)
        assert alone.warnings[LINE].tolist() == warned[LINE].tolist()
        assert (
            alone.warnings["message"].astype(str).tolist() == warned["message"].astype(str).tolist()
        )
        if line in accepted_lines:
            row = together.table.iloc[[accepted_lines.index(line)]].reset_index(drop=True)
            pd.testing.assert_frame_equal(alone.table, row)
        else:
            assert alone.accepted == 0


@pytest.mark.parametrize("cells", [1, 40])
def test_batch_size_never_changes_the_result(monkeypatch: pytest.MonkeyPatch, cells: int) -> None:
    raw = _raw(_CHANGES)
    whole = _validate(raw)
    monkeypatch.setattr(validation, "_BATCH_CELLS", cells)  # a column (or two) at a time
    batched = _validate(raw)
    for name in ("table", "issues", "quarantine", "warnings"):
        pd.testing.assert_frame_equal(getattr(batched, name), getattr(whole, name))


def test_plain_dates_read_as_pandas_reads_them() -> None:
    texts = ["2024-01-31", "2024-02-29", "2023-02-29", "2024-04-31", "1899-12-31", "2200-01-01"]
    texts += ["2024-13-01", "2024-01-31T10:00:00Z", "20240131", "2024-1-5", "", "soon"]
    read = validation_columns._dates_of(pa.array(texts, type=pa.large_string()))
    expected = pd.to_datetime(
        pd.Series(texts, dtype=object), format="ISO8601", errors="coerce", utc=True
    )
    np.testing.assert_array_equal(
        read, expected.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    )


def test_a_returned_empty_report_is_a_copy() -> None:
    raw = _raw([{}])
    first = _validate(raw)
    assert first.rejected == 0
    first.quarantine["extra"] = 1
    first.issues["extra"] = 1
    second = _validate(raw)
    assert "extra" not in second.quarantine.columns
    assert "extra" not in second.issues.columns
