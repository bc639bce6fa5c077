"""The loan keys of a streamed book's earlier batches, for duplicates across batches.

A book read in batches must still reject a row that repeats a loan key (the Loan_ID, or
Loan_ID and As_Of_Date in a table of snapshots) from any earlier batch, and name the line
of the first one, exactly as a one-shot validation does. Holding 20 million Loan_IDs as
Python strings would take gigabytes, so each key is kept as two independent 64-bit hashes
and the line it first appeared on (24 bytes a key): the first hash is searched, the second
confirms. Two different keys would have to collide in 128 bits to be taken for one.

The keys live in a few sorted runs of doubling size (a log-structured merge), so adding a
batch costs a sort of the batch plus amortised merges, and a lookup a binary search per
run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]

_SECOND_KEY = "loan-recovery-2x"
_NO_LINES: Int64Array = np.empty(0, np.int64)  # pandas wants a 16-character hash key


def key_hashes(
    ids: npt.NDArray[np.object_], dates: npt.NDArray[np.int64] | None
) -> tuple[UInt64Array, UInt64Array]:
    """Two independent 64-bit hashes of each (Loan_ID text, date as int64 or none) key."""
    first = pd.util.hash_array(ids, categorize=False)
    second = pd.util.hash_array(ids, hash_key=_SECOND_KEY, categorize=False)
    if dates is not None:
        # The date enters both hashes through a bijective mix, so (id, date) pairs differ
        # whenever either part differs.
        mixed = pd.util.hash_array(dates.astype(np.int64).view(np.uint64))
        first = first ^ (mixed * np.uint64(0x9E3779B97F4A7C15))
        second = second ^ (mixed + np.uint64(0x632BE59BD9B4E019))
    return first.astype(np.uint64), second.astype(np.uint64)


@dataclass
class _Run:
    first: UInt64Array
    second: UInt64Array
    lines: Int64Array


@dataclass
class SeenKeys:
    """Every key added so far, with the line it came from."""

    _runs: list[_Run] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(run.first) for run in self._runs)

    def first_lines(self, first: UInt64Array, second: UInt64Array) -> Int64Array:
        """Per key, the line it was first added on, or -1 when it was never added."""
        found = np.full(len(first), -1, dtype=np.int64)
        for run in self._runs:
            if not len(run.first):
                continue
            at = np.minimum(np.searchsorted(run.first, first), len(run.first) - 1)
            hit = (run.first[at] == first) & (run.second[at] == second) & (found < 0)
            found[hit] = run.lines[at[hit]]
        return found

    def arrays(self) -> tuple[UInt64Array, UInt64Array, Int64Array]:
        """Every key's two hashes and first line (in no particular order)."""
        runs = self._runs or [_Run(np.empty(0, np.uint64), np.empty(0, np.uint64), _NO_LINES)]
        return (
            np.concatenate([run.first for run in runs]),
            np.concatenate([run.second for run in runs]),
            np.concatenate([run.lines for run in runs]),
        )

    def add(self, first: UInt64Array, second: UInt64Array, lines: Int64Array) -> None:
        """Remember new keys (the caller passes each key once, at its first line)."""
        order = np.argsort(first, kind="stable")
        run = _Run(first[order], second[order], lines[order].astype(np.int64))
        # Merge while the newest run is at least as large as the one before it: runs keep
        # doubling, so there are at most log2(keys / batch) of them.
        while self._runs and len(self._runs[-1].first) <= len(run.first):
            run = _merge(self._runs.pop(), run)
        self._runs.append(run)


def _merge(older: _Run, newer: _Run) -> _Run:
    first = np.concatenate([older.first, newer.first])
    order = np.argsort(first, kind="stable")
    return _Run(
        first[order],
        np.concatenate([older.second, newer.second])[order],
        np.concatenate([older.lines, newer.lines])[order],
    )
