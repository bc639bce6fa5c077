"""The demo job's early-warning side: history and model built once, deterministic, reused."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from loan_recovery.config import Settings
from loan_recovery.jobs.demo import DemoPaths, _write_missing_payments, demo_is_built, run_demo
from loan_recovery.models.early_warning import XGBOOST_FILE, early_warning_registry
from loan_recovery.models.registry import ModelRegistry


def _stamps(paths: DemoPaths) -> dict[str, int]:
    files = (paths.portfolio, paths.truth, paths.payments)
    return {path.name: path.stat().st_mtime_ns for path in files}


def _versions(settings: Settings) -> tuple[list[str], list[str]]:
    risk = ModelRegistry(settings.registry_dir)
    warning = early_warning_registry(settings.registry_dir, settings.early_warning)
    return [v.version for v in risk.versions()], [v.version for v in warning.versions()]


def test_first_run_builds_the_history_and_promotes_an_early_warning_model(
    demo_world: Any,
) -> None:
    """The payments of every demo loan beside the portfolio; v0001 is the champion."""
    outcome, settings = demo_world.outcome, demo_world.settings
    paths = outcome.paths
    assert paths.payments == settings.var_dir / "demo" / "payments.csv"
    assert paths.payments.is_file()
    warning = outcome.early_warning
    assert warning.payments_built
    assert warning.trained
    assert warning.version.version == "v0001"
    assert warning.version.is_champion
    assert warning.registry == settings.registry_dir / settings.early_warning.registry_folder
    assert warning.version.summary["metrics"]["roc_auc"] > 0.6
    assert demo_is_built(settings)


def test_second_run_rebuilds_nothing(demo_world: Any) -> None:
    """Same files (modification times), same versions, nothing trained."""
    settings, paths = demo_world.settings, demo_world.outcome.paths
    before, versions = _stamps(paths), _versions(settings)
    again = run_demo(settings=settings)
    flags = (again.built, again.trained, again.early_warning.payments_built)
    assert flags == (False, False, False)
    assert not again.early_warning.trained
    assert again.early_warning.version.version == "v0001"
    assert _stamps(paths) == before
    assert _versions(settings) == versions == (["v0001"], ["v0001"])


def test_a_missing_history_is_rebuilt_byte_for_byte_without_retraining_risk(
    demo_world: Any, tmp_path: Path
) -> None:
    """An older demo (no payments.csv): the same history is added, only early warning trains.

    The model trained again is identical to the first one (same files, same seed).
    """
    var_dir = tmp_path / "var"
    shutil.copytree(demo_world.var_dir, var_dir)
    settings = demo_world.settings.model_copy(update={"var_dir": var_dir})
    paths = DemoPaths.from_settings(settings)
    original = paths.payments.read_bytes()
    paths.payments.unlink()
    outcome = run_demo(settings=settings)
    assert (outcome.built, outcome.trained) == (False, False)
    assert (outcome.early_warning.payments_built, outcome.early_warning.trained) == (True, True)
    assert paths.payments.read_bytes() == original
    assert _versions(settings) == (["v0001"], ["v0001", "v0002"])
    versions = outcome.early_warning.registry / "versions"
    first, second = (versions / v / XGBOOST_FILE for v in ("v0001", "v0002"))
    assert first.read_bytes() == second.read_bytes()


def test_a_portfolio_from_other_settings_gets_no_history(demo_world: Any, tmp_path: Path) -> None:
    """A portfolio the settings do not simulate: no history is written (the demo rebuilds)."""
    folder = tmp_path / "demo"
    folder.mkdir()
    source = demo_world.outcome.paths
    paths = dataclasses.replace(
        source,
        directory=folder,
        portfolio=folder / source.portfolio.name,
        payments=folder / source.payments.name,
    )
    lines = source.portfolio.read_text(encoding="utf-8").splitlines(keepends=True)
    paths.portfolio.write_text("".join(lines[:-1]), encoding="utf-8")  # one loan fewer
    assert not _write_missing_payments(paths, demo_world.settings)
    assert not paths.payments.exists()
