"""Reading a raw frame's columns as text and parsing them by kind, many columns at a time.

The parsers of :mod:`loan_recovery.data.validation` (and, one column at a time, of
:mod:`loan_recovery.data.payment_validation`). Every Arrow call has a fixed cost of ~10 us
however short its input, which dominates validating one loan; so the columns of one kind
go through each call together (their chunks side by side, no copy), and per-spec lookups
are built once. The work per cell is the same as one column at a time.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

from loan_recovery.data import schema
from loan_recovery.data.schema import ColumnKind, ColumnSpec
from loan_recovery.data.validation_report import Finding, RejectReason, chunks

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: dtype of DATE columns; microseconds, so any calendar date fits.
DATE_DTYPE = "datetime64[us]"
TEXT_TYPE = pa.large_string()
_BLANK = pa.scalar("", TEXT_TYPE)
_NULL_TEXT = pa.scalar(None, TEXT_TYPE)
#: pandas' ``str`` dtype: what ``to_pandas()`` gives a large_string column, without its cost.
STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
_NUMBER_PATTERN = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)$"
_KEY_NOISE = re.compile(r"[\s_\-]+")
_MAX_EXACT_INTEGER = 2.0**53  # beyond this a float64 no longer holds every integer
_BLANK_CODE = -2
_UNKNOWN_CODE = -1


@dataclass(frozen=True, slots=True)
class Cells:
    """One raw column as text: original for the report, trimmed for parsing."""

    name: str
    rank: int  # position among the raw columns: orders a row's problems
    original: pa.ChunkedArray
    text: pa.ChunkedArray
    blank: BoolArray


Parsed = tuple[Any, list[Finding]]


# --- reading cells ------------------------------------------------------------------------
def read_cells(raw: pd.DataFrame, names: Sequence[str]) -> dict[str, Cells]:
    """The named columns as text, trimmed and checked for blanks by one Arrow call each.

    Every Arrow call costs ~10 us however short the column: doing all columns together
    keeps that fixed cost once per table, while the work per cell stays the same.
    """
    originals = [_as_text(raw[name]) for name in names]
    text = pc.utf8_trim_whitespace(chunks(originals))
    blank: BoolArray = pc.equal(text, _BLANK).to_numpy()
    cells: dict[str, Cells] = {}
    start = 0
    for name, original in zip(names, originals, strict=True):
        rank = raw.columns.get_loc(name)  # column names are unique (checked first): an int
        assert isinstance(rank, int)
        end = start + len(original)
        cells[name] = Cells(name, rank, original, text.slice(start, end - start), blank[start:end])
        start = end
    return cells


def column_cells(raw: pd.DataFrame, name: str) -> Cells:
    return read_cells(raw, [name])[name]


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
        if array.type != TEXT_TYPE:
            array = pc.cast(array, TEXT_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        printed = series.map(str, na_action="ignore").where(series.notna(), None)
        array = pa.chunked_array([pa.array(printed, type=TEXT_TYPE, from_pandas=True)])
    return array if array.null_count == 0 else pc.fill_null(array, "")


def _without_blanks(columns: Sequence[Cells]) -> list[pa.ChunkedArray]:
    """Each column's trimmed text with blank cells null, in one Arrow call for them all."""
    if not columns:
        return []
    blank = pa.array(np.concatenate([cells.blank for cells in columns]))
    nulled = pc.if_else(blank, _NULL_TEXT, chunks([cells.text for cells in columns]))
    out = []
    start = 0
    for cells in columns:
        out.append(nulled.slice(start, len(cells.blank)))
        start += len(cells.blank)
    return out


def distinct_many(columns: Sequence[Cells]) -> tuple[pa.Array, list[npt.NDArray[np.int32]]]:
    """Distinct trimmed values of all the columns and each row's index into them.

    Work is then done once per distinct value, and two Arrow calls serve every column.
    """
    text = chunks([cells.text for cells in columns])
    distinct = pc.unique(text)
    where: npt.NDArray[np.int32] = pc.index_in(text, value_set=distinct).to_numpy()
    bounds = np.cumsum([0, *(len(cells.blank) for cells in columns)])
    return distinct, [where[start:end] for start, end in itertools.pairwise(bounds)]


def distinct_labels(cells: Cells) -> tuple[list[str], npt.NDArray[np.int32]]:
    """Distinct trimmed values and each row's index into them: work once per label."""
    distinct, (where,) = distinct_many([cells])
    return distinct.to_pylist(), where


# --- findings -----------------------------------------------------------------------------
def join_text(*parts: str | pa.ChunkedArray) -> pa.ChunkedArray:
    """Element-wise concatenation of text pieces (plain strings repeat on every row)."""
    pieces = [pa.scalar(part, TEXT_TYPE) if isinstance(part, str) else part for part in parts]
    return pc.binary_join_element_wise(*pieces, pa.scalar("", TEXT_TYPE))


def make_finding(
    cells: Cells,
    reason: RejectReason,
    mask: BoolArray,
    prefix: str,
    suffix: str = "",
    message: Callable[[pa.ChunkedArray, IntArray], pa.ChunkedArray] | None = None,
) -> list[Finding]:
    """The rows in ``mask`` as one finding; message = prefix + trimmed value + suffix."""
    positions = np.flatnonzero(mask).astype(np.int64)
    if positions.size == 0:
        return []
    indices = pa.array(positions)
    shown = cells.text.take(indices)
    messages = message(shown, positions) if message else join_text(prefix, shown, suffix)
    original = cells.original.take(indices)
    return [Finding(cells.name, cells.rank, reason, positions, original, messages)]


def _blank_findings(cells: Cells, required: bool) -> list[Finding]:
    if not required:
        return []
    prefix = f"{cells.name} is required; got a blank value."
    return make_finding(cells, RejectReason.BLANK_REQUIRED, cells.blank, prefix)


# --- parsers, by kind; each parses several columns with one set of Arrow calls --------------
#: A column to parse: its cells, its spec, and whether a blank cell rejects the row.
_Column = tuple[Cells, ColumnSpec, bool]


def _to_floats(cells: Cells, text: pa.ChunkedArray) -> tuple[FloatArray, BoolArray]:
    """Numbers (NaN where blank or not a number) and the mask of non-numeric text.

    Casting the whole column (blanks already null) is the fast path; only a column holding
    some non-number pays for the regular expression that tells numbers from the rest.
    """
    try:
        parsed = pc.cast(text, pa.float64())
        wrong = np.zeros(len(cells.blank), dtype=bool)
    except pa.ArrowInvalid:
        looks = pc.match_substring_regex(text, _NUMBER_PATTERN, ignore_case=True)
        parsed = pc.cast(pc.if_else(looks, text, _NULL_TEXT), pa.float64())
        wrong = pc.invert(pc.fill_null(looks, True)).to_numpy()
    numbers: FloatArray = parsed.to_numpy()  # a null float becomes NaN
    return numbers, wrong


def _all_floats(
    columns: Sequence[Cells], texts: list[pa.ChunkedArray]
) -> tuple[FloatArray, BoolArray]:
    """:func:`_to_floats` of the columns, end to end: one cast when every cell is a number."""
    try:
        numbers: FloatArray = pc.cast(chunks(texts), pa.float64()).to_numpy()
        return numbers, np.zeros(len(numbers), dtype=bool)
    except pa.ArrowInvalid:  # some column holds a non-number: each column on its own
        parts = [_to_floats(cells, text) for cells, text in zip(columns, texts, strict=True)]
        return np.concatenate([part[0] for part in parts]), np.concatenate(
            [part[1] for part in parts]
        )


def _bounds(specs: Sequence[ColumnSpec], rows: int) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Each cell's range: low and high (infinite when open) and whether low is excluded."""
    low = [-np.inf if spec.minimum is None else spec.minimum for spec in specs]
    high = [np.inf if spec.maximum is None else spec.maximum for spec in specs]
    excluded = [spec.minimum is not None and spec.exclusive_minimum for spec in specs]
    return np.repeat(low, rows), np.repeat(high, rows), np.repeat(excluded, rows)


def _number_findings(
    cells: Cells, spec: ColumnSpec, required: bool, masks: dict[str, Any]
) -> list[Finding]:
    """The findings of one number column, in report order; ``masks`` are its rows' slices."""
    whole = spec.kind is ColumnKind.INTEGER
    findings = _blank_findings(cells, required)
    if masks["wrong"] is not None:
        expected = "a whole number" if whole else "a number"
        prefix = f"{cells.name} must be {expected}; got '"
        findings += make_finding(cells, RejectReason.WRONG_TYPE, masks["wrong"], prefix, "'.")
    if masks["not_finite"] is not None:
        prefix = f"{cells.name} must be a finite number; got '"
        findings += make_finding(cells, RejectReason.NOT_FINITE, masks["not_finite"], prefix, "'.")
    if masks["outside"] is not None:
        prefix = f"{spec.name} must be {spec.domain_text()}; got "
        findings += make_finding(cells, RejectReason.OUT_OF_RANGE, masks["outside"], prefix, ".")
    if whole and masks["huge"] is not None:
        prefix = f"{spec.name} must be a whole number of at most 15 digits; got "
        findings += make_finding(cells, RejectReason.OUT_OF_RANGE, masks["huge"], prefix, ".")
    return findings


def _parse_numbers(columns: Sequence[_Column], texts: list[pa.ChunkedArray]) -> list[Parsed]:
    """Number and whole-number columns, checked as one array: NumPy's fixed cost per call,
    like Arrow's, is then paid once for all columns, and a check nothing failed is skipped.

    A value out of range, not finite, not a number, fractional (whole numbers) or beyond
    2**53 (whole numbers) becomes NaN and a finding in its column.
    """
    rows = len(columns[0][0].blank)
    specs = [spec for _, spec, _ in columns]
    numbers, not_number = _all_floats([cells for cells, _, _ in columns], texts)
    blank = np.concatenate([cells.blank for cells, _, _ in columns])
    integer = np.repeat([spec.kind is ColumnKind.INTEGER for spec in specs], rows)
    low, high, excluded = _bounds(specs, rows)
    finite = np.isfinite(numbers)
    fractional = integer & finite & (np.floor(numbers) != numbers)
    wrong = not_number | fractional
    whole = finite & ~fractional
    huge = integer & whole & (np.abs(numbers) > _MAX_EXACT_INTEGER)
    beyond = (numbers < low) | (numbers > high) | (excluded & (numbers == low))
    outside = whole & ~huge & beyond
    not_finite = ~blank & ~not_number & ~finite
    drop = wrong | huge | outside | (~integer & not_finite)
    values = np.where(drop, np.nan, numbers)
    checks = {"wrong": wrong, "not_finite": not_finite, "outside": outside, "huge": huge}
    failed = {name: mask for name, mask in checks.items() if mask.any()}
    parsed: list[Parsed] = []
    for index, (cells, spec, required) in enumerate(columns):
        part = slice(index * rows, (index + 1) * rows)
        masks = {name: failed[name][part] if name in failed else None for name in checks}
        parsed.append((values[part], _number_findings(cells, spec, required, masks)))
    return parsed


def _parse_values(columns: Sequence[_Column]) -> list[Parsed]:
    """Text, number and whole-number columns: blanks become null for them all at once."""
    texts = _without_blanks([cells for cells, _, _ in columns])
    numeric = [i for i, (_, spec, _) in enumerate(columns) if spec.kind is not ColumnKind.TEXT]
    parsed: dict[int, Parsed] = {}
    if numeric:
        found = _parse_numbers([columns[i] for i in numeric], [texts[i] for i in numeric])
        parsed = dict(zip(numeric, found, strict=True))
    return [
        parsed[i] if i in parsed else (texts[i], _blank_findings(cells, required))
        for i, (cells, _, required) in enumerate(columns)
    ]


def _category_key(label: str) -> str:
    """Spelling-insensitive key: ``" On-Time "``, ``"on_time"`` and ``"ONTIME"`` agree."""
    return _KEY_NOISE.sub("", label.lower())


@dataclass(frozen=True, slots=True)
class _Labels:
    """How one category column reads labels: exact names, spelling keys, the fallback."""

    exact: dict[str, int]
    keyed: dict[str, int]
    fallback: int
    dtype: pd.CategoricalDtype


def _labels_of(spec: ColumnSpec) -> _Labels:
    """A category spec's lookups. A key two categories share is ambiguous and dropped, so
    only exact spelling matches it."""
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
    return _Labels(exact, keyed, fallback, pd.CategoricalDtype(pd.Index(spec.categories)))


#: The schema's category lookups, built once (each call would otherwise rebuild them).
_LABELS = {spec.name: _labels_of(spec) for spec in schema.ALL_SPECS if spec.categories}


def category_labels(spec: ColumnSpec) -> _Labels:
    known = _LABELS.get(spec.name)
    return (
        known
        if known is not None and schema.SPECS_BY_NAME.get(spec.name) is spec
        else _labels_of(spec)
    )


def _label_codes(spec: ColumnSpec, labels: Sequence[str]) -> npt.NDArray[np.int16]:
    """Category code of each distinct label: exact, alias or key match, else Other/unknown."""
    lookup = category_labels(spec)
    exact, keyed, fallback = lookup.exact, lookup.keyed, lookup.fallback
    codes = [
        _BLANK_CODE if not label else exact.get(label, keyed.get(_category_key(label), fallback))
        for label in labels
    ]
    return np.array(codes, dtype=np.int16)


def _codes(spec: ColumnSpec, labels: list[str], where: npt.NDArray[np.int32]) -> Any:
    """Each row's category code; only the labels this column holds are looked up."""
    held = np.flatnonzero(np.bincount(where, minlength=len(labels)))
    table = np.zeros(len(labels), dtype=np.int16)
    table[held] = _label_codes(spec, [labels[i] for i in held])
    return table[where]


def _parse_categories(columns: Sequence[_Column]) -> list[Parsed]:
    distinct, wheres = distinct_many([cells for cells, _, _ in columns])
    labels = distinct.to_pylist()
    parsed: list[Parsed] = []
    for (cells, spec, required), where in zip(columns, wheres, strict=True):
        codes = _codes(spec, labels, where)
        prefix = f"{spec.name} must be one of {spec.domain_text()}; got '"
        unknown = codes == _UNKNOWN_CODE
        findings = [
            *_blank_findings(cells, required),
            *make_finding(cells, RejectReason.UNKNOWN_CATEGORY, unknown, prefix, "'."),
        ]
        parsed.append((np.maximum(codes, _UNKNOWN_CODE), findings))
    return parsed


#: Dates as written by most lenders (YYYY-MM-DD, years 1900-2199): Arrow reads these, and
#: a date that prints back as the same text is the one pandas would read. Anything else
#: (times, offsets, other ISO 8601 forms, impossible days) is read by pandas.
_PLAIN_DATE = r"^(?:19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$"
_DATE_FORMAT = "%Y-%m-%d"


def _dates_of(distinct: pa.Array) -> npt.NDArray[np.datetime64]:
    """Distinct date texts read as ISO 8601 (NaT where blank or not a date).

    pandas alone costs ~0.15 ms even for one date; the plain ones go through Arrow.
    """
    dates = np.full(len(distinct), np.datetime64("NaT"), dtype=DATE_DTYPE)
    plain = pc.match_substring_regex(distinct, _PLAIN_DATE).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(plain)
    if rows.size:
        asked = distinct if rows.size == len(distinct) else distinct.take(pa.array(rows))
        read = pc.strptime(asked, format=_DATE_FORMAT, unit="us", error_is_null=True)
        printed = pc.strftime(read, format=_DATE_FORMAT).cast(TEXT_TYPE)
        exact = pc.fill_null(pc.equal(printed, asked), False).to_numpy(zero_copy_only=False)
        dates[rows[exact]] = read.to_numpy(zero_copy_only=False)[exact]
        plain[rows[~exact]] = False
    rest = np.flatnonzero(~plain & (pc.utf8_length(distinct).to_numpy(zero_copy_only=False) > 0))
    if rest.size:  # an array in, an index out: the parse a Series gets, at half the cost
        labels = np.array(distinct.take(pa.array(rest)).to_pylist(), dtype=object)
        parsed = pd.to_datetime(labels, format="ISO8601", errors="coerce", utc=True)
        dates[rest] = parsed.tz_localize(None).to_numpy(dtype=DATE_DTYPE)
    return dates


def _parse_dates(columns: Sequence[_Column]) -> list[Parsed]:
    distinct, wheres = distinct_many([cells for cells, _, _ in columns])
    dates_of_labels = _dates_of(distinct)
    parsed: list[Parsed] = []
    for (cells, spec, required), where in zip(columns, wheres, strict=True):
        dates = dates_of_labels[where]
        invalid = ~cells.blank & np.isnat(dates)
        prefix = f"{spec.name} must be a date as YYYY-MM-DD; got '"
        findings = [
            *_blank_findings(cells, required),
            *make_finding(cells, RejectReason.INVALID_DATE, invalid, prefix, "'."),
        ]
        parsed.append((dates, findings))
    return parsed


GroupParser = Callable[[Sequence[_Column]], list[Parsed]]
#: Which parser reads each kind; columns of kinds sharing one are parsed together.
GROUP_PARSERS: dict[ColumnKind, GroupParser] = {
    ColumnKind.TEXT: _parse_values,
    ColumnKind.INTEGER: _parse_values,
    ColumnKind.NUMBER: _parse_values,
    ColumnKind.CATEGORY: _parse_categories,
    ColumnKind.DATE: _parse_dates,
}


def _one_column(parse: GroupParser) -> Callable[[Cells, ColumnSpec, bool], Parsed]:
    """A group parser applied to one column (payment validation parses one at a time)."""
    return lambda cells, spec, required: parse([(cells, spec, required)])[0]


PARSERS: dict[ColumnKind, Callable[[Cells, ColumnSpec, bool], Parsed]] = {
    kind: _one_column(parse) for kind, parse in GROUP_PARSERS.items()
}
