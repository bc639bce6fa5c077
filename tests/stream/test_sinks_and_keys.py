"""Batch writers give the bytes of a one-shot write; the key memory finds every repeat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from loan_recovery.data.io import write_table
from loan_recovery.data.seen_keys import SeenKeys, key_hashes
from loan_recovery.data.sinks import TableSink
from loan_recovery.exceptions import DataFileError


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "id": [f"L{i:04d}" for i in range(1_000)],
            "amount": rng.normal(size=1_000),
            "kind": pd.Categorical(rng.choice(["a", "b"], size=1_000), categories=["a", "b"]),
            "note": [None] * 500 + ["x"] * 500,  # all blank in the first batches
        }
    )


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz"])
def test_a_csv_written_in_batches_has_the_bytes_of_a_one_shot_write(
    tmp_path: Path, name: str
) -> None:
    frame = _frame()
    whole = write_table(frame, tmp_path / f"whole-{name}")
    with TableSink(tmp_path / name) as sink:
        for rows in np.array_split(np.arange(len(frame)), 7):
            sink.write(frame.iloc[rows])
    assert sink.rows == 1_000
    read = pd.read_csv(tmp_path / name)
    pd.testing.assert_frame_equal(read, pd.read_csv(whole))
    if not name.endswith(".gz"):
        assert (tmp_path / name).read_bytes() == whole.read_bytes()


def test_parquet_file_and_dataset_hold_every_batch(tmp_path: Path) -> None:
    frame = _frame()
    for target in (tmp_path / "out.parquet", tmp_path / "parts"):
        with TableSink(target) as sink:
            for rows in np.array_split(np.arange(len(frame)), 4):
                sink.write(frame.iloc[rows])
        read = pq.read_table(target).to_pandas()
        assert read["id"].tolist() == frame["id"].tolist()
        assert read["note"].tolist()[-1] == "x"
    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) == 4


def test_an_unwritten_sink_leaves_no_file_and_other_columns_are_refused(tmp_path: Path) -> None:
    with TableSink(tmp_path / "nothing.csv"):
        pass
    assert not (tmp_path / "nothing.csv").exists()
    with TableSink(tmp_path / "out.csv") as sink:
        sink.write(_frame().head(3))
        with pytest.raises(DataFileError, match="a batch has columns"):
            sink.write(_frame().head(3).drop(columns=["note"]))


def test_seen_keys_return_the_first_line_of_every_repeat() -> None:
    seen = SeenKeys()
    ids = np.array([f"LN{i}" for i in range(10_000)], dtype=object)
    for start in range(0, 10_000, 700):  # many runs, merged as they double
        first, second = key_hashes(ids[start : start + 700], None)
        seen.add(first, second, np.arange(start, start + len(first)) + 2)
    assert len(seen) == 10_000
    probe = np.array(["LN0", "LN9999", "LN5000", "nope", "LN10000"], dtype=object)
    assert seen.first_lines(*key_hashes(probe, None)).tolist() == [2, 10_001, 5_002, -1, -1]


def test_a_loan_on_another_date_is_another_key() -> None:
    seen = SeenKeys()
    ids = np.array(["LN1", "LN2"], dtype=object)
    days = np.array([100, 100], dtype=np.int64)
    seen.add(*key_hashes(ids, days), np.array([2, 3]))
    later = seen.first_lines(*key_hashes(ids, np.array([100, 101], dtype=np.int64)))
    assert later.tolist() == [2, -1]
