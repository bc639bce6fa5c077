"""On a Dask cluster (two worker processes), validate, score and plan give the local
streamed results byte for byte: the same batch tasks run on the workers. The cluster
fixture is in conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.seen_keys import SeenKeys, key_hashes
from loan_recovery.exceptions import ConfigError, UnsupportedFormatError
from loan_recovery.jobs.dask_batches import DaskBatches, dask_cluster, earlier_keys
from loan_recovery.jobs.stream import stream_score, stream_validate
from loan_recovery.jobs.stream_plan import StreamPlanRun, stream_plan
from loan_recovery.models.bundle import ModelBundle


def _dataset(table: pd.DataFrame, folder: Path, files: int = 3) -> Path:
    folder.mkdir()
    for part, rows in enumerate(np.array_split(np.arange(len(table)), files)):
        write_table(table.iloc[rows], folder / f"part-{part}.parquet")
    return folder


def _snapshots_with_repeats(book: pd.DataFrame) -> pd.DataFrame:
    """Snapshots whose older rows come last, one bad row, and a (Loan_ID, date) key
    repeated in a later batch than its first."""
    later = book.head(1_200).assign(**{schema.AS_OF_DATE: "2026-10-31"})
    older = book.head(700).assign(**{schema.AS_OF_DATE: "2026-09-30"})
    table = pd.concat([later, older, later.iloc[[4, 650]]], ignore_index=True)
    table[schema.AGE] = table[schema.AGE].astype(str)
    table.loc[900, schema.AGE] = "old"  # its only snapshot
    return table


def _plans(
    source: Path, folder: Path, cluster: DaskBatches, **options: Any
) -> dict[str, StreamPlanRun]:
    """The same streamed plan here ("local") and on the cluster ("dask"), as Parquet."""
    runs = {
        name: stream_plan(source, out=folder / f"{name}.parquet", cluster=engine, **options)
        for name, engine in (("local", None), ("dask", cluster))
    }
    pd.testing.assert_frame_equal(
        pd.read_parquet(folder / "dask.parquet"), pd.read_parquet(folder / "local.parquet")
    )
    return runs


def test_a_plan_on_the_cluster_equals_the_local_streamed_plan(
    tmp_path: Path,
    book: pd.DataFrame,
    small_explain: Settings,
    bundle: ModelBundle,
    cluster: DaskBatches,
) -> None:
    source = _dataset(book, tmp_path / "book")
    runs = _plans(source, tmp_path, cluster, settings=small_explain, bundle=bundle, batch_rows=500)
    assert runs["dask"].run.tally.batches == runs["local"].run.tally.batches == 5
    assert runs["dask"].totals() == runs["local"].totals()
    assert not (tmp_path / ".dask.parquet.parts").exists()


def test_capacity_and_a_budget_on_the_cluster_give_the_local_assignment(
    tmp_path: Path,
    book: pd.DataFrame,
    small_explain: Settings,
    bundle: ModelBundle,
    cluster: DaskBatches,
) -> None:
    source = _dataset(book, tmp_path / "book")
    runs = _plans(
        source,
        tmp_path,
        cluster,
        settings=small_explain,
        bundle=bundle,
        capacity={"call": 40, "reminder": 100},
        budget=1_500_000.0,
        batch_rows=700,
    )
    assert runs["dask"].objective == runs["local"].objective
    assert runs["dask"].prices == runs["local"].prices


def test_keys_repeated_across_batches_and_snapshots_settle_as_locally(
    tmp_path: Path,
    book: pd.DataFrame,
    small_explain: Settings,
    bundle: ModelBundle,
    cluster: DaskBatches,
) -> None:
    source = _dataset(_snapshots_with_repeats(book), tmp_path / "book", files=2)
    for name, engine in (("local", None), ("dask", cluster)):
        stream_plan(
            source,
            out=tmp_path / f"{name}.csv",
            settings=small_explain,
            bundle=bundle,
            quarantine_path=tmp_path / f"{name}.plan-quarantine.csv",
            batch_rows=400,
            cluster=engine,
        )
        stream_validate(
            source,
            settings=small_explain,
            quarantine_path=tmp_path / f"{name}.q.csv",
            warnings_path=tmp_path / f"{name}.w.csv",
            batch_rows=400,
            cluster=engine,
        )
    plan = pd.read_csv(tmp_path / "dask.csv")
    assert len(plan) == 1_199  # 1,200 loans, one rejected on its only snapshot row
    assert plan[schema.LOAN_ID].is_unique
    for name in ("{}.csv", "{}.plan-quarantine.csv", "{}.q.csv"):
        dask_bytes = (tmp_path / name.format("dask")).read_bytes()
        assert dask_bytes == (tmp_path / name.format("local")).read_bytes(), name
    quarantine = pd.read_csv(tmp_path / "dask.q.csv", keep_default_na=False)
    # The repeats sit in the second batch and file; they name the first file's lines.
    assert quarantine["reason"].str.contains("repeats line 6; the first is kept").sum() == 1
    assert quarantine["reason"].str.contains("repeats line 652; the first is kept").sum() == 1


def test_scores_on_the_cluster_equal_the_local_scores(
    tmp_path: Path,
    book: pd.DataFrame,
    settings: Settings,
    bundle: ModelBundle,
    cluster: DaskBatches,
) -> None:
    source = _dataset(book.head(1_000), tmp_path / "book")
    local = stream_score(
        source, out=tmp_path / "local.csv", settings=settings, bundle=bundle, batch_rows=300
    )
    remote = stream_score(
        source,
        out=tmp_path / "dask.csv",
        settings=settings,
        bundle=bundle,
        batch_rows=300,
        cluster=cluster,
    )
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert remote.loans == local.loans == 1_000
    assert not (tmp_path / ".dask.csv.parts").exists()


def test_the_cli_runs_a_plan_on_a_scheduler_address(
    tmp_path: Path,
    book: pd.DataFrame,
    served_models: Path,
    cluster: DaskBatches,
) -> None:
    source = _dataset(book.head(900), tmp_path / "book", files=2)
    address = cluster.client.scheduler.address
    runner = CliRunner()
    common = ["plan", str(source), "--models", str(served_models), "--batch-rows", "400"]
    local = runner.invoke(app, [*common, "--out", str(tmp_path / "local.csv")])
    remote = runner.invoke(app, [*common, "--out", str(tmp_path / "dask.csv"), "--dask", address])
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    assert "Planned 900 loans" in remote.output
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


def test_a_csv_book_and_an_unreachable_scheduler_are_refused_with_the_reason(
    tmp_path: Path, book: pd.DataFrame, settings: Settings, cluster: DaskBatches
) -> None:
    source = write_table(book.head(50), tmp_path / "book.csv")
    with pytest.raises(UnsupportedFormatError, match=r"only a Parquet book .* book.csv is CSV"):
        stream_validate(source, settings=settings, cluster=cluster)
    with (
        pytest.raises(
            ConfigError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
        ),
        dask_cluster("tcp://127.0.0.1:9", connect_seconds=1),
    ):
        pass


def test_earlier_keys_give_each_batch_only_the_keys_an_earlier_batch_met_first() -> None:
    def keys(ids: list[str], lines: list[int]) -> tuple[np.ndarray, ...]:
        first, second = key_hashes(np.array(ids, dtype=object), None)
        return first, second, np.array(lines, dtype=np.int64)

    batches = [keys(["a", "b"], [2, 3]), keys(["c", "a"], [4, 5]), keys(["b", "c", "d"], [6, 7, 8])]
    earlier = earlier_keys(batches)
    assert earlier[0] is None
    assert isinstance(earlier[1], SeenKeys)
    assert isinstance(earlier[2], SeenKeys)
    first, second = key_hashes(np.array(["a", "b", "c", "d"], dtype=object), None)
    assert earlier[1].first_lines(first, second).tolist() == [2, -1, -1, -1]
    assert earlier[2].first_lines(first, second).tolist() == [-1, 3, 4, -1]
