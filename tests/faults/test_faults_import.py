"""SIGKILL `loan-recovery import` at random points, rerun it: the store equals a clean run.

The store starts with an older export of a third of the loans; the file brings 600
loans (400 new, some changed, the rest unchanged) and 12 invalid rows, imported in
batches of 60 (one transaction each). Compared after the rerun:

* ``loans`` and ``borrowers``: every column but ``created_at``/``updated_at`` (the wall
  clock of whichever run wrote the row), the content hash included;
* the quarantine file: byte for byte;
* the counts: rows read = inserted + updated + unchanged + outdated + rejected, as the
  clean run's; every loan inserted once over all batch audit rows; every changed loan
  and borrower audited once (a committed batch is never written again, a lost one
  entirely again).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fault_data import BAD_ROWS, LOANS, FaultFiles
from fault_support import (
    FAULT_MARKS,
    Databases,
    ImportCounts,
    Launcher,
    Run,
    Scenario,
    Trial,
    assert_same,
    batch_audit,
    table,
)

from loan_recovery.jobs.store import LOANS_IMPORT
from loan_recovery.store.loans import BORROWER_UPDATE, IMPORT_BATCH, LOAN_UPDATE

pytestmark = FAULT_MARKS

COMMAND = "import"
BATCH = 60
#: Written by whichever run last touched a row: a rerun legitimately differs here.
IGNORED = ("created_at", "updated_at")
EXIT_REJECTED = 1
#: The counts of the file, as the clean run's; rows read add up to the written ones.
COUNTS = ImportCounts(
    LOANS_IMPORT,
    same=("rows_read", "rejected"),
    written=("inserted", "updated", "unchanged", "outdated", "rejected"),
)


def _argv(files: FaultFiles, folder: Path) -> list[str]:
    rejected = folder / "rejected.csv"
    return [
        "import", str(files.loans), "--batch-size", str(BATCH), "--quarantine", str(rejected),
        "--json",
    ]  # fmt: skip


def _state(url: str) -> dict[str, pd.DataFrame]:
    return {name: table(url, name, ignore=IGNORED) for name in ("loans", "borrowers")}


def _audited(url: str) -> dict[str, int]:
    return batch_audit(url, IMPORT_BATCH, LOAN_UPDATE, BORROWER_UPDATE)


@dataclass(frozen=True)
class Clean:
    run: Run
    state: dict[str, pd.DataFrame]
    audited: dict[str, int]
    quarantine: bytes


@pytest.fixture(scope="module")
def scenario(
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    """Runs from a store holding the older export of the first 200 loans."""
    setup = [(["import", str(fault_files.loans_old)], 0)]
    folder = tmp_path_factory.mktemp("import-base")
    return Scenario.prepare(launcher, databases, folder, setup, exit_code=EXIT_REJECTED)


@pytest.fixture(scope="module")
def clean(
    scenario: Scenario, fault_files: FaultFiles, tmp_path_factory: pytest.TempPathFactory
) -> Clean:
    """The import run once without a kill: the reference, its duration and commits."""
    folder = tmp_path_factory.mktemp("import-clean")
    url, _, run = scenario.clean_run(folder, _argv(fault_files, folder))
    counts = run.json()
    assert counts["rejected"] == BAD_ROWS
    assert counts["inserted"] + counts["updated"] + counts["unchanged"] == LOANS
    assert counts["updated"] > 0
    assert counts["borrowers_updated"] > 0
    return Clean(
        run=run,
        state=_state(url),
        audited=_audited(url),
        quarantine=(folder / "rejected.csv").read_bytes(),
    )


def test_killed_import_rerun_equals_clean_run(
    trial: Trial,
    scenario: Scenario,
    fault_files: FaultFiles,
    clean: Clean,
) -> None:
    """Kills the import at a seeded point (a commit, or a delay within the clean run's
    duration), reruns it; expects the clean run's loans, borrowers, quarantine file and
    counts, every loan inserted once and every change audited once."""
    url, _, rerun = scenario.kill_and_rerun(trial, clean.run, _argv(fault_files, trial.folder))

    for name, expected in clean.state.items():
        assert_same(table(url, name, ignore=IGNORED), expected, name)
    assert (trial.folder / "rejected.csv").read_bytes() == clean.quarantine

    COUNTS.check(trial, url, rerun, clean.run)
    assert _audited(url) == clean.audited  # each loan inserted once, each change audited once
