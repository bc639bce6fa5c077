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

import signal
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fault_data import BAD_ROWS, LOANS, FaultFiles
from fault_support import (
    KILLED,
    Databases,
    Launcher,
    Run,
    Trial,
    assert_same,
    audit_count,
    audit_details,
    child_environment,
    note,
    run_killed,
    table,
    trial_count,
)

from loan_recovery.jobs.store import LOANS_IMPORT
from loan_recovery.store.loans import BORROWER_UPDATE, IMPORT_BATCH, LOAN_UPDATE

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

COMMAND = "import"
BATCH = 60
#: Written by whichever run last touched a row: a rerun legitimately differs here.
IGNORED = ("created_at", "updated_at")
EXIT_REJECTED = 1


def _argv(files: FaultFiles, folder: Path) -> list[str]:
    rejected = folder / "rejected.csv"
    return [
        "import", str(files.loans), "--batch-size", str(BATCH), "--quarantine", str(rejected),
        "--json",
    ]  # fmt: skip


def _env(url: str, folder: Path) -> dict[str, str]:
    return child_environment() | {
        "LOAN_RECOVERY_DATABASE_URL": url,
        "LOAN_RECOVERY_VAR_DIR": str(folder / "var"),
    }


def _state(url: str) -> dict[str, pd.DataFrame]:
    return {name: table(url, name, ignore=IGNORED) for name in ("loans", "borrowers")}


def _audited(url: str) -> dict[str, int]:
    batches = audit_details(url, IMPORT_BATCH)
    return {
        "inserted": sum(int(batch["inserted"]) for batch in batches),
        "updated": sum(int(batch["updated"]) for batch in batches),
        LOAN_UPDATE: audit_count(url, LOAN_UPDATE),
        BORROWER_UPDATE: audit_count(url, BORROWER_UPDATE),
    }


@dataclass(frozen=True)
class Clean:
    run: Run
    state: dict[str, pd.DataFrame]
    audited: dict[str, int]
    quarantine: bytes


@pytest.fixture(scope="module")
def base_url(
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A store holding the older export of the first 200 loans."""
    url = databases.new()
    folder = tmp_path_factory.mktemp("import-base")
    run = launcher.run(["import", str(fault_files.loans_old)], env=_env(url, folder), cwd=folder)
    assert run.returncode == 0, run.describe()
    return url


@pytest.fixture(scope="module")
def clean(
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    base_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Clean:
    """The import run once without a kill: the reference, its duration and commits."""
    folder = tmp_path_factory.mktemp("import-clean")
    url = databases.copy(base_url)
    run = launcher.run(_argv(fault_files, folder), env=_env(url, folder), cwd=folder, record=True)
    assert run.returncode == EXIT_REJECTED, run.describe()
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


@pytest.mark.parametrize("trial", range(trial_count()))
def test_killed_import_rerun_equals_clean_run(
    trial: int,
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    base_url: str,
    clean: Clean,
    tmp_path: Path,
    trial_log: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Kills the import at a seeded point (a commit, or a delay within the clean run's
    duration), reruns it; expects the clean run's loans, borrowers, quarantine file and
    counts, every loan inserted once and every change audited once."""
    url = databases.copy(base_url)
    argv, env = _argv(fault_files, tmp_path), _env(url, tmp_path)
    this = Trial(COMMAND, trial, request.node.nodeid, trial_log)
    killed = run_killed(
        launcher,
        databases,
        this,
        url=url,
        argv=argv,
        env=env,
        cwd=tmp_path,
        clean=clean.run,
    )
    assert killed.returncode in (KILLED, EXIT_REJECTED), killed.describe()

    rerun = launcher.run(argv, env=env, cwd=tmp_path)
    assert rerun.returncode == EXIT_REJECTED, rerun.describe()

    for name, expected in clean.state.items():
        assert_same(table(url, name, ignore=IGNORED), expected, name)
    assert (tmp_path / "rejected.csv").read_bytes() == clean.quarantine

    counts, expected = rerun.json(), clean.run.json()
    written_before = expected["inserted"] - counts["inserted"]
    note(this, killed_mid_import=int(0 < written_before < expected["inserted"]))
    assert counts["rows_read"] == expected["rows_read"]
    assert counts["rejected"] == expected["rejected"]
    written = ("inserted", "updated", "unchanged", "outdated", "rejected")
    assert counts["rows_read"] == sum(counts[name] for name in written)
    audited = _audited(url)
    assert audited == clean.audited  # each loan inserted once, each change audited once
    runs = audit_details(url, LOANS_IMPORT)
    assert len(runs) in (2, 3)  # the base import, the rerun, and the killed run if it ended
    assert {key: runs[-1][key] for key in counts} == counts
