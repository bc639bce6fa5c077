"""Reading and writing loan tables (CSV or Parquet, chosen by suffix) and column mappings;
Excel workbooks for people (plans and worklists, amounts in the display's number format).

CSV cells are read as text, exactly as they appear in the file, so validation can report
a bad value the way the lender wrote it; Parquet keeps its typed values. Either way each
row carries its 1-based source line (header = line 1) in the frame's index, named
:data:`schema.SOURCE_LINE`, which validation turns into line numbers in its report.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import tomllib
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loan_recovery.data import schema
from loan_recovery.exceptions import DataFileError, MappingError, UnsupportedFormatError

TableFormat = Literal["csv", "parquet"]

#: Suffixes (case-insensitive) and the format they select; longest first so that
#: ``.csv.gz`` wins over a bare ``.gz``.
SUFFIX_FORMATS: tuple[tuple[str, TableFormat], ...] = (
    (".csv.gz", "csv"),
    (".csv", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(suffix for suffix, _ in SUFFIX_FORMATS)

_MAPPING_TABLE = "columns"


# --- formats ------------------------------------------------------------------------------
def _matching_suffix(path: Path) -> tuple[str, TableFormat] | None:
    name = path.name.lower()
    return next((entry for entry in SUFFIX_FORMATS if name.endswith(entry[0])), None)


def table_format(path: Path | str) -> TableFormat:
    """The format ``path`` selects by its suffix; anything else is refused up front."""
    path = Path(path)
    match = _matching_suffix(path)
    if match is None:
        shown = "".join(path.suffixes) or "(none)"
        raise UnsupportedFormatError(
            f"unsupported file type {shown}; use one of {', '.join(SUPPORTED_SUFFIXES)}: {path}"
        )
    return match[1]


def table_stem(path: Path | str) -> str:
    """The file name without its table suffix (``loans.csv.gz`` -> ``loans``)."""
    path = Path(path)
    match = _matching_suffix(path)
    return path.name[: -len(match[0])] if match else path.stem


# --- reading ------------------------------------------------------------------------------
def read_raw_table(path: Path | str, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel (``.xlsx``) loan file into a raw frame, renaming
    columns by ``mapping``.

    CSV values stay text (blanks are ``""``, never NaN) so nothing is lost before
    validation; an Excel sheet's cells are turned into the text a CSV export would hold
    (:func:`_excel_text`). The index holds each row's source line (:data:`schema.SOURCE_LINE`).
    Blank lines are skipped but still counted, so line numbers match the file. Columns
    the mapping does not name pass through unchanged.

    Raises :class:`UnsupportedFormatError` for other suffixes, :class:`DataFileError`
    when the file is missing, unreadable or has no data rows, and :class:`MappingError`
    when the mapping would give two columns one name.
    """
    path = Path(path)
    excel = is_excel(path)
    kind = None if excel else table_format(path)
    if not path.is_file():
        what = "is not a file" if path.exists() else "not found"
        raise DataFileError(f"data file {what}: {path}")
    if excel:
        frame = _read_excel(path)
    else:
        frame = _read_csv(path) if kind == "csv" else _read_parquet(path)
    if frame.empty:
        raise DataFileError(f"data file has a header but no data rows: {path}")
    return apply_mapping(frame, mapping) if mapping else frame


#: Excel workbooks are read (the first sheet) as well as written.
EXCEL_SUFFIX = ".xlsx"


def is_excel(path: Path | str) -> bool:
    """Whether ``path`` names an Excel workbook."""
    return Path(path).name.lower().endswith(EXCEL_SUFFIX)


def _read_excel(path: Path) -> pd.DataFrame:
    """The first sheet as text cells, each row's line its sheet row (the header is row 1).

    Blank rows are skipped but still counted, as a CSV's blank lines are.
    """
    from openpyxl import load_workbook  # ~0.3 s to import; only Excel input needs it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:  # damaged
        raise DataFileError(f"cannot read Excel file {path}: {error}") from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [_excel_text(cell).strip() for cell in next(rows, ())]
        while header and not header[-1]:
            header.pop()  # trailing empty header cells: formatting, not columns
        if not header:
            raise DataFileError(f"the first sheet of {path} has no header row")
        if "" in header:
            raise DataFileError(
                f"the header of {path} has an unnamed column (column {header.index('') + 1})"
            )
        width = len(header)
        lines: list[int] = []
        cells: list[list[str]] = []
        for line, row in enumerate(rows, start=schema.FIRST_DATA_LINE):
            text = [_excel_text(cell) for cell in row[:width]]
            if any(text):
                lines.append(line)
                cells.append(text + [""] * (width - len(text)))
    finally:
        book.close()
    frame = pd.DataFrame(cells, columns=header, dtype=object)
    frame.index = pd.Index(lines, dtype=np.int64, name=schema.SOURCE_LINE)
    return frame


def _excel_text(cell: object) -> str:
    """A cell as a CSV export would write it: whole numbers without ".0", dates as
    YYYY-MM-DD (with the time only when it is not midnight), blanks as ""."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime.datetime):
        return cell.date().isoformat() if cell.time() == datetime.time() else cell.isoformat(" ")
    if isinstance(cell, datetime.date | datetime.time):
        return cell.isoformat()
    return str(cell)


def _read_csv(path: Path) -> pd.DataFrame:
    header = csv_header(path)
    try:
        table = pacsv.read_csv(
            path, parse_options=CSV_PARSE_OPTIONS, convert_options=csv_convert_options(header)
        )
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"cannot read CSV file {path}: {error}") from None
    check_csv_columns(table.schema, header, path)
    return csv_frame(table, header, first_row=0, owned=True)


#: Blank lines are kept as rows (then dropped by :func:`csv_frame`) so lines stay counted.
CSV_PARSE_OPTIONS = pacsv.ParseOptions(ignore_empty_lines=False)


def csv_convert_options(
    header: list[str], columns: list[str] | None = None
) -> pacsv.ConvertOptions:
    """Every column (or just ``columns``) as text exactly as written: blanks are "", never
    null."""
    return pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.large_string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        include_columns=columns,
    )


def check_csv_columns(read: pa.Schema, header: list[str], path: Path) -> None:
    """Arrow's parser and the csv module must agree on the header, or the types are off."""
    if read.names != header:
        raise DataFileError(f"cannot read the CSV header consistently: {path}")


def csv_frame(
    table: pa.Table, header: list[str], *, first_row: int, owned: bool = False
) -> pd.DataFrame:
    """A raw text frame of CSV rows, the first being data row ``first_row`` (0-based).

    Blank lines are dropped but keep their numbers, so every row's line matches the file.
    """
    first = schema.FIRST_DATA_LINE + first_row
    lines = np.arange(first, first + table.num_rows)
    blank_rows = _blank_rows(table)
    if blank_rows is not None:
        table = table.filter(pa.array(~blank_rows))
        lines = lines[~blank_rows]
    frame: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=owned)
    frame.columns = pd.Index([name.strip() for name in header])
    frame.index = _line_index(lines)
    return frame


def csv_header(path: Path) -> list[str]:
    """The header's column names, read with the csv module so quoting is honoured."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise DataFileError(f"CSV file is not UTF-8 text: {path}") from None
    except (OSError, csv.Error) as error:
        raise DataFileError(f"cannot read CSV file {path}: {error}") from None
    if not header or all(not name.strip() for name in header):
        raise DataFileError(f"CSV file is empty (no header line): {path}")
    repeated = _repeated([name.strip() for name in header])
    if repeated:
        raise DataFileError(f"CSV header repeats column name(s) {', '.join(repeated)}: {path}")
    return header


def _blank_rows(table: pa.Table) -> np.ndarray[Any, np.dtype[np.bool_]] | None:
    """Rows whose every cell is empty (blank lines); None when there are none (the norm)."""
    blank = pc.equal(table.column(0), "")
    if not pc.any(blank).as_py():
        return None
    for column in table.columns[1:]:
        blank = pc.and_(blank, pc.equal(column, ""))
    mask: np.ndarray[Any, np.dtype[np.bool_]] = blank.to_numpy()
    return mask if mask.any() else None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"cannot read Parquet file {path}: {error}") from None
    return parquet_frame(table, first_row=0, owned=True)


def parquet_frame(table: pa.Table, *, first_row: int, owned: bool = False) -> pd.DataFrame:
    """A raw frame of Parquet rows, the first being the file's row ``first_row`` (0-based).

    Typed values are kept; a stored pandas index is data and becomes columns. Each row's
    "line" is its row number + :data:`schema.FIRST_DATA_LINE`, as if the file had a header.
    ``owned``: nothing else holds ``table``'s buffers, so the conversion may free them as
    it goes (a scanner's record batches are shared, and freeing them would crash).
    """
    frame: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=owned)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a stored index is data: keep it as columns
    first = schema.FIRST_DATA_LINE + first_row
    frame.index = _line_index(np.arange(first, first + len(frame)))
    return frame


def _line_index(lines: np.ndarray[Any, np.dtype[np.int64]]) -> pd.Index:
    if len(lines) and lines[-1] - lines[0] == len(lines) - 1:
        first = int(lines[0])
        return pd.RangeIndex(first, first + len(lines), name=schema.SOURCE_LINE)
    index: pd.Index = pd.Index(lines, dtype=np.int64, name=schema.SOURCE_LINE)
    return index


# --- mapping ------------------------------------------------------------------------------
def load_mapping(path: Path | str) -> dict[str, str]:
    """Read a TOML column mapping: lender column name -> canonical column name.

    The file holds one ``[columns]`` table; quote names with spaces::

        [columns]
        "Customer Age" = "Age"
        loan_amt = "Loan_Amount"
        dpd = "Days_Past_Due"

    Every target must be a canonical column (``schema.SPECS_BY_NAME``) and no two
    lender names may share a target; otherwise :class:`MappingError` names the culprits.
    """
    path = Path(path)
    document = _read_toml(path)
    unexpected = sorted(set(document) - {_MAPPING_TABLE})
    columns = document.get(_MAPPING_TABLE)
    if unexpected or not isinstance(columns, dict):
        raise MappingError(
            f"mapping file {path} must hold a single [{_MAPPING_TABLE}] table of "
            f'lender_name = "Canonical_Name" lines; got {sorted(document) or "nothing"}.'
        )
    not_text = sorted(key for key, value in columns.items() if not isinstance(value, str))
    if not_text:
        raise MappingError(f"mapping file {path}: targets must be text; see {not_text}.")
    mapping: dict[str, str] = dict(columns)
    unknown = sorted({target for target in mapping.values() if target not in schema.SPECS_BY_NAME})
    if unknown:
        raise MappingError(
            f"mapping file {path} maps onto unknown column(s) {', '.join(unknown)}; "
            f"targets must be canonical names such as {', '.join(schema.REQUIRED_COLUMNS[:3])}."
        )
    _check_one_to_one(mapping)
    return mapping


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"mapping file {path} is not valid TOML: {error}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MappingError(f"cannot read mapping file {path}: {error}.") from None


def apply_mapping(frame: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Rename lender columns to canonical ones; names the mapping lacks are untouched.

    Mapping entries whose lender column is absent are ignored (one mapping can serve
    several exports). Renaming onto a column the frame keeps, or two sources onto one
    target, raises :class:`MappingError` because one of the two would be lost.
    """
    _check_one_to_one(mapping)
    renames = {
        source: target
        for source, target in mapping.items()
        if source in frame.columns and source != target
    }
    clashes = sorted(
        target for target in renames.values() if target in frame.columns and target not in renames
    )
    if clashes:
        raise MappingError(
            f"the mapping renames onto column(s) the file already has: {', '.join(clashes)}."
        )
    return frame.rename(columns=renames)


def _check_one_to_one(mapping: Mapping[str, str]) -> None:
    sources_by_target: dict[str, list[str]] = {}
    for source, target in mapping.items():
        sources_by_target.setdefault(target, []).append(source)
    shared = {target: sources for target, sources in sources_by_target.items() if len(sources) > 1}
    if shared:
        detail = "; ".join(f"{', '.join(s)} -> {t}" for t, s in sorted(shared.items()))
        raise MappingError(f"the mapping sends several columns to one name: {detail}.")


def _repeated(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


# --- writing ------------------------------------------------------------------------------
def write_table(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix), creating parent folders.

    The index is not written (line numbers never leak into outputs). CSV output is
    deterministic: the same frame gives the same bytes; floats use the shortest text that
    reads back exactly, and date-only timestamps are written as ``YYYY-MM-DD``.
    """
    path = Path(path)
    kind = table_format(path)
    table = frame_to_arrow(frame, dates_as_days=kind == "csv")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "parquet":
            pq.write_table(table, path)
        elif path.name.lower().endswith(".gz"):
            with pa.CompressedOutputStream(str(path), "gzip") as stream:
                pacsv.write_csv(table, stream)
        else:
            pacsv.write_csv(table, path)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"cannot write {path}: {error}") from None
    return path


def frame_to_arrow(frame: pd.DataFrame, *, dates_as_days: bool) -> pa.Table:
    """An Arrow table of ``frame``; mixed-type object columns become text, not an error."""
    arrays = [_column_to_arrow(frame.iloc[:, i], dates_as_days) for i in range(frame.shape[1])]
    return pa.Table.from_arrays(arrays, names=[str(name) for name in frame.columns])


def _column_to_arrow(series: pd.Series, dates_as_days: bool) -> pa.Array | pa.ChunkedArray:
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        text = series.map(str, na_action="ignore")
        array = pa.array(text.where(series.notna(), None), type=pa.large_string())
    if dates_as_days and pa.types.is_timestamp(array.type) and array.type.tz is None:
        days = pc.cast(array, pa.date32())
        if pc.all(pc.equal(pc.cast(days, array.type), array)).as_py() is not False:
            return days
    return array


# --- Excel --------------------------------------------------------------------------------
def write_excel(
    frame: pd.DataFrame,
    target: Path | BinaryIO,
    *,
    number_formats: Mapping[str, str],
    sheet_name: str = "Sheet1",
) -> None:
    """Write ``frame`` as one sheet (no index), each column of ``number_formats`` in its format.

    Cells keep their full values, so sums and sorting in Excel stay exact; the format only
    decides how they read (money grouped for the display locale, see
    :meth:`loan_recovery.money.MoneyFormat.excel_format`). A column's format must be set on
    every cell: Excel applies a column's own style only to cells that are empty.
    """
    plain = frame.copy()
    for column in plain.columns:  # openpyxl writes categories as text only from objects
        if isinstance(plain[column].dtype, pd.CategoricalDtype):
            plain[column] = plain[column].astype(object)
    try:
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(target, engine="openpyxl") as writer:
            plain.to_excel(writer, index=False, sheet_name=sheet_name)
            sheet = writer.sheets[sheet_name]
            for position, name in enumerate(plain.columns, start=1):
                code = number_formats.get(str(name))
                if code is None:
                    continue
                for (cell,) in sheet.iter_rows(min_row=2, min_col=position, max_col=position):
                    cell.number_format = code
    except OSError as error:
        raise DataFileError(f"cannot write {target}: {error}") from None
