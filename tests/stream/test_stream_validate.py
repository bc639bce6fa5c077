"""A streamed validation finds, counts and keeps what a one-shot validation does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import validate_file
from loan_recovery.jobs.stream import stream_validate
from loan_recovery.render import validation_payload


def _broken_book(book: pd.DataFrame) -> pd.DataFrame:
    """Bad values, an unusable email, and keys repeated within and across batches."""
    table = book.head(1_000).copy()
    table[schema.AGE] = table[schema.AGE].astype(str)
    table.loc[3, schema.AGE] = "old"
    table.loc[640, schema.LOAN_AMOUNT] = -5
    table.loc[10, schema.EMAIL] = "not an email"
    repeats = table.iloc[[5, 5, 410, 999]].copy()  # line 7 twice, then later lines
    repeats.loc[:, schema.DAYS_PAST_DUE] = 1
    return pd.concat([table, repeats], ignore_index=True)


@pytest.mark.parametrize("batch_rows", [100, 333, 5_000])
def test_streamed_validation_reconciles_with_a_one_shot_validation(
    tmp_path: Path, book: pd.DataFrame, settings: Settings, batch_rows: int
) -> None:
    source = write_table(_broken_book(book), tmp_path / "book.csv")
    whole = validate_file(source, settings=settings)
    run = stream_validate(
        source,
        settings=settings,
        quarantine_path=tmp_path / "q.csv",
        warnings_path=tmp_path / "w.csv",
        batch_rows=batch_rows,
    )
    assert validation_payload(run.tally) == validation_payload(whole)
    assert run.tally.rows_read == run.tally.accepted + run.tally.rejected == 1_004
    assert run.tally.reason_counts()["duplicate_loan_id"] == 4
    quarantine = pd.read_csv(tmp_path / "q.csv", dtype=str, keep_default_na=False)
    expected = whole.quarantine.astype(str).reset_index(drop=True)
    pd.testing.assert_frame_equal(quarantine, expected, check_dtype=False)
    # Repeats name the line of the first occurrence, in whatever batch it was.
    assert quarantine["reason"].str.contains("repeats line 7; the first is kept").sum() == 2
    warnings = pd.read_csv(tmp_path / "w.csv", keep_default_na=False)
    assert warnings["line"].tolist() == [12]


def test_blank_lines_keep_their_numbers_across_batches(
    tmp_path: Path, book: pd.DataFrame, settings: Settings
) -> None:
    source = write_table(book.head(300), tmp_path / "book.csv")
    lines = source.read_text().splitlines(keepends=True)
    lines.insert(150, "\n")  # a blank line 151: the row after it is on line 152
    broken = lines[151].split(",")
    broken[book.columns.get_loc(schema.AGE)] = "x"
    lines[151] = ",".join(broken)
    source.write_text("".join(lines))
    run = stream_validate(
        source, settings=settings, quarantine_path=tmp_path / "q.csv", batch_rows=50
    )
    assert run.tally.rows_read == 300
    quarantine = pd.read_csv(tmp_path / "q.csv", keep_default_na=False)
    assert quarantine["line"].tolist() == [152]


def test_validate_streams_from_the_command_line(
    tmp_path: Path, book: pd.DataFrame, settings: Settings
) -> None:
    source = write_table(_broken_book(book), tmp_path / "book.csv")
    runner = CliRunner()
    whole = runner.invoke(app, ["validate", str(source), "--json", "--no-stream"])
    streamed = runner.invoke(
        app, ["validate", str(source), "--json", "--stream", "--batch-rows", "200"]
    )
    assert whole.exit_code == streamed.exit_code == 1
    payload = json.loads(streamed.stdout)
    assert payload.pop("batches") >= 5
    assert payload == json.loads(whole.stdout)


def test_a_missing_or_empty_book_is_a_clear_error(tmp_path: Path, settings: Settings) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["validate", str(tmp_path / "nope.csv"), "--stream"])
    assert missing.exit_code == 2
    assert "not found" in missing.output
    folder = tmp_path / "empty"
    folder.mkdir()
    empty = runner.invoke(app, ["validate", str(folder)])
    assert empty.exit_code == 2
    assert "holds no Parquet files" in empty.output
