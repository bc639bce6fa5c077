"""The early-warning commands: simulate instalments, train with the time split, list alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.data import schema

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 simulated loans with 12 months of instalments, written by the CLI."""
    folder = tmp_path_factory.mktemp("ew_cli")
    result = runner.invoke(
        app,
        [
            "simulate",
            "--out", str(folder / "loans.csv"),
            "--loans", "1500",
            "--seed", "3",
            "--payments-out", str(folder / "payments.csv"),
            "--months", "12",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "instalments to" in result.stdout
    return folder


def test_simulate_writes_twelve_months(files: Path) -> None:
    """Gives --months 12; expects at most 12 instalments per loan in the file."""
    payments = pd.read_csv(files / "payments.csv")
    assert list(payments.columns) == list(schema.PAYMENT_COLUMNS)
    assert payments.groupby(schema.LOAN_ID).size().max() == 12


def test_months_needs_payments_out(tmp_path: Path) -> None:
    """Gives --months without --payments-out; expects a usage error (exit 2)."""
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x.csv"), "--months", "3"])
    assert result.exit_code == 2


def test_train_then_alert(files: Path, tmp_path: Path) -> None:
    """Gives the files; expects train-early-warning to save v0001 as champion with metrics,
    then alerts to write a file whose scores all cross the threshold (exit 0)."""
    models = tmp_path / "models"
    trained = runner.invoke(
        app,
        [
            "train-early-warning",
            "--payments", str(files / "payments.csv"),
            "--loans", str(files / "loans.csv"),
            "--models", str(models),
            "--json",
        ],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    payload = json.loads(trained.stdout)
    assert payload["version"] == "v0001"
    assert payload["promoted"] is True
    assert payload["test_metrics"]["roc_auc"] > 0.6
    assert payload["train_max_due_date"] < payload["test_cutoff"]

    out = tmp_path / "alerts.csv"
    listed = runner.invoke(
        app,
        [
            "alerts",
            "--payments", str(files / "payments.csv"),
            "--loans", str(files / "loans.csv"),
            "--models", str(models),
            "--threshold", "0.4",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert listed.exit_code == 0, listed.output
    assert "alerts (model v0001)" in listed.stdout
    alerts = pd.read_csv(out)
    assert len(alerts) > 0
    assert (alerts[schema.EARLY_WARNING_SCORE] >= 0.4).all()


def test_alerts_without_a_model_is_a_clear_error(files: Path, tmp_path: Path) -> None:
    """Gives an empty registry; expects exit 2 and a message, no traceback."""
    result = runner.invoke(
        app,
        [
            "alerts",
            "--payments", str(files / "payments.csv"),
            "--loans", str(files / "loans.csv"),
            "--models", str(tmp_path / "none"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "train a model first" in result.output
    assert "Traceback" not in result.output
