"""A book simulated in parts is reproducible, numbered as one book, and streamable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.data import schema
from loan_recovery.simulation.book import part_sizes


def test_part_sizes_cover_the_book() -> None:
    assert part_sizes(10, 4) == [4, 4, 2]
    assert part_sizes(8, 4) == [4, 4]
    assert part_sizes(3, 10) == [3]


def test_a_book_simulated_in_parts_is_the_same_every_time(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("one", "two"):
        result = runner.invoke(
            app,
            [
                "simulate",
                "--out",
                str(tmp_path / name),
                "--loans",
                "2500",
                "--seed",
                "3",
                "--batch-rows",
                "1000",
                "--truth",
                str(tmp_path / f"{name}-truth.csv"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "in 3 part(s)" in result.output
    first = pd.read_parquet(tmp_path / "one")
    assert first.equals(pd.read_parquet(tmp_path / "two"))
    assert first[schema.LOAN_ID].is_unique
    assert first[schema.LOAN_ID].iloc[[0, 1_000, 2_499]].tolist() == [
        "LN0000001",
        "LN0001001",
        "LN0002500",
    ]
    truth = pd.read_csv(tmp_path / "one-truth.csv")
    assert truth[schema.LOAN_ID].tolist() == first[schema.LOAN_ID].tolist()
    # The parts are different loans, not one part repeated.
    assert (
        first[schema.LOAN_AMOUNT].iloc[:1_000].tolist()
        != first[schema.LOAN_AMOUNT].iloc[1_000:2_000].tolist()
    )
