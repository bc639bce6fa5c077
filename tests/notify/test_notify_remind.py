"""The remind job end to end: queue under the contact policy, send over real SMTP and a
local SMS gateway, rerun safely, dry-run without writing, opt-out, failures, recovery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from notify_servers import SmsGateway, SmtpServer
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify.dispatch import Dispatcher
from loan_recovery.notify.optout import opt_out
from loan_recovery.notify.reminders import CAMPAIGN, reminder_targets
from loan_recovery.notify.senders import build_senders
from loan_recovery.store.db import Store
from loan_recovery.store.loans import import_loans
from loan_recovery.store.models import AuditEntry, ContactAttempt, OutboxMessage
from loan_recovery.store.outbox import outbox_counts, outbox_messages
from loan_recovery.store.payments import upsert_payments
from loan_recovery.store.plans import store_plan

MONDAY_1130_IST = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 01:00 in New York
MONDAY_0830_EST = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)  # 19:00 in Kolkata: closed

Book = Callable[[list[dict[str, Any]]], pd.DataFrame]

PEOPLE: list[dict[str, Any]] = [
    {schema.BORROWER_NAME: "Asha Rao", schema.PHONE: "+919811111111"},
    {
        schema.BORROWER_NAME: "Ravi Kumar",
        schema.EMAIL: "ravi.kumar@example.com",
        schema.CONSENT_SMS: "No",
        schema.PREFERRED_LANGUAGE: "hi",
    },
    {schema.BORROWER_NAME: "Meera Iyer", schema.DO_NOT_CONTACT: "Yes"},
    {
        schema.BORROWER_NAME: "John Smith",
        schema.EMAIL: "john.smith@example.com",
        schema.CONSENT_SMS: "No",
        schema.TIME_ZONE: "America/New_York",
    },
]


def _statuses(store: Store) -> dict[str, str]:
    with store.transaction() as session:
        rows = session.execute(sa.select(OutboxMessage.loan_id, OutboxMessage.status))
        return {str(loan): str(status) for loan, status in rows}


def _targets(table: pd.DataFrame) -> pd.DataFrame:
    return reminder_targets(table[schema.LOAN_ID], "reminder")


def test_reminders_reach_the_smtp_server_and_the_gateway_exactly_once(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    """Gives four borrowers (SMS, Hindi email, do-not-contact, New York email) and an
    unpaid installment; runs at 11:30 IST, again, then at 08:30 in New York. Expects each
    allowed reminder delivered once with the right facts, the rest held or deferred."""
    table = load_book(PEOPLE)
    installment = pd.DataFrame(
        {
            schema.LOAN_ID: ["L0000"],
            schema.DUE_DATE: pd.to_datetime(["2026-02-25"]),
            schema.AMOUNT_DUE: [4_500.0],
            schema.AMOUNT_PAID: [1_000.0],
            schema.PAID_DATE: pd.to_datetime(["2026-02-27"]),
        }
    )
    with notify_store.engine.begin() as connection:
        upsert_payments(connection, installment, actor="test")
    settings = make_settings(smtp=smtp_server, gateway=sms_gateway)

    first = run_remind(
        settings=settings, store=notify_store, extra_targets=_targets(table), now=MONDAY_1130_IST
    )
    assert first.decisions == {"send": 2, "defer": 1, "hold": 1}
    assert first.queued == 4
    assert first.dispatch is not None
    assert first.dispatch.sent == 2
    assert _statuses(notify_store) == {
        "L0000": "sent",
        "L0001": "sent",
        "L0002": "held",
        "L0003": "deferred",
    }
    (sms,) = sms_gateway.delivered()
    assert sms.payload["to"] == "+919811111111"
    assert sms.payload["reference"] == "reminder:2026-03-02:L0000"
    assert "₹3,500.00" in sms.payload["text"]  # 4,500 due, 1,000 paid
    assert "25 February 2026" in sms.payload["text"]
    assert "L0000-20260225" in sms.payload["text"]
    (mail,) = smtp_server.recorder.messages
    assert mail.recipients == ["ravi.kumar@example.com"]
    assert "प्रिय Ravi Kumar" in mail.body
    assert mail.message["Subject"].startswith("भुगतान अनुस्मारक")

    again = run_remind(
        settings=settings, store=notify_store, extra_targets=_targets(table), now=MONDAY_1130_IST
    )
    assert again.queued == 0
    assert again.already_queued == 4
    assert again.dispatch is not None
    assert again.dispatch.sent == 0

    later = run_remind(
        settings=settings, store=notify_store, extra_targets=_targets(table), now=MONDAY_0830_EST
    )
    assert later.dispatch is not None
    assert later.dispatch.sent == 1
    assert [mail.recipients for mail in smtp_server.recorder.messages] == [
        ["ravi.kumar@example.com"],
        ["john.smith@example.com"],
    ]
    assert len(sms_gateway.requests) == 1
    assert _statuses(notify_store)["L0003"] == "sent"
    with notify_store.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ContactAttempt)) == 3
        page = outbox_messages(session, loan_id="L0002")
        assert page.items[0].reason == "do-not-contact"


def test_dry_run_writes_and_sends_nothing_and_masks_personal_data(
    tmp_path: Path,
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    database_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs `remind --plan FILE --dry-run` through the CLI; expects a table of decisions
    with masked addresses, no names, no outbox rows and no mail."""
    table = load_book(PEOPLE)
    plan = tmp_path / "plan.csv"
    pd.DataFrame(
        {
            schema.LOAN_ID: [*table[schema.LOAN_ID], "L9999"],
            schema.RECOMMENDED_ACTION: ["reminder", "reminder", "reminder", "call", "reminder"],
        }
    ).to_csv(plan, index=False)
    config = tmp_path / "settings.toml"
    config.write_text(
        f'database_url = "sqlite:///{database_file}"\n'
        f'var_dir = "{tmp_path / "var"}"\n'
        "[notify.smtp]\n"
        f'host = "127.0.0.1"\nport = {smtp_server.port}\nstarttls = false\n'
        '[notify.sms]\nurl = "http://127.0.0.1:9/unused"\n'
    )
    monkeypatch.delenv("LOAN_RECOVERY_DATABASE_URL", raising=False)
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(config),
            "remind",
            "--plan",
            str(plan),
            "--dry-run",
            "--now",
            "2026-03-02T11:30:00+05:30",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout
    assert "L0000" in result.stdout
    assert "L9999" in result.stdout
    assert "unknown-loan" in result.stdout
    assert "do-not-contact" in result.stdout
    assert "***11" in result.stdout  # the phone's last two digits only
    assert "r***@example.com" in result.stdout
    for secret in ("9811111111", "ravi.kumar", "Asha Rao", "Ravi Kumar"):
        assert secret not in result.stdout
    assert "would queue 3" in result.stdout
    assert smtp_server.recorder.count() == 0
    with notify_store.transaction() as session:
        assert sum(outbox_counts(session).values()) == 0
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "reminders.queue")
            )
            == 0
        )


def test_from_store_targets_the_latest_reminder_recommendations(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    """Stores two plan runs; expects only loans whose latest score says reminder, plus the
    extra early-warning target under its own campaign (same loan, separate key)."""
    load_book([{}, {}, {}])

    def plan(actions: list[str]) -> None:
        n = len(actions)
        worklist = pd.DataFrame(
            {
                schema.LOAN_ID: ["L0000", "L0001", "L0002"][:n],
                schema.RECOMMENDED_ACTION: actions,
                schema.EXPECTED_NET_RECOVERY: [1.0] * n,
                schema.EXPECTED_RECOVERED: [2.0] * n,
                schema.EXPECTED_COST: [1.0] * n,
                schema.PRIORITY: [1.0] * n,
                schema.RISK_SCORE: [0.2] * n,
                schema.RISK_BAND: ["Low"] * n,
            }
        )
        with notify_store.transaction() as session:
            store_plan(session, worklist, model_version="v0001", actor="test")

    plan(["reminder", "reminder", "call"])
    plan(["call", "reminder", "reminder"])
    extra = pd.DataFrame({schema.LOAN_ID: ["L0001"], CAMPAIGN: ["early-warning"]})
    outcome = run_remind(
        settings=make_settings(smtp=smtp_server, gateway=sms_gateway),
        store=notify_store,
        from_store=True,
        extra_targets=extra,
        now=MONDAY_1130_IST,
    )
    keys = sorted(request.payload["reference"] for request in sms_gateway.delivered())
    assert keys == [
        "early-warning:2026-03-02:L0001",
        "reminder:2026-03-02:L0001",
        "reminder:2026-03-02:L0002",
    ]
    assert outcome.queued == 3


def test_opt_out_holds_queued_reminders_and_survives_a_reimport(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    """Queues reminders at night (deferred), opts one borrower out of SMS and one out of
    everything, re-imports the old contact file; expects nothing sent to either, audited."""
    table = load_book([{}, {}, {}])
    settings = make_settings(smtp=smtp_server, gateway=sms_gateway, channels=["sms"])
    night = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 20:30 IST
    queued = run_remind(
        settings=settings, store=notify_store, extra_targets=_targets(table), now=night
    )
    assert queued.decisions["defer"] == 3
    with notify_store.transaction() as session:
        sms_only = opt_out(
            session, loan_id="L0000", channel="sms", actor="api-key-1", source="sms-stop"
        )
        everything = opt_out(session, borrower_id="B0001", actor="api-key-1")
    assert sms_only.held_messages == 0  # re-decided when due: no other channel, so held
    assert everything.held_messages == 1
    import_loans(notify_store.engine, table, actor="test", batch_size=100)  # says consent Yes
    morning = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)  # 09:30 IST, next day
    run_remind(settings=settings, store=notify_store, extra_targets=_targets(table), now=morning)
    sent_to = sorted(
        request.payload["reference"].rsplit(":", 1)[1] for request in sms_gateway.delivered()
    )
    assert sent_to == ["L0002", "L0002"]  # day 1 deferred, then day 2's own reminder
    with notify_store.transaction() as session:
        reasons = {
            (row.loan_id, row.campaign_date, row.reason)
            for row in session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.status == "held")
            )
        }
        audits = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "contact.opt_out")
        ).all()
    assert reasons == {
        ("L0000", date(2026, 3, 2), "opted-out"),
        ("L0001", date(2026, 3, 2), "opted-out"),
        ("L0000", date(2026, 3, 3), "opted-out"),
        ("L0001", date(2026, 3, 3), "opted-out"),
    }
    assert {entry.entity_id for entry in audits} == {"B0000", "B0001"}
    assert all("9800000000" not in str(entry.details) for entry in audits)


def test_failures_are_retried_later_or_failed_for_good(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    """Gives a gateway that errors (5xx) then refuses (4xx); expects a deferred retry, then
    failed after the 4xx; and every try counted as a contact attempt."""
    table = load_book([{}])
    settings = make_settings(
        smtp=smtp_server, gateway=sms_gateway, channels=["sms"], retry_delay_seconds=600
    )
    sms_gateway.script = [500, 500, 500, 400]
    first = run_remind(
        settings=settings, store=notify_store, extra_targets=_targets(table), now=MONDAY_1130_IST
    )
    assert first.dispatch is not None
    assert first.dispatch.retrying == 1
    assert len(sms_gateway.requests) == 3  # 1 + max_retries=2
    with notify_store.transaction() as session:
        (message,) = outbox_messages(session).items
    assert message.status == "deferred"
    assert message.reason == "send-error"
    assert message.scheduled_for == MONDAY_1130_IST + timedelta(minutes=10)
    second = run_remind(
        settings=settings,
        store=notify_store,
        extra_targets=_targets(table),
        now=MONDAY_1130_IST + timedelta(minutes=10),
    )
    assert second.dispatch is not None
    assert second.dispatch.failed == 1
    assert len(sms_gateway.requests) == 4
    with notify_store.transaction() as session:
        (message,) = outbox_messages(session).items
        attempts = session.scalars(sa.select(ContactAttempt.outcome)).all()
    assert message.status == "failed"
    assert "HTTP 400" in (message.last_error or "")
    assert sorted(attempts) == ["failed", "failed"]


def test_abandoned_messages_are_resent_or_held_by_what_may_have_arrived(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    """Leaves three messages as a dead sender would (email sending, email delivering, SMS
    delivering); expects the first and the SMS resent, the delivering email held."""
    table = load_book([{schema.CONSENT_SMS: "No"}, {schema.CONSENT_SMS: "No"}, {}])
    settings = make_settings(smtp=smtp_server, gateway=sms_gateway, claim_lease_seconds=60)
    night = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    run_remind(settings=settings, store=notify_store, extra_targets=_targets(table), now=night)
    with notify_store.transaction() as session:
        for loan_id, status in (
            ("L0000", "sending"),
            ("L0001", "delivering"),
            ("L0002", "delivering"),
        ):
            session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.loan_id == loan_id)
                .values(status=status, attempted_at=night, attempts=1)
            )
    morning = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
    senders = build_senders(settings.notify)
    counts = Dispatcher(
        notify_store, settings=settings, senders=senders, clock=lambda: morning
    ).run()
    for sender in senders.values():
        sender.close()
    assert counts.recovered == 2
    assert counts.recovered_unconfirmed == 1
    assert _statuses(notify_store) == {"L0000": "sent", "L0001": "held", "L0002": "sent"}
    with notify_store.transaction() as session:
        held = outbox_messages(session, status="held").items[0]
    assert held.reason == "unconfirmed"
    assert smtp_server.recorder.count() == 1
    assert [request.payload["reference"] for request in sms_gateway.delivered()] == [
        "reminder:2026-03-02:L0002"
    ]


def test_missing_sms_gateway_fails_before_anything_is_queued(
    tmp_path: Path,
    load_book: Book,
    notify_store: Store,
    database_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs `remind` with SMS among the channels but no gateway URL; expects exit 2 with
    the setting to fix, no traceback, and an empty outbox."""
    table = load_book([{}])
    plan = tmp_path / "plan.csv"
    pd.DataFrame(
        {schema.LOAN_ID: table[schema.LOAN_ID], schema.RECOMMENDED_ACTION: "reminder"}
    ).to_csv(plan, index=False)
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", f"sqlite:///{database_file}")
    result = CliRunner().invoke(
        app, ["remind", "--plan", str(plan), "--now", "2026-03-02T06:00:00Z"]
    )
    assert result.exit_code == 2
    assert "notify.sms.url" in result.output
    assert "Traceback" not in result.output
    with notify_store.transaction() as session:
        assert sum(outbox_counts(session).values()) == 0
