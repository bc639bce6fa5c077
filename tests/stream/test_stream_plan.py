"""A streamed plan equals the in-memory plan, loan by loan, whatever the batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.plan import run_plan
from loan_recovery.jobs.stream_plan import stream_plan
from loan_recovery.models.bundle import ModelBundle
from loan_recovery.strategy.actions import HOLD


def _in_memory(path: Path, tmp_path: Path, settings: Settings, bundle: ModelBundle) -> pd.DataFrame:
    outcome = run_plan(path, out=tmp_path / "memory.csv", settings=settings, bundle=bundle)
    return pd.read_csv(outcome.out_path, keep_default_na=False, na_values=[""])


def _streamed(
    path: Path, out: Path, settings: Settings, bundle: ModelBundle, batch_rows: int
) -> tuple[pd.DataFrame, pd.Series]:
    stream_plan(path, out=out, settings=settings, bundle=bundle, batch_rows=batch_rows)
    if out.suffix == ".csv":
        frame = pd.read_csv(out, keep_default_na=False, na_values=[""])
    else:  # Parquet keeps blank text as "", which a CSV reads back as missing
        frame = pd.read_parquet(out)
        text = [name for name in frame.columns if pd.api.types.is_string_dtype(frame[name])]
        frame[text] = frame[text].replace("", np.nan)
    return frame.drop(columns=[schema.WORKLIST_RANK]), frame[schema.WORKLIST_RANK]


def _by_loan(frame: pd.DataFrame, order: pd.Series) -> pd.DataFrame:
    return frame.set_index(schema.LOAN_ID).loc[order].reset_index()


@pytest.mark.parametrize("batch_rows", [700, 2_400])
def test_streamed_csv_plan_equals_the_in_memory_plan(
    tmp_path: Path,
    book: pd.DataFrame,
    small_explain: Settings,
    bundle: ModelBundle,
    batch_rows: int,
) -> None:
    source = write_table(book, tmp_path / "book.csv")
    memory = _in_memory(source, tmp_path, small_explain, bundle)
    streamed, ranks = _streamed(source, tmp_path / "plan.csv", small_explain, bundle, batch_rows)

    pd.testing.assert_frame_equal(_by_loan(streamed, memory[schema.LOAN_ID]), memory)
    # Reasons went to the book's first 150 worked loans, not to 150 per batch.
    explained = streamed[schema.reason_column(1)].fillna("") != ""
    assert explained.sum() == 150
    # The rank is each worked loan's place in the in-memory worklist.
    worked = memory[memory[schema.RECOMMENDED_ACTION] != HOLD][schema.LOAN_ID]
    expected = pd.Series(np.arange(1, len(worked) + 1), index=worked.to_numpy())
    got = pd.Series(ranks.to_numpy(), index=streamed[schema.LOAN_ID].to_numpy()).dropna()
    pd.testing.assert_series_equal(got.astype(np.int64).loc[expected.index], expected)


def test_streamed_parquet_dataset_plan_equals_the_in_memory_plan(
    tmp_path: Path, book: pd.DataFrame, small_explain: Settings, bundle: ModelBundle
) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    for part, rows in enumerate(np.array_split(np.arange(len(book)), 3)):
        write_table(book.iloc[rows], folder / f"part-{part}.parquet")
    whole = write_table(book, tmp_path / "whole.parquet")
    memory = _in_memory(whole, tmp_path, small_explain, bundle)
    streamed, _ = _streamed(folder, tmp_path / "plan", small_explain, bundle, 500)
    pd.testing.assert_frame_equal(
        _by_loan(streamed, memory[schema.LOAN_ID]), memory, check_dtype=False
    )


def test_a_small_streamed_book_explains_every_loan_as_in_memory(
    tmp_path: Path, book: pd.DataFrame, small_explain: Settings, bundle: ModelBundle
) -> None:
    source = write_table(book.head(20), tmp_path / "small.csv")
    memory = _in_memory(source, tmp_path, small_explain, bundle)
    streamed, _ = _streamed(source, tmp_path / "plan.csv", small_explain, bundle, 7)
    assert (memory[schema.reason_column(1)].fillna("") != "").all()
    pd.testing.assert_frame_equal(_by_loan(streamed, memory[schema.LOAN_ID]), memory)


def test_reasons_for_all_stream_as_in_memory(
    tmp_path: Path, book: pd.DataFrame, settings: Settings, bundle: ModelBundle
) -> None:
    every = settings.with_explain(scope="all")
    source = write_table(book.head(600), tmp_path / "book.csv")
    memory = _in_memory(source, tmp_path, every, bundle)
    streamed, _ = _streamed(source, tmp_path / "plan.csv", every, bundle, 250)
    pd.testing.assert_frame_equal(_by_loan(streamed, memory[schema.LOAN_ID]), memory)


def test_snapshots_are_planned_on_each_loans_latest_row_across_batches(
    tmp_path: Path, book: pd.DataFrame, small_explain: Settings, bundle: ModelBundle
) -> None:
    older = book.head(900).assign(**{schema.AS_OF_DATE: "2026-09-30"})
    later = book.head(1_500).assign(**{schema.AS_OF_DATE: "2026-10-31"})
    undated = book.iloc[1_500:1_600].assign(**{schema.AS_OF_DATE: ""})
    # Older snapshots come last, so a batch cannot know its rows are not the latest.
    table = pd.concat([later, undated, older], ignore_index=True)
    source = write_table(table, tmp_path / "snapshots.csv")
    memory = _in_memory(source, tmp_path, small_explain, bundle)
    assert len(memory) == 1_600
    streamed, _ = _streamed(source, tmp_path / "plan.csv", small_explain, bundle, 400)
    assert len(streamed) == 1_600
    pd.testing.assert_frame_equal(_by_loan(streamed, memory[schema.LOAN_ID]), memory)


def test_streamed_totals_add_up_to_the_in_memory_totals(
    tmp_path: Path, book: pd.DataFrame, small_explain: Settings, bundle: ModelBundle
) -> None:
    source = write_table(book, tmp_path / "book.csv")
    memory = run_plan(source, out=tmp_path / "memory.csv", settings=small_explain, bundle=bundle)
    streamed = stream_plan(
        source, out=tmp_path / "plan.csv", settings=small_explain, bundle=bundle, batch_rows=500
    )
    assert streamed.loans == len(book)
    assert streamed.run.tally.batches >= 4
    for name, value in memory.plan.totals().items():
        assert streamed.totals()[name] == pytest.approx(value, rel=1e-12), name
    pd.testing.assert_frame_equal(
        streamed.summary().loc[memory.plan.summary().index], memory.plan.summary(), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("limits", "budget"),
    [({"call": 40, "reminder": 100}, None), ({"call": 40}, 2_000_000.0), ({}, 500_000.0)],
)
def test_capacity_shared_across_batches_matches_the_in_memory_plan(
    tmp_path: Path,
    book: pd.DataFrame,
    small_explain: Settings,
    bundle: ModelBundle,
    limits: dict[str, int],
    budget: float | None,
) -> None:
    source = write_table(book, tmp_path / "book.csv")
    memory = run_plan(
        source,
        out=tmp_path / "memory.csv",
        settings=small_explain,
        bundle=bundle,
        capacity=limits,
        budget=budget,
    )
    streamed = stream_plan(
        source,
        out=tmp_path / "plan.parquet",
        settings=small_explain,
        bundle=bundle,
        capacity=limits,
        budget=budget,
        batch_rows=500,
    )
    plan = pd.read_parquet(tmp_path / "plan.parquet")
    counts = plan[schema.RECOMMENDED_ACTION].value_counts()
    for action, slots in limits.items():
        assert counts.get(action, 0) <= slots
    if budget is not None:
        assert plan[schema.EXPECTED_COST].sum() <= budget * (1 + 1e-12)
    exact = memory.plan.capacity_plan
    assert exact is not None
    assert streamed.objective is not None
    # The same separable LP: the streamed objective is the in-memory one, to rounding of
    # the one loan a budget may split.
    assert streamed.objective == pytest.approx(exact.objective, rel=5e-3)
    assert streamed.objective <= exact.upper_bound * (1 + 1e-9)
    worked = plan[plan[schema.RECOMMENDED_ACTION] != HOLD]
    assert (worked[schema.PRIORITY] >= 0).all()
    assert set(streamed.prices) == set(limits) | ({"budget"} if budget is not None else set())
    if budget is None:
        in_memory = memory.plan.worklist.set_index(schema.LOAN_ID)[schema.RECOMMENDED_ACTION]
        mine = plan.set_index(schema.LOAN_ID)[schema.RECOMMENDED_ACTION].loc[in_memory.index]
        assert (mine.to_numpy() == in_memory.to_numpy()).mean() > 0.999
    assert streamed.totals()["loans"] == len(book)
    assert streamed.totals()["expected_cost"] == pytest.approx(plan[schema.EXPECTED_COST].sum())


def test_the_random_policy_and_an_unguarded_capacity_plan_are_refused_up_front(
    tmp_path: Path, book: pd.DataFrame, settings: Settings, bundle: ModelBundle
) -> None:
    source = write_table(book.head(50), tmp_path / "book.csv")
    with pytest.raises(ConfigError, match="random policy"):
        stream_plan(
            source, out=tmp_path / "plan.csv", settings=settings, bundle=bundle, policy="random"
        )
    unsafe = settings.model_copy(
        update={
            "strategy": settings.strategy.model_copy(
                update={"safe": settings.strategy.safe.model_copy(update={"enabled": False})}
            )
        }
    )
    with pytest.raises(ConfigError, match="safe policy"):
        stream_plan(
            source, out=tmp_path / "plan.csv", settings=unsafe, bundle=bundle, capacity={"call": 5}
        )
    assert not (tmp_path / "plan.csv").exists()
