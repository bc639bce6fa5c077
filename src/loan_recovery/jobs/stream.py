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

The plan itself is :mod:`loan_recovery.jobs.stream_plan`. Each job is written as a
function of one batch (a *task*: raw rows in, a compact outcome out) that
:meth:`BookStream.run` applies to the batches in order, in this process or on a Dask
cluster (:mod:`loan_recovery.jobs.dask_batches`): the same task either way.

Counts reconcile as in the in-memory path: rows read = accepted + rejected, every rejected
row is appended to the quarantine file and every warning to the warnings file.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
from loan_recovery.data.sinks import TableSink, write_part
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
from loan_recovery.jobs.batch_task import (
    BatchInput,
    BatchTask,
    IntArray,
    T,
    bundle_source,
    parts_folder,
)
from loan_recovery.jobs.progress import ProgressReporter, SilentProgress
from loan_recovery.jobs.validate import require_accepted
from loan_recovery.models.bundle import BundleSource, ModelBundle, resolve_bundle
from loan_recovery.models.scoring import score_loans

if TYPE_CHECKING:
    from loan_recovery.jobs.dask_batches import DaskBatches

#: How many problems a streamed validation keeps to show as examples.
EXAMPLES_KEPT = 20


@dataclass(frozen=True)
class BatchCheck:
    """One batch's validation as a stream keeps it: counts, the first problems, and the
    rows for the report files; not the accepted table (a task on a cluster sends this
    back, and the table stays where it was planned)."""

    rows_read: int
    accepted: int
    rejected: int
    reasons: dict[str, int]
    warning_reasons: dict[str, int]
    issues: pd.DataFrame
    quarantine: pd.DataFrame
    warnings: pd.DataFrame

    @classmethod
    def of(cls, result: ValidationResult) -> BatchCheck:
        return cls(
            rows_read=result.rows_read,
            accepted=result.accepted,
            rejected=result.rejected,
            reasons=result.reason_counts(),
            warning_reasons=result.warning_counts(),
            issues=result.issues.head(EXAMPLES_KEPT),
            quarantine=result.quarantine,
            warnings=warning_rows(result),
        )


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

    def add(self, check: BatchCheck) -> None:
        """Count one batch's result."""
        self.rows_read += check.rows_read
        self.accepted += check.accepted
        self.rejected += check.rejected
        self.batches += 1
        self.reasons.update(check.reasons)
        self.warning_reasons.update(check.warning_reasons)
        if sum(map(len, self.examples)) < EXAMPLES_KEPT and len(check.issues):
            self.examples.append(check.issues)

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

    def write(self, check: BatchCheck) -> None:
        if check.rejected:
            self.quarantine.write(check.quarantine)
        if len(check.warnings):
            self.warnings.write(check.warnings)

    def close(self) -> tuple[Path | None, Path | None]:
        self.quarantine.close()
        self.warnings.close()
        return (
            self.quarantine.path if self.quarantine.written else None,
            self.warnings.path if self.warnings.written else None,
        )


@dataclass
class BookStream:
    """A book's batches and how to run a task over them: in order here, or on a cluster."""

    book: BookInput
    settings: Settings
    batch_rows: int
    mapping: Mapping[str, str] | None
    require_label: bool
    progress: ProgressReporter
    #: Every non-blank Loan_ID of the book is distinct (a census read them first): no key
    #: can repeat across batches and no loan has two snapshots, so neither is tracked.
    unique_ids: bool = False
    #: Run the batches as tasks on this Dask cluster instead of in this process.
    cluster: DaskBatches | None = None

    def run(self, task: BatchTask[T], latest: IntArray | None = None) -> Iterator[T]:
        """``task``'s outcome for each batch, in the book's order.

        Each batch's task sees the keys of the batches before it (``seen``; none when
        every Loan_ID is distinct) and, for a book of snapshots, the ``latest`` lines.
        """
        if self.cluster is not None:
            yield from self.cluster.run(self, task, latest)
            return
        seen = None if self.unique_ids else SeenKeys()
        started = time.monotonic()
        self.progress.start(self.book.total)
        done = rows = 0
        for index, batch in enumerate(read_raw_batches(self.book, self.batch_rows, self.mapping)):
            yield task(batch.frame, BatchInput(index, seen, latest))
            self.progress.advance(batch.done - done)
            done = batch.done
            rows += len(batch.frame)
            rate = rows / max(time.monotonic() - started, 1e-9)
            self.progress.stage(f"{rows:,} rows ({rate:,.0f} rows/s)")


def validate_batch(
    raw: pd.DataFrame, batch: BatchInput, settings: Settings, require_label: bool = False
) -> ValidationResult:
    """A batch validated as part of its book: a key an earlier batch met is a repeat."""
    return validate_frame(raw, settings=settings, require_label=require_label, seen=batch.seen)


def checked_rows(
    raw: pd.DataFrame, batch: BatchInput, settings: Settings
) -> tuple[ValidationResult, pd.DataFrame]:
    """A batch validated and its rows to plan: the accepted rows that are their loan's
    latest snapshot."""
    result = validate_batch(raw, batch, settings)
    return result, current_rows(result.table, accepted_lines(raw, result), batch.latest)


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
    cluster: DaskBatches | None = None,
) -> StreamRun:
    """Validate a book batch by batch; rejected rows and warnings are appended to files."""
    book = open_book(path)
    stream = open_stream(book, settings, batch_rows, mapping_path, require_label, progress, cluster)
    reports = Reports(
        quarantine_path or default_quarantine_path(path),
        warnings_path or default_warnings_path(path),
    )
    tally = StreamTally()
    started = time.monotonic()
    task = partial(_validate_task, settings=settings, require_label=require_label)
    try:
        for check in stream.run(task):
            reports.write(check)
            tally.add(check)
    finally:
        quarantine, warnings = reports.close()
    return StreamRun(tally, quarantine, warnings, time.monotonic() - started)


def _validate_task(
    raw: pd.DataFrame, batch: BatchInput, *, settings: Settings, require_label: bool
) -> BatchCheck:
    return BatchCheck.of(validate_batch(raw, batch, settings, require_label))


def open_stream(
    book: BookInput,
    settings: Settings,
    batch_rows: int | None,
    mapping_path: Path | None,
    require_label: bool,
    progress: ProgressReporter | None,
    cluster: DaskBatches | None = None,
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
        cluster=cluster,
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
def latest_lines(stream: BookStream) -> IntArray | None:
    """Sorted source lines of each loan's latest accepted snapshot, or None when the book
    has no ``As_Of_Date`` (every accepted row is then its loan's only row).

    Mirrors :func:`current_snapshot`: the latest date wins and a blank date is older than
    any date (two rows of one loan on one date are duplicates, rejected by validation).
    """
    has_dates = column_position(stream.book, stream.mapping, schema.AS_OF_DATE) is not None
    if not has_dates or stream.unique_ids:
        return None
    task = partial(_snapshot_keys, settings=stream.settings)
    keys = list(stream.run(task))
    first, second, dated, date, lines = (np.concatenate(part) for part in zip(*keys, strict=True))
    order = np.lexsort((lines, date, dated, second, first))
    last = np.r_[
        (first[order][1:] != first[order][:-1]) | (second[order][1:] != second[order][:-1]), True
    ]
    latest: IntArray = np.sort(lines[order][last])
    return latest


def _snapshot_keys(
    raw: pd.DataFrame, batch: BatchInput, *, settings: Settings
) -> tuple[npt.NDArray[Any], ...]:
    """Per accepted row: its Loan_ID's two hashes, whether it is dated, the date, its line."""
    result = validate_batch(raw, batch, settings)
    table = result.table
    first, second = key_hashes(table[schema.LOAN_ID].to_numpy(dtype=object), None)
    dates = table[schema.AS_OF_DATE]
    return (
        first,
        second,
        dates.notna().to_numpy(),
        dates.to_numpy(dtype="datetime64[ns]").astype(np.int64),
        accepted_lines(raw, result),
    )


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
    cluster: DaskBatches | None = None,
) -> tuple[BookStream, IntArray | None, Reports, StreamTally]:
    """What a streamed ``score`` or ``plan`` starts from: the stream over the book, each
    loan's latest line (None without snapshots), the report files and the counts."""
    stream = open_stream(
        open_book(path), settings, batch_rows, mapping_path, False, progress, cluster
    )
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
    cluster: DaskBatches | None = None,
) -> StreamScoreRun:
    """Score a book batch by batch, appending each batch's scores to ``out``.

    On a cluster each task writes its batch's scores as a Parquet part next to ``out``
    (on storage every worker sees), and they are appended to ``out`` in order.
    """
    started = time.monotonic()
    stream, latest, reports, tally = start_stream(
        path, settings, batch_rows, mapping_path, quarantine_path, progress, cluster
    )
    parts = None if cluster is None else parts_folder(out)
    task = partial(
        _score_task, settings=settings, bundle=bundle_source(bundle, cluster), parts=parts
    )
    try:
        with TableSink(out) as sink:
            for check, scores in stream.run(task, latest):
                reports.write(check)
                tally.add(check)
                if isinstance(scores, Path):
                    sink.write_arrow(pq.read_table(scores))
                elif scores is not None:
                    sink.write(scores)
            require_accepted(sink.rows, tally.rejected, reports.quarantine.path, "score")
    finally:
        quarantine, warnings = reports.close()
        if parts is not None:
            shutil.rmtree(parts, ignore_errors=True)
    run = StreamRun(tally, quarantine, warnings, time.monotonic() - started)
    return StreamScoreRun(run, out, sink.rows)


def _score_task(
    raw: pd.DataFrame,
    batch: BatchInput,
    *,
    settings: Settings,
    bundle: BundleSource,
    parts: Path | None,
) -> tuple[BatchCheck, pd.DataFrame | Path | None]:
    result, table = checked_rows(raw, batch, settings)
    if not len(table):
        return BatchCheck.of(result), None
    explain = settings.explain
    scores = score_loans(
        table,
        resolve_bundle(bundle),
        settings.risk,
        top_k=explain.top_k,
        approximate_reasons=explain.method == "approximate",
    )
    return BatchCheck.of(result), scores if parts is None else write_part(
        scores, parts, batch.index
    )


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
