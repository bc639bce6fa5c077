"""Importing loans: idempotent upserts, audited changes, masked personal data, counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.simulation.portfolio import SimulatedPortfolio
from loan_recovery.store.audit import MASK
from loan_recovery.store.db import Store
from loan_recovery.store.loans import (
    BORROWER_UPDATE,
    IMPORT_BATCH,
    LOAN_UPDATE,
    content_hashes,
    import_loans,
    typed_frame,
)
from loan_recovery.store.models import (
    CONTENT_HASH,
    LOAN_SPECS,
    UPDATED_AT,
    AuditEntry,
    borrowers,
    db_column,
    loans,
)

runner = CliRunner()


def stored_loans(store: Store) -> pd.DataFrame:
    """Every stored loan, canonical names, typed, sorted by Loan_ID (timestamps dropped)."""
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(loans).order_by(loans.c.loan_id)).mappings().all()
    frame = pd.DataFrame([dict(row) for row in rows])
    frame = frame.rename(columns={db_column(spec.name): spec.name for spec in LOAN_SPECS})
    typed = typed_frame(frame, LOAN_SPECS)
    typed[CONTENT_HASH] = frame[CONTENT_HASH].to_numpy(dtype=np.int64)
    return typed.reset_index(drop=True)


def audit_rows(store: Store, action: str | None = None) -> list[AuditEntry]:
    with store.transaction() as session:
        statement = sa.select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            statement = statement.where(AuditEntry.action == action)
        return list(session.scalars(statement))


def test_import_round_trips_every_value(store: Store, loans_table: pd.DataFrame) -> None:
    """Imports 300 loans; expects each stored value equal to the validated table's."""
    counts = import_loans(store.engine, loans_table, actor="cli", batch_size=1_000)
    assert (counts.inserted, counts.updated, counts.unchanged) == (300, 0, 0)
    assert counts.borrowers_inserted == loans_table[schema.BORROWER_ID].nunique()
    stored = stored_loans(store)
    expected = typed_frame(loans_table, LOAN_SPECS).sort_values(schema.LOAN_ID)
    pd.testing.assert_frame_equal(
        stored.drop(columns=CONTENT_HASH), expected.reset_index(drop=True), check_dtype=True
    )
    assert (stored[CONTENT_HASH].to_numpy() == content_hashes(stored, LOAN_SPECS)).all()


def test_reimport_changes_nothing(store: Store, loans_table: pd.DataFrame) -> None:
    """Imports the same table twice; expects all unchanged, same rows, no update audits."""
    import_loans(store.engine, loans_table, actor="cli", batch_size=1_000)
    before = stored_loans(store)
    with store.engine.connect() as connection:
        stamps = connection.execute(sa.select(loans.c[UPDATED_AT])).scalars().all()
    again = import_loans(store.engine, loans_table, actor="cli", batch_size=1_000)
    assert (again.inserted, again.updated, again.unchanged, again.outdated) == (0, 0, 300, 0)
    assert (again.borrowers_inserted, again.borrowers_updated) == (0, 0)
    pd.testing.assert_frame_equal(stored_loans(store), before)
    with store.engine.connect() as connection:
        assert connection.execute(sa.select(loans.c[UPDATED_AT])).scalars().all() == stamps
    assert audit_rows(store, LOAN_UPDATE) == []
    assert len(audit_rows(store, IMPORT_BATCH)) == 2


def test_changed_rows_update_with_audited_old_and_new_values(
    store: Store, loans_table: pd.DataFrame
) -> None:
    """Changes DPD of two loans and a borrower's contacts; expects updates, masked audit."""
    import_loans(store.engine, loans_table, actor="cli", batch_size=1_000)
    changed = loans_table.copy()
    first, second = changed.index[:2]
    old_dpd = int(changed.loc[first, schema.DAYS_PAST_DUE])
    old_phone = str(changed.loc[first, schema.PHONE])
    changed.loc[[first, second], schema.DAYS_PAST_DUE] += 30
    secrets = {
        schema.PHONE: "+919999999999",
        schema.EMAIL: "new.person@example.com",
        schema.BORROWER_NAME: "Zed Newname",
    }
    for column, value in secrets.items():
        changed.loc[first, column] = value
    counts = import_loans(store.engine, changed, actor="tester", batch_size=1_000)
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 2, 298)
    assert counts.borrowers_updated == 1
    updates = audit_rows(store, LOAN_UPDATE)
    assert {row.entity_id for row in updates} == {
        changed.loc[first, schema.LOAN_ID],
        changed.loc[second, schema.LOAN_ID],
    }
    first_update = next(
        row for row in updates if row.entity_id == changed.loc[first, schema.LOAN_ID]
    )
    assert first_update.actor == "tester"
    assert first_update.details is not None
    assert first_update.details["changes"] == {
        schema.DAYS_PAST_DUE: {"old": old_dpd, "new": old_dpd + 30}
    }
    (person,) = audit_rows(store, BORROWER_UPDATE)
    assert person.details is not None
    assert person.details["changes"] == {column: {"old": MASK, "new": MASK} for column in secrets}
    every_audit = json.dumps([row.details for row in audit_rows(store)])
    for value in (*secrets.values(), old_phone):
        assert value not in every_audit
    with store.engine.connect() as connection:
        phone = connection.execute(
            sa.select(borrowers.c.phone).where(
                borrowers.c.borrower_id == changed.loc[first, schema.BORROWER_ID]
            )
        ).scalar_one()
    assert phone == secrets[schema.PHONE]


def test_columns_missing_from_a_file_keep_their_stored_values(
    store: Store, loans_table: pd.DataFrame
) -> None:
    """Re-imports without contact, label and date columns; expects nothing erased."""
    import_loans(store.engine, loans_table, actor="cli", batch_size=1_000)
    before = stored_loans(store)
    slim = loans_table.drop(
        columns=[schema.PHONE, schema.EMAIL, schema.RECOVERY_STATUS, schema.AS_OF_DATE]
    )
    counts = import_loans(store.engine, slim, actor="cli", batch_size=1_000)
    assert counts.unchanged == 300
    pd.testing.assert_frame_equal(stored_loans(store), before)
    with store.engine.connect() as connection:
        phones = connection.execute(sa.select(borrowers.c.phone)).scalars().all()
    assert all(phones)


def test_older_snapshots_never_overwrite_newer_ones(
    store: Store, loans_table: pd.DataFrame
) -> None:
    """Gives two snapshots of some loans, then an older file; expects the latest kept."""
    table = loans_table.head(50)
    older = table.copy()
    older[schema.AS_OF_DATE] = pd.Timestamp("2026-05-31")
    older[schema.DAYS_PAST_DUE] = older[schema.DAYS_PAST_DUE] + 1
    both = pd.concat([table, older.head(10)], ignore_index=True)
    counts = import_loans(store.engine, both, actor="cli", batch_size=1_000)
    assert (counts.inserted, counts.outdated) == (50, 10)
    assert counts.loans == len(both)
    expected = typed_frame(table, LOAN_SPECS).sort_values(schema.LOAN_ID).reset_index(drop=True)
    stored = stored_loans(store).drop(columns=CONTENT_HASH)
    pd.testing.assert_frame_equal(stored, expected)
    older[schema.PHONE] = "+910000000000"
    stale = import_loans(store.engine, older, actor="cli", batch_size=1_000)
    assert (stale.updated, stale.outdated, stale.borrowers_updated) == (0, 50, 0)
    pd.testing.assert_frame_equal(stored_loans(store).drop(columns=CONTENT_HASH), expected)


def test_each_batch_commits_with_its_audit_row(store: Store, loans_table: pd.DataFrame) -> None:
    """Imports 300 loans in batches of 120; expects 3 batch audit rows adding up to 300."""
    import_loans(store.engine, loans_table, actor="cli", batch_size=120)
    batches = audit_rows(store, IMPORT_BATCH)
    assert [row.details["batch"] for row in batches if row.details] == [1, 2, 3]
    assert sum(row.details["inserted"] for row in batches if row.details) == 300


@pytest.fixture
def bad_csv(tmp_path: Path, small_portfolio: SimulatedPortfolio) -> Path:
    """200 loans with three broken rows: a negative amount, a text age, a duplicate id."""
    frame = small_portfolio.loans.head(200).astype(object)
    frame.loc[3, schema.LOAN_AMOUNT] = -5
    frame.loc[10, schema.AGE] = "forty"
    frame.loc[20, schema.LOAN_ID] = frame.loc[0, schema.LOAN_ID]
    return write_table(frame, tmp_path / "bad.csv")


def test_cli_import_counts_reconcile_and_bad_rows_are_quarantined(
    database_url: str, bad_csv: Path, tmp_path: Path
) -> None:
    """Imports a file with 3 bad rows twice; expects exit 1, reconciled counts, quarantine."""
    env = {"LOAN_RECOVERY_DATABASE_URL": database_url}
    quarantine = tmp_path / "rejected.csv"
    first = runner.invoke(
        app, ["import", str(bad_csv), "--json", "--quarantine", str(quarantine)], env=env
    )
    assert first.exit_code == 1, first.output
    counts = json.loads(first.stdout)
    assert counts["rows_read"] == 200
    assert (counts["inserted"], counts["rejected"]) == (197, 3)
    assert len(pd.read_csv(quarantine, dtype=str)) == 3
    second = runner.invoke(app, ["import", str(bad_csv), "--json"], env=env)
    again = json.loads(second.stdout)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 197)
    assert again["rows_read"] == sum(
        again[name] for name in ("inserted", "updated", "unchanged", "outdated", "rejected")
    )
    table = runner.invoke(app, ["import", str(bad_csv)], env=env)
    assert "unchanged" in table.stdout
    assert "Rejected rows kept in" in table.stdout
