"""Writing a large table batch by batch: a CSV appended to, a Parquet file, or a dataset.

A streamed job never holds its whole output. Each batch goes through the same conversion
as :func:`loan_recovery.data.io.write_table`, so a streamed CSV has the bytes a one-shot
write of the same rows would have. The output's format follows ``path``:

* ``.csv`` / ``.csv.gz``: one CSV, header once, then every batch appended;
* ``.parquet`` / ``.pq``: one Parquet file, a row group per batch;
* anything else (no suffix, or an existing folder): a Parquet *dataset*, a folder of
  ``part-00000.parquet`` files, one per batch, that Arrow, Dask, Spark and DuckDB read as
  one table.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loan_recovery.data.io import SUPPORTED_SUFFIXES, frame_to_arrow, table_format
from loan_recovery.exceptions import DataFileError

PART_NAME = "part-{:05d}.parquet"
#: Rows per Parquet row group: a reader decodes a whole group at once, so groups stay a
#: fraction of a batch and a streamed read of the output holds little in memory.
ROW_GROUP_ROWS = 100_000


def is_dataset_path(path: Path) -> bool:
    """Whether ``path`` names a folder of Parquet parts rather than one file."""
    return path.is_dir() or not path.name.lower().endswith(SUPPORTED_SUFFIXES)


class TableSink:
    """Appends frames to one output; the first frame fixes the columns and their types.

    Later frames are cast to the first frame's Arrow schema, so a column whose values
    happen to be all blank in one batch keeps its type. Nothing is created until the
    first frame arrives: a sink that is never written to leaves no file.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.rows = 0
        self._dataset = is_dataset_path(self.path)
        self._kind = "parquet" if self._dataset else table_format(self.path)
        self._schema: pa.Schema | None = None
        self._writer: Any = None
        self._stream: Any = None
        self._parts = 0

    def __enter__(self) -> TableSink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def written(self) -> bool:
        """Whether any frame (even an empty one) was written."""
        return self._schema is not None

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows (the index is not written)."""
        self.write_arrow(frame_to_arrow(frame, dates_as_days=self._kind == "csv"))

    def write_arrow(self, table: pa.Table) -> None:
        """Append an Arrow table's rows."""
        try:
            if self._schema is None:
                self._schema = _typed_schema(table.schema)
                self._open()
            table = _conform(table, self._schema, self.path)
            self._write(table)
        except (pa.ArrowException, OSError) as error:
            raise DataFileError(f"cannot write {self.path}: {error}") from None
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file (Parquet footer, gzip trailer); safe to call twice."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _open(self) -> None:
        assert self._schema is not None
        if self._dataset:
            if self.path.exists():
                shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
            self.path.mkdir(parents=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._kind == "parquet":
            self._writer = pq.ParquetWriter(self.path, self._schema)
            return
        if self.path.name.lower().endswith(".gz"):
            self._stream = pa.CompressedOutputStream(str(self.path), "gzip")
            self._writer = pacsv.CSVWriter(self._stream, self._schema)
        else:
            self._writer = pacsv.CSVWriter(str(self.path), self._schema)

    def _write(self, table: pa.Table) -> None:
        if self._dataset:
            pq.write_table(
                table, self.path / PART_NAME.format(self._parts), row_group_size=ROW_GROUP_ROWS
            )
            self._parts += 1
        elif self._kind == "parquet":
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        else:
            self._writer.write_table(table)


def write_part(frame: pd.DataFrame, folder: Path, index: int) -> Path:
    """Write ``frame`` as part ``index`` of a dataset folder, as a :class:`TableSink` would
    write it: a worker's batch, joined with the others later in part order."""
    folder.mkdir(parents=True, exist_ok=True)
    table = frame_to_arrow(frame, dates_as_days=False)
    path = folder / PART_NAME.format(index)
    try:
        pq.write_table(table.cast(_typed_schema(table.schema)), path, row_group_size=ROW_GROUP_ROWS)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"cannot write {path}: {error}") from None
    return path


def _typed_schema(schema: pa.Schema) -> pa.Schema:
    """A column of nothing but blanks carries no type; it is text until shown otherwise."""
    fields = [
        field.with_type(pa.large_string()) if pa.types.is_null(field.type) else field
        for field in schema
    ]
    return pa.schema(fields)


def _conform(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    if table.schema.names != schema.names:
        raise DataFileError(
            f"cannot append to {path}: a batch has columns {table.schema.names}, "
            f"the first had {schema.names}."
        )
    if table.schema.equals(schema):
        return table
    return table.cast(schema)
