"""Checking a raw loan frame into a typed table, a problem report and a quarantine.

Every check runs on whole columns (Arrow compute and NumPy), never row by row, so a
million-row file validates in seconds. Each problem becomes one row of ``issues``; a row
with any problem moves to ``quarantine`` with its original values and its reasons, so
nothing is dropped silently and ``rows_read == accepted + rejected`` always holds.

Contact details are checked too (:mod:`loan_recovery.data.contacts`), but a bad one never
rejects a loan: an unusable ``Email`` or ``Phone`` is blanked in the table (that channel
is off for the loan) and a malformed ``Preferred_Language`` becomes the default language.
Each such change is a row of ``warnings`` (same columns as ``issues``), counted apart
from the rejections.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

from loan_recovery.config import ContactSettings, Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.contacts import CheckedColumn, check_emails, check_languages, check_phones
from loan_recovery.data.io import load_mapping, read_raw_table, table_stem, write_table
from loan_recovery.data.schema import ColumnKind, ColumnSpec
from loan_recovery.exceptions import DataFileError, SchemaError
from loan_recovery.finance import reducing_balance_emi

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class RejectReason(StrEnum):
    """Why a row was rejected: stable codes for reports, counts and dashboards."""

    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CATEGORY = "unknown_category"
    BLANK_REQUIRED = "blank_required"
    DUPLICATE_LOAN_ID = "duplicate_loan_id"
    OUTSTANDING_EXCEEDS_LIMIT = "outstanding_exceeds_limit"
    INVALID_DATE = "invalid_date"


class WarningReason(StrEnum):
    """What was changed in an accepted loan: stable codes for reports and counts."""

    INVALID_EMAIL = "invalid_email"
    INVALID_PHONE = "invalid_phone"
    INVALID_LANGUAGE = "invalid_language"


# Columns of the issue report (and the two the quarantine adds to the raw columns).
LINE = "line"
COLUMN = "column"
VALUE = "value"
REASON = "reason"
MESSAGE = "message"
ISSUE_COLUMNS: tuple[str, ...] = (LINE, COLUMN, VALUE, REASON, MESSAGE)

#: dtype of DATE columns; microseconds, so any calendar date fits.
DATE_DTYPE = "datetime64[us]"
QUARANTINE_SUFFIX = ".quarantine.csv"
WARNINGS_SUFFIX = ".warnings.csv"

_TEXT = pa.large_string()
_NUMBER_PATTERN = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)$"
_KEY_NOISE = re.compile(r"[\s_\-]+")
_MAX_EXACT_INTEGER = 2.0**53  # beyond this a float64 no longer holds every integer
_BLANK_CODE = -2
_UNKNOWN_CODE = -1


@dataclass(frozen=True, eq=False)
class ValidationResult:
    """Accepted rows as a typed table, every problem found, and the rejected rows.

    ``table`` holds the accepted rows with canonical dtypes (int64, float64, categorical,
    str, datetime) and ``Monthly_EMI`` always filled; extra columns pass through as read.
    ``issues`` has one row per problem (``line, column, value, reason, message``), sorted
    by line and column. ``quarantine`` holds each rejected row's original values plus its
    ``line`` and all its messages joined by ``"; "`` in ``reason``. ``warnings`` has the
    same columns, one row per contact detail that was unusable (its reason a
    :class:`WarningReason`): such a row is not rejected, the detail is blanked or
    defaulted in ``table``. A warning may fall on a rejected row too.
    """

    table: pd.DataFrame
    issues: pd.DataFrame
    quarantine: pd.DataFrame
    warnings: pd.DataFrame = field(default_factory=lambda: _empty_warnings())

    @property
    def accepted(self) -> int:
        """Rows that passed every check."""
        return len(self.table)

    @property
    def rejected(self) -> int:
        """Rows with at least one problem (all kept in ``quarantine``)."""
        return len(self.quarantine)

    @property
    def rows_read(self) -> int:
        """Data rows in the input: every one is either accepted or rejected."""
        return self.accepted + self.rejected

    def reason_counts(self) -> dict[str, int]:
        """Rejected rows by primary reason (the row's first problem in column order).

        Counting rows, not problems, makes the counts sum to ``rejected``.
        """
        primary = self.issues.drop_duplicates(subset=LINE, keep="first")[REASON]
        return {str(reason): int(count) for reason, count in primary.value_counts().items()}

    def warning_counts(self) -> dict[str, int]:
        """Warnings by reason: they sum to ``len(warnings)`` (one per row and field)."""
        counts = self.warnings[REASON].value_counts()
        return {str(reason): int(count) for reason, count in counts.items() if count}


@dataclass(frozen=True, slots=True)
class _Cells:
    """One raw column as text: original for the report, trimmed for parsing."""

    name: str
    rank: int  # position among the raw columns: orders a row's problems
    original: pa.ChunkedArray
    text: pa.ChunkedArray
    blank: BoolArray


@dataclass(frozen=True, slots=True)
class _Finding:
    """One kind of problem in one column: the rows, their raw values and messages."""

    column: str
    rank: int
    reason: RejectReason
    positions: IntArray
    values: pa.ChunkedArray
    messages: pa.ChunkedArray


_Parsed = tuple[Any, list[_Finding]]


# --- public entry points ------------------------------------------------------------------
def validate_file(
    path: Path | str,
    *,
    mapping_path: Path | str | None = None,
    settings: Settings | None = None,
    require_label: bool = False,
) -> ValidationResult:
    """Read ``path`` (renaming columns by the TOML mapping file, if any) and validate it."""
    mapping = load_mapping(mapping_path) if mapping_path is not None else None
    raw = read_raw_table(path, mapping)
    return validate_frame(raw, settings=settings, require_label=require_label)


def validate_frame(
    raw: pd.DataFrame, *, settings: Settings | None = None, require_label: bool = False
) -> ValidationResult:
    """Check every row of ``raw`` against the canonical schema.

    ``raw`` is what :func:`read_raw_table` returns (text or typed values; the index holds
    source lines when named :data:`schema.SOURCE_LINE`, else line = position + 2).
    Whole-table problems raise: :class:`SchemaError` naming every missing required column
    (``Recovery_Status`` only when ``require_label``) and :class:`DataFileError` for a
    table without rows. Row problems never raise: they are reported and quarantined.

    A ``Loan_ID`` is unique per row, except in a table of snapshots: with ``As_Of_Date``
    the key is the pair (``Loan_ID``, ``As_Of_Date``), so the same loan may appear once
    per snapshot date (:func:`current_snapshot` keeps each loan's latest row).
    """
    settings = settings if settings is not None else load_settings()
    _check_layout(raw, require_label)
    lines = _source_lines(raw)
    values: dict[str, Any] = {}
    findings: list[_Finding] = []
    warned: list[_Warning] = []
    for spec in schema.ALL_SPECS:
        if spec.name not in raw.columns:
            continue
        cells = _cells(raw, spec.name)
        if spec.name in CONTACT_COLUMNS:
            values[spec.name], unusable = _parse_contact(cells, settings.contacts)
            warned += unusable
            continue
        required = _is_required(spec, require_label)
        values[spec.name], found = _PARSERS[spec.kind](cells, spec, required)
        findings += found
    findings += _duplicate_loan_ids(raw, values.get(schema.AS_OF_DATE), lines)
    ratio = settings.validation.max_outstanding_to_loan_ratio
    findings += _outstanding_over_limit(raw, values, ratio)
    values[schema.MONTHLY_EMI] = _monthly_emi(values)
    issues, positions, messages = _issue_report(findings, lines)
    rejected = np.zeros(len(raw), dtype=bool)
    rejected[positions] = True
    return ValidationResult(
        table=_typed_table(raw, values, ~rejected, require_label),
        issues=issues,
        quarantine=_quarantine(raw, lines, positions, messages),
        warnings=_warning_report(warned, lines),
    )


def default_quarantine_path(input_path: Path | str) -> Path:
    """Where rejected rows go by default: beside the input, ``<stem>.quarantine.csv``."""
    path = Path(input_path)
    return path.with_name(f"{table_stem(path)}{QUARANTINE_SUFFIX}")


def write_quarantine(result: ValidationResult, path: Path | str) -> Path:
    """Write the rejected rows (original values, line and reasons); format by suffix."""
    return write_table(result.quarantine, path)


def default_warnings_path(input_path: Path | str) -> Path:
    """Where warnings go by default: beside the input, ``<stem>.warnings.csv``."""
    path = Path(input_path)
    return path.with_name(f"{table_stem(path)}{WARNINGS_SUFFIX}")


def write_warnings(result: ValidationResult, path: Path | str) -> Path:
    """Write one row per warning (line, column, reason, message); format by suffix.

    The unusable value itself is left out: it is an email address or a phone number, and
    the line number finds it in the lender's own file without copying it anywhere else.
    """
    return write_table(result.warnings.drop(columns=[VALUE]), path)


# --- whole-table checks -------------------------------------------------------------------
def _check_layout(raw: pd.DataFrame, require_label: bool) -> None:
    names = [str(name) for name in raw.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SchemaError(f"the table repeats column name(s): {', '.join(repeated)}.")
    required = (*schema.REQUIRED_COLUMNS, *([schema.RECOVERY_STATUS] if require_label else []))
    missing = tuple(name for name in required if name not in raw.columns)
    if missing:
        raise SchemaError(
            f"missing required column(s): {', '.join(missing)}. Add them, or rename the "
            "lender's columns with a mapping file.",
            missing_columns=missing,
        )
    if raw.empty:
        raise DataFileError("the table has no data rows.")


def _is_required(spec: ColumnSpec, require_label: bool) -> bool:
    """Whether a blank cell rejects the row (derivable and optional columns may be blank)."""
    if spec.name == schema.RECOVERY_STATUS:
        return require_label
    return spec.name in schema.REQUIRED_COLUMNS


def _source_lines(raw: pd.DataFrame) -> IntArray:
    index = raw.index
    if (
        index.name == schema.SOURCE_LINE
        and pd.api.types.is_integer_dtype(index.dtype)
        and index.is_unique
    ):
        return index.to_numpy(dtype=np.int64)
    return np.arange(schema.FIRST_DATA_LINE, schema.FIRST_DATA_LINE + len(raw), dtype=np.int64)


# --- reading cells ------------------------------------------------------------------------
def _cells(raw: pd.DataFrame, name: str) -> _Cells:
    original = _as_text(raw[name])
    text = pc.utf8_trim_whitespace(original)
    blank: BoolArray = pc.equal(text, "").to_numpy()
    rank = raw.columns.get_loc(name)  # column names are unique (checked first): an int
    assert isinstance(rank, int)
    return _Cells(name, rank, original, text, blank)


def _as_text(series: pd.Series) -> pa.ChunkedArray:
    """The column as non-null text: CSV text unchanged, typed values (Parquet) printed.

    Text pandas already holds in Arrow is taken as it is, without a conversion.
    """
    try:
        if isinstance(series.array, ArrowStringArray):
            array = series.array.__arrow_array__()
        else:
            array = pa.array(series, from_pandas=True)
        if isinstance(array, pa.Array):
            array = pa.chunked_array([array])
        if array.type != _TEXT:
            array = pc.cast(array, _TEXT)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        printed = series.map(str, na_action="ignore").where(series.notna(), None)
        array = pa.chunked_array([pa.array(printed, type=_TEXT, from_pandas=True)])
    return array if array.null_count == 0 else pc.fill_null(array, "")


def _blank_to_null(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, _TEXT), text)


# --- findings -----------------------------------------------------------------------------
def _join(*parts: str | pa.ChunkedArray) -> pa.ChunkedArray:
    """Element-wise concatenation of text pieces (plain strings repeat on every row)."""
    pieces = [pa.scalar(part, _TEXT) if isinstance(part, str) else part for part in parts]
    return pc.binary_join_element_wise(*pieces, pa.scalar("", _TEXT))


def _finding(
    cells: _Cells,
    reason: RejectReason,
    mask: BoolArray,
    prefix: str,
    suffix: str = "",
    message: Callable[[pa.ChunkedArray, IntArray], pa.ChunkedArray] | None = None,
) -> list[_Finding]:
    """The rows in ``mask`` as one finding; message = prefix + trimmed value + suffix."""
    positions = np.flatnonzero(mask).astype(np.int64)
    if positions.size == 0:
        return []
    indices = pa.array(positions)
    shown = cells.text.take(indices)
    messages = message(shown, positions) if message else _join(prefix, shown, suffix)
    original = cells.original.take(indices)
    return [_Finding(cells.name, cells.rank, reason, positions, original, messages)]


def _blank_findings(cells: _Cells, required: bool) -> list[_Finding]:
    if not required:
        return []
    prefix = f"{cells.name} is required; got a blank value."
    return _finding(cells, RejectReason.BLANK_REQUIRED, cells.blank, prefix)


# --- parsers, one per column kind ---------------------------------------------------------
def _parse_text(cells: _Cells, spec: ColumnSpec, required: bool) -> _Parsed:
    return _blank_to_null(cells.text), _blank_findings(cells, required)


def _to_floats(cells: _Cells) -> tuple[FloatArray, BoolArray]:
    """Numbers (NaN where blank or not a number) and the mask of non-numeric text.

    Casting the whole column is the fast path; only a column holding some non-number
    pays for the regular expression that tells numbers from the rest.
    """
    text = _blank_to_null(cells.text)
    try:
        parsed = pc.cast(text, pa.float64())
        wrong = np.zeros(len(cells.blank), dtype=bool)
    except pa.ArrowInvalid:
        looks = pc.match_substring_regex(text, _NUMBER_PATTERN, ignore_case=True)
        parsed = pc.cast(pc.if_else(looks, text, pa.scalar(None, _TEXT)), pa.float64())
        wrong = pc.invert(pc.fill_null(looks, True)).to_numpy()
    numbers: FloatArray = pc.fill_null(parsed, np.nan).to_numpy()
    return numbers, wrong


def _outside(numbers: FloatArray, spec: ColumnSpec) -> BoolArray:
    """Values outside the spec's range (NaN compares False, so it never counts)."""
    outside = np.zeros(len(numbers), dtype=bool)
    if spec.minimum is not None:
        low = numbers <= spec.minimum if spec.exclusive_minimum else numbers < spec.minimum
        outside |= low
    if spec.maximum is not None:
        outside |= numbers > spec.maximum
    return outside


def _range_findings(cells: _Cells, spec: ColumnSpec, mask: BoolArray) -> list[_Finding]:
    prefix = f"{spec.name} must be {spec.domain_text()}; got "
    return _finding(cells, RejectReason.OUT_OF_RANGE, mask, prefix, ".")


def _wrong_type_findings(cells: _Cells, mask: BoolArray, expected: str) -> list[_Finding]:
    prefix = f"{cells.name} must be {expected}; got '"
    return _finding(cells, RejectReason.WRONG_TYPE, mask, prefix, "'.")


def _not_finite_findings(cells: _Cells, mask: BoolArray) -> list[_Finding]:
    prefix = f"{cells.name} must be a finite number; got '"
    return _finding(cells, RejectReason.NOT_FINITE, mask, prefix, "'.")


def _parse_number(cells: _Cells, spec: ColumnSpec, required: bool) -> _Parsed:
    numbers, wrong = _to_floats(cells)
    finite = np.isfinite(numbers)
    not_finite = ~cells.blank & ~wrong & ~finite
    outside = finite & _outside(numbers, spec)
    findings = [
        *_blank_findings(cells, required),
        *_wrong_type_findings(cells, wrong, "a number"),
        *_not_finite_findings(cells, not_finite),
        *_range_findings(cells, spec, outside),
    ]
    return np.where(not_finite | outside, np.nan, numbers), findings


def _parse_integer(cells: _Cells, spec: ColumnSpec, required: bool) -> _Parsed:
    numbers, not_number = _to_floats(cells)
    finite = np.isfinite(numbers)
    fractional = finite & (np.floor(numbers) != numbers)
    wrong = not_number | fractional
    whole = finite & ~fractional
    huge = whole & (np.abs(numbers) > _MAX_EXACT_INTEGER)
    outside = whole & ~huge & _outside(numbers, spec)
    not_finite = ~cells.blank & ~not_number & ~finite
    findings = [
        *_blank_findings(cells, required),
        *_wrong_type_findings(cells, wrong, "a whole number"),
        *_not_finite_findings(cells, not_finite),
        *_range_findings(cells, spec, outside),
        *_finding(
            cells,
            RejectReason.OUT_OF_RANGE,
            huge,
            f"{spec.name} must be a whole number of at most 15 digits; got ",
            ".",
        ),
    ]
    return np.where(wrong | huge | outside, np.nan, numbers), findings


def _category_key(label: str) -> str:
    """Spelling-insensitive key: ``" On-Time "``, ``"on_time"`` and ``"ONTIME"`` agree."""
    return _KEY_NOISE.sub("", label.lower())


def _label_codes(spec: ColumnSpec, labels: Sequence[str]) -> npt.NDArray[np.int16]:
    """Category code of each distinct label: exact, alias or key match, else Other/unknown.

    A key two categories share is ambiguous and dropped, so only exact spelling matches it.
    """
    exact = {label: code for code, label in enumerate(spec.categories)}
    keyed: dict[str, int] = {}
    ambiguous: set[str] = set()
    for label, code in exact.items():
        key = _category_key(label)
        if keyed.get(key, code) != code:
            ambiguous.add(key)
        keyed[key] = code
    for key in ambiguous:
        del keyed[key]
    keyed |= {_category_key(alias): exact[target] for alias, target in spec.aliases.items()}
    fallback = exact[spec.other_category] if spec.other_category else _UNKNOWN_CODE
    codes = [
        _BLANK_CODE if not label else exact.get(label, keyed.get(_category_key(label), fallback))
        for label in labels
    ]
    return np.array(codes, dtype=np.int16)


def _distinct(cells: _Cells) -> tuple[list[str], npt.NDArray[np.int32]]:
    """Distinct trimmed values and each row's index into them: work once per label."""
    distinct = pc.unique(cells.text)
    where: npt.NDArray[np.int32] = pc.index_in(cells.text, value_set=distinct).to_numpy()
    return distinct.to_pylist(), where


def _parse_category(cells: _Cells, spec: ColumnSpec, required: bool) -> _Parsed:
    labels, where = _distinct(cells)
    codes = _label_codes(spec, labels)[where]
    prefix = f"{spec.name} must be one of {spec.domain_text()}; got '"
    findings = [
        *_blank_findings(cells, required),
        *_finding(cells, RejectReason.UNKNOWN_CATEGORY, codes == _UNKNOWN_CODE, prefix, "'."),
    ]
    return np.maximum(codes, _UNKNOWN_CODE), findings


def _parse_date(cells: _Cells, spec: ColumnSpec, required: bool) -> _Parsed:
    labels, where = _distinct(cells)
    parsed = pd.to_datetime(
        pd.Series(labels, dtype=object), format="ISO8601", errors="coerce", utc=True
    )
    dates = parsed.dt.tz_localize(None).to_numpy(dtype=DATE_DTYPE)[where]
    invalid = ~cells.blank & np.isnat(dates)
    prefix = f"{spec.name} must be a date as YYYY-MM-DD; got '"
    findings = [
        *_blank_findings(cells, required),
        *_finding(cells, RejectReason.INVALID_DATE, invalid, prefix, "'."),
    ]
    return dates, findings


# --- contact details: checked, normalised, never a rejection -----------------------------
#: Columns checked by :mod:`loan_recovery.data.contacts` instead of their kind's parser.
CONTACT_COLUMNS: tuple[str, ...] = (schema.PHONE, schema.EMAIL, schema.PREFERRED_LANGUAGE)


@dataclass(frozen=True, slots=True)
class _Warning:
    """The unusable values of one contact column: rows, raw values, coded messages.

    A message never quotes an email address or a phone number, so there are only a few
    distinct ones per column: each row holds a code into ``texts`` (a million warnings
    cost a million small integers, not a million sentences).
    """

    column: str
    rank: int
    reason: WarningReason
    positions: IntArray
    values: pa.ChunkedArray
    codes: npt.NDArray[np.int32]
    texts: list[str]


def _parse_contact(cells: _Cells, settings: ContactSettings) -> tuple[Any, list[_Warning]]:
    """Normalised contact values (text) and the warning of the unusable ones.

    A message names the column, the reason and what became of the loan; the warning's row
    gives the line. A language (no personal data) is quoted, an address or number never.
    """
    checked: CheckedColumn
    name = cells.name
    if name == schema.EMAIL:
        checked = check_emails(cells.text)
        reason, lead = WarningReason.INVALID_EMAIL, f"{name} is not a usable email address: "
        tail = "; the loan is kept, without email reminders."
    elif name == schema.PHONE:
        checked = check_phones(cells.text, default_region=settings.default_region)
        reason, lead = WarningReason.INVALID_PHONE, f"{name} is not a usable phone number: "
        tail = "; the loan is kept, without SMS reminders."
    else:
        checked = check_languages(cells.text, default_language=settings.default_language)
        reason = WarningReason.INVALID_LANGUAGE
        lead = f"{name} must be a BCP 47 language tag such as en, hi, ta or pt-BR; got '"
        tail = f"'; the loan is kept with {settings.default_language}."
    positions = np.flatnonzero(checked.invalid).astype(np.int64)
    if positions.size == 0:
        return checked.normalized, []
    indices = pa.array(positions)
    shown = cells.text if reason is WarningReason.INVALID_LANGUAGE else checked.problems
    encoded = pc.dictionary_encode(shown.take(indices).combine_chunks())
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    texts = [f"{lead}{text}{tail}" for text in encoded.dictionary.to_pylist()]
    original = cells.original.take(indices)
    return checked.normalized, [
        _Warning(name, cells.rank, reason, positions, original, codes, texts)
    ]


_PARSERS: dict[ColumnKind, Callable[[_Cells, ColumnSpec, bool], _Parsed]] = {
    ColumnKind.TEXT: _parse_text,
    ColumnKind.INTEGER: _parse_integer,
    ColumnKind.NUMBER: _parse_number,
    ColumnKind.CATEGORY: _parse_category,
    ColumnKind.DATE: _parse_date,
}


# --- checks across rows or columns --------------------------------------------------------
def _duplicate_loan_ids(
    raw: pd.DataFrame, dates: npt.NDArray[np.datetime64] | None, lines: IntArray
) -> list[_Finding]:
    """Later rows repeating a loan's key; the first occurrence in the file is kept.

    The key is the Loan_ID, or (Loan_ID, As_Of_Date) when the table has snapshot dates: a
    loan may appear once per snapshot, never twice on one date (a blank date is one date).
    """
    cells = _cells(raw, schema.LOAN_ID)
    _, where = _distinct(cells)
    key = where.astype(np.int64)
    if dates is not None:
        _, date_codes = np.unique(dates.astype(np.int64), return_inverse=True)
        key = key * (int(date_codes.max(initial=0)) + 1) + date_codes.reshape(-1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    first_row = first[inverse.reshape(-1)]
    repeats = ~cells.blank & (first_row != np.arange(len(key)))
    if dates is None:
        on_date: str | pa.ChunkedArray = ""
    else:
        date_text = _cells(raw, schema.AS_OF_DATE).text.take(pa.array(np.flatnonzero(repeats)))
        on_date = _join(f" on {schema.AS_OF_DATE} '", date_text, "'")

    def message(shown: pa.ChunkedArray, positions: IntArray) -> pa.ChunkedArray:
        first_lines = pa.chunked_array([pa.array(lines[first_row[positions]]).cast(_TEXT)])
        return _join(
            f"{cells.name} '",
            shown,
            "'",
            on_date,
            " repeats line ",
            first_lines,
            "; the first is kept.",
        )

    return _finding(cells, RejectReason.DUPLICATE_LOAN_ID, repeats, "", message=message)


def current_snapshot(table: pd.DataFrame) -> pd.DataFrame:
    """One row per loan: each Loan_ID's latest ``As_Of_Date`` row of a validated table.

    A table without snapshots (Loan_IDs already unique) comes back as it is; otherwise the
    kept rows stay in their original order. A blank date counts as older than any date.
    """
    loan_ids = table[schema.LOAN_ID]
    if schema.AS_OF_DATE not in table.columns or loan_ids.is_unique:
        return table
    order = pd.DataFrame(
        {
            "loan": loan_ids.to_numpy(dtype=object),
            "dated": table[schema.AS_OF_DATE].notna().to_numpy(),
            "date": table[schema.AS_OF_DATE].to_numpy(),
            "position": np.arange(len(table)),
        }
    ).sort_values(["loan", "dated", "date"], kind="stable")
    latest = order.drop_duplicates(subset="loan", keep="last")["position"].to_numpy()
    return table.iloc[np.sort(latest)]


def _outstanding_over_limit(
    raw: pd.DataFrame, values: dict[str, Any], ratio: float
) -> list[_Finding]:
    """Outstanding above ``ratio`` x the loan amount: interest rarely grows a loan so far."""
    outstanding = values[schema.OUTSTANDING_LOAN_AMOUNT]
    loan = values[schema.LOAN_AMOUNT]
    over = np.isfinite(outstanding) & np.isfinite(loan) & (outstanding > ratio * loan)
    if not over.any():
        return []
    loan_text = _cells(raw, schema.LOAN_AMOUNT).text

    def message(shown: pa.ChunkedArray, positions: IntArray) -> pa.ChunkedArray:
        loan_shown = loan_text.take(pa.array(positions))
        return _join(
            f"{schema.OUTSTANDING_LOAN_AMOUNT} must be <= {ratio:g} x {schema.LOAN_AMOUNT}; got ",
            shown,
            f" with {schema.LOAN_AMOUNT} ",
            loan_shown,
            ".",
        )

    cells = _cells(raw, schema.OUTSTANDING_LOAN_AMOUNT)
    reason = RejectReason.OUTSTANDING_EXCEEDS_LIMIT
    return _finding(cells, reason, over, "", message=message)


def _monthly_emi(values: dict[str, Any]) -> FloatArray:
    """The EMI as given, derived from amount, rate and tenure where blank or absent."""
    derived = reducing_balance_emi(
        values[schema.LOAN_AMOUNT], values[schema.INTEREST_RATE], values[schema.LOAN_TENURE]
    )
    given: FloatArray | None = values.get(schema.MONTHLY_EMI)
    return derived if given is None else np.where(np.isnan(given), derived, given)


# --- outputs ------------------------------------------------------------------------------
def _chunks(arrays: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    return pa.chunked_array([chunk for array in arrays for chunk in array.chunks], type=_TEXT)


def _empty_issues() -> pd.DataFrame:
    empty = pd.DataFrame({name: pd.Series(dtype="str") for name in ISSUE_COLUMNS})
    empty[LINE] = empty[LINE].astype(np.int64)
    return empty


_EMPTY_ISSUES = _empty_issues()


def _issue_report(
    findings: list[_Finding], lines: IntArray
) -> tuple[pd.DataFrame, IntArray, pa.Array]:
    """The issue table sorted by row then column, with each issue's row position."""
    if not findings:  # the common case: a copy of a prebuilt empty table (~40x cheaper)
        return _EMPTY_ISSUES.copy(), np.empty(0, dtype=np.int64), pa.array([], type=_TEXT)
    counts = [len(finding.positions) for finding in findings]
    positions = np.concatenate([finding.positions for finding in findings])
    ranks = np.repeat([finding.rank for finding in findings], counts)
    order = np.lexsort((ranks, positions))
    indices = pa.array(order)
    messages = _chunks([finding.messages for finding in findings]).take(indices).combine_chunks()
    columns = np.repeat(np.array([finding.column for finding in findings], dtype=object), counts)
    reasons = np.repeat(np.array([finding.reason.value for finding in findings]), counts)
    issues = pd.DataFrame(
        {
            LINE: lines[positions[order]],
            COLUMN: pd.array(columns[order], dtype="str"),
            VALUE: _chunks([finding.values for finding in findings]).take(indices).to_pandas(),
            REASON: pd.array(reasons[order].astype(object), dtype="str"),
            MESSAGE: messages.to_pandas(),
        }
    )
    return issues, positions[order], messages


def _build_empty_warnings() -> pd.DataFrame:
    empty = _empty_issues()
    for name in (COLUMN, REASON, MESSAGE):
        empty[name] = pd.Categorical([])
    return empty


_EMPTY_WARNINGS = _build_empty_warnings()


def _empty_warnings() -> pd.DataFrame:
    """An empty warnings table: a copy of a prebuilt one (building it costs ~1.5 ms)."""
    return _EMPTY_WARNINGS.copy()


def _warning_report(warned: list[_Warning], lines: IntArray) -> pd.DataFrame:
    """The warnings table, sorted by row then column, like the issue table.

    ``column``, ``reason`` and ``message`` are categoricals (a few distinct values each),
    ``value`` holds the raw values as read.
    """
    if not warned:
        return _empty_warnings()
    counts = [len(warning.positions) for warning in warned]
    positions = np.concatenate([warning.positions for warning in warned])
    ranks = np.repeat([warning.rank for warning in warned], counts)
    order = np.lexsort((ranks, positions))
    offsets = np.cumsum([0, *(len(warning.texts) for warning in warned)])[:-1]
    codes = np.concatenate([w.codes + offset for w, offset in zip(warned, offsets, strict=True)])
    texts = [text for warning in warned for text in warning.texts]
    columns = [warning.column for warning in warned]
    reasons = [warning.reason.value for warning in warned]
    which = np.repeat(np.arange(len(warned)), counts)[order]
    return pd.DataFrame(
        {
            LINE: lines[positions[order]],
            COLUMN: pd.Categorical.from_codes(which, categories=pd.Index(columns)),
            VALUE: _chunks([w.values for w in warned]).take(pa.array(order)).to_pandas(),
            REASON: pd.Categorical.from_codes(which, categories=pd.Index(reasons)),
            MESSAGE: pd.Categorical.from_codes(codes[order], categories=pd.Index(texts)),
        }
    )


def _joined_per_row(positions: IntArray, messages: pa.Array) -> tuple[IntArray, pa.Array]:
    """Rejected rows (sorted) and all their messages joined by "; ", without a row loop.

    Issue ``k`` of every row is gathered into the ``k``-th column of a small grid (a row
    has at most one issue per column), then each grid row is joined, skipping gaps.
    """
    starts = np.flatnonzero(np.r_[True, positions[1:] != positions[:-1]])
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(positions)]))
    within = np.arange(len(positions)) - starts[group]
    parts = []
    for k in range(int(within.max()) + 1):
        pick = np.full(len(starts), -1, dtype=np.int64)
        chosen = np.flatnonzero(within == k)
        pick[group[chosen]] = chosen
        parts.append(messages.take(pa.array(pick, mask=pick < 0)))
    joined = pc.binary_join_element_wise(*parts, pa.scalar("; ", _TEXT), null_handling="skip")
    return positions[starts], joined


def _free_name(base: str, taken: pd.Index) -> str:
    """``base``, or ``_base`` (and so on) when the raw table already has such a column."""
    name = base
    while name in taken:
        name = f"_{name}"
    return name


def _quarantine(
    raw: pd.DataFrame, lines: IntArray, positions: IntArray, messages: pa.Array
) -> pd.DataFrame:
    if len(positions):
        rows, joined = _joined_per_row(positions, messages)
        frame = raw.iloc[rows].reset_index(drop=True)
        line_values, reasons = lines[rows], joined.to_pandas().to_numpy()
    else:  # nothing rejected: the empty slice, without a take over every column
        frame = raw.iloc[:0].reset_index(drop=True)
        line_values, reasons = np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    frame.insert(0, _free_name(LINE, raw.columns), line_values)
    frame.insert(1, _free_name(REASON, raw.columns), reasons)
    return frame


def _typed_column(spec: ColumnSpec, values: Any, keep: BoolArray, required: bool) -> Any:
    if spec.kind is ColumnKind.TEXT or spec.name in CONTACT_COLUMNS:
        return values.filter(pa.array(keep)).to_pandas().array
    if spec.kind is ColumnKind.CATEGORY:
        return pd.Categorical.from_codes(values[keep], categories=pd.Index(spec.categories))
    if spec.kind is ColumnKind.INTEGER:
        kept = values[keep]
        return kept.astype(np.int64) if required else pd.array(kept, dtype="Int64")
    return values[keep]


def _typed_table(
    raw: pd.DataFrame, values: dict[str, Any], keep: BoolArray, require_label: bool
) -> pd.DataFrame:
    """Accepted rows: canonical columns in schema order, then the extras as they came."""
    data: dict[Any, Any] = {
        spec.name: _typed_column(spec, values[spec.name], keep, _is_required(spec, require_label))
        for spec in schema.ALL_SPECS
        if spec.name in values
    }
    for name in raw.columns:
        if name not in schema.SPECS_BY_NAME:
            data[name] = raw[name].array[keep]
    return pd.DataFrame(data)
