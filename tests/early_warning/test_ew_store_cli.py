"""`alerts --from-store`: the CLI scores the case store as it scores the files it came from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.data import schema

runner = CliRunner()


def _ok(args: list[str], env: dict[str, str]) -> str:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """1,500 simulated loans with 12 months of instalments, imported into a SQLite store,
    and an early-warning model trained on the files (all through the CLI)."""
    folder = tmp_path_factory.mktemp("ew-store-cli")
    env = {"LOAN_RECOVERY_DATABASE_URL": f"sqlite:///{folder / 'store.db'}", "COLUMNS": "200"}
    loans, payments = str(folder / "loans.csv"), str(folder / "payments.csv")
    simulate = ["simulate", "--out", loans, "--loans", "1500", "--seed", "4"]
    _ok([*simulate, "--payments-out", payments, "--months", "12"], env)
    _ok(["db", "upgrade"], env)
    _ok(["import", loans], env)
    imported = _ok(["import-payments", payments], env)
    assert "Installments from" in imported
    models = str(folder / "models")
    _ok(["train-early-warning", "--payments", payments, "--loans", loans, "--models", models], env)
    return folder, env


def test_from_store_lists_the_alerts_the_files_give(world: tuple[Path, dict[str, str]]) -> None:
    """Runs `alerts` on the files and `alerts --from-store`; expects the same alerts file,
    the store's counts in the summary and exit 0."""
    folder, env = world
    models = str(folder / "models")
    files = [
        "alerts",
        "--payments", str(folder / "payments.csv"),
        "--loans", str(folder / "loans.csv"),
        "--models", models,
        "--out", str(folder / "from_files.csv"),
    ]  # fmt: skip
    _ok(files, env)
    out = folder / "from_store.csv"
    shown = _ok(["alerts", "--from-store", "--models", models, "--out", str(out)], env)
    assert "alerts (model v0001)" in shown
    assert "1,500 loans and" in shown
    assert "installments in sqlite:///" in shown
    from_files = pd.read_csv(folder / "from_files.csv")
    from_store = pd.read_csv(out)
    assert len(from_store) > 0
    pd.testing.assert_frame_equal(from_store, from_files)
    assert (from_store[schema.EARLY_WARNING_SCORE] >= 0.3).all()


@pytest.mark.parametrize(
    "args",
    [
        ["alerts"],
        ["alerts", "--payments", "p.csv"],
        ["alerts", "--from-store", "--payments", "p.csv", "--loans", "l.csv"],
        ["alerts", "--from-store", "--loans", "l.csv"],
    ],
    ids=["neither", "one file", "both", "store and a file"],
)
def test_files_and_from_store_are_one_or_the_other(
    args: list[str], world: tuple[Path, dict[str, str]]
) -> None:
    """Gives neither source, one file only, or files with --from-store; expects exit 2 with
    a message naming both ways, and no traceback."""
    _, env = world
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2
    assert "--from-store" in result.output
    assert "--payments" in result.output
    assert "Traceback" not in result.output


def test_an_empty_store_and_one_without_installments_are_clear_errors(
    world: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Runs `alerts --from-store` on a migrated empty store, then after importing loans only;
    expects exit 2 saying to run `import`, then `import-payments`."""
    folder, _ = world
    env = {"LOAN_RECOVERY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    _ok(["db", "upgrade"], env)
    models = str(folder / "models")
    empty = runner.invoke(app, ["alerts", "--from-store", "--models", models], env=env)
    assert empty.exit_code == 2
    assert "holds no loans" in empty.output
    assert "loan-recovery import FILE" in empty.output
    _ok(["import", str(folder / "loans.csv")], env)
    no_history = runner.invoke(app, ["alerts", "--from-store", "--models", models], env=env)
    assert no_history.exit_code == 2
    assert "holds no installments" in no_history.output
    assert "import-payments" in no_history.output
    assert "Traceback" not in no_history.output


def test_from_store_without_a_model_says_how_to_get_one(
    world: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Gives an empty registry; expects exit 2 and the registry's hint."""
    _, env = world
    result = runner.invoke(
        app, ["alerts", "--from-store", "--models", str(tmp_path / "none")], env=env
    )
    assert result.exit_code == 2
    assert "train a model first" in result.output
