"""Validate, score and plan a book too large for memory, one record batch at a time.

Every batch goes through the very functions the in-memory commands use
(:func:`validate_frame`, :func:`score_loans`, :func:`action_values`, :func:`plan_loans`),
so a streamed book gets, loan by loan, the numbers the in-memory path gives. What couples
loans across batches is handled here, with memory that does not grow with the rows read:

* **Keys across batches.** A row repeating an earlier batch's loan key is rejected with
  the line of the first (:class:`SeenKeys`, 24 bytes a key).
* **Snapshots.** A table with ``As_Of_Date`` is planned on each loan's latest row. Which
  row that is can only be known at the end, so such a book is validated twice: once to
  find the latest rows, once to plan them.
* **Rows wanted again.** A streamed plan learns which loans need reasons only at the end;
  :func:`rows_for` reads the book once more and validates just those loans' rows.

The plan itself is :mod:`loan_recovery.jobs.stream_plan`.

Counts reconcile as in the in-memory path: rows read = accepted + rejected, every rejected
row is appended to the quarantine file and every warning to the warnings file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.batches import (
    ArrowBatch,
    BookInput,
    column_position,
    open_book,
    raw_frame,
    read_arrow_batches,
    read_raw_batches,
)
from loan_recovery.data.io import load_mapping
from loan_recovery.data.seen_keys import SeenKeys, key_hashes
from loan_recovery.data.sinks import TableSink
from loan_recovery.data.validation import (
    ISSUE_COLUMNS,
    LINE,
    ValidationResult,
    default_quarantine_path,
    default_warnings_path,
    validate_frame,
    warning_rows,
)
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.progress import ProgressReporter, SilentProgress
from loan_recovery.jobs.validate import require_accepted
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.models.scoring import score_loans

#: How many problems a streamed validation keeps to show as examples.
EXAMPLES_KEPT = 20


@dataclass
class StreamTally:
    """Validation counts over every batch: what ``validate`` prints for a whole book."""

    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    warning_reasons: Counter[str] = field(default_factory=Counter)
    examples: list[pd.DataFrame] = field(default_factory=list)

    def add(self, result: ValidationResult) -> None:
        """Count one batch's result."""
        self.rows_read += result.rows_read
        self.accepted += result.accepted
        self.rejected += result.rejected
        self.batches += 1
        self.reasons.update(result.reason_counts())
        self.warning_reasons.update(result.warning_counts())
        if sum(map(len, self.examples)) < EXAMPLES_KEPT and len(result.issues):
            self.examples.append(result.issues.head(EXAMPLES_KEPT))

    @property
    def issues(self) -> pd.DataFrame:
        """The first problems found (at most :data:`EXAMPLES_KEPT`), as validation lists them."""
        if not self.examples:
            return pd.DataFrame(columns=list(ISSUE_COLUMNS))
        return pd.concat(self.examples, ignore_index=True).head(EXAMPLES_KEPT)

    def reason_counts(self) -> dict[str, int]:
        """Rejected rows by primary reason; they sum to ``rejected``."""
        return dict(self.reasons)

    def warning_counts(self) -> dict[str, int]:
        """Warnings by reason."""
        return {reason: count for reason, count in self.warning_reasons.items() if count}


@dataclass(frozen=True)
class StreamRun:
    """Where a streamed command's files went and what it counted."""

    tally: StreamTally
    quarantine_path: Path | None
    warnings_path: Path | None
    seconds: float


class Reports:
    """The quarantine and warnings files of a stream, created only when something is in them."""

    def __init__(self, quarantine: Path, warnings: Path) -> None:
        self.quarantine = TableSink(quarantine)
        self.warnings = TableSink(warnings)

    def write(self, result: ValidationResult) -> None:
        if result.rejected:
            self.quarantine.write(result.quarantine)
        if len(result.warnings):
            self.warnings.write(warning_rows(result))

    def close(self) -> tuple[Path | None, Path | None]:
        self.quarantine.close()
        self.warnings.close()
        return (
            self.quarantine.path if self.quarantine.written else None,
            self.warnings.path if self.warnings.written else None,
        )


@dataclass
class BookStream:
    """One streamed pass over a book: batches validated in order, keys remembered."""

    book: BookInput
    settings: Settings
    batch_rows: int
    mapping: Mapping[str, str] | None
    require_label: bool
    progress: ProgressReporter
    #: Every non-blank Loan_ID of the book is distinct (a census read them first): no key
    #: can repeat across batches and no loan has two snapshots, so neither is tracked.
    unique_ids: bool = False

    def validated(
        self, reports: Reports | None, tally: StreamTally | None
    ) -> Iterator[tuple[ValidationResult, npt.NDArray[np.int64]]]:
        """Each batch's validation and the source lines of its accepted rows."""
        seen = None if self.unique_ids else SeenKeys()
        started = time.monotonic()
        self.progress.start(self.book.total)
        done = rows = 0
        for batch in read_raw_batches(self.book, self.batch_rows, self.mapping):
            result = validate_frame(
                batch.frame,
                settings=self.settings,
                require_label=self.require_label,
                seen=seen,
            )
            if reports is not None:
                reports.write(result)
            if tally is not None:
                tally.add(result)
            yield result, accepted_lines(batch.frame, result)
            self.progress.advance(batch.done - done)
            done = batch.done
            rows += result.rows_read
            rate = rows / max(time.monotonic() - started, 1e-9)
            self.progress.stage(f"{rows:,} rows ({rate:,.0f} rows/s)")


def accepted_lines(raw: pd.DataFrame, result: ValidationResult) -> npt.NDArray[np.int64]:
    lines = np.asarray(raw.index, dtype=np.int64)
    if not result.rejected:
        return lines
    rejected = np.unique(result.issues[LINE].to_numpy(dtype=np.int64))
    accepted: npt.NDArray[np.int64] = lines[~np.isin(lines, rejected)]
    return accepted


def _mapping(mapping_path: Path | None) -> dict[str, str] | None:
    return load_mapping(mapping_path) if mapping_path is not None else None


def stream_validate(
    path: Path,
    *,
    settings: Settings,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    warnings_path: Path | None = None,
    require_label: bool = False,
    batch_rows: int | None = None,
    progress: ProgressReporter | None = None,
) -> StreamRun:
    """Validate a book batch by batch; rejected rows and warnings are appended to files."""
    book = open_book(path)
    stream = open_stream(book, settings, batch_rows, mapping_path, require_label, progress)
    reports = Reports(
        quarantine_path or default_quarantine_path(path),
        warnings_path or default_warnings_path(path),
    )
    tally = StreamTally()
    started = time.monotonic()
    try:
        for _ in stream.validated(reports, tally):
            pass
    finally:
        quarantine, warnings = reports.close()
    return StreamRun(tally, quarantine, warnings, time.monotonic() - started)


def open_stream(
    book: BookInput,
    settings: Settings,
    batch_rows: int | None,
    mapping_path: Path | None,
    require_label: bool,
    progress: ProgressReporter | None,
) -> BookStream:
    rows = batch_rows if batch_rows is not None else settings.compute.batch_rows
    if rows < 1:
        raise ConfigError(f"batch rows must be at least 1; got {rows}.")
    mapping = _mapping(mapping_path)
    return BookStream(
        book,
        settings,
        rows,
        mapping,
        require_label,
        progress or SilentProgress(),
        unique_ids=_ids_unique(book, rows, mapping),
    )


def _ids_unique(book: BookInput, batch_rows: int, mapping: Mapping[str, str] | None) -> bool:
    """Whether every non-blank Loan_ID (trimmed, as validation reads it) appears once.

    Reads that one column (cheap in Parquet; a CSV is parsed but only it is converted).
    Two IDs sharing a 64-bit hash count as a repeat: the full tracking then runs, which
    is only slower, never wrong.
    """
    position = column_position(book, mapping, schema.LOAN_ID)
    if position is None:
        return False  # validation names the missing column
    hashes: list[npt.NDArray[np.uint64]] = []
    for batch in read_arrow_batches(book, batch_rows, [position]):
        text = pc.fill_null(batch.table.column(0).cast(pa.large_string()), "")
        ids = pc.utf8_trim_whitespace(text)
        ids = ids.filter(pc.not_equal(ids, ""))
        hashes.append(key_hashes(ids.to_numpy(zero_copy_only=False), None)[0])
    every = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    return len(np.unique(every)) == len(every)


# --- one row per loan ---------------------------------------------------------------------
def latest_lines(stream: BookStream) -> npt.NDArray[np.int64] | None:
    """Sorted source lines of each loan's latest accepted snapshot, or None when the book
    has no ``As_Of_Date`` (every accepted row is then its loan's only row).

    Mirrors :func:`current_snapshot`: the latest date wins and a blank date is older than
    any date (two rows of one loan on one date are duplicates, rejected by validation).
    """
    has_dates = column_position(stream.book, stream.mapping, schema.AS_OF_DATE) is not None
    if not has_dates or stream.unique_ids:
        return None
    keys: list[tuple[Any, ...]] = []
    for result, lines in stream.validated(None, None):
        table = result.table
        first, second = key_hashes(table[schema.LOAN_ID].to_numpy(dtype=object), None)
        dates = table[schema.AS_OF_DATE]
        keys.append(
            (
                first,
                second,
                dates.notna().to_numpy(),
                dates.to_numpy(dtype="datetime64[ns]").astype(np.int64),
                lines,
            )
        )
    first, second, dated, date, lines = (np.concatenate(part) for part in zip(*keys, strict=True))
    order = np.lexsort((lines, date, dated, second, first))
    last = np.r_[
        (first[order][1:] != first[order][:-1]) | (second[order][1:] != second[order][:-1]), True
    ]
    latest: npt.NDArray[np.int64] = np.sort(lines[order][last])
    return latest


def current_rows(
    table: pd.DataFrame, lines: npt.NDArray[np.int64], latest: npt.NDArray[np.int64] | None
) -> pd.DataFrame:
    """The batch's rows that are their loan's latest snapshot (all rows without snapshots)."""
    if latest is None:
        return table
    at = np.minimum(np.searchsorted(latest, lines), max(len(latest) - 1, 0))
    keep = latest[at] == lines if len(latest) else np.zeros(len(lines), dtype=np.bool_)
    return table if keep.all() else table.iloc[np.flatnonzero(keep)]


def start_stream(
    path: Path,
    settings: Settings,
    batch_rows: int | None,
    mapping_path: Path | None,
    quarantine_path: Path | None,
    progress: ProgressReporter | None,
) -> tuple[BookStream, npt.NDArray[np.int64] | None, Reports, StreamTally]:
    """What a streamed ``score`` or ``plan`` starts from: the stream over the book, each
    loan's latest line (None without snapshots), the report files and the counts."""
    stream = open_stream(open_book(path), settings, batch_rows, mapping_path, False, progress)
    reports = Reports(quarantine_path or default_quarantine_path(path), default_warnings_path(path))
    return stream, latest_lines(stream), reports, StreamTally()


@dataclass(frozen=True)
class StreamScoreRun:
    """A streamed ``score``: the run, where the scores went and how many loans."""

    run: StreamRun
    out_path: Path
    loans: int


def stream_score(
    path: Path,
    *,
    out: Path,
    settings: Settings,
    bundle: ModelBundle,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    batch_rows: int | None = None,
    progress: ProgressReporter | None = None,
) -> StreamScoreRun:
    """Score a book batch by batch, appending each batch's scores to ``out``."""
    started = time.monotonic()
    stream, latest, reports, tally = start_stream(
        path, settings, batch_rows, mapping_path, quarantine_path, progress
    )
    explain = settings.explain
    try:
        with TableSink(out) as sink:
            for result, lines in stream.validated(reports, tally):
                table = current_rows(result.table, lines, latest)
                if len(table):
                    sink.write(
                        score_loans(
                            table,
                            bundle,
                            settings.risk,
                            top_k=explain.top_k,
                            approximate_reasons=explain.method == "approximate",
                        )
                    )
            require_accepted(sink.rows, tally.rejected, reports.quarantine.path, "score")
    finally:
        quarantine, warnings = reports.close()
    run = StreamRun(tally, quarantine, warnings, time.monotonic() - started)
    return StreamScoreRun(run, out, sink.rows)


def rows_for(
    stream: BookStream, wanted: pa.Array, latest: npt.NDArray[np.int64] | None
) -> pd.DataFrame:
    """The accepted, current rows of the loans ``wanted`` (Loan_IDs), read again.

    Rows are picked in Arrow by their Loan_ID text before anything else is converted, and
    only they are validated (together, so a repeat among them is rejected as in the full
    pass): a few thousand loans cost a read of the book, not a second validation of it.
    """
    stream.progress.stage(f"Reading {len(wanted):,} loans' rows again for their reasons")
    position = column_position(stream.book, stream.mapping, schema.LOAN_ID)
    pieces: list[pd.DataFrame] = []
    for batch in read_arrow_batches(stream.book, stream.batch_rows):
        if position is None:
            break
        ids = pc.utf8_trim_whitespace(batch.table.column(position).cast(pa.large_string()))
        hits = np.flatnonzero(pc.fill_null(pc.is_in(ids, value_set=wanted), False).to_numpy())
        if not len(hits):
            continue
        picked = ArrowBatch(batch.table.take(pa.array(hits)), batch.first_row, batch.done)
        frame = raw_frame(stream.book, picked, stream.mapping)
        frame.index = pd.Index(
            hits + batch.first_row + schema.FIRST_DATA_LINE, name=schema.SOURCE_LINE
        )
        pieces.append(frame)
    if not pieces:
        return pd.DataFrame()
    raw = pd.concat(pieces)
    result = validate_frame(raw, settings=stream.settings)
    table = current_rows(result.table, accepted_lines(raw, result), latest)
    found = pc.is_in(
        pa.array(table[schema.LOAN_ID].to_numpy(dtype=object)), value_set=wanted
    ).to_numpy(zero_copy_only=False)
    return table.iloc[np.flatnonzero(found)].reset_index(drop=True)
