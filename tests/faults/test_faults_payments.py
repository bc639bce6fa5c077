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

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fault_data import BAD_ROWS, FaultFiles
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
    rows,
    table,
)

from loan_recovery.jobs.payments_import import PAYMENTS_IMPORT
from loan_recovery.store.payments import IMPORT_BATCH, PAYMENT_UPDATE

pytestmark = FAULT_MARKS

COMMAND = "import-payments"
BATCH = 200
#: Written by whichever run last touched a row: a rerun legitimately differs here.
IGNORED = ("created_at", "updated_at")
EXIT_REJECTED = 1
#: The counts of the file, as the clean run's; rows read add up to the written ones.
COUNTS = ImportCounts(
    PAYMENTS_IMPORT,
    same=("rows_read", "rejected", "invalid", "unknown_loan"),
    written=("inserted", "updated", "unchanged", "rejected"),
)


def _argv(files: FaultFiles, folder: Path) -> list[str]:
    rejected = folder / "rejected.csv"
    return [
        "import-payments", str(files.payments), "--batch-size", str(BATCH),
        "--quarantine", str(rejected), "--json",
    ]  # fmt: skip


def _audited(url: str) -> dict[str, int]:
    stored = int(rows(url, "SELECT count(*) FROM payments")[0][0])
    return batch_audit(url, IMPORT_BATCH, PAYMENT_UPDATE) | {"stored": stored}


@dataclass(frozen=True)
class Clean:
    run: Run
    payments: pd.DataFrame
    audited: dict[str, int]
    quarantine: bytes


@pytest.fixture(scope="module")
def scenario(
    databases: Databases,
    launcher: Launcher,
    fault_files: FaultFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    """Runs from a store holding every loan and an earlier export of the first installments."""
    setup = [
        (["import", str(fault_files.loans)], EXIT_REJECTED),  # the file's bad rows
        (["import-payments", str(fault_files.payments_old)], 0),
    ]
    folder = tmp_path_factory.mktemp("payments-base")
    return Scenario.prepare(launcher, databases, folder, setup, exit_code=EXIT_REJECTED)


@pytest.fixture(scope="module")
def clean(
    scenario: Scenario, fault_files: FaultFiles, tmp_path_factory: pytest.TempPathFactory
) -> Clean:
    """The import run once without a kill: the reference, its duration and commits."""
    folder = tmp_path_factory.mktemp("payments-clean")
    url, _, run = scenario.clean_run(folder, _argv(fault_files, folder))
    counts = run.json()
    assert (counts["invalid"], counts["unknown_loan"]) == (BAD_ROWS, BAD_ROWS)
    assert counts["updated"] > 0  # installments paid since the earlier export
    return Clean(
        run=run,
        payments=table(url, "payments", ignore=IGNORED),
        audited=_audited(url),
        quarantine=(folder / "rejected.csv").read_bytes(),
    )


def test_killed_payment_import_rerun_equals_clean_run(
    trial: Trial,
    scenario: Scenario,
    fault_files: FaultFiles,
    clean: Clean,
) -> None:
    """Kills the installment import at a seeded point, reruns it; expects the clean run's
    payments, quarantine file and counts, each installment inserted once and each change
    audited once."""
    url, _, rerun = scenario.kill_and_rerun(trial, clean.run, _argv(fault_files, trial.folder))

    assert_same(table(url, "payments", ignore=IGNORED), clean.payments, "payments")
    assert (trial.folder / "rejected.csv").read_bytes() == clean.quarantine

    COUNTS.check(trial, url, rerun, clean.run)
    assert _audited(url) == clean.audited  # each installment inserted once, changes once
