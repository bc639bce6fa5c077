"""A streamed job's batches as tasks on a Dask cluster: the same tasks, spread over workers.

The book is the Dask collection: a Parquet file or folder cut into the batches a local
stream would read (:func:`batch_starts`), each read by its task from storage every worker
sees. Each task is the job's own batch function (:mod:`loan_recovery.jobs.batch_task`),
so validation, scoring and planning run exactly as they do in this process; the driver
receives the compact outcomes in book order and settles what couples the batches (keys,
snapshots, capacity, worklist rank, reasons) with the local code.

What a local stream learns batch after batch is computed up front here, since the tasks
run at once:

* **Keys repeated across batches** (only when the census found a repeated Loan_ID): a
  first pass validates every batch on its own and sends back its keys; each batch is
  then given the keys of *its* rows that an earlier batch met first, with that batch's
  line. A batch validated with them rejects what a local stream rejects, naming the same
  line.
* **Models**: a task names its version (:class:`BundleRef`); each worker loads it once
  from the registry, which must be on a path every worker can read.

A cluster is reached at ``compute.scheduler`` or ``--dask ADDRESS``; ``local`` starts a
:class:`distributed.LocalCluster` of one single-threaded worker process per core.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.batches import BookInput, batch_starts, raw_frame, read_batch
from loan_recovery.data.seen_keys import SeenKeys
from loan_recovery.data.validation import validate_frame
from loan_recovery.exceptions import ConfigError, DataFileError
from loan_recovery.jobs.batch_task import BatchInput, BatchTask, IntArray, T

if TYPE_CHECKING:
    from distributed import Client

    from loan_recovery.jobs.stream import BookStream

#: ``--dask local``: a cluster of this machine's cores, started for the command.
LOCAL = "local"
#: Seconds to wait for a scheduler before saying it cannot be reached.
_CONNECT_SECONDS = 20

UInt64Array = npt.NDArray[np.uint64]


@dataclass
class DaskBatches:
    """Runs a stream's batch tasks on the cluster behind ``client``."""

    client: Client
    #: Per (book, batch rows): each batch's earlier keys, found once for every pass.
    _earlier: dict[tuple[Path, int], list[SeenKeys | None]] = field(default_factory=dict)

    def run(self, stream: BookStream, task: BatchTask[T], latest: IntArray | None) -> Iterator[T]:
        """``task``'s outcome for each batch of ``stream``'s book, in the book's order."""
        starts = _starts(stream.book, stream.batch_rows)
        earlier = self._earlier_keys(stream, starts)
        inputs = [
            BatchInput(index, earlier[index], _lines_within(latest, first, rows))
            for index, (first, rows) in enumerate(starts)
        ]
        yield from self._ordered(stream, starts, task, inputs)

    def _ordered(
        self,
        stream: BookStream,
        starts: list[tuple[int, int]],
        task: BatchTask[T],
        inputs: list[BatchInput],
    ) -> Iterator[T]:
        """Submit every batch, then hand the outcomes over in order as they complete.

        An outcome is fetched as soon as its task ends, so a worker frees it at once; the
        driver keeps the compact outcomes that arrive ahead of their turn.
        """
        from distributed import as_completed

        futures = {
            self.client.submit(
                _run_batch, stream.book, first, rows, stream.mapping, task, batch, pure=False
            ): batch.index
            for (first, rows), batch in zip(starts, inputs, strict=True)
        }
        stream.progress.start(stream.book.total)
        ready: dict[int, T] = {}
        following = 0
        try:
            for future in as_completed(futures):
                index = futures[future]
                ready[index] = future.result()
                future.release()
                stream.progress.advance(starts[index][1])
                while following in ready:
                    yield ready.pop(following)
                    following += 1
        finally:
            self.client.cancel(list(futures))

    def _earlier_keys(
        self, stream: BookStream, starts: list[tuple[int, int]]
    ) -> list[SeenKeys | None]:
        if stream.unique_ids:
            return [None] * len(starts)
        cached = (stream.book.path, stream.batch_rows)
        if cached not in self._earlier:
            task = partial(
                _batch_keys, settings=stream.settings, require_label=stream.require_label
            )
            alone = [BatchInput(index, None, None) for index in range(len(starts))]
            stream.progress.stage("Finding Loan_IDs repeated across batches")
            keys = list(self._ordered(stream, starts, task, alone))
            self._earlier[cached] = earlier_keys(keys)
        return self._earlier[cached]


def _starts(book: BookInput, batch_rows: int) -> list[tuple[int, int]]:
    starts = batch_starts(book, batch_rows)
    if not starts:
        raise DataFileError(f"data file has a header but no data rows: {book.path}")
    return starts


def _run_batch(
    book: BookInput,
    first_row: int,
    rows: int,
    mapping: Mapping[str, str] | None,
    task: BatchTask[T],
    batch: BatchInput,
) -> T:
    """On a worker: read the batch's rows from the shared book and run the task on them."""
    return task(raw_frame(book, read_batch(book, first_row, rows), mapping), batch)


def _lines_within(latest: IntArray | None, first_row: int, rows: int) -> IntArray | None:
    """The latest-snapshot lines that fall in a batch (the rest of the book's stay home)."""
    if latest is None:
        return None
    line = first_row + schema.FIRST_DATA_LINE
    low, high = np.searchsorted(latest, [line, line + rows])
    within: IntArray = latest[low:high]
    return within


def _batch_keys(
    raw: pd.DataFrame, batch: BatchInput, *, settings: Settings, require_label: bool
) -> tuple[UInt64Array, UInt64Array, IntArray]:
    """A batch's loan keys as validation records them (first occurrence in the batch)."""
    seen = SeenKeys()
    validate_frame(raw, settings=settings, require_label=require_label, seen=seen)
    return seen.arrays()


def earlier_keys(
    batches: list[tuple[UInt64Array, UInt64Array, IntArray]],
) -> list[SeenKeys | None]:
    """Per batch, the keys of its rows that an earlier batch met first, with that line.

    ``batches`` holds each batch's own keys at their first line in it. A key's first
    line in the book is its smallest; every other batch holding the key repeats it.
    """
    count = len(batches)
    first = np.concatenate([keys[0] for keys in batches])
    second = np.concatenate([keys[1] for keys in batches])
    lines = np.concatenate([keys[2] for keys in batches])
    owner = np.repeat(np.arange(count), [len(keys[0]) for keys in batches])
    order = np.lexsort((lines, second, first))
    first, second, lines, owner = first[order], second[order], lines[order], owner[order]
    starts = np.r_[True, (first[1:] != first[:-1]) | (second[1:] != second[:-1])]
    group = np.cumsum(starts) - 1
    head = np.flatnonzero(starts)
    first_line, first_owner = lines[head][group], owner[head][group]
    repeats = first_owner != owner
    result: list[SeenKeys | None] = [None] * count
    for index in np.unique(owner[repeats]):
        mine = repeats & (owner == index)
        keys = SeenKeys()
        keys.add(first[mine], second[mine], first_line[mine])
        result[int(index)] = keys
    return result


@contextmanager
def dask_cluster(address: str, connect_seconds: float = _CONNECT_SECONDS) -> Iterator[DaskBatches]:
    """A client of the cluster at ``address`` (``local``: one started for this command).

    Raises :class:`ConfigError` when Dask is not installed or the scheduler cannot be
    reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "the Dask engine needs Dask: pip install 'loan-recovery[dask]'."
        ) from None
    if address == LOCAL:
        with (
            LocalCluster(
                n_workers=os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield DaskBatches(client)
        return
    try:
        client = Client(address, timeout=connect_seconds)
    except (OSError, TimeoutError) as error:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {error}") from None
    with client:
        yield DaskBatches(client)


def cluster_address(settings: Settings, asked: str | None) -> str | None:
    """The cluster a command runs on: ``--dask``, else ``compute.scheduler`` when the
    engine is ``dask`` (``local`` when no scheduler is set); None runs in this process."""
    if asked:
        return asked
    if settings.compute.engine == "dask":
        return settings.compute.scheduler or LOCAL
    return None
