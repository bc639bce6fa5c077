"""A killed import (SIGKILL mid-way) leaves whole batches only, and a re-run completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.data.validation import validate_file
from loan_recovery.simulation.portfolio import SimulatedPortfolio
from loan_recovery.store.db import Store, create_store_engine, open_store
from loan_recovery.store.loans import IMPORT_BATCH, content_hashes, import_loans, typed_frame
from loan_recovery.store.models import (
    CONTENT_HASH,
    LOAN_SPECS,
    AuditEntry,
    borrowers,
    db_column,
    loans,
)

LOANS = 12_000
BATCH = 200
KILL_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def big_csv(small_portfolio: SimulatedPortfolio, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LOANS distinct loans (and borrowers) built by repeating the small portfolio."""
    portfolio = small_portfolio.loans
    repeats = -(-LOANS // len(portfolio))
    frame = pd.concat([portfolio] * repeats, ignore_index=True).head(LOANS)
    numbers = pd.Series(np.arange(1, LOANS + 1)).astype(str).str.zfill(8)
    frame[schema.LOAN_ID] = "LN" + numbers
    frame[schema.BORROWER_ID] = "BR" + numbers
    return write_table(frame, tmp_path_factory.mktemp("crash") / "big.csv")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_import_leaves_whole_batches_and_rerun_completes(
    database_factory: Callable[[], str], big_csv: Path
) -> None:
    """Kills `loan-recovery import` after its first commit; expects consistency, then a
    re-run that inserts the rest and ends equal to a clean import."""
    source = big_csv
    url = database_factory()
    committed = _import_and_kill(url, source)
    store = open_store(url)
    try:
        assert 0 < committed < LOANS, "the import finished before it could be killed"
        _check_consistent(store, committed)
        rerun = CliRunner().invoke(
            app, ["import", str(source), "--json"], env={"LOAN_RECOVERY_DATABASE_URL": url}
        )
        assert rerun.exit_code == 0, rerun.output
        counts = json.loads(rerun.stdout)
        assert counts["unchanged"] == committed
        assert counts["inserted"] == LOANS - committed
        assert counts["updated"] == 0
        _check_consistent(store, LOANS)
        clean = open_store(database_factory())
        try:
            table = validate_file(source).table
            import_loans(clean.engine, table, actor="cli", batch_size=5_000)
            pd.testing.assert_frame_equal(_content(store), _content(clean))
            assert _borrower_ids(store) == _borrower_ids(clean)
        finally:
            clean.dispose()
    finally:
        store.dispose()


def _count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(loans)).scalar_one())


def _import_and_kill(url: str, source: Path) -> int:
    """Start the import, SIGKILL it as soon as a batch is visible; the loans then stored."""
    watcher = create_store_engine(url)
    process = subprocess.Popen(
        [sys.executable, "-m", "loan_recovery", "import", str(source), "--batch-size", str(BATCH)],
        env={**os.environ, "LOAN_RECOVERY_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
        while _count(watcher) == 0:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"the import ended before its first commit: {stderr}")
            if time.monotonic() > deadline:
                pytest.fail("no batch was committed in time")
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        return _count(watcher)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        watcher.dispose()


def _check_consistent(store: Store, expected_loans: int) -> None:
    """Whole batches only: loan count a multiple of the batch, every row whole and hashed,
    every loan's borrower present, and one batch audit row per committed batch."""
    stored = _content(store)
    assert len(stored) == expected_loans
    if expected_loans < LOANS:
        assert expected_loans % BATCH == 0
    hashes = content_hashes(stored.drop(columns=CONTENT_HASH), LOAN_SPECS)
    assert (stored[CONTENT_HASH].to_numpy() == hashes).all()
    loan_borrower = loans.c[db_column(schema.BORROWER_ID)]
    borrower_key = borrowers.c[db_column(schema.BORROWER_ID)]
    with store.engine.connect() as connection:
        orphans = connection.execute(
            sa.select(sa.func.count())
            .select_from(loans.outerjoin(borrowers, loan_borrower == borrower_key))
            .where(borrower_key.is_(None))
        ).scalar_one()
        batch_rows = connection.execute(
            sa.select(AuditEntry.details).where(AuditEntry.action == IMPORT_BATCH)
        ).scalars()
        audited = sum(details["inserted"] for details in batch_rows)
    assert orphans == 0
    assert audited == expected_loans


def _content(store: Store) -> pd.DataFrame:
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(loans).order_by(loans.c.loan_id)).mappings().all()
    frame = pd.DataFrame([dict(row) for row in rows])
    named = frame.rename(columns={db_column(spec.name): spec.name for spec in LOAN_SPECS})
    typed = typed_frame(named, LOAN_SPECS).reset_index(drop=True)
    typed[CONTENT_HASH] = frame[CONTENT_HASH].to_numpy(dtype=np.int64)
    return typed


def _borrower_ids(store: Store) -> list[str]:
    with store.engine.connect() as connection:
        return list(
            connection.execute(sa.select(borrowers.c.borrower_id).order_by(borrowers.c.borrower_id))
            .scalars()
            .all()
        )
