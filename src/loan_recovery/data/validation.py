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

Columns are read and parsed by :mod:`loan_recovery.data.validation_columns` (the columns
of one kind together, so one loan pays each Arrow call once, not once per column) and
the report tables are built by :mod:`loan_recovery.data.validation_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray, IntegerArray

from loan_recovery.config import ContactSettings, Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.contacts import CheckedColumn, check_emails, check_languages, check_phones
from loan_recovery.data.io import load_mapping, read_raw_table, table_stem, write_table
from loan_recovery.data.schema import ColumnKind, ColumnSpec
from loan_recovery.data.seen_keys import SeenKeys, key_hashes
from loan_recovery.data.validation_columns import DATE_DTYPE as DATE_DTYPE
from loan_recovery.data.validation_columns import (
    GROUP_PARSERS,
    STR_DTYPE,
    TEXT_TYPE,
    Cells,
    GroupParser,
    Parsed,
    category_labels,
    distinct_many,
    join_text,
    make_finding,
    read_cells,
)
from loan_recovery.data.validation_report import COLUMN as COLUMN
from loan_recovery.data.validation_report import ISSUE_COLUMNS as ISSUE_COLUMNS
from loan_recovery.data.validation_report import LINE as LINE
from loan_recovery.data.validation_report import MESSAGE as MESSAGE
from loan_recovery.data.validation_report import REASON as REASON
from loan_recovery.data.validation_report import VALUE as VALUE
from loan_recovery.data.validation_report import (
    ContactWarning,
    Finding,
    empty_warnings,
    issue_report,
    quarantine,
    warning_report,
)
from loan_recovery.data.validation_report import RejectReason as RejectReason
from loan_recovery.data.validation_report import WarningReason as WarningReason
from loan_recovery.exceptions import DataFileError, SchemaError
from loan_recovery.finance import reducing_balance_emi

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

QUARANTINE_SUFFIX = ".quarantine.csv"
WARNINGS_SUFFIX = ".warnings.csv"


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
    warnings: pd.DataFrame = field(default_factory=empty_warnings)

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
    raw: pd.DataFrame,
    *,
    settings: Settings | None = None,
    require_label: bool = False,
    seen: SeenKeys | None = None,
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

    ``seen`` carries the keys of a streamed book's earlier batches: a row repeating one
    of them is rejected naming its first line, as in one table, and this batch's new keys
    are added to it.
    """
    settings = settings if settings is not None else load_settings()
    _check_layout(raw, require_label)
    lines = source_lines(raw)
    specs = [spec for spec in schema.ALL_SPECS if spec.name in raw.columns]
    values, findings, warned, cells = _parse_columns(raw, specs, settings.contacts, require_label)
    findings += _duplicate_loan_ids(cells, values.get(schema.AS_OF_DATE), lines, seen)
    ratio = settings.validation.max_outstanding_to_loan_ratio
    findings += _outstanding_over_limit(cells, values, ratio)
    values[schema.MONTHLY_EMI] = _monthly_emi(values)
    issues, positions, messages = issue_report(findings, lines)
    rejected = np.zeros(len(raw), dtype=bool)
    rejected[positions] = True
    return ValidationResult(
        table=_typed_table(raw, values, ~rejected, require_label),
        issues=issues,
        quarantine=quarantine(raw, lines, positions, messages),
        warnings=warning_report(warned, lines),
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
    return write_table(warning_rows(result), path)


def warning_rows(result: ValidationResult) -> pd.DataFrame:
    """The warnings as written to a file: without the unusable value (personal data)."""
    return result.warnings.drop(columns=[VALUE])


# --- whole-table checks -------------------------------------------------------------------
def _check_layout(raw: pd.DataFrame, require_label: bool) -> None:
    names = [str(name) for name in raw.columns.tolist()]
    if len(set(names)) < len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
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


def source_lines(raw: pd.DataFrame) -> IntArray:
    index = raw.index
    if (
        index.name == schema.SOURCE_LINE
        and pd.api.types.is_integer_dtype(index.dtype)
        and index.is_unique
    ):
        return index.to_numpy(dtype=np.int64)
    return np.arange(schema.FIRST_DATA_LINE, schema.FIRST_DATA_LINE + len(raw), dtype=np.int64)


#: Most cells read and parsed together: a small table is one batch (each Arrow call paid
#: once), a large one goes a column at a time (one column's text in memory, not all).
_BATCH_CELLS = 1 << 20
#: Columns the checks across columns read again after parsing.
_CHECKED_AFTER = (
    schema.LOAN_ID,
    schema.AS_OF_DATE,
    schema.LOAN_AMOUNT,
    schema.OUTSTANDING_LOAN_AMOUNT,
)


def _batches(specs: list[ColumnSpec], rows: int) -> list[list[ColumnSpec]]:
    width = max(1, _BATCH_CELLS // rows)
    return [specs[start : start + width] for start in range(0, len(specs), width)]


def _parse_columns(
    raw: pd.DataFrame,
    specs: Sequence[ColumnSpec],
    contacts: ContactSettings,
    require_label: bool,
) -> tuple[dict[str, Any], list[Finding], list[ContactWarning], dict[str, Cells]]:
    """Every column's values, the findings and warnings in column (schema) order, and the
    cells of the columns checked again afterwards.

    Columns are parsed by kind, all columns of a kind together (up to the batch size).
    """
    groups: dict[GroupParser | None, list[ColumnSpec]] = {}
    for spec in specs:
        parse = None if spec.name in CONTACT_COLUMNS else GROUP_PARSERS[spec.kind]
        groups.setdefault(parse, []).append(spec)
    parsed: dict[str, Parsed] = {}
    checked: dict[str, tuple[Any, list[ContactWarning]]] = {}
    kept: dict[str, Cells] = {}
    for parse, members in groups.items():
        for batch in _batches(members, len(raw)):
            cells = read_cells(raw, [spec.name for spec in batch])
            kept |= {name: cells[name] for name in _CHECKED_AFTER if name in cells}
            if parse is None:
                checked |= {spec.name: _parse_contact(cells[spec.name], contacts) for spec in batch}
                continue
            columns = [
                (cells[spec.name], spec, _is_required(spec, require_label)) for spec in batch
            ]
            results = parse(columns)
            parsed |= {spec.name: result for spec, result in zip(batch, results, strict=True)}
    values: dict[str, Any] = {}
    findings: list[Finding] = []
    warned: list[ContactWarning] = []
    for spec in specs:
        if spec.name in checked:
            values[spec.name], unusable = checked[spec.name]
            warned += unusable
        else:
            values[spec.name], found = parsed[spec.name]
            findings += found
    return values, findings, warned, kept


# --- contact details: checked, normalised, never a rejection -----------------------------
#: Columns checked by :mod:`loan_recovery.data.contacts` instead of their kind's parser.
CONTACT_COLUMNS: tuple[str, ...] = (schema.PHONE, schema.EMAIL, schema.PREFERRED_LANGUAGE)


def _parse_contact(cells: Cells, settings: ContactSettings) -> tuple[Any, list[ContactWarning]]:
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
        ContactWarning(name, cells.rank, reason, positions, original, codes, texts)
    ]


# --- checks across rows or columns --------------------------------------------------------
def _duplicate_loan_ids(
    read: dict[str, Cells],
    dates: npt.NDArray[np.datetime64] | None,
    lines: IntArray,
    seen: SeenKeys | None = None,
) -> list[Finding]:
    """Later rows repeating a loan's key; the first occurrence in the file is kept.

    The key is the Loan_ID, or (Loan_ID, As_Of_Date) when the table has snapshot dates: a
    loan may appear once per snapshot, never twice on one date (a blank date is one date).
    With ``seen`` (earlier batches of the same book), a key first met there is a repeat
    too, of the line it was first met on.
    """
    cells = read[schema.LOAN_ID]
    _, (where,) = distinct_many([cells])  # no labels: a million IDs are not made Python str
    key = where.astype(np.int64)
    if dates is not None:
        _, date_codes = np.unique(dates.astype(np.int64), return_inverse=True)
        key = key * (int(date_codes.max(initial=0)) + 1) + date_codes.reshape(-1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    first_row = first[inverse.reshape(-1)]
    repeats = ~cells.blank & (first_row != np.arange(len(key)))
    first_line = lines[first_row]
    if seen is not None:
        first_line, earlier = _earlier_batches(cells, dates, lines, first_row, seen)
        repeats |= earlier
    if dates is None:
        on_date: str | pa.ChunkedArray = ""
    else:
        date_text = read[schema.AS_OF_DATE].text.take(pa.array(np.flatnonzero(repeats)))
        on_date = join_text(f" on {schema.AS_OF_DATE} '", date_text, "'")

    def message(shown: pa.ChunkedArray, positions: IntArray) -> pa.ChunkedArray:
        first_lines = pa.chunked_array([pa.array(first_line[positions]).cast(TEXT_TYPE)])
        return join_text(
            f"{cells.name} '",
            shown,
            "'",
            on_date,
            " repeats line ",
            first_lines,
            "; the first is kept.",
        )

    return make_finding(cells, RejectReason.DUPLICATE_LOAN_ID, repeats, "", message=message)


def _earlier_batches(
    cells: Cells,
    dates: npt.NDArray[np.datetime64] | None,
    lines: IntArray,
    first_row: IntArray,
    seen: SeenKeys,
) -> tuple[IntArray, BoolArray]:
    """Each row's first line across the batches so far, and which rows repeat an earlier
    batch's key; this batch's new keys are remembered (blank Loan_IDs never are)."""
    ids = cells.text.to_numpy(zero_copy_only=False)
    first, second = key_hashes(ids, None if dates is None else dates.astype(np.int64))
    known = seen.first_lines(first, second)
    # A key met in an earlier batch: every row of it here repeats that batch's line.
    earlier_line = known[first_row]
    earlier = ~cells.blank & (earlier_line >= 0)
    first_line = np.where(earlier, earlier_line, lines[first_row])
    new = ~cells.blank & (first_row == np.arange(len(first_row))) & (known < 0)
    seen.add(first[new], second[new], lines[new])
    return first_line, earlier


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
    read: dict[str, Cells], values: dict[str, Any], ratio: float
) -> list[Finding]:
    """Outstanding above ``ratio`` x the loan amount: interest rarely grows a loan so far."""
    outstanding = values[schema.OUTSTANDING_LOAN_AMOUNT]
    loan = values[schema.LOAN_AMOUNT]
    over = np.isfinite(outstanding) & np.isfinite(loan) & (outstanding > ratio * loan)
    if not over.any():
        return []
    loan_text = read[schema.LOAN_AMOUNT].text

    def message(shown: pa.ChunkedArray, positions: IntArray) -> pa.ChunkedArray:
        loan_shown = loan_text.take(pa.array(positions))
        return join_text(
            f"{schema.OUTSTANDING_LOAN_AMOUNT} must be <= {ratio:g} x {schema.LOAN_AMOUNT}; got ",
            shown,
            f" with {schema.LOAN_AMOUNT} ",
            loan_shown,
            ".",
        )

    cells = read[schema.OUTSTANDING_LOAN_AMOUNT]
    reason = RejectReason.OUTSTANDING_EXCEEDS_LIMIT
    return make_finding(cells, reason, over, "", message=message)


def _monthly_emi(values: dict[str, Any]) -> FloatArray:
    """The EMI as given, derived from amount, rate and tenure where blank or absent."""
    derived = reducing_balance_emi(
        values[schema.LOAN_AMOUNT], values[schema.INTEREST_RATE], values[schema.LOAN_TENURE]
    )
    given: FloatArray | None = values.get(schema.MONTHLY_EMI)
    return derived if given is None else np.where(np.isnan(given), derived, given)


# --- the typed table ---------------------------------------------------------------------
def typed_column(spec: ColumnSpec, values: Any, keep: BoolArray, required: bool) -> Any:
    """One column of the typed table; with every row kept, nothing is filtered (the frame
    built from the columns copies them anyway)."""
    everything = bool(keep.all())
    if spec.kind is ColumnKind.TEXT or spec.name in CONTACT_COLUMNS:
        kept = values if everything else values.filter(pa.array(keep))
        return ArrowStringArray(kept, dtype=STR_DTYPE)  # type: ignore[call-arg]  # stubs lag
    kept = values if everything else values[keep]
    if spec.kind is ColumnKind.CATEGORY:
        # codes are -1 (unknown) or a category's: the check for others is skipped
        return pd.Categorical.from_codes(kept, dtype=category_labels(spec).dtype, validate=False)
    if spec.kind is ColumnKind.INTEGER:
        if required:
            return kept.astype(np.int64)
        blank = np.isnan(kept)  # as pd.array(kept, dtype="Int64") holds them: 1, masked
        return IntegerArray(np.where(blank, 1, kept).astype(np.int64), blank)
    return kept


def _typed_table(
    raw: pd.DataFrame, values: dict[str, Any], keep: BoolArray, require_label: bool
) -> pd.DataFrame:
    """Accepted rows: canonical columns in schema order, then the extras as they came."""
    data: dict[Any, Any] = {
        spec.name: typed_column(spec, values[spec.name], keep, _is_required(spec, require_label))
        for spec in schema.ALL_SPECS
        if spec.name in values
    }
    everything = bool(keep.all())
    for name in raw.columns.tolist():  # a list: iterating Arrow-backed labels is slow
        if name not in schema.SPECS_BY_NAME:
            data[name] = raw[name].array if everything else raw[name].array[keep]
    return pd.DataFrame(data)
