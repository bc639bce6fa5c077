"""Regression: a remind rerun's counts add up to its targets (found by the fault suite).

A rerun after a crash (or the next cron run of the day) does not decide again the
targets an earlier run queued; it reported only the new ones as ``targets`` while
counting the rest as ``already_queued``, so ``targets`` no longer matched ``queued +
already_queued + not_queued`` (and the dry run on the same store said otherwise).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fault_data import REMINDED, FaultFiles

from loan_recovery.config import load_settings
from loan_recovery.data.validation import validate_file
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify.senders import OutgoingMessage
from loan_recovery.store.db import open_store
from loan_recovery.store.loans import import_loans

FIRST = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 11:30 in Kolkata
LATER = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
UNKNOWN_LOANS = 2


class AcceptingSender:
    """Takes every message (no server): what a run sends is not the point here."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None]) -> None:
        handing_over()
        self.sent.append(message.idempotency_key)

    def close(self) -> None:
        return None


def test_rerun_counts_every_target_including_already_queued(
    fault_files: FaultFiles, sqlite_template: Path, tmp_path: Path
) -> None:
    """Runs remind twice on one day (24 reminders, 2 unknown loans), then a dry run;
    expects 26 targets each time, equal to queued + already queued + unknown loans."""
    database = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, database)
    settings = load_settings(
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{database}",
        notify={"channels": ["email"]},
    )
    store = open_store(settings)
    try:
        import_loans(
            store.engine, validate_file(fault_files.contacts).table, actor="test", batch_size=100
        )
        sender = AcceptingSender()
        outcomes = [
            run_remind(
                settings=settings,
                store=store,
                plan_path=fault_files.reminders,
                now=moment,
                senders={"email": sender},
                dry_run=dry_run,
            ).as_dict()
            for moment, dry_run in ((FIRST, False), (LATER, False), (LATER, True))
        ]
    finally:
        store.dispose()
    first, rerun, dry = outcomes
    total = REMINDED + UNKNOWN_LOANS
    assert (first["targets"], first["queued"], first["not_queued"]) == (total, REMINDED, 2)
    assert (rerun["targets"], rerun["queued"], rerun["already_queued"]) == (total, 0, REMINDED)
    assert rerun["not_queued"] == UNKNOWN_LOANS
    assert dry["targets"] == rerun["targets"]
    assert len(sender.sent) == REMINDED
