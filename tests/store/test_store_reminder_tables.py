"""Revision 0002 on SQLite and PostgreSQL: payments, outbox, contact attempts, opt-outs.

Migration up and down, the outbox's INSERT ... ON CONFLICT DO NOTHING, idempotent
installment imports (store function and the `import-payments` command) and opt-out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify.dispatch import Dispatcher
from loan_recovery.notify.optout import opt_out
from loan_recovery.notify.reminders import prepare_reminders, queue_reminders, reminder_targets
from loan_recovery.notify.senders import OutgoingMessage
from loan_recovery.notify.templates import TemplateRenderer
from loan_recovery.store.db import (
    Store,
    create_store_engine,
    downgrade,
    head_revision,
    open_store,
    upgrade,
)
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.loans import import_loans
from loan_recovery.store.models import (
    AuditEntry,
    Base,
    ContactAttempt,
    OptOut,
    OutboxMessage,
    borrowers,
    payments,
)
from loan_recovery.store.outbox import enqueue, outbox_counts, outbox_messages
from loan_recovery.store.payments import import_payments

NEW_TABLES = {"payments", "outbox", "contact_attempts", "opt_outs"}
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _tables(url: str) -> set[str]:
    engine = create_store_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _differences(url: str) -> list[object]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_revision_0002_goes_up_and_down_and_matches_the_models(empty_url: str) -> None:
    """Upgrades to 0002, downgrades to 0001 (new tables gone, old kept), upgrades again,
    then to head; expects the models' schema exactly there (no autogenerate differences)."""
    engine = create_store_engine(empty_url)
    assert upgrade(engine, "0002") == "0002"
    at_0002 = _tables(empty_url)
    assert at_0002 >= NEW_TABLES | {"loans", "borrowers", "audit_log"}
    assert downgrade(engine, "0001") == "0001"
    assert _tables(empty_url) == at_0002 - NEW_TABLES
    assert upgrade(engine, "0002") == "0002"
    assert _tables(empty_url) == at_0002
    assert upgrade(engine) == head_revision()
    engine.dispose()
    assert _differences(empty_url) == []


def _outbox_row(key: str, loan_id: str, status: str = "pending") -> dict[str, object]:
    return {
        "idempotency_key": key,
        "loan_id": loan_id,
        "campaign": "reminder",
        "campaign_date": date(2026, 3, 2),
        "channel": "sms",
        "template": "reminder",
        "language": "en",
        "status": status,
        "reason": None,
        "scheduled_for": NOW,
        "context": {"amount_due": 1.0},
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_enqueue_inserts_each_key_once(store: Store, loans_table: pd.DataFrame) -> None:
    """Enqueues two keys, then the same keys (one with another status) and a new one;
    expects only the new key inserted and the old rows untouched."""
    import_loans(store.engine, loans_table.head(3), actor="test", batch_size=100)
    first, second, third = loans_table[schema.LOAN_ID].head(3)
    with store.engine.begin() as connection:
        assert enqueue(connection, [_outbox_row("k1", first), _outbox_row("k2", second)]) == {
            "k1",
            "k2",
        }
    with store.engine.begin() as connection:
        again = enqueue(
            connection,
            [
                _outbox_row("k1", first, status="held"),
                _outbox_row("k2", second),
                _outbox_row("k3", third),
            ],
        )
    assert again == {"k3"}
    with store.transaction() as session:
        counts = outbox_counts(session)
        page = outbox_messages(session, status="pending")
        with pytest.raises(InvalidRequestError, match="status"):
            outbox_messages(session, status="lost")
    assert counts["pending"] == 3
    assert counts["held"] == 0
    assert page.total == 3
    assert {item.idempotency_key for item in page.items} == {"k1", "k2", "k3"}


def _installments(loan_ids: list[str], months: int = 3) -> pd.DataFrame:
    rows = [
        (
            loan_id,
            pd.Timestamp(2026, month, 5),
            1_000.0 + index,
            1_000.0 + index,
            pd.Timestamp(2026, month, 6),
        )
        for index, loan_id in enumerate(loan_ids)
        for month in range(1, months + 1)
    ]
    return pd.DataFrame(
        rows,
        columns=[
            schema.LOAN_ID,
            schema.DUE_DATE,
            schema.AMOUNT_DUE,
            schema.AMOUNT_PAID,
            schema.PAID_DATE,
        ],
    )


def test_payment_upsert_is_idempotent_and_audits_changes(
    store: Store, loans_table: pd.DataFrame
) -> None:
    """Imports installments twice (nothing changes), then one missed payment and a row
    for an unknown loan; expects counts that reconcile and one audited update."""
    import_loans(store.engine, loans_table.head(20), actor="test", batch_size=100)
    table = _installments(loans_table[schema.LOAN_ID].head(20).tolist())
    first = import_payments(store.engine, table, actor="test", batch_size=25)
    assert first.counts.as_dict() == {
        "inserted": 60,
        "updated": 0,
        "unchanged": 0,
        "unknown_loan": 0,
    }
    second = import_payments(store.engine, table, actor="test", batch_size=7)
    assert second.counts.as_dict() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 60,
        "unknown_loan": 0,
    }
    changed = table.copy()
    changed.loc[0, schema.AMOUNT_PAID] = 0.0
    changed.loc[0, schema.PAID_DATE] = pd.NaT
    extra = _installments(["NO-SUCH-LOAN"], months=1)
    third = import_payments(
        store.engine, pd.concat([changed, extra], ignore_index=True), actor="test", batch_size=100
    )
    assert third.counts.as_dict() == {
        "inserted": 0,
        "updated": 1,
        "unchanged": 59,
        "unknown_loan": 1,
    }
    assert third.unknown[schema.LOAN_ID].tolist() == ["NO-SUCH-LOAN"]
    with store.transaction() as session:
        stored = session.execute(
            sa.select(payments.c.amount_paid, payments.c.paid_date).where(
                payments.c.loan_id == table.loc[0, schema.LOAN_ID],
                payments.c.due_date == date(2026, 1, 5),
            )
        ).one()
        updates = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "payment.update")
        ).all()
    assert tuple(stored) == (0.0, None)
    (update,) = updates
    assert update.entity_id == f"{table.loc[0, schema.LOAN_ID]}/2026-01-05"
    assert update.details is not None
    assert update.details["changes"] == {
        schema.AMOUNT_PAID: {"old": 1000.0, "new": 0.0},
        schema.PAID_DATE: {"old": "2026-01-06", "new": None},
    }


def test_opt_out_sets_the_flag_records_and_holds(store: Store, loans_table: pd.DataFrame) -> None:
    """Opts a borrower out of SMS, then of everything; expects consent No, do-not-contact
    Yes, opt-out rows, held messages and audit rows without personal data."""
    import_loans(store.engine, loans_table.head(5), actor="test", batch_size=100)
    loan_id = str(loans_table[schema.LOAN_ID].iloc[0])
    borrower_id = str(loans_table[schema.BORROWER_ID].iloc[0])
    with store.engine.begin() as connection:
        enqueue(connection, [_outbox_row("k1", loan_id)])
    with store.transaction() as session:
        sms = opt_out(session, loan_id=loan_id, channel="sms", actor="agent-7", source="sms-stop")
    assert sms.borrower_id == borrower_id
    assert sms.held_messages == 0
    with store.transaction() as session:
        every = opt_out(session, borrower_id=borrower_id, actor="agent-7")
        flags = session.execute(
            sa.select(borrowers.c.consent_sms, borrowers.c.do_not_contact).where(
                borrowers.c.borrower_id == borrower_id
            )
        ).one()
        channels = session.scalars(sa.select(OptOut.channel).order_by(OptOut.id)).all()
        message = session.scalars(sa.select(OutboxMessage)).one()
        audits = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "contact.opt_out")
        ).all()
    assert every.held_messages == 1
    assert tuple(flags) == ("No", "Yes")
    assert channels == ["sms", None]
    assert (message.status, message.reason) == ("held", "opted-out")
    assert [entry.entity_id for entry in audits] == [borrower_id, borrower_id]
    phone = str(loans_table[schema.PHONE].iloc[0])
    assert all(phone not in str(entry.details) for entry in audits)
    with store.transaction() as session:
        with pytest.raises(NotFoundError):
            opt_out(session, loan_id="NO-SUCH-LOAN", actor="agent-7")
        with pytest.raises(InvalidRequestError, match="exactly one"):
            opt_out(session, loan_id=loan_id, borrower_id=borrower_id, actor="agent-7")
        with pytest.raises(InvalidRequestError, match="channel"):
            opt_out(session, loan_id=loan_id, channel="fax", actor="agent-7")


def test_import_payments_command_reconciles_and_quarantines(
    tmp_path: Path,
    database_url: str,
    loans_table: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs `import-payments` on a file with good rows, a bad amount and an unknown loan;
    expects exit 1, counts that add up, both rejects quarantined with their lines, and a
    second run with every good row unchanged."""
    engine = create_store_engine(database_url)
    import_loans(engine, loans_table.head(2), actor="test", batch_size=100)
    engine.dispose()
    first, second = loans_table[schema.LOAN_ID].head(2)
    file = tmp_path / "installments.csv"
    file.write_text(
        "Loan_ID,Due_Date,Amount_Due,Amount_Paid,Paid_Date\n"
        f"{first},2026-01-05,1000,1000,2026-01-05\n"
        f"{first},2026-02-05,1000,0,\n"
        f"{second},2026-01-05,abc,0,\n"
        "GHOST,2026-01-05,500,500,2026-01-04\n"
        f"{second},2026-02-05,900,400,2026-02-10\n"
    )
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", database_url)
    runner = CliRunner()
    result = runner.invoke(app, ["import-payments", str(file), "--json"])
    assert result.exit_code == 1, result.output
    counts = pd.read_json(pd.io.common.StringIO(result.stdout), typ="series").to_dict()
    assert counts == {
        "rows_read": 5,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
        "invalid": 1,
        "unknown_loan": 1,
    }
    quarantine = pd.read_csv(tmp_path / "installments.quarantine.csv")
    assert quarantine["line"].tolist() == [4, 5]
    assert "unknown loan" in quarantine["reason"].iloc[1]
    assert quarantine[schema.LOAN_ID].tolist() == [second, "GHOST"]
    again = runner.invoke(app, ["import-payments", str(file), "--json"])
    assert again.exit_code == 1, again.output
    assert '"unchanged": 3' in again.stdout
    assert '"inserted": 0' in again.stdout


class _RecordingSender:
    """Stands in for SMTP or the SMS gateway: records keys, checks the handover order."""

    def __init__(self, sent: list[str], lock: threading.Lock) -> None:
        self.sent = sent
        self.lock = lock

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None]) -> None:
        handing_over()
        time.sleep(0.001)
        with self.lock:
            self.sent.append(message.idempotency_key)

    def close(self) -> None:
        return None


def test_two_concurrent_senders_never_send_a_message_twice(
    database_url: str, loans_table: pd.DataFrame
) -> None:
    """Queues 40 reminders, then runs two dispatchers at once on separate connections;
    expects every message sent exactly once and every one marked sent, one attempt each."""
    settings = load_settings(database_url=database_url, notify={"channels": ["sms", "email"]})
    table = loans_table.head(40).copy()
    table[schema.CONSENT_SMS] = "Yes"
    table[schema.DO_NOT_CONTACT] = "No"
    table[schema.TIME_ZONE] = "Asia/Kolkata"
    table[schema.PHONE] = "+919800000000"
    stores = [open_store(database_url), open_store(database_url)]
    try:
        import_loans(stores[0].engine, table, actor="test", batch_size=100)
        sent: list[str] = []
        lock = threading.Lock()
        sender = _RecordingSender(sent, lock)
        queued = run_remind(
            settings=settings,
            store=stores[0],
            extra_targets=reminder_targets(table[schema.LOAN_ID], "reminder"),
            now=NOW,
            dry_run=True,
        )
        assert queued.queued == 40
        with stores[0].transaction() as session:
            connection = session.connection()
            renderer = TemplateRenderer()
            prepared = prepare_reminders(
                connection,
                reminder_targets(table[schema.LOAN_ID], "reminder"),
                settings=settings,
                now=NOW,
                renderer=renderer,
            )
            assert queue_reminders(connection, prepared, now=NOW).sum() == 40
        errors: list[BaseException] = []

        def work(store: Store) -> None:
            try:
                Dispatcher(
                    store,
                    settings=settings,
                    senders={"sms": sender, "email": sender},
                    clock=lambda: NOW,
                ).run()
            except BaseException as error:  # surfaced below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert len(sent) == 40
        assert len(set(sent)) == 40
        with stores[0].transaction() as session:
            assert outbox_counts(session)["sent"] == 40
            attempts = session.scalar(sa.select(sa.func.count()).select_from(ContactAttempt))
        assert attempts == 40
    finally:
        for store in stores:
            store.dispose()
