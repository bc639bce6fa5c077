"""The core install: the command line without the optional extras (API, dashboard,
PostgreSQL, tuning) imports, runs the core commands, and refuses the others in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.cli.service_commands import ServerLogLevel
from loan_recovery.config import load_settings
from loan_recovery.exceptions import ModelError
from loan_recovery.models.risk_selection import tune_xgboost

runner = CliRunner()

#: Top-level modules of the extras: what ``import loan_recovery.cli`` must not import.
EXTRA_MODULES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "streamlit",
    "plotly",
    "psycopg",
    "optuna",
)


def _run_python(
    code: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )


def test_importing_the_cli_imports_no_extra(tmp_path: Path) -> None:
    """Imports loan_recovery.cli in a fresh interpreter; expects none of the extras'
    packages loaded (they are imported by the commands that use them)."""
    completed = _run_python(
        f"""
        import json, sys
        import loan_recovery.cli
        print(json.dumps([name for name in {EXTRA_MODULES!r} if name in sys.modules]))
        """,
        tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


#: Runs commands with every extra's package blocked (an import of one fails as if it were
#: not installed) and prints each command's exit code, stdout and stderr as JSON.
_WITHOUT_EXTRAS = """
import json, sys
for name in {modules!r}:
    sys.modules[name] = None
from typer.testing import CliRunner
from loan_recovery.cli import app

runner = CliRunner()
found = {{}}
for label, args in {commands!r}:
    result = runner.invoke(app, args)
    found[label] = [result.exit_code, result.stdout, result.stderr]
print(json.dumps(found))
"""


def test_without_extras_core_commands_run_and_the_others_name_their_extra(
    tmp_path: Path,
) -> None:
    """Blocks every extra in a fresh interpreter; expects simulate, validate and --version
    to work, and serve, dashboard, train --tune and a PostgreSQL store to stop with exit 2
    and one line naming the extra to install, without a traceback."""
    book = str(tmp_path / "book.csv")
    commands = [
        ("version", ["--version"]),
        ("simulate", ["simulate", "--loans", "60", "--out", book]),
        ("validate", ["validate", book, "--json"]),
        ("serve", ["serve", "--models", str(tmp_path / "models")]),
        ("dashboard", ["dashboard", "--models", str(tmp_path / "models")]),
        ("tune", ["train", book, "--tune", "--models", str(tmp_path / "models")]),
        ("postgres", ["db", "current"]),
    ]
    env = os.environ | {"LOAN_RECOVERY_DATABASE_URL": "postgresql://u:p@localhost:1/none"}
    script = _WITHOUT_EXTRAS.format(modules=EXTRA_MODULES, commands=commands)
    completed = _run_python(script, tmp_path, env)
    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout)
    assert found["version"][0] == 0
    assert found["simulate"][0] == 0, found["simulate"]
    assert found["validate"][0] == 0, found["validate"]
    assert json.loads(found["validate"][1])["accepted"] == 60
    expected = {
        "serve": "the REST API needs the [api] extra: pip install 'loan-recovery[api]'",
        "dashboard": "the dashboard needs the [dashboard] extra: pip install "
        "'loan-recovery[dashboard]'",
        "tune": "train --tune needs the [tune] extra: pip install 'loan-recovery[tune]'",
        "postgres": "a PostgreSQL database_url needs the [postgres] extra: pip install "
        "'loan-recovery[postgres]'",
    }
    for label, message in expected.items():
        code, stdout, stderr = found[label]
        assert code == 2, (label, stderr)
        assert stdout == ""
        assert message in stderr, (label, stderr)
        assert stderr.startswith("error: ")
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert "Traceback" not in stderr
    assert "not installed: fastapi, uvicorn, prometheus_client" in found["serve"][2]
    assert "not installed: streamlit, plotly" in found["dashboard"][2]


def test_serve_without_fastapi_names_the_api_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hides fastapi alone in this process; expects serve to refuse with the [api] extra
    named and exit 2, before reading settings or models."""
    monkeypatch.setitem(sys.modules, "fastapi", None)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "[api] extra" in result.stderr
    assert "not installed: fastapi)" in result.stderr


def test_dashboard_without_plotly_names_the_dashboard_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hides plotly alone in this process; expects dashboard to refuse with exit 2."""
    monkeypatch.setitem(sys.modules, "plotly", None)
    result = runner.invoke(app, ["dashboard"])
    assert result.exit_code == 2
    assert "pip install 'loan-recovery[dashboard]' (not installed: plotly)" in result.stderr


def test_tuning_without_optuna_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hides optuna; expects tune_xgboost (what train --tune runs) to raise a ModelError
    naming the [tune] extra rather than an ImportError."""
    monkeypatch.setitem(sys.modules, "optuna", None)
    rows = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ModelError, match=r"pip install 'loan-recovery\[tune\]'"):
        tune_xgboost(
            pd.DataFrame(rows, columns=["a", "b"]),
            np.arange(40) % 2,
            settings=load_settings().risk,
            random_state=0,
            budget_seconds=1.0,
        )


def test_serve_log_levels_are_the_apis() -> None:
    """Expects serve's --log-level choices to be exactly the API's LogLevel values (the
    CLI cannot import that enum without uvicorn)."""
    logs = pytest.importorskip("loan_recovery.api.logs")
    assert tuple(level.value for level in ServerLogLevel) == logs.LEVELS
