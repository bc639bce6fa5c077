"""Reading a large loan book in record batches, with bounded memory.

The same raw frames :func:`loan_recovery.data.io.read_raw_table` returns, one batch at a
time: CSV cells stay text, Parquet keeps its types, and every row carries its source line
(its row number + 2 in a Parquet file or dataset) so validation's report names the line
of the whole input, not of the batch. A Parquet *dataset* is a directory of Parquet files,
read in file-name order as one table.

Progress is counted in the units the input can count cheaply: rows for Parquet (the
footers say how many), bytes for CSV (the file size; a CSV's row count is unknown until
it has been read).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loan_recovery.data.io import (
    CSV_PARSE_OPTIONS,
    apply_mapping,
    check_csv_columns,
    csv_convert_options,
    csv_frame,
    csv_header,
    parquet_frame,
    table_format,
)
from loan_recovery.exceptions import DataFileError, UnsupportedFormatError

#: Arrow's CSV block: big enough to parse in parallel, small against a batch.
_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class RawBatch:
    """One batch of raw rows and how far the stream has come (in ``BookInput.unit``)."""

    frame: pd.DataFrame
    done: int


@dataclass(frozen=True, slots=True)
class ArrowBatch:
    """One batch as Arrow read it (CSV text with blank lines, or typed Parquet values):
    the rows from data row ``first_row`` (0-based) on."""

    table: pa.Table
    first_row: int
    done: int


@dataclass(frozen=True, slots=True)
class BookInput:
    """A loan book to stream: its path, format, CSV header and the size progress is
    measured against."""

    path: Path
    kind: Literal["csv", "parquet"]
    total: int
    unit: Literal["rows", "bytes"]
    header: tuple[str, ...] = ()


def open_book(path: Path | str) -> BookInput:
    """Check ``path`` (a CSV or Parquet file, or a directory of Parquet files) and size it.

    Raises :class:`DataFileError` for a missing path, a directory without Parquet files
    or an unreadable file, and :class:`UnsupportedFormatError` for other suffixes.
    """
    path = Path(path)
    if path.is_dir():
        if not _parquet_files(path):
            raise DataFileError(f"the folder holds no Parquet files (*.parquet): {path}")
        return BookInput(path, "parquet", _parquet_rows(path), "rows")
    kind = table_format(path)
    if not path.is_file():
        what = "is not a file" if path.exists() else "not found"
        raise DataFileError(f"data file {what}: {path}")
    if kind == "parquet":
        return BookInput(path, kind, _parquet_rows(path), "rows")
    return BookInput(path, kind, path.stat().st_size, "bytes", tuple(csv_header(path)))


def read_arrow_batches(
    book: BookInput, batch_rows: int, columns: list[int] | None = None
) -> Generator[ArrowBatch, None, None]:
    """The book's rows ``batch_rows`` at a time (the last batch holds the rest), as read;
    only the ``columns`` at those positions when given (a census of keys reads two)."""
    names = None if columns is None else [_read_names(book)[position] for position in columns]
    pieces = (
        _parquet_pieces(book, batch_rows, names)
        if book.kind == "parquet"
        else _csv_pieces(book, names)
    )
    first_row = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    done = 0
    for piece, done in pieces:
        pending.append(piece)
        pending_rows += piece.num_rows
        while pending_rows >= batch_rows:  # pieces come in Arrow's sizes: cut exact batches
            table = pa.concat_tables(pending, promote_options="permissive")
            yield ArrowBatch(table.slice(0, batch_rows), first_row, done)
            pending, pending_rows = [table.slice(batch_rows)], pending_rows - batch_rows
            first_row += batch_rows
    if pending_rows:
        yield ArrowBatch(pa.concat_tables(pending, promote_options="permissive"), first_row, done)


def batch_starts(book: BookInput, batch_rows: int) -> list[tuple[int, int]]:
    """The (first row, rows) of each batch :func:`read_arrow_batches` would cut from a
    Parquet book: a cluster reads the same batches in any order with :func:`read_batch`."""
    if book.kind != "parquet":
        raise UnsupportedFormatError(
            "only a Parquet book (a file or a folder of Parquet files) can be split across "
            f"workers; {book.path.name} is CSV. Convert it first, or run without Dask."
        )
    return [
        (first, min(batch_rows, book.total - first)) for first in range(0, book.total, batch_rows)
    ]


def read_batch(book: BookInput, first_row: int, rows: int) -> ArrowBatch:
    """Rows ``first_row`` to ``first_row + rows`` of a Parquet book, as read.

    Only the row groups holding them are decoded (the Parquet footers say where each
    starts), so any batch of a large book costs about its own size to read.
    """
    pieces: list[pa.Table] = []
    start = 0
    names = _parquet_names(book)
    for file in _files(book.path):
        try:
            reader = pq.ParquetFile(file)
            groups = [reader.metadata.row_group(i).num_rows for i in range(reader.num_row_groups)]
            for group, count in enumerate(groups):
                low, high = max(first_row - start, 0), min(first_row + rows - start, count)
                if low < high:
                    read = reader.read_row_group(group, columns=names)
                    pieces.append(read.slice(low, high - low))
                start += count
        except (pa.ArrowException, OSError) as error:
            raise DataFileError(f"cannot read Parquet file {file}: {error}") from None
        if start >= first_row + rows:
            break
    table = pa.concat_tables(pieces, promote_options="permissive")
    return ArrowBatch(table, first_row, first_row + table.num_rows)


def raw_frame(
    book: BookInput, batch: ArrowBatch, mapping: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The batch as the raw frame :func:`read_raw_table` would give for those rows."""
    if book.kind == "csv":
        frame = csv_frame(batch.table, list(book.header), first_row=batch.first_row)
    else:
        frame = parquet_frame(batch.table, first_row=batch.first_row)
    return apply_mapping(frame, mapping) if mapping else frame


def read_raw_batches(
    book: BookInput, batch_rows: int, mapping: Mapping[str, str] | None = None
) -> Generator[RawBatch, None, None]:
    """The book's rows, ``batch_rows`` at a time, as raw frames with source lines.

    Raises :class:`DataFileError` when the book has a header but no data rows, or cannot
    be read.
    """
    empty = True
    for batch in read_arrow_batches(book, batch_rows):
        frame = raw_frame(book, batch, mapping)
        if frame.empty:
            continue
        empty = False
        yield RawBatch(frame, batch.done)
    if empty:
        raise DataFileError(f"data file has a header but no data rows: {book.path}")


def column_position(book: BookInput, mapping: Mapping[str, str] | None, name: str) -> int | None:
    """Where the canonical column ``name`` is among the columns as read (None: absent)."""
    read = [field.strip() for field in _read_names(book)]
    mapped = [mapping.get(field, field) if mapping else field for field in read]
    return mapped.index(name) if name in mapped else None


def _read_names(book: BookInput) -> list[str]:
    """The columns' names as the file spells them (a CSV header's, spaces included)."""
    return list(book.header) if book.kind == "csv" else _parquet_names(book)


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.parquet") if path.is_file())


def _files(path: Path) -> list[Path]:
    return _parquet_files(path) if path.is_dir() else [path]


def _parquet_rows(path: Path) -> int:
    try:
        return sum(pq.ParquetFile(file).metadata.num_rows for file in _files(path))
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"cannot read Parquet input {path}: {error}") from None


def _parquet_names(book: BookInput) -> list[str]:
    try:
        return list(pq.ParquetFile(_files(book.path)[0]).schema_arrow.names)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"cannot read Parquet input {book.path}: {error}") from None


def _parquet_pieces(
    book: BookInput, batch_rows: int, columns: list[str] | None
) -> Iterator[tuple[pa.Table, int]]:
    """File after file, record batches decoded page by page: Arrow's dataset scanner reads
    ahead whole files (two to three times the memory of the batch being planned)."""
    done = 0
    names = _parquet_names(book)
    for file in _files(book.path):
        try:
            reader = pq.ParquetFile(file)
            if reader.schema_arrow.names != names:
                raise DataFileError(
                    f"the Parquet files of {book.path} differ in their columns: {file.name} "
                    f"has {reader.schema_arrow.names}, the first has {names}."
                )
            for piece in reader.iter_batches(batch_size=batch_rows, columns=columns):
                done += piece.num_rows
                yield pa.Table.from_batches([piece]), done
        except (pa.ArrowException, OSError) as error:
            raise DataFileError(f"cannot read Parquet file {file}: {error}") from None


def _csv_pieces(book: BookInput, columns: list[str] | None) -> Iterator[tuple[pa.Table, int]]:
    path = book.path
    header = list(book.header)
    options = pacsv.ReadOptions(block_size=_BLOCK_BYTES)
    compressed = path.name.lower().endswith(".gz")
    try:
        with pa.OSFile(str(path)) as raw:
            source = pa.CompressedInputStream(raw, "gzip") if compressed else raw
            reader = pacsv.open_csv(
                source,
                read_options=options,
                parse_options=CSV_PARSE_OPTIONS,
                convert_options=csv_convert_options(header, columns),
            )
            check_csv_columns(reader.schema, columns or header, path)
            for piece in reader:
                yield pa.Table.from_batches([piece]), raw.tell()
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"cannot read CSV file {path}: {error}") from None
