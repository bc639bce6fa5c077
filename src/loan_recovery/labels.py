"""Text labels (action names, segment names) kept as integer codes until they are shown.

A plan picks one of a handful of names per loan. Building those columns as Python string
objects and letting pandas convert them to its Arrow-backed ``str`` dtype costs tens of
milliseconds per million loans each time, and reading them back costs as much again; a
plan used to do that a dozen times. Here the names are looked up and written in Arrow
(``take`` on the names, ``index_in`` against them), so a label column costs no more than
its integer codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionArray
from pandas.arrays import ArrowStringArray

IntArray = npt.NDArray[np.int64]

#: pandas' default text dtype (``"str"``): Arrow storage, NaN for missing.
TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
_TEXT = pa.large_string()


def label_array(names: Sequence[str], codes: npt.ArrayLike) -> ExtensionArray:
    """``names[code]`` for every code, as pandas' ``str`` array; a negative code is missing."""
    positions = np.asarray(codes, dtype=np.int64)
    indices = pa.array(positions, mask=positions < 0)
    taken = pa.array(list(names), type=_TEXT).take(indices)
    labels: ExtensionArray = pd.array(taken, dtype=TEXT_DTYPE)  # wraps the Arrow array
    return labels


def label_series(
    names: Sequence[str], codes: npt.ArrayLike, index: pd.Index, name: str | None = None
) -> pd.Series:
    """:func:`label_array` as a Series on ``index``."""
    return pd.Series(label_array(names, codes), index=index, name=name, copy=False)


def label_codes(values: pd.Series | npt.ArrayLike, names: Sequence[str]) -> IntArray:
    """Position of each value in ``names``; -1 for a value not among them or missing."""
    if isinstance(values, pd.Series) and isinstance(values.array, ArrowStringArray):
        text = values.array.__arrow_array__()
    else:
        array = np.asarray(values, dtype=object)
        text = pa.array(array, type=_TEXT, from_pandas=True)
    found = pc.fill_null(pc.index_in(text, value_set=pa.array(list(names), type=_TEXT)), -1)
    codes: IntArray = np.asarray(found.to_numpy(), dtype=np.int64)
    return codes
