"""The streamed commands from the command line: same answers, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.jobs.score import run_score
from loan_recovery.jobs.stream import stream_score
from loan_recovery.models.bundle import ModelBundle


def test_streamed_scores_equal_in_memory_scores(
    tmp_path: Path, book: pd.DataFrame, settings: Settings, bundle: ModelBundle
) -> None:
    source = write_table(book.head(900), tmp_path / "book.csv")
    memory = run_score(source, out=tmp_path / "memory.csv", settings=settings, bundle=bundle)
    streamed = stream_score(
        source, out=tmp_path / "scores.csv", settings=settings, bundle=bundle, batch_rows=200
    )
    assert streamed.loans == 900
    assert streamed.run.tally.batches >= 4
    assert (tmp_path / "scores.csv").read_bytes() == memory.out_path.read_bytes()


def test_plan_streams_from_the_command_line(
    tmp_path: Path, book: pd.DataFrame, served_models: Path
) -> None:
    source = write_table(book.head(600), tmp_path / "book.csv")
    result = CliRunner().invoke(
        app,
        [
            "plan",
            str(source),
            "--out",
            str(tmp_path / "plan"),
            "--models",
            str(served_models),
            "--stream",
            "--batch-rows",
            "150",
            "--capacity",
            "call=30",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Planned 600 loans" in result.output
    assert "shadow prices: call" in result.output
    plan = pd.read_parquet(tmp_path / "plan")
    assert len(plan) == 600
    assert (plan[schema.RECOMMENDED_ACTION] == "call").sum() <= 30
    assert len(list((tmp_path / "plan").glob("*.parquet"))) == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--store"], "--store writes a whole plan"), ([], "Excel holds at most")],
)
def test_what_a_streamed_plan_cannot_write_is_refused(
    tmp_path: Path, book: pd.DataFrame, served_models: Path, extra: list[str], message: str
) -> None:
    source = write_table(book.head(50), tmp_path / "book.csv")
    out = tmp_path / ("plan.csv" if extra else "plan.xlsx")
    result = CliRunner().invoke(
        app,
        [
            "plan",
            str(source),
            "--out",
            str(out),
            "--models",
            str(served_models),
            "--stream",
            *extra,
        ],
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.parametrize("command", ["plan", "score"])
@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
def test_a_file_of_only_rejected_rows_is_refused_with_the_quarantine_named(
    tmp_path: Path, book: pd.DataFrame, served_models: Path, command: str, mode: str
) -> None:
    broken = book.head(30).assign(**{schema.AGE: "unknown"})
    source = write_table(broken, tmp_path / "book.csv")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app, [command, str(source), "--out", str(out), "--models", str(served_models), mode]
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"no loan to {command}: all 30 rows were rejected" in text
    assert "book.quarantine.csv" in text
    assert (tmp_path / "book.quarantine.csv").exists()
    assert not out.exists()
