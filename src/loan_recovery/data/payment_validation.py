"""Checking a raw instalment-history frame into a typed table, a problem report and a quarantine.

The same machinery as the loan table (:mod:`loan_recovery.data.validation`): whole-column
parsing, one issue row per problem (line, column, value, reason, message), every rejected
row kept with its original values, and ``rows_read == accepted + rejected``. The checks:

* each column of ``schema.PAYMENT_SPECS``: ``Loan_ID``, ``Due_Date``, ``Amount_Due`` and
  ``Amount_Paid`` required (``blank_required``), amounts numbers >= 0 (``wrong_type``,
  ``not_finite``, ``out_of_range``), dates as YYYY-MM-DD (``invalid_date``);
  ``Paid_Date`` may be blank (not paid);
* an amount paid without a paid date (``blank_required`` on ``Paid_Date``);
* a payment dated more than ``early_warning.max_days_paid_before_due`` days before its
  due date, a data error rather than a prepayment (``out_of_range`` on ``Paid_Date``);
* a (Loan_ID, Due_Date) pair already seen on an earlier line (``duplicate_loan_id``, as
  for a loan repeated on one snapshot date); the first is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import load_mapping, read_raw_table
from loan_recovery.data.validation import ValidationResult, source_lines, typed_column
from loan_recovery.data.validation_columns import (
    PARSERS,
    column_cells,
    distinct_labels,
    join_text,
    make_finding,
)
from loan_recovery.data.validation_report import Finding, RejectReason, issue_report, quarantine
from loan_recovery.exceptions import DataFileError, SchemaError

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Columns a blank cell rejects (Paid_Date is blank for an unpaid instalment).
_REQUIRED = frozenset((schema.LOAN_ID, schema.DUE_DATE, schema.AMOUNT_DUE, schema.AMOUNT_PAID))


def validate_payments_file(
    path: Path | str,
    *,
    mapping_path: Path | str | None = None,
    settings: Settings | None = None,
) -> ValidationResult:
    """Read ``path`` (renaming columns by the TOML mapping file, if any) and validate it."""
    mapping = load_mapping(mapping_path) if mapping_path is not None else None
    return validate_payments(read_raw_table(path, mapping), settings=settings)


def validate_payments(raw: pd.DataFrame, *, settings: Settings | None = None) -> ValidationResult:
    """Check every row of a raw instalment history (see the module docstring).

    ``raw`` is what :func:`~loan_recovery.data.io.read_raw_table` returns (text or typed
    values; the index holds source lines when named ``schema.SOURCE_LINE``). Whole-table
    problems raise: :class:`SchemaError` naming every missing column and
    :class:`DataFileError` for a table without rows. Row problems are reported and
    quarantined. ``table`` holds Loan_ID (str), Due_Date and Paid_Date (datetime64, NaT
    when blank), Amount_Due and Amount_Paid (float64), then extra columns as they came.
    """
    limits = (settings if settings is not None else load_settings()).early_warning
    _check_layout(raw)
    lines = source_lines(raw)
    values: dict[str, Any] = {}
    findings: list[Finding] = []
    for spec in schema.PAYMENT_SPECS:
        cells = column_cells(raw, spec.name)
        values[spec.name], found = PARSERS[spec.kind](cells, spec, spec.name in _REQUIRED)
        findings += found
    findings += _paid_without_date(raw, values)
    findings += _paid_too_early(raw, values, limits.max_days_paid_before_due)
    findings += _duplicate_instalments(raw, values[schema.DUE_DATE], lines)
    issues, positions, messages = issue_report(findings, lines)
    rejected = np.zeros(len(raw), dtype=bool)
    rejected[positions] = True
    return ValidationResult(
        table=_typed_table(raw, values, ~rejected),
        issues=issues,
        quarantine=quarantine(raw, lines, positions, messages),
    )


def _check_layout(raw: pd.DataFrame) -> None:
    names = [str(name) for name in raw.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SchemaError(f"the payment table repeats column name(s): {', '.join(repeated)}.")
    missing = tuple(name for name in schema.REQUIRED_PAYMENT_COLUMNS if name not in raw.columns)
    if missing:
        raise SchemaError(
            f"missing payment column(s): {', '.join(missing)}. A payment history needs "
            f"{', '.join(schema.REQUIRED_PAYMENT_COLUMNS)}; rename the lender's columns with "
            "a mapping file.",
            missing_columns=missing,
        )
    if raw.empty:
        raise DataFileError("the payment table has no data rows.")


def _paid_without_date(raw: pd.DataFrame, values: dict[str, Any]) -> list[Finding]:
    """Money paid, but no date it was paid on: the instalment's lateness is unknown."""
    paid = values[schema.AMOUNT_PAID]
    undated = np.isfinite(paid) & (paid > 0) & np.isnat(values[schema.PAID_DATE])
    cells = column_cells(raw, schema.PAID_DATE)
    amount = column_cells(raw, schema.AMOUNT_PAID).text

    def message(shown: pa.ChunkedArray, positions: IntArray) -> pa.ChunkedArray:
        return join_text(
            f"{schema.PAID_DATE} is required when {schema.AMOUNT_PAID} > 0; got a blank value "
            f"with {schema.AMOUNT_PAID} ",
            amount.take(pa.array(positions)),
            ".",
        )

    return make_finding(cells, RejectReason.BLANK_REQUIRED, undated, "", message=message)


def _paid_too_early(raw: pd.DataFrame, values: dict[str, Any], max_days: int) -> list[Finding]:
    """A payment dated long before its instalment fell due: a date typed wrong, not a prepayment."""
    due = values[schema.DUE_DATE]
    paid_on = values[schema.PAID_DATE]
    both = ~np.isnat(due) & ~np.isnat(paid_on)
    early = np.zeros(len(due), dtype=bool)
    early[both] = (due[both] - paid_on[both]) > np.timedelta64(max_days, "D")
    cells = column_cells(raw, schema.PAID_DATE)
    due_text = column_cells(raw, schema.DUE_DATE).text

    def message(shown: pa.ChunkedArray, positions: IntArray) -> pa.ChunkedArray:
        return join_text(
            f"{schema.PAID_DATE} must be at most {max_days} days before {schema.DUE_DATE}; got ",
            shown,
            f" with {schema.DUE_DATE} ",
            due_text.take(pa.array(positions)),
            ".",
        )

    return make_finding(cells, RejectReason.OUT_OF_RANGE, early, "", message=message)


def _duplicate_instalments(
    raw: pd.DataFrame, due: npt.NDArray[np.datetime64], lines: IntArray
) -> list[Finding]:
    """Later rows repeating a (Loan_ID, Due_Date) pair; the first in the file is kept.

    Rows with a blank loan or an unreadable date are rejected for that already and never
    count as repeats.
    """
    cells = column_cells(raw, schema.LOAN_ID)
    _, where = distinct_labels(cells)
    dated = ~np.isnat(due)
    _, day_codes = np.unique(due.astype(np.int64), return_inverse=True)
    key = where.astype(np.int64) * (int(day_codes.max(initial=0)) + 1) + day_codes.reshape(-1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    first_row = first[inverse.reshape(-1)]
    repeats = ~cells.blank & dated & (first_row != np.arange(len(key)))
    due_text = column_cells(raw, schema.DUE_DATE).text

    def message(shown: pa.ChunkedArray, positions: IntArray) -> pa.ChunkedArray:
        first_lines = pa.chunked_array(
            [pa.array(lines[first_row[positions]]).cast(pa.large_string())]
        )
        return join_text(
            f"{schema.LOAN_ID} '",
            shown,
            f"' with {schema.DUE_DATE} '",
            due_text.take(pa.array(positions)),
            "' repeats line ",
            pa.chunked_array([first_lines]),
            "; the first is kept.",
        )

    return make_finding(cells, RejectReason.DUPLICATE_LOAN_ID, repeats, "", message=message)


def _typed_table(raw: pd.DataFrame, values: dict[str, Any], keep: BoolArray) -> pd.DataFrame:
    """Accepted rows: payment columns in schema order, then the extras as they came."""
    data: dict[Any, Any] = {
        spec.name: typed_column(spec, values[spec.name], keep, spec.name in _REQUIRED)
        for spec in schema.PAYMENT_SPECS
    }
    payment_names = set(schema.PAYMENT_COLUMNS)
    for name in raw.columns:
        if name not in payment_names:
            data[name] = raw[name].array[keep]
    return pd.DataFrame(data)
