"""Excel (.xlsx) input: a lender's workbook validates as its CSV export would, with the
sheet's row numbers as lines."""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook
from validation_rows import VALID_ROW

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table
from loan_recovery.data.validation import validate_file
from loan_recovery.exceptions import DataFileError

NUMBERS = {
    spec.name
    for spec in schema.ALL_SPECS
    if spec.kind in (schema.ColumnKind.INTEGER, schema.ColumnKind.NUMBER)
}


def _typed(row: dict[str, str]) -> list[object]:
    """The row as Excel holds it: numbers as numbers (whole ones as floats, as Excel
    stores every number), text as text."""
    return [float(value) if name in NUMBERS else value for name, value in row.items()]


def _rows() -> list[dict[str, str]]:
    second = {**VALID_ROW, schema.LOAN_ID: "L2", schema.AGE: "-4"}  # rejected
    dated = {**VALID_ROW, schema.LOAN_ID: "L3", schema.AS_OF_DATE: "2026-10-31"}
    first = {**VALID_ROW, schema.AS_OF_DATE: ""}
    return [first, {**second, schema.AS_OF_DATE: ""}, dated]


def test_a_workbook_validates_as_its_csv_export(tmp_path: Path, settings: Settings) -> None:
    rows = _rows()
    header = list(rows[0])
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    sheet.append(_typed(rows[0]))
    sheet.append([None] * len(header))  # a blank row: skipped, still counted
    sheet.append(_typed(rows[1]))
    dated = _typed(rows[2])
    dated[header.index(schema.AS_OF_DATE)] = datetime.datetime(2026, 10, 31)
    sheet.append(dated)
    book.save(tmp_path / "loans.xlsx")
    csv = tmp_path / "loans.csv"
    blank = dict.fromkeys(header, "")
    pd.DataFrame([rows[0], blank, rows[1], rows[2]], dtype=str).to_csv(csv, index=False)

    from_excel = validate_file(tmp_path / "loans.xlsx", settings=settings)
    from_csv = validate_file(csv, settings=settings)

    assert (from_excel.accepted, from_excel.rejected) == (2, 1)
    assert from_excel.issues["line"].tolist() == [4]  # sheet row 4, after the blank row
    pd.testing.assert_frame_equal(from_excel.table, from_csv.table)
    pd.testing.assert_frame_equal(from_excel.issues, from_csv.issues)


def test_an_unnamed_column_and_a_damaged_workbook_are_refused(tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(["Loan_ID", None, "Age"])
    book.active.append(["L1", 3, 40])
    book.save(tmp_path / "gap.xlsx")
    with pytest.raises(DataFileError, match=r"unnamed column \(column 2\)"):
        read_raw_table(tmp_path / "gap.xlsx")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match="cannot read Excel file"):
        read_raw_table(tmp_path / "broken.xlsx")
