"""SIGKILL `loan-recovery import-payments` at random points, rerun: equal to a clean run.

The store holds every loan and the first 800 installments, some of them since paid;
the file brings 2,756 installments of 200 loans, 12 of loans the store does not hold and
12 invalid ones, in batches of 200 (one transaction each). Compared after the rerun:

* ``payments``: every column but ``created_at``/``updated_at`` (the wall clock of
  whichever run wrote the row), the content hash included;
* the quarantine file (invalid rows and unknown loans, one file): byte for byte;
* the counts: rows read = inserted + updated + unchanged + rejected (rejected = invalid
  + unknown loan), as the clean run's; every installment inserted once over all batch
  audit rows; every changed installment audited once.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fault_data import BAD_ROWS, FaultFiles
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
    rows,
    run_killed,
    table,
    trial_count,
)

from loan_recovery.jobs.payments_import import PAYMENTS_IMPORT
from loan_recovery.store.payments import IMPORT_BATCH, PAYMENT_UPDATE

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

COMMAND = "import-payments"
BATCH = 200
#: Written by whichever run last touched a row: a rerun legitimately differs here.
IGNORED = ("created_at", "updated_at")
EXIT_REJECTED = 1


def _argv(files: FaultFiles, folder: Path) -> list[str]:
    rejected = folder / "rejected.csv"
    return [
        "import-payments", str(files.payments), "--batch-size", str(BATCH),
        "--quarantine", str(rejected), "--json",
    ]  # fmt: skip


def _env(url: str, folder: Path) -> dict[str, str]:
    return child_environment() | {
        "LOAN_RECOVERY_DATABASE_URL": url,
        "LOAN_RECOVERY_VAR_DIR": str(folder / "var"),
    }


def _audited(url: str) -> dict[str, int]:
    batches = audit_details(url, IMPORT_BATCH)
    return {
        "inserted": sum(int(batch["inserted"]) for batch in batches),
        "updated": sum(int(batch["updated"]) for batch in batches),
        PAYMENT_UPDATE: audit_count(url, PAYMENT_UPDATE),
        "stored": int(rows(url, "SELECT count(*) FROM payments")[0][0]),
    }


@dataclass(frozen=True)
class Clean:
    run: Run
    payments: pd.DataFrame
    audited: dict[str, int]
    quarantine: bytes


@pytest.fixture(scope="module")
def base_url(
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A store holding every loan and an earlier export of the first installments."""
    url = databases.new()
    folder = tmp_path_factory.mktemp("payments-base")
    env = _env(url, folder)
    loans = launcher.run(["import", str(fault_files.loans)], env=env, cwd=folder)
    assert loans.returncode == EXIT_REJECTED, loans.describe()  # the file's bad rows
    installments = launcher.run(
        ["import-payments", str(fault_files.payments_old)], env=env, cwd=folder
    )
    assert installments.returncode == 0, installments.describe()
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
    folder = tmp_path_factory.mktemp("payments-clean")
    url = databases.copy(base_url)
    run = launcher.run(_argv(fault_files, folder), env=_env(url, folder), cwd=folder, record=True)
    assert run.returncode == EXIT_REJECTED, run.describe()
    counts = run.json()
    assert (counts["invalid"], counts["unknown_loan"]) == (BAD_ROWS, BAD_ROWS)
    assert counts["updated"] > 0  # installments paid since the earlier export
    return Clean(
        run=run,
        payments=table(url, "payments", ignore=IGNORED),
        audited=_audited(url),
        quarantine=(folder / "rejected.csv").read_bytes(),
    )


@pytest.mark.parametrize("trial", range(trial_count()))
def test_killed_payment_import_rerun_equals_clean_run(
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
    """Kills the installment import at a seeded point, reruns it; expects the clean run's
    payments, quarantine file and counts, each installment inserted once and each change
    audited once."""
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

    assert_same(table(url, "payments", ignore=IGNORED), clean.payments, "payments")
    assert (tmp_path / "rejected.csv").read_bytes() == clean.quarantine

    counts, expected = rerun.json(), clean.run.json()
    written_before = expected["inserted"] - counts["inserted"]
    note(this, killed_mid_import=int(0 < written_before < expected["inserted"]))
    for name in ("rows_read", "rejected", "invalid", "unknown_loan"):
        assert counts[name] == expected[name], name
    written = ("inserted", "updated", "unchanged", "rejected")
    assert counts["rows_read"] == sum(counts[name] for name in written)
    assert _audited(url) == clean.audited  # each installment inserted once, changes once
    runs = audit_details(url, PAYMENTS_IMPORT)
    assert len(runs) in (2, 3)  # the base import, the rerun, and the killed run if it ended
    assert {key: runs[-1][key] for key in counts} == counts
