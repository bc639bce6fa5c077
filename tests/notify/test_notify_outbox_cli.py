"""`outbox list` and `outbox release`: a person's way out of an email held as unconfirmed.

A sender whose server took the message but never answered leaves it ``held`` with reason
``unconfirmed`` (sending it again blindly could deliver it twice). These tests make two
such messages, list them without personal data, release one to be sent again (it then
goes out exactly once) and mark the other sent (it never goes out again), both audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify.errors import UnconfirmedSendError
from loan_recovery.notify.reminders import reminder_targets
from loan_recovery.notify.senders import OutgoingMessage
from loan_recovery.store.db import Store
from loan_recovery.store.models import AuditEntry, ContactAttempt, OutboxMessage

MONDAY_1130_IST = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PEOPLE: list[dict[str, Any]] = [
    {
        schema.BORROWER_NAME: "Ravi Kumar",
        schema.EMAIL: "ravi.kumar@example.com",
        schema.CONSENT_SMS: "No",
    },
    {
        schema.BORROWER_NAME: "Meera Iyer",
        schema.EMAIL: "meera.iyer@example.com",
        schema.CONSENT_SMS: "No",
    },
    {schema.BORROWER_NAME: "Asha Rao", schema.PHONE: "+919811111111"},
]


@dataclass
class FlakySender:
    """Accepts every message; for the loans in ``silent`` the server never answers after
    the handover began (the sender reports it unconfirmed)."""

    silent: set[str] = field(default_factory=set)
    delivered: list[OutgoingMessage] = field(default_factory=list)
    handed_over: list[str] = field(default_factory=list)

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None]) -> None:
        handing_over()
        loan = message.idempotency_key.rsplit(":", 1)[1]
        self.handed_over.append(loan)
        if loan in self.silent:
            raise UnconfirmedSendError("no answer after the final dot")
        self.delivered.append(message)

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class HeldWorld:
    """Two emails held as unconfirmed (L0000, L0001), an SMS sent (L0002)."""

    store: Store
    settings: Settings
    sender: FlakySender
    env: dict[str, str]
    ids: dict[str, int]


@pytest.fixture
def held(
    load_book: Callable[[list[dict[str, Any]]], pd.DataFrame],
    make_settings: Callable[..., Settings],
    notify_store: Store,
    database_file: Path,
) -> HeldWorld:
    """Runs the reminders once with a server that goes silent on the two emails."""
    table = load_book(PEOPLE)
    settings = make_settings()
    sender = FlakySender(silent={"L0000", "L0001"})
    outcome = run_remind(
        settings=settings,
        store=notify_store,
        extra_targets=reminder_targets(table[schema.LOAN_ID], "reminder"),
        now=MONDAY_1130_IST,
        senders={"email": sender, "sms": sender},
    )
    assert outcome.dispatch is not None
    assert (outcome.dispatch.unconfirmed, outcome.dispatch.sent) == (2, 1)
    sender.silent.clear()  # the server is fine again
    with notify_store.transaction() as session:
        ids = {
            str(loan): int(number)
            for loan, number in session.execute(sa.select(OutboxMessage.loan_id, OutboxMessage.id))
        }
    env = {"LOAN_RECOVERY_DATABASE_URL": f"sqlite:///{database_file}", "COLUMNS": "220"}
    return HeldWorld(store=notify_store, settings=settings, sender=sender, env=env, ids=ids)


def _message(store: Store, outbox_id: int) -> OutboxMessage:
    with store.transaction() as session:
        message = session.get(OutboxMessage, outbox_id)
        assert message is not None
        return message


def _dispatch(world: HeldWorld, now: datetime) -> None:
    run_remind(
        settings=world.settings,
        store=world.store,
        now=now,
        senders={"email": world.sender, "sms": world.sender},
    )


def test_list_shows_the_unconfirmed_messages_masked(held: HeldWorld) -> None:
    """Runs `outbox list`, then with --reason unconfirmed --json; expects both held emails
    with masked addresses, the hint to release them, and no name or address in clear."""
    runner = CliRunner()
    listed = runner.invoke(app, ["outbox", "list"], env=held.env)
    assert listed.exit_code == 0, listed.output
    text = listed.stdout
    assert "unconfirmed" in text
    assert "r***@example.com" in text
    assert "m***@example.com" in text
    assert "***11" in text
    assert "2 held as unconfirmed" in text
    assert "outbox release ID --resend" in text
    for secret in ("ravi.kumar", "meera.iyer", "9811111111", "Ravi Kumar", "Asha Rao"):
        assert secret not in text

    as_json = runner.invoke(
        app, ["outbox", "list", "--reason", "unconfirmed", "--json"], env=held.env
    )
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["total"] == 2
    assert payload["counts"]["held"] == 2
    assert payload["counts"]["sent"] == 1
    assert sorted(item["loan_id"] for item in payload["items"]) == ["L0000", "L0001"]
    assert {item["to"] for item in payload["items"]} == {"r***@example.com", "m***@example.com"}
    assert all(item["status"] == "held" for item in payload["items"])

    bad = runner.invoke(app, ["outbox", "list", "--status", "lost"], env=held.env)
    assert bad.exit_code == 2
    assert "status must be one of" in bad.output


def test_release_resend_sends_it_again_exactly_once(held: HeldWorld) -> None:
    """Releases L0000 with --resend; expects it pending and due now, an audit row, the
    next remind run to deliver it once, and later runs to deliver nothing more."""
    outbox_id = held.ids["L0000"]
    later = MONDAY_1130_IST + timedelta(minutes=30)
    released = CliRunner().invoke(
        app,
        ["outbox", "release", str(outbox_id), "--resend", "--now", later.isoformat()],
        env=held.env,
    )
    assert released.exit_code == 0, released.output
    assert "now pending" in released.stdout
    message = _message(held.store, outbox_id)
    assert (message.status, message.reason, message.scheduled_for) == ("pending", None, later)
    _dispatch(held, later)
    _dispatch(held, later + timedelta(hours=1))
    again = [m for m in held.sender.delivered if m.idempotency_key.endswith(":L0000")]
    assert len(again) == 1
    assert again[0].to == "ravi.kumar@example.com"
    assert _message(held.store, outbox_id).status == "sent"
    assert _message(held.store, held.ids["L0001"]).status == "held"  # still waiting
    with held.store.transaction() as session:
        (audit,) = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "outbox.release")
        ).all()
        assert (audit.actor, audit.entity_id) == ("cli", str(outbox_id))
        assert audit.details["to"] == "pending"
        assert "ravi" not in json.dumps(audit.details)


def test_release_mark_sent_records_it_and_never_sends_it(held: HeldWorld) -> None:
    """Releases L0001 with --mark-sent; expects status sent at its attempt's time, the
    attempt counted as sent, an audit row, and no send on later runs."""
    outbox_id = held.ids["L0001"]
    result = CliRunner().invoke(
        app, ["outbox", "release", str(outbox_id), "--mark-sent"], env=held.env
    )
    assert result.exit_code == 0, result.output
    assert "now sent" in result.stdout
    message = _message(held.store, outbox_id)
    assert message.status == "sent"
    assert message.sent_at == message.attempted_at == MONDAY_1130_IST
    _dispatch(held, MONDAY_1130_IST + timedelta(hours=1))
    assert not [m for m in held.sender.delivered if m.idempotency_key.endswith(":L0001")]
    with held.store.transaction() as session:
        outcomes = session.scalars(
            sa.select(ContactAttempt.outcome).where(ContactAttempt.outbox_id == outbox_id)
        ).all()
        audits = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "outbox.release")
        ).all()
    assert outcomes == ["sent"]
    assert [entry.details["to"] for entry in audits] == ["sent"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resend", "--mark-sent"], "exactly one of --resend and --mark-sent"),
        ([], "exactly one of --resend and --mark-sent"),
    ],
    ids=["both", "neither"],
)
def test_release_needs_exactly_one_choice(held: HeldWorld, args: list[str], message: str) -> None:
    """Gives both or neither of --resend and --mark-sent; expects exit 2, nothing changed."""
    outbox_id = held.ids["L0000"]
    result = CliRunner().invoke(app, ["outbox", "release", str(outbox_id), *args], env=held.env)
    assert result.exit_code == 2
    assert message in result.output
    assert _message(held.store, outbox_id).status == "held"


def test_a_final_message_cannot_be_released(held: HeldWorld) -> None:
    """Releases the SMS that was sent, and an id that does not exist; expects exit 2 with
    the message's state, then 'no outbox message', and no audit row."""
    runner = CliRunner()
    sent = runner.invoke(
        app, ["outbox", "release", str(held.ids["L0002"]), "--resend"], env=held.env
    )
    assert sent.exit_code == 2
    assert "is sent: that is final" in sent.output
    missing = runner.invoke(app, ["outbox", "release", "999999", "--mark-sent"], env=held.env)
    assert missing.exit_code == 2
    assert "no outbox message 999999" in missing.output
    assert "Traceback" not in sent.output + missing.output
    with held.store.transaction() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "outbox.release")
        )
    assert count == 0
