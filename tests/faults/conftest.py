"""Fault-injection fixtures: the data files, the launcher, the databases, the summary.

The suite kills the real ``loan-recovery import``, ``import-payments``, ``plan --store``
and ``remind`` with SIGKILL at seeded random points, reruns them and compares the store
with a clean run (see docs/fault-injection.md). ``LOAN_RECOVERY_FAULT_TRIALS`` sets the
trials per command and backend: 3 by default (CI), 20 for the long variant::

    LOAN_RECOVERY_FAULT_TRIALS=20 .venv/bin/pytest tests/faults -m faults

Every module is marked ``faults`` (registered below, so ``-m "not faults"`` skips the
suite). A summary of where the kills landed is printed at the end of the run and, with
``LOAN_RECOVERY_FAULT_REPORT=PATH``, kept as JSON lines.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "notify"))  # the SMTP sink of tests/notify

from fault_data import FaultFiles, build_fault_files
from fault_support import (
    REPORT_ENV,
    Databases,
    Launcher,
    PostgresCopies,
    SqliteCopies,
    Trial,
    child_environment,
    start_launcher,
    trial_count,
)

from db_support import BACKENDS, PostgresDatabases
from loan_recovery.config import Settings

_REPORT_KEY = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def trial_log(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """JSON lines, one per trial (``LOAN_RECOVERY_FAULT_REPORT``, else a session file)."""
    chosen = os.environ.get(REPORT_ENV, "").strip()
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("faults") / "trials.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    pytestconfig.stash[_REPORT_KEY] = path
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Per command and backend: trials, failed trials and where the kills landed."""
    path = terminalreporter.config.stash.get(_REPORT_KEY, None)
    if path is None or not path.is_file():
        return
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [line for line in lines if "command" in line]
    if not records:
        return
    notes: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        if "notes" in line and "command" not in line:
            notes[line["nodeid"]].update(line["notes"])
    failed = {report.nodeid for report in terminalreporter.stats.get("failed", [])}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[(str(record["command"]), str(record["backend"]))].append(record)
    terminalreporter.section("fault injection")
    for (command, backend), group in sorted(groups.items()):
        where = Counter(str(record["landed"]) for record in group)
        shown = ", ".join(f"{name} {count}" for name, count in sorted(where.items()))
        failures = sum(record["nodeid"] in failed for record in group)
        terminalreporter.write_line(
            f"{command:<15} {backend:<10} {len(group):>3} trials, {failures} failed ({shown})"
        )
        found: Counter[str] = Counter()
        for record in group:
            found.update(notes[str(record["nodeid"])])
        if found:
            listed = ", ".join(f"{name} {count}" for name, count in sorted(found.items()))
            terminalreporter.write_line(f"{'':<27} found: {listed}")
    terminalreporter.write_line(f"trial log: {path}")


@pytest.fixture(params=range(trial_count()))
def trial(request: pytest.FixtureRequest, tmp_path: Path, trial_log: Path) -> Trial:
    """One numbered trial of the requesting module's ``COMMAND``, run in its own folder."""
    command: str = request.module.COMMAND
    return Trial(command, request.param, request.node.nodeid, trial_log, tmp_path)


@pytest.fixture(scope="session")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """The fork server (or, with LOAN_RECOVERY_FAULT_LAUNCH=exec, fresh interpreters)."""
    started = start_launcher(tmp_path_factory.mktemp("launcher") / "server.log")
    yield started
    started.close()


@pytest.fixture(scope="module", params=BACKENDS)
def databases(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """Fresh databases of one backend for a module's trials (PostgreSQL: see db_support)."""
    made: Databases
    if request.param == "sqlite":
        made = SqliteCopies(tmp_path_factory.mktemp("sqlite"), sqlite_template)
    else:
        server: PostgresDatabases = request.getfixturevalue("postgres_databases")
        made = PostgresCopies(server)
    yield made
    made.close()


@pytest.fixture(scope="session")
def fault_files(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> FaultFiles:
    """Every scenario's input, simulated with a fixed seed, each file with bad rows."""
    return build_fault_files(tmp_path_factory.mktemp("fault-data"), settings)


@pytest.fixture(scope="session")
def fault_models(
    launcher: Launcher, fault_files: FaultFiles, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A champion model for `plan`, trained by the CLI in seconds: `train --no-cv` with
    small boosted models (what is planned does not matter here, only that it is stored)."""
    folder = tmp_path_factory.mktemp("fault-models")
    models = folder / "models"
    environment = child_environment() | {
        "LOAN_RECOVERY_RISK__CV_FOLDS": "2",
        "LOAN_RECOVERY_RISK__SCORECARD": "false",
        "LOAN_RECOVERY_RISK__SMALL_DATA__ROWS_BELOW": "0",
        "LOAN_RECOVERY_RISK__XGBOOST__N_ESTIMATORS": "60",
        "LOAN_RECOVERY_STRATEGY__OUTCOMES__N_ESTIMATORS": "60",
    }
    argv = ["train", str(fault_files.history), "--models", str(models), "--no-cv", "--seed", "3"]
    trained = launcher.run(argv, env=environment, cwd=folder)
    assert trained.returncode == 0, trained.describe()
    return models
