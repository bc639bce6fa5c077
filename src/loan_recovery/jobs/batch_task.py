"""What a streamed job's task is given for one batch, wherever it runs.

A streamed job is written as a task: a function of one batch's raw rows and a
:class:`BatchInput`, returning a compact outcome. The same task runs in this process
(batch after batch) or on a Dask worker (:mod:`loan_recovery.jobs.dask_batches`), so the
two paths cannot drift apart. A task sent to a worker must pickle: it is a module-level
function with its settings bound by :func:`functools.partial`, and it names its models by
a :class:`BundleRef` (loaded once per worker) rather than carrying them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.data.seen_keys import SeenKeys
from loan_recovery.models.bundle import BundleRef, BundleSource, ModelBundle

if TYPE_CHECKING:
    from loan_recovery.jobs.dask_batches import DaskBatches

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")


@dataclass(frozen=True)
class BatchInput:
    """One batch's place in the book and what it must know of the rest of it."""

    #: The batch's position in the book (0 first): names its output part.
    index: int
    #: Keys of the earlier batches, for repeats across batches (None: every ID distinct).
    seen: SeenKeys | None
    #: Sorted source lines of each loan's latest snapshot (None: no snapshots).
    latest: IntArray | None


#: A streamed job's work on one batch: raw rows (indexed by source line) in, outcome out.
BatchTask = Callable[[pd.DataFrame, BatchInput], T]


def bundle_source(bundle: ModelBundle, cluster: DaskBatches | None) -> BundleSource:
    """The models a task uses: the loaded bundle here, its registry address on a cluster
    (every worker loads it once from the shared registry)."""
    return bundle if cluster is None else BundleRef.of(bundle)


def parts_folder(out: Path) -> Path:
    """Where a job's tasks write their parts before they are joined into ``out``: beside
    it, so on the storage ``out`` is on (which a cluster's workers must see)."""
    return out.with_name(f".{out.name}.parts")
