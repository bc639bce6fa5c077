"""`loan-recovery dashboard`: the command line it runs and the checks before starting."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import load_settings
from loan_recovery.dashboard.launch import APP_PATH, dashboard_command

runner = CliRunner()


def test_command_runs_streamlit_on_loopback_with_the_options_in_the_environment(
    tmp_path: Path,
) -> None:
    """Gives models, data and a port; expects streamlit run app.py on 127.0.0.1 and env vars."""
    command = dashboard_command(
        load_settings(),
        models_dir=tmp_path / "models",
        data_file=tmp_path / "book.csv",
        payments_file=tmp_path / "payments.csv",
        port=8765,
        base_env={},
    )
    argv = command.argv
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert argv[4] == str(APP_PATH)
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.port") + 1] == "8765"
    assert command.env["LOAN_RECOVERY_MODELS_DIR"] == str((tmp_path / "models").resolve())
    assert command.env["LOAN_RECOVERY_DASHBOARD__DATA_FILE"] == str(
        (tmp_path / "book.csv").resolve()
    )
    assert command.env["LOAN_RECOVERY_DASHBOARD__PAYMENTS_FILE"] == str(
        (tmp_path / "payments.csv").resolve()
    )
    assert command.url == "http://127.0.0.1:8765"


def test_dashboard_without_a_champion_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives an empty registry; expects exit 2 naming `loan-recovery demo`, no server."""
    monkeypatch.delenv("LOAN_RECOVERY_MODELS_DIR", raising=False)
    result = runner.invoke(app, ["dashboard", "--models", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "loan-recovery demo" in result.stderr


def test_dashboard_with_a_missing_payments_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives a registry with a champion and a payments path that does not exist; expects
    exit 2 naming the file, no server."""
    from loan_recovery.dashboard import launch

    monkeypatch.setattr(launch.ModelRegistry, "champion", lambda self: "v0001")
    missing = tmp_path / "nowhere.csv"
    result = runner.invoke(app, ["dashboard", "--payments", str(missing)])
    assert result.exit_code == 2
    assert f"payments file {missing} not found" in result.stderr
