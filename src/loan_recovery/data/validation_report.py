"""What validation hands back besides the typed table: issues, warnings and the quarantine.

Checks (:mod:`loan_recovery.data.validation`, :mod:`loan_recovery.data.payment_validation`)
collect :class:`Finding` and :class:`ContactWarning` objects, one per kind of problem and
column; this module turns them into the three report tables, whole columns at a time.
Most requests reject nothing and warn about nothing: those get copies of prebuilt empty
tables, because building even an empty pandas frame costs a large share of validating
one loan.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]


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

TEXT = pa.large_string()


@dataclass(frozen=True, slots=True)
class Finding:
    """One kind of problem in one column: the rows, their raw values and messages."""

    column: str
    rank: int  # position among the raw columns: orders a row's problems
    reason: RejectReason
    positions: IntArray
    values: pa.ChunkedArray
    messages: pa.ChunkedArray


@dataclass(frozen=True, slots=True)
class ContactWarning:
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


def chunks(arrays: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    """The arrays one after another, without copying: one Arrow call can then do them all."""
    return pa.chunked_array([chunk for array in arrays for chunk in array.chunks], type=TEXT)


# --- issues -------------------------------------------------------------------------------
def _empty_issues() -> pd.DataFrame:
    empty = pd.DataFrame({name: pd.Series(dtype="str") for name in ISSUE_COLUMNS})
    empty[LINE] = empty[LINE].astype(np.int64)
    return empty


_EMPTY_ISSUES = _empty_issues()


def issue_report(
    findings: list[Finding], lines: IntArray
) -> tuple[pd.DataFrame, IntArray, pa.Array]:
    """The issue table sorted by row then column, with each issue's row position."""
    if not findings:  # the common case: a copy of a prebuilt empty table (~40x cheaper)
        return _EMPTY_ISSUES.copy(), np.empty(0, dtype=np.int64), pa.array([], type=TEXT)
    counts = [len(finding.positions) for finding in findings]
    positions = np.concatenate([finding.positions for finding in findings])
    ranks = np.repeat([finding.rank for finding in findings], counts)
    order = np.lexsort((ranks, positions))
    indices = pa.array(order)
    messages = chunks([finding.messages for finding in findings]).take(indices).combine_chunks()
    columns = np.repeat(np.array([finding.column for finding in findings], dtype=object), counts)
    reasons = np.repeat(np.array([finding.reason.value for finding in findings]), counts)
    issues = pd.DataFrame(
        {
            LINE: lines[positions[order]],
            COLUMN: pd.array(columns[order], dtype="str"),
            VALUE: chunks([finding.values for finding in findings]).take(indices).to_pandas(),
            REASON: pd.array(reasons[order].astype(object), dtype="str"),
            MESSAGE: messages.to_pandas(),
        }
    )
    return issues, positions[order], messages


# --- warnings -----------------------------------------------------------------------------
def _build_empty_warnings() -> pd.DataFrame:
    empty = _empty_issues()
    for name in (COLUMN, REASON, MESSAGE):
        empty[name] = pd.Categorical([])
    return empty


_EMPTY_WARNINGS = _build_empty_warnings()


def empty_warnings() -> pd.DataFrame:
    """An empty warnings table: a copy of a prebuilt one (building it costs ~1.5 ms)."""
    return _EMPTY_WARNINGS.copy()


def warning_report(warned: list[ContactWarning], lines: IntArray) -> pd.DataFrame:
    """The warnings table, sorted by row then column, like the issue table.

    ``column``, ``reason`` and ``message`` are categoricals (a few distinct values each),
    ``value`` holds the raw values as read.
    """
    if not warned:
        return empty_warnings()
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
            VALUE: chunks([w.values for w in warned]).take(pa.array(order)).to_pandas(),
            REASON: pd.Categorical.from_codes(which, categories=pd.Index(reasons)),
            MESSAGE: pd.Categorical.from_codes(codes[order], categories=pd.Index(texts)),
        }
    )


# --- quarantine ---------------------------------------------------------------------------
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
    joined = pc.binary_join_element_wise(*parts, pa.scalar("; ", TEXT), null_handling="skip")
    return positions[starts], joined


def _free_name(base: str, taken: pd.Index) -> str:
    """``base``, or ``_base`` (and so on) when the raw table already has such a column."""
    name = base
    while name in taken:
        name = f"_{name}"
    return name


def _with_reasons(
    frame: pd.DataFrame, taken: pd.Index, lines: IntArray, reasons: npt.NDArray[Any]
) -> pd.DataFrame:
    frame.insert(0, _free_name(LINE, taken), lines)
    frame.insert(1, _free_name(REASON, taken), reasons)
    return frame


def _dtype_key(dtype: Any) -> Hashable:
    """A dtype as a cache key; a categorical's categories in order (its ``==`` ignores it)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return (dtype, tuple(dtype.categories), dtype.ordered)
    key: Hashable = dtype
    return key


#: Empty quarantines by raw layout (column labels and dtypes), at most a few dozen.
_EMPTY_QUARANTINES: dict[tuple[Hashable, ...], pd.DataFrame] = {}
_MAX_LAYOUTS = 32


def _nothing_quarantined(raw: pd.DataFrame) -> pd.DataFrame:
    empty = np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    return _with_reasons(raw.iloc[:0].reset_index(drop=True), raw.columns, *empty)


def quarantine(
    raw: pd.DataFrame, lines: IntArray, positions: IntArray, messages: pa.Array
) -> pd.DataFrame:
    """Each rejected row's original values, its line and all its messages in ``reason``.

    With nothing rejected the result depends only on the raw table's columns and dtypes,
    so it is built once per layout and copied (building one costs ~0.3 ms, a copy ~0.07).
    """
    if len(positions):
        rows, joined = _joined_per_row(positions, messages)
        frame = raw.iloc[rows].reset_index(drop=True)
        return _with_reasons(frame, raw.columns, lines[rows], joined.to_pandas().to_numpy())
    if raw.attrs or not raw.flags.allows_duplicate_labels:  # carried over, not in the key
        return _nothing_quarantined(raw)
    columns = raw.columns
    layout = (
        type(columns).__name__,
        _dtype_key(columns.dtype),
        tuple(columns.names),
        tuple(columns.tolist()),
        *(_dtype_key(dtype) for dtype in raw.dtypes.tolist()),
    )
    empty = _EMPTY_QUARANTINES.get(layout)
    if empty is None:
        if len(_EMPTY_QUARANTINES) >= _MAX_LAYOUTS:
            _EMPTY_QUARANTINES.clear()
        empty = _EMPTY_QUARANTINES[layout] = _nothing_quarantined(raw)
    return empty.copy()
