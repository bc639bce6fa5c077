"""Validation: typed table, one issue per problem, quarantine, and reconciled counts."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from validation_rows import VALID_ROW

from loan_recovery.cli import app
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table, write_table
from loan_recovery.data.validation import (
    ISSUE_COLUMNS,
    LINE,
    REASON,
    RejectReason,
    ValidationResult,
    WarningReason,
    default_quarantine_path,
    validate_file,
    validate_frame,
    write_quarantine,
)
from loan_recovery.exceptions import DataFileError, SchemaError

KNOWN_EMI = 8884.88  # 100,000 at 12% a year over 12 months


def loan_row(number: int, changes: Mapping[str, str] | None = None) -> dict[str, str]:
    """A valid row of every required column (Loan_ID ``L<number>``), then ``changes``."""
    row = {**VALID_ROW, schema.LOAN_ID: f"L{number}", schema.BORROWER_ID: f"B{number}"}
    return {**row, **(changes or {})}


def write_rows(path: Path, rows: Sequence[Mapping[str, str]], drop: Sequence[str] = ()) -> Path:
    """Write ``rows`` as CSV; columns a row lacks are blank, ``drop`` columns are left out."""
    columns = [name for name in dict.fromkeys(k for row in rows for k in row) if name not in drop]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def validate_rows(
    tmp_path: Path,
    rows: Sequence[Mapping[str, str]],
    *,
    settings: Settings | None = None,
    drop: Sequence[str] = (),
    require_label: bool = False,
) -> ValidationResult:
    """Write ``rows`` to a CSV in ``tmp_path`` and validate it."""
    path = write_rows(tmp_path / "loans.csv", rows, drop)
    return validate_file(path, settings=settings or load_settings(), require_label=require_label)


def assert_reconciled(result: ValidationResult) -> None:
    """Every row read is accepted or rejected, and the reason counts cover the rejected."""
    assert result.rows_read == result.accepted + result.rejected
    assert sum(result.reason_counts().values()) == result.rejected
    assert result.issues[LINE].nunique() == result.rejected


# --- clean input --------------------------------------------------------------------------
def test_valid_rows_become_a_typed_table(tmp_path: Path) -> None:
    """Gives three valid rows; expects all accepted, canonical dtypes and no issues."""
    result = validate_rows(tmp_path, [loan_row(i) for i in range(1, 4)])
    table = result.table
    assert (result.rows_read, result.accepted, result.rejected) == (3, 3, 0)
    assert result.issues.empty
    assert list(result.issues.columns) == list(ISSUE_COLUMNS)
    assert result.reason_counts() == {}
    assert list(table.columns) == [spec.name for spec in schema.REQUIRED_SPECS]
    assert table[schema.AGE].dtype == np.int64
    assert table[schema.LOAN_AMOUNT].dtype == np.float64
    assert table[schema.LOAN_ID].tolist() == ["L1", "L2", "L3"]
    gender = table[schema.GENDER].dtype
    assert isinstance(gender, pd.CategoricalDtype)
    assert tuple(gender.categories) == schema.GENDERS
    assert schema.SOURCE_LINE not in table.columns
    assert isinstance(table.index, pd.RangeIndex)


# --- one test per rejection reason --------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "bad", "reason", "message"),
    [
        (schema.AGE, "abc", RejectReason.WRONG_TYPE, "Age must be a whole number; got 'abc'."),
        (schema.AGE, "3.5", RejectReason.WRONG_TYPE, "Age must be a whole number; got '3.5'."),
        (
            schema.LOAN_AMOUNT,
            "12k",
            RejectReason.WRONG_TYPE,
            "Loan_Amount must be a number; got '12k'.",
        ),
        (
            schema.MONTHLY_INCOME,
            "nan",
            RejectReason.NOT_FINITE,
            "Monthly_Income must be a finite number; got 'nan'.",
        ),
        (
            schema.MONTHLY_INCOME,
            "-Infinity",
            RejectReason.NOT_FINITE,
            "Monthly_Income must be a finite number; got '-Infinity'.",
        ),
        (
            schema.LOAN_AMOUNT,
            "-5",
            RejectReason.OUT_OF_RANGE,
            "Loan_Amount must be > 0 and <= 1e+15; got -5.",
        ),
        (
            schema.AGE,
            "150",
            RejectReason.OUT_OF_RANGE,
            "Age must be >= 18 and <= 100; got 150.",
        ),
        (
            schema.LOAN_AMOUNT,
            "2e15",
            RejectReason.OUT_OF_RANGE,
            "Loan_Amount must be > 0 and <= 1e+15; got 2e15.",
        ),
        (
            schema.LOAN_TENURE,
            "348977",
            RejectReason.OUT_OF_RANGE,
            "Loan_Tenure must be > 0 and <= 1200; got 348977.",
        ),
        (
            schema.GENDER,
            "Robot",
            RejectReason.UNKNOWN_CATEGORY,
            "Gender must be one of Male, Female, Other; got 'Robot'.",
        ),
        (
            schema.BORROWER_ID,
            "   ",
            RejectReason.BLANK_REQUIRED,
            "Borrower_ID is required; got a blank value.",
        ),
        (
            schema.AS_OF_DATE,
            "2026-02-30",
            RejectReason.INVALID_DATE,
            "As_Of_Date must be a date as YYYY-MM-DD; got '2026-02-30'.",
        ),
    ],
)
def test_each_bad_cell_is_reported_and_quarantined(
    tmp_path: Path, column: str, bad: str, reason: RejectReason, message: str
) -> None:
    """Gives one bad cell on line 3; expects that line, column, raw value, code and message."""
    rows = [loan_row(1), loan_row(2, {column: bad}), loan_row(3)]
    result = validate_rows(tmp_path, rows)
    assert (result.accepted, result.rejected, len(result.issues)) == (2, 1, 1)
    issue = result.issues.iloc[0].to_dict()
    assert issue == {
        "line": 3,
        "column": column,
        "value": bad,
        "reason": reason.value,
        "message": message,
    }
    assert result.reason_counts() == {reason.value: 1}
    kept = result.quarantine.iloc[0]
    assert (kept[LINE], kept[REASON], kept[column]) == (3, message, bad)
    assert_reconciled(result)


def test_duplicate_loan_id_keeps_the_first_occurrence(tmp_path: Path) -> None:
    """Gives Loan_ID L1 on lines 2 and 4; expects line 4 rejected naming line 2, line 2 kept."""
    rows = [loan_row(1), loan_row(2), loan_row(3, {schema.LOAN_ID: "L1"})]
    result = validate_rows(tmp_path, rows)
    assert result.table[schema.BORROWER_ID].tolist() == ["B1", "B2"]
    issue = result.issues.iloc[0]
    assert (issue["line"], issue["column"], issue["value"], issue["reason"]) == (
        4,
        schema.LOAN_ID,
        "L1",
        "duplicate_loan_id",
    )
    assert issue["message"] == "Loan_ID 'L1' repeats line 2; the first is kept."
    assert_reconciled(result)


@pytest.mark.parametrize(("ratio", "rejected"), [(3.0, 1), (5.0, 0)])
def test_outstanding_above_the_configured_multiple_is_rejected(
    tmp_path: Path, ratio: float, rejected: int
) -> None:
    """Gives 400,000 owed on a 100,000 loan (and exactly 3x); expects the limit to decide."""
    settings = load_settings(validation={"max_outstanding_to_loan_ratio": ratio})
    rows = [
        loan_row(1, {schema.OUTSTANDING_LOAN_AMOUNT: "300000"}),
        loan_row(2, {schema.OUTSTANDING_LOAN_AMOUNT: "400000"}),
    ]
    result = validate_rows(tmp_path, rows, settings=settings)
    assert result.rejected == rejected
    if rejected:
        issue = result.issues.iloc[0]
        assert (issue["line"], issue["column"], issue["value"], issue["reason"]) == (
            3,
            schema.OUTSTANDING_LOAN_AMOUNT,
            "400000",
            "outstanding_exceeds_limit",
        )
        assert issue["message"] == (
            "Outstanding_Loan_Amount must be <= 3 x Loan_Amount; got 400000 "
            "with Loan_Amount 100000."
        )


def test_row_with_several_problems_counts_once_by_its_first(tmp_path: Path) -> None:
    """Gives a row with three bad cells; expects three issues, one row, primary = first."""
    changes = {schema.AGE: "x", schema.LOAN_AMOUNT: "-1", schema.LEGAL_ACTION_TAKEN: "maybe"}
    result = validate_rows(tmp_path, [loan_row(1, changes), loan_row(2)])
    assert result.issues["column"].tolist() == [
        schema.AGE,
        schema.LOAN_AMOUNT,
        schema.LEGAL_ACTION_TAKEN,
    ]
    assert result.reason_counts() == {"wrong_type": 1}
    assert result.quarantine[REASON].iloc[0] == "; ".join(result.issues["message"])
    assert_reconciled(result)


# --- whole-file problems ------------------------------------------------------------------
def test_missing_required_columns_are_all_listed(tmp_path: Path) -> None:
    """Gives a file without Age, Gender and Loan_ID; expects one SchemaError naming all three."""
    dropped = (schema.AGE, schema.GENDER, schema.LOAN_ID)
    with pytest.raises(SchemaError) as caught:
        validate_rows(tmp_path, [loan_row(1)], drop=dropped)
    assert caught.value.missing_columns == dropped
    for name in dropped:
        assert name in str(caught.value)


def test_label_is_required_only_when_asked(tmp_path: Path) -> None:
    """Gives rows without Recovery_Status; expects success, then SchemaError with the flag."""
    rows = [loan_row(1)]
    assert validate_rows(tmp_path, rows).accepted == 1
    with pytest.raises(SchemaError) as caught:
        validate_rows(tmp_path, rows, require_label=True)
    assert caught.value.missing_columns == (schema.RECOVERY_STATUS,)


def test_empty_inputs_raise_data_file_error(tmp_path: Path) -> None:
    """Gives a header-only file and a zero-row frame; expects DataFileError for both."""
    path = tmp_path / "header.csv"
    path.write_text(",".join(VALID_ROW) + "\n")
    with pytest.raises(DataFileError, match="no data rows"):
        validate_file(path)
    with pytest.raises(DataFileError, match="no data rows"):
        validate_frame(pd.DataFrame(columns=list(VALID_ROW)), settings=load_settings())


# --- derived and normalised values --------------------------------------------------------
def test_blank_monthly_emi_is_derived(tmp_path: Path) -> None:
    """Gives a blank EMI and a stated one; expects 8884.88 derived, the stated one kept."""
    rows = [loan_row(1, {schema.MONTHLY_EMI: " "}), loan_row(2, {schema.MONTHLY_EMI: "9000"})]
    result = validate_rows(tmp_path, rows)
    assert result.rejected == 0
    emi = result.table[schema.MONTHLY_EMI]
    assert emi.iloc[0] == pytest.approx(KNOWN_EMI, abs=0.005)
    assert emi.iloc[1] == 9000.0


def test_absent_monthly_emi_column_is_derived(tmp_path: Path) -> None:
    """Gives a file without Monthly_EMI; expects the column derived for every row."""
    rows = [loan_row(1), loan_row(2, {schema.INTEREST_RATE: "0", schema.LOAN_TENURE: "10"})]
    result = validate_rows(tmp_path, rows, drop=[schema.MONTHLY_EMI])
    emi = result.table[schema.MONTHLY_EMI].to_numpy()
    np.testing.assert_allclose(emi, [KNOWN_EMI, 10_000.0], atol=0.005)


@pytest.mark.parametrize(
    ("column", "written", "expected"),
    [
        (schema.PAYMENT_HISTORY, "on-time", "On-Time"),
        (schema.PAYMENT_HISTORY, " On-Time ", "On-Time"),
        (schema.PAYMENT_HISTORY, "ONTIME", "On-Time"),
        (schema.PAYMENT_HISTORY, "on_time", "On-Time"),
        (schema.EMPLOYMENT_TYPE, "self employed", "Self-Employed"),
        (schema.COLLECTION_METHOD, "settlement offer", "Settlement Offer"),
        (schema.LEGAL_ACTION_TAKEN, "y", "Yes"),
        (schema.LEGAL_ACTION_TAKEN, "TRUE", "Yes"),
        (schema.LEGAL_ACTION_TAKEN, "0", "No"),
        (schema.GENDER, "m", "Male"),
        (schema.GENDER, "F", "Female"),
    ],
)
def test_category_spellings_are_normalised(
    tmp_path: Path, column: str, written: str, expected: str
) -> None:
    """Gives a label in another spelling or an alias; expects the canonical label."""
    result = validate_rows(tmp_path, [loan_row(1, {column: written})])
    assert result.rejected == 0
    assert result.table[column].iloc[0] == expected


@pytest.mark.parametrize(
    ("column", "written"), [(schema.LOAN_TYPE, "Gold"), (schema.EMPLOYMENT_TYPE, "Freelancer")]
)
def test_unknown_label_of_open_category_becomes_other(
    tmp_path: Path, column: str, written: str
) -> None:
    """Gives an unlisted label in an open category; expects "Other" and no rejection."""
    result = validate_rows(tmp_path, [loan_row(1, {column: written})])
    assert result.rejected == 0
    assert result.table[column].iloc[0] == "Other"


def test_optional_columns_may_be_blank_but_not_wrong(tmp_path: Path) -> None:
    """Gives optional columns blank on one row, bad on another; expects NaN/NaT, then rejection."""
    optional = {
        schema.AMOUNT_RECOVERED: "1000.5",
        schema.AS_OF_DATE: "2026-06-30",
        schema.RECOVERY_STATUS: "written off",
        schema.PHONE: "+911234567890",
    }
    blanks = dict.fromkeys(optional, "")
    rows = [
        loan_row(1, optional),
        loan_row(2, blanks),
        loan_row(3, {**optional, schema.AMOUNT_RECOVERED: "-1"}),
    ]
    result = validate_rows(tmp_path, rows)
    table = result.table
    assert result.accepted == 2
    assert result.issues["reason"].tolist() == ["out_of_range"]
    assert table[schema.AMOUNT_RECOVERED].tolist()[0] == 1000.5
    assert np.isnan(table[schema.AMOUNT_RECOVERED].iloc[1])
    assert table[schema.AS_OF_DATE].iloc[0] == pd.Timestamp("2026-06-30")
    assert pd.isna(table[schema.AS_OF_DATE].iloc[1])
    assert table[schema.RECOVERY_STATUS].iloc[0] == schema.WRITTEN_OFF
    assert pd.isna(table[schema.RECOVERY_STATUS].iloc[1])
    assert pd.isna(table[schema.PHONE].iloc[1])


def test_blank_label_is_rejected_when_labels_are_required(tmp_path: Path) -> None:
    """Gives a blank Recovery_Status with require_label; expects blank_required."""
    rows = [
        loan_row(1, {schema.RECOVERY_STATUS: "Fully Recovered"}),
        loan_row(2, {schema.RECOVERY_STATUS: ""}),
    ]
    result = validate_rows(tmp_path, rows, require_label=True)
    assert result.reason_counts() == {"blank_required": 1}


# --- quarantine and reconciliation --------------------------------------------------------
def test_quarantine_keeps_original_values_and_reconciles(tmp_path: Path) -> None:
    """Gives a mix of good and bad rows; expects counts to add up and raw values kept."""
    rows = [
        loan_row(1),
        loan_row(2, {schema.LOAN_AMOUNT: " -5 "}),
        loan_row(3, {schema.AGE: "forty"}),
        loan_row(4, {schema.LOAN_ID: "L1"}),
        loan_row(5, {"Branch": "North"}),
    ]
    result = validate_rows(tmp_path, rows)
    assert (result.rows_read, result.accepted, result.rejected) == (5, 2, 3)
    assert_reconciled(result)
    assert result.reason_counts() == {
        "out_of_range": 1,
        "wrong_type": 1,
        "duplicate_loan_id": 1,
    }
    quarantine = result.quarantine
    assert quarantine[LINE].tolist() == [3, 4, 5]
    assert quarantine[schema.LOAN_AMOUNT].iloc[0] == " -5 "
    assert quarantine[schema.AGE].iloc[1] == "forty"
    assert quarantine[REASON].iloc[1] == "Age must be a whole number; got 'forty'."

    written = write_quarantine(result, default_quarantine_path(tmp_path / "loans.csv"))
    assert written == tmp_path / "loans.quarantine.csv"
    reread = pd.read_csv(written, dtype=str, keep_default_na=False)
    assert reread[schema.AGE].tolist() == ["35", "forty", "35"]
    assert reread[LINE].tolist() == ["3", "4", "5"]


def test_default_quarantine_path_strips_table_suffixes() -> None:
    """Gives inputs with several suffixes; expects ``<stem>.quarantine.csv`` beside them."""
    assert default_quarantine_path("data/loans.csv.gz") == Path("data/loans.quarantine.csv")
    assert default_quarantine_path("loans.parquet") == Path("loans.quarantine.csv")


def test_line_numbers_count_the_header_and_blank_lines(tmp_path: Path) -> None:
    """Gives a bad row after a blank line; expects the line number as an editor shows it."""
    path = write_rows(tmp_path / "gaps.csv", [loan_row(1), loan_row(2, {schema.AGE: "x"})])
    header, first, second = path.read_text().splitlines()
    path.write_text(f"{header}\n{first}\n\n{second}\n")
    result = validate_file(path, settings=load_settings())
    assert result.issues[LINE].tolist() == [4]
    assert result.rows_read == 2


def test_frame_without_line_index_counts_from_line_two() -> None:
    """Gives a typed frame with a plain index; expects line = position + 2."""
    frame = pd.DataFrame([loan_row(1), loan_row(2, {schema.AGE: "17"})])
    frame[schema.AGE] = frame[schema.AGE].astype(int)
    result = validate_frame(frame, settings=load_settings())
    issue = result.issues.iloc[0]
    assert (issue["line"], issue["value"], issue["reason"]) == (3, "17", "out_of_range")


# --- mapping and round trips --------------------------------------------------------------
def test_mapping_file_renames_and_extras_pass_through(tmp_path: Path) -> None:
    """Gives lender column names, a mapping file and an extra column; expects a clean table."""
    renamed = {schema.AGE: "Customer Age", schema.LOAN_AMOUNT: "loan_amt"}
    rows = [
        {renamed.get(k, k): v for k, v in {**loan_row(i), "Branch": f" BR{i} "}.items()}
        for i in (1, 2)
    ]
    path = write_rows(tmp_path / "lender.csv", rows)
    mapping = tmp_path / "mapping.toml"
    lines = [f'"{lender}" = "{canonical}"' for canonical, lender in renamed.items()]
    mapping.write_text("[columns]\n" + "\n".join(lines) + "\n")
    result = validate_file(path, mapping_path=mapping, settings=load_settings())
    assert result.accepted == 2
    assert result.table[schema.AGE].tolist() == [35, 35]
    assert result.table["Branch"].tolist() == [" BR1 ", " BR2 "]
    assert list(result.table.columns)[-1] == "Branch"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_typed_table_survives_a_round_trip(tmp_path: Path, suffix: str) -> None:
    """Gives a validated table written as CSV or Parquet; expects the same table back."""
    extras = {
        schema.AS_OF_DATE: "2026-06-30",
        schema.RECOVERY_STATUS: "Partially Recovered",
        schema.AMOUNT_RECOVERED: "12.34",
        "Notes": "a, quoted; note",
    }
    rows = [
        loan_row(1, extras),
        loan_row(2, {**extras, schema.AMOUNT_RECOVERED: "", schema.MONTHLY_EMI: ""}),
        loan_row(3, {**extras, schema.INTEREST_RATE: "9.125", schema.LOAN_TYPE: "Gold"}),
    ]
    first = validate_rows(tmp_path, rows).table
    copy = write_table(first, tmp_path / "nested" / f"copy{suffix}")
    second = validate_file(copy, settings=load_settings()).table
    pd.testing.assert_frame_equal(first, second)
    assert schema.SOURCE_LINE not in read_raw_table(copy).columns


def test_quarantine_columns_do_not_overwrite_lender_columns(tmp_path: Path) -> None:
    """Gives a file with its own "line" and "reason" columns; expects both kept intact."""
    own = {LINE: "own line", REASON: "own reason"}
    rows = [loan_row(1, own), loan_row(2, {**own, schema.AGE: "x"})]
    quarantine = validate_rows(tmp_path, rows).quarantine
    assert quarantine[LINE].tolist() == ["own line"]
    assert quarantine[REASON].tolist() == ["own reason"]
    assert quarantine[f"_{LINE}"].tolist() == [3]
    assert quarantine[f"_{REASON}"].tolist() == ["Age must be a whole number; got 'x'."]


# --- contact details: warnings, never rejections ---------------------------------------------
_CONTACT = {
    schema.PHONE: "+91 98765 43210",
    schema.EMAIL: "Asha.Rao@Example.com",
    schema.PREFERRED_LANGUAGE: "en",
}
#: line -> (column, raw value, reason) of each bad contact detail in :func:`_contact_rows`.
_BAD_CONTACTS: dict[int, tuple[str, str, str]] = {
    3: (schema.EMAIL, "not-an-email", WarningReason.INVALID_EMAIL.value),
    4: (schema.EMAIL, "a@b, c@d", WarningReason.INVALID_EMAIL.value),
    5: (schema.PHONE, "98765", WarningReason.INVALID_PHONE.value),
    6: (schema.PREFERRED_LANGUAGE, "english", WarningReason.INVALID_LANGUAGE.value),
}


def _contact_rows() -> list[dict[str, str]]:
    """Seven loans: line 2 clean, lines 3-6 one bad contact detail each (see
    :data:`_BAD_CONTACTS`), line 7 Tamil with a national number and a non-ASCII address,
    line 8 blank contact details."""
    rows = [loan_row(1, _CONTACT)]
    for line, (column, value, _) in _BAD_CONTACTS.items():
        rows.append(loan_row(line - 1, {**_CONTACT, column: value}))
    rows.append(
        loan_row(
            6,
            {
                schema.PHONE: "098765 43210",
                schema.EMAIL: "müller.naidu@Example.COM",
                schema.PREFERRED_LANGUAGE: "ta",
            },
        )
    )
    rows.append(loan_row(7, dict.fromkeys(_CONTACT, "")))
    return rows


def test_bad_contacts_are_warnings_and_every_loan_is_accepted(tmp_path: Path) -> None:
    """Gives a file whose bad emails, phone and language are on four loans; expects all
    seven accepted, one warning per bad detail naming line, column and reason (the raw
    value kept in ``value``, never in the message), and counts that reconcile."""
    result = validate_rows(tmp_path, _contact_rows())
    assert (result.rows_read, result.accepted, result.rejected) == (7, 7, 0)
    assert_reconciled(result)
    assert result.issues.empty
    assert result.quarantine.empty
    warnings = result.warnings
    assert list(warnings.columns) == list(ISSUE_COLUMNS)
    found = {
        line: (column, value, reason)
        for line, column, value, reason in zip(
            warnings[LINE], warnings["column"], warnings["value"], warnings[REASON], strict=True
        )
    }
    assert found == _BAD_CONTACTS
    assert result.warning_counts() == {
        "invalid_email": 2,
        "invalid_phone": 1,
        "invalid_language": 1,
    }
    assert sum(result.warning_counts().values()) == len(warnings) == 4
    for message, (_, value, _) in zip(warnings["message"], _BAD_CONTACTS.values(), strict=True):
        assert "the loan is kept" in message
        if value != "english":  # a language is no personal data: it is quoted
            assert value not in message


def _texts(column: pd.Series) -> list[str | None]:
    """A text column's values, blanks as None."""
    return [None if pd.isna(value) else str(value) for value in column]


def test_contacts_are_normalised_and_unusable_ones_blanked(tmp_path: Path) -> None:
    """Gives the contact rows; expects E.164 phones, normalised emails, BCP 47 languages,
    blanks where a detail was unusable or empty, and the default language for garbage."""
    table = validate_rows(tmp_path, _contact_rows()).table
    phone, asha = "+919876543210", "Asha.Rao@example.com"
    assert _texts(table[schema.PHONE]) == [phone, phone, phone, None, phone, phone, None]
    assert _texts(table[schema.EMAIL]) == [
        asha,
        None,
        None,
        asha,
        asha,
        "müller.naidu@example.com",
        None,
    ]
    assert _texts(table[schema.PREFERRED_LANGUAGE]) == ["en"] * 5 + ["ta", None]


@pytest.mark.parametrize("language", ["ta", "mr", "pt-BR", "hi-IN", "zh-Hant"])
def test_languages_without_templates_are_kept_not_quarantined(
    tmp_path: Path, language: str
) -> None:
    """Gives a loan in a language the reminders have no template for; expects the loan
    accepted (it used to be quarantined) with its tag and no warning."""
    result = validate_rows(tmp_path, [loan_row(1, {schema.PREFERRED_LANGUAGE: language})])
    assert (result.accepted, result.rejected, len(result.warnings)) == (1, 0, 0)
    assert result.table[schema.PREFERRED_LANGUAGE].tolist() == [language]


def test_contact_settings_pick_region_and_default_language(tmp_path: Path) -> None:
    """Gives a US national number and a garbage language with region US and default hi;
    expects +1 E.164 and hi, with the warning naming hi."""
    settings = load_settings(contacts={"default_region": "US", "default_language": "hi"})
    row = loan_row(1, {schema.PHONE: "(650) 253-0000", schema.PREFERRED_LANGUAGE: "??"})
    result = validate_rows(tmp_path, [row], settings=settings)
    assert result.table[schema.PHONE].tolist() == ["+16502530000"]
    assert result.table[schema.PREFERRED_LANGUAGE].tolist() == ["hi"]
    assert result.warnings["message"].tolist() == [
        "Preferred_Language must be a BCP 47 language tag such as en, hi, ta or pt-BR; "
        "got '??'; the loan is kept with hi."
    ]


def test_warnings_on_a_rejected_row_are_listed_but_not_counted_as_rejections(
    tmp_path: Path,
) -> None:
    """Gives a row with a bad age and a bad email; expects one rejection (by its reason
    only), one warning, and the quarantine holding the raw email."""
    rows = [loan_row(1), loan_row(2, {schema.AGE: "x", schema.EMAIL: "nobody"})]
    result = validate_rows(tmp_path, rows)
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.reason_counts() == {"wrong_type": 1}
    assert_reconciled(result)
    assert result.warnings[[LINE, REASON]].values.tolist() == [[3, "invalid_email"]]
    assert result.quarantine[schema.EMAIL].tolist() == ["nobody"]


def test_clean_files_and_payment_results_have_empty_warnings(tmp_path: Path) -> None:
    """Gives clean rows; expects an empty warnings table of the issue columns, and the same
    default on a result built without warnings (as payment validation builds it)."""
    result = validate_rows(tmp_path, [loan_row(1, _CONTACT)])
    assert result.warnings.empty
    assert list(result.warnings.columns) == list(ISSUE_COLUMNS)
    assert result.warning_counts() == {}
    bare = ValidationResult(table=result.table, issues=result.issues, quarantine=result.quarantine)
    assert bare.warnings.empty
    assert bare.warning_counts() == {}


def test_validate_json_counts_warnings_apart_and_exits_zero(tmp_path: Path) -> None:
    """Runs `validate --json` on the contact rows; expects exit 0 (nothing rejected), the
    usual counts and reasons, plus warnings and their reasons; the rich summary says so."""
    path = write_rows(tmp_path / "contacts.csv", _contact_rows())
    result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "rows_read": 7,
        "accepted": 7,
        "rejected": 0,
        "reasons": {},
        "warnings": 4,
        "warning_reasons": {"invalid_email": 2, "invalid_phone": 1, "invalid_language": 1},
    }
    rich = CliRunner().invoke(app, ["validate", str(path)])
    assert rich.exit_code == 0
    assert "4 warning(s)" in rich.stdout
    assert re.search(r"invalid_email\s*│\s*2", rich.stdout)
    assert "not-an-email" not in rich.stdout
