"""One bad contact never stops a run (issue 14): each message that cannot be built or sent
fails alone, with a reason and no personal data, and the run goes on.

Real SMTP servers (aiosmtpd, with and without SMTPUTF8) and the real ``remind`` and
``outbox`` commands. Contact details that an import might refuse are written straight
into the store, so these tests hold whatever the import validates.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from notify_servers import SmtpServer, running_smtp_server
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify import dispatch as dispatch_module
from loan_recovery.notify.dispatch import DispatchCounts, Dispatcher
from loan_recovery.notify.policy import decide
from loan_recovery.notify.reminders import (
    CAMPAIGN,
    prepare_reminders,
    queue_reminders,
    reminder_targets,
)
from loan_recovery.notify.senders import OutgoingMessage
from loan_recovery.notify.templates import TemplateRenderer
from loan_recovery.store.db import Store
from loan_recovery.store.models import (
    ContactAttempt,
    OutboxMessage,
    borrower_key,
    borrowers,
    db_column,
)

MONDAY_1130_IST = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
Book = Callable[[list[dict[str, Any]]], pd.DataFrame]
EMAIL_ONLY = {schema.CONSENT_SMS: "No"}


def _set_contacts(store: Store, changes: dict[str, dict[str, Any]]) -> None:
    """Overwrite borrowers' contact columns in the store (canonical names), unchecked."""
    with store.transaction() as session:
        for borrower_id, values in changes.items():
            session.execute(
                sa.update(borrowers)
                .where(borrower_key == borrower_id)
                .values({db_column(name): value for name, value in values.items()})
            )


def _messages(store: Store) -> dict[str, OutboxMessage]:
    """Outbox rows by loan id (one campaign)."""
    with store.transaction() as session:
        rows = session.scalars(sa.select(OutboxMessage)).all()
        session.expunge_all()
    return {row.loan_id: row for row in rows}


def _attempts(store: Store) -> Counter[str]:
    """Contact attempts per loan id."""
    with store.transaction() as session:
        return Counter(session.scalars(sa.select(ContactAttempt.loan_id)).all())


def _targets(loan_ids: Any, campaign: str = "reminder") -> pd.DataFrame:
    return reminder_targets(list(loan_ids), campaign)


def _our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """What the project logged (not the test servers)."""
    return "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("loan_recovery")
    )


def _people(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {schema.EMAIL: f"borrower{number}@example.com", **EMAIL_ONLY, **extra}
        for number in range(count)
    ]


# --- the measured case: one non-ASCII address ---------------------------------------------------
def _config(tmp_path: Path, database_file: Path, smtp: SmtpServer) -> Path:
    config = tmp_path / "settings.toml"
    config.write_text(
        f'database_url = "sqlite:///{database_file}"\n'
        f'var_dir = "{tmp_path / "var"}"\n'
        '[notify]\nchannels = ["email"]\n'
        f'[notify.smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nstarttls = false\n'
    )
    return config


def test_non_ascii_address_without_smtputf8_fails_alone_and_the_run_goes_on(
    tmp_path: Path,
    load_book: Book,
    notify_store: Store,
    database_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Gives five email borrowers, the third re-imported as müller.naidu@example.com, and a
    server without SMTPUTF8; runs `remind` twice and `outbox list --state failed`.
    Expects exit 1 naming 1 smtputf8-unsupported, the other four delivered once, the bad
    one failed (not sending) with no contact attempt, no traceback and no address in any
    output or log; the rerun sends nothing and exits 0; the list shows it masked."""
    caplog.set_level(logging.INFO, logger="loan_recovery")
    table = load_book(_people(5))
    _set_contacts(notify_store, {"B0002": {schema.EMAIL: "müller.naidu@example.com"}})
    plan = tmp_path / "plan.csv"
    pd.DataFrame(
        {schema.LOAN_ID: table[schema.LOAN_ID], schema.RECOMMENDED_ACTION: "reminder"}
    ).to_csv(plan, index=False)
    monkeypatch.delenv("LOAN_RECOVERY_DATABASE_URL", raising=False)
    runner = CliRunner()
    with running_smtp_server() as smtp:
        config = _config(tmp_path, database_file, smtp)
        command = ["--config", str(config), "remind", "--plan", str(plan)]
        first = runner.invoke(app, [*command, "--now", "2026-03-02T06:00:00Z"])
        second = runner.invoke(app, [*command, "--now", "2026-03-02T07:00:00Z"])
        listed = runner.invoke(
            app, ["--config", str(config), "outbox", "list", "--state", "failed", "--json"]
        )
        delivered = Counter(smtp.recorder.keys())

    assert first.exit_code == 1, first.output
    assert "1 failed (1 smtputf8-unsupported)" in first.stdout
    assert "outbox list --state failed" in first.stdout
    assert second.exit_code == 0, second.output
    assert listed.exit_code == 0, listed.output
    expected = {f"reminder:2026-03-02:L000{number}" for number in (0, 1, 3, 4)}
    assert set(delivered) == expected
    assert max(delivered.values()) == 1
    bad = _messages(notify_store)["L0002"]
    assert (bad.status, bad.reason, bad.attempts) == ("failed", "smtputf8-unsupported", 1)
    assert "SMTPUTF8" in (bad.last_error or "")
    assert _attempts(notify_store) == Counter({"L0000": 1, "L0001": 1, "L0003": 1, "L0004": 1})
    payload = json.loads(listed.stdout)
    assert payload["total"] == 1
    (item,) = payload["items"]
    assert (item["loan_id"], item["status"], item["reason"]) == (
        "L0002",
        "failed",
        "smtputf8-unsupported",
    )
    assert item["to"] == "m***@example.com"
    logged = _our_logs(caplog)
    assert "loan=L0002" in logged
    assert "reason=smtputf8-unsupported" in logged
    everything = first.output + second.output + listed.output + logged
    assert "Traceback" not in everything
    assert "müller" not in everything
    assert "borrower1@example.com" not in everything


def test_non_ascii_address_is_sent_when_the_server_offers_smtputf8(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtputf8_server: SmtpServer,
) -> None:
    """Gives müller.naidu@example.com and an internationalised domain to a server that
    offers SMTPUTF8; expects both delivered once, the first as UTF-8, the second to its
    ASCII (xn--) domain, each counted as one contact attempt."""
    table = load_book(_people(2))
    _set_contacts(
        notify_store,
        {
            "B0000": {schema.EMAIL: "müller.naidu@example.com"},
            "B0001": {schema.EMAIL: "asha@müller.de"},
        },
    )
    settings = make_settings(smtp=smtputf8_server, channels=["email"])
    outcome = run_remind(
        settings=settings,
        store=notify_store,
        extra_targets=_targets(table[schema.LOAN_ID]),
        now=MONDAY_1130_IST,
    )
    assert outcome.dispatch is not None
    assert (outcome.dispatch.sent, outcome.dispatch.failed) == (2, 0)
    recipients = sorted(mail.recipients[0] for mail in smtputf8_server.recorder.messages)
    assert recipients == ["asha@xn--mller-kva.de", "müller.naidu@example.com"]
    assert _attempts(notify_store) == Counter({"L0000": 1, "L0001": 1})


# --- templates, transient errors, bugs ----------------------------------------------------------
def test_a_message_whose_template_raises_fails_alone(
    tmp_path: Path,
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
) -> None:
    """Gives a template that breaks for two borrowers' own facts (an undefined variable,
    a division by zero) and works for the sample and the others; expects the run to queue
    all four, send two, fail two as template-error without contact attempts."""
    folder = tmp_path / "templates" / "email" / "en"
    folder.mkdir(parents=True)
    (folder / "reminder.txt.j2").write_text(
        "Dear {{ borrower_name }},\n"
        '{% if borrower_name == "Broken Record" %}{{ no_such_variable }}{% endif %}'
        '{{ (1 / 0) if borrower_name == "Zero Division" else "" }}'
        "please pay {{ amount_due }} by {{ due_date }} ({{ payment_reference }}).\n"
        "{{ lender_name }} {{ loan_reference }}\n"
    )
    names = ["Asha Rao", "Broken Record", "Zero Division", "Ravi Kumar"]
    table = load_book(
        [
            {**person, schema.BORROWER_NAME: name}
            for person, name in zip(_people(4), names, strict=True)
        ]
    )
    settings = make_settings(
        smtp=smtp_server, channels=["email"], template_dir=str(tmp_path / "templates")
    )
    outcome = run_remind(
        settings=settings,
        store=notify_store,
        extra_targets=_targets(table[schema.LOAN_ID]),
        now=MONDAY_1130_IST,
    )
    assert outcome.queued == 4
    assert outcome.dispatch is not None
    assert outcome.dispatch.sent == 2
    assert outcome.dispatch.failed_reasons == {"template-error": 2}
    messages = _messages(notify_store)
    assert {loan: row.status for loan, row in messages.items()} == {
        "L0000": "sent",
        "L0001": "failed",
        "L0002": "failed",
        "L0003": "sent",
    }
    assert "no_such_variable" in (messages["L0001"].last_error or "")
    assert "ZeroDivisionError" in (messages["L0002"].last_error or "")
    assert "Broken Record" not in (messages["L0001"].last_error or "")
    assert set(_attempts(notify_store)) == {"L0000", "L0003"}


def test_transient_failure_is_retried_then_failed_after_max_attempts(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
) -> None:
    """Gives a server that answers 451 to one recipient's RCPT every time, three tries
    allowed; runs four times, a minute apart. Expects the others sent on the first run,
    the bad one deferred twice then failed as retries-exhausted after exactly three
    RCPTs, never again, and none of its tries counted as a contact attempt."""
    table = load_book(_people(3))
    smtp_server.recorder.refuse["borrower1@example.com"] = "451 4.3.0 mailbox busy, try later"
    settings = make_settings(
        smtp=smtp_server, channels=["email"], max_send_attempts=3, retry_delay_seconds=60
    )
    results = []
    for minute in range(4):
        outcome = run_remind(
            settings=settings,
            store=notify_store,
            extra_targets=_targets(table[schema.LOAN_ID]),
            now=MONDAY_1130_IST + timedelta(minutes=minute),
        )
        assert outcome.dispatch is not None
        dispatch = outcome.dispatch
        results.append((dispatch.sent, dispatch.retrying, dispatch.failed, dispatch.failed_reasons))
    assert results == [
        (2, 1, 0, {}),
        (0, 1, 0, {}),
        (0, 0, 1, {"retries-exhausted": 1}),
        (0, 0, 0, {}),
    ]
    assert smtp_server.recorder.rcpts.count("borrower1@example.com") == 3
    bad = _messages(notify_store)["L0001"]
    assert (bad.status, bad.reason, bad.attempts) == ("failed", "retries-exhausted", 3)
    assert "451" in (bad.last_error or "")
    assert "borrower1" not in (bad.last_error or "")
    assert _attempts(notify_store) == Counter({"L0000": 1, "L0002": 1})


@dataclass
class BuggySender:
    """Delivers, except that it raises an unexpected error for ``before`` loans (before
    the handover) and ``after`` loans (after it), quoting the address as bugs do."""

    before: set[str] = field(default_factory=set)
    after: set[str] = field(default_factory=set)
    delivered: list[str] = field(default_factory=list)

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None]) -> None:
        loan = message.idempotency_key.rsplit(":", 1)[1]
        if loan in self.before:
            raise KeyError(f"no route for {message.to}")
        handing_over()
        if loan in self.after:
            raise RuntimeError(f"lost the socket while talking about {message.to}")
        self.delivered.append(loan)

    def close(self) -> None:
        return None


def test_an_unexpected_error_in_a_sender_settles_that_message_only(
    load_book: Book, make_settings: Callable[..., Settings], notify_store: Store
) -> None:
    """Gives a sender with a bug for two of four messages: one before its handover, one
    after; expects the first failed (internal-error, not counted), the second held as
    unconfirmed (it may have arrived, counted), the others sent, no address stored."""
    table = load_book(_people(4))
    sender = BuggySender(before={"L0001"}, after={"L0002"})
    outcome = run_remind(
        settings=make_settings(channels=["email"]),
        store=notify_store,
        extra_targets=_targets(table[schema.LOAN_ID]),
        now=MONDAY_1130_IST,
        senders={"email": sender},
    )
    assert outcome.dispatch is not None
    assert (outcome.dispatch.sent, outcome.dispatch.unconfirmed) == (2, 1)
    assert outcome.dispatch.failed_reasons == {"internal-error": 1}
    messages = _messages(notify_store)
    assert (messages["L0001"].status, messages["L0001"].reason) == ("failed", "internal-error")
    assert (messages["L0002"].status, messages["L0002"].reason) == ("held", "unconfirmed")
    assert "KeyError" in (messages["L0001"].last_error or "")
    for row in messages.values():
        assert "@example.com" not in (row.last_error or "")
    assert _attempts(notify_store) == Counter({"L0000": 1, "L0002": 1, "L0003": 1})


# --- contact caps -------------------------------------------------------------------------------
def test_tries_that_reached_no_one_do_not_use_up_the_contact_cap(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
) -> None:
    """Gives one contact a day (max_attempts=1) and one borrower whose address is first a
    list, then refused by the server (550), then non-ASCII on a server without SMTPUTF8,
    then fixed, a new campaign each time. Expects three failures, then the fixed one sent
    (not deferred by the cap), then the next deferred by the cap: one attempt counted."""
    load_book(_people(1))
    smtp_server.recorder.refuse["gone@example.com"] = "550 5.1.1 no such user"
    settings = make_settings(
        smtp=smtp_server, channels=["email"], max_attempts=1, attempt_window_days=1
    )
    steps = [
        ("first", "a@example.com, b@example.com", "failed", "invalid-address"),
        ("second", "gone@example.com", "failed", "recipient-refused"),
        ("third", "müller.naidu@example.com", "failed", "smtputf8-unsupported"),
        ("fourth", "asha@example.com", "sent", None),
        ("fifth", "asha@example.com", "deferred", "attempt-cap"),
    ]
    for minute, (campaign, address, status, reason) in enumerate(steps):
        _set_contacts(notify_store, {"B0000": {schema.EMAIL: address}})
        run_remind(
            settings=settings,
            store=notify_store,
            extra_targets=pd.DataFrame({schema.LOAN_ID: ["L0000"], CAMPAIGN: [campaign]}),
            now=MONDAY_1130_IST + timedelta(minutes=10 * minute),
        )
        with notify_store.transaction() as session:
            row = session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.campaign == campaign)
            ).one()
            assert (row.status, row.reason) == (status, reason), campaign
    assert _attempts(notify_store) == Counter({"L0000": 1})
    assert smtp_server.recorder.keys() == ["fourth:2026-03-02:L0000"]


class Killed(BaseException):
    """Stands in for the process dying (SIGKILL, OOM) in the middle of a send."""


@dataclass
class DyingSender:
    """Dies before the handover (``after_handover``: just after it) on every send."""

    after_handover: bool = False

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None]) -> None:
        if self.after_handover:
            handing_over()
        raise Killed

    def close(self) -> None:
        return None


def _dispatch(store: Store, settings: Settings, sender: Any, now: datetime) -> DispatchCounts:
    return Dispatcher(store, settings=settings, senders={"email": sender}, clock=lambda: now).run()


def _queue(store: Store, settings: Settings, loan_ids: Any, now: datetime) -> None:
    """Queue today's reminders of ``loan_ids`` without sending any."""
    with store.transaction() as session:
        connection = session.connection()
        prepared = prepare_reminders(
            connection, _targets(loan_ids), settings=settings, now=now, renderer=TemplateRenderer()
        )
        queue_reminders(connection, prepared, now=now)


def test_a_message_that_kills_its_sender_is_requeued_uncounted_then_failed(
    load_book: Book, make_settings: Callable[..., Settings], notify_store: Store
) -> None:
    """Gives a sender that dies on a message before its handover, two tries allowed;
    expects the stale claim requeued with its attempt deleted, then after the second
    death the message failed as abandoned (not requeued forever), never counted."""
    table = load_book(_people(1))
    settings = make_settings(channels=["email"], max_send_attempts=2, claim_lease_seconds=60)
    _queue(notify_store, settings, table[schema.LOAN_ID], MONDAY_1130_IST)
    moments = [MONDAY_1130_IST + timedelta(minutes=minutes) for minutes in (0, 5, 10)]
    with pytest.raises(Killed):
        _dispatch(notify_store, settings, DyingSender(), moments[0])
    message = _messages(notify_store)["L0000"]
    assert (message.status, message.attempts) == ("sending", 1)
    assert _attempts(notify_store) == Counter({"L0000": 1})  # in flight: counts for now
    with pytest.raises(Killed):
        _dispatch(notify_store, settings, DyingSender(), moments[1])  # requeued, dies again
    assert _attempts(notify_store) == Counter({"L0000": 1})  # the first claim's is gone
    counts = _dispatch(notify_store, settings, DyingSender(), moments[2])
    message = _messages(notify_store)["L0000"]
    assert (message.status, message.reason, message.attempts) == ("failed", "abandoned", 2)
    assert counts.failed_reasons == {"abandoned": 1}
    assert _attempts(notify_store) == Counter()


# --- outbox release settles every state that is not final ---------------------------------------
def _release(env: dict[str, str], outbox_id: int, choice: str, now: datetime) -> Any:
    return CliRunner().invoke(
        app, ["outbox", "release", str(outbox_id), choice, "--now", now.isoformat()], env=env
    )


def test_outbox_release_settles_sending_delivering_and_waiting_messages(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    database_file: Path,
) -> None:
    """Leaves one message `sending` (its sender died before the handover), one
    `delivering` (died after it), one failed, one deferred. Expects: `sending` cannot be
    marked sent (it cannot have arrived), --resend requeues it and drops its attempt;
    `delivering` is refused while a sender may still hold it, then --mark-sent records it
    (attempt sent); the failed one is final; the deferred one goes out now with --resend;
    the next run sends the two requeued messages exactly once; `outbox list --state`
    shows each state."""
    table = load_book(_people(4))
    _set_contacts(notify_store, {"B0002": {schema.EMAIL: "not an address"}})
    settings = make_settings(smtp=smtp_server, channels=["email"], claim_lease_seconds=600)
    env = {"LOAN_RECOVERY_DATABASE_URL": f"sqlite:///{database_file}", "COLUMNS": "220"}
    _queue(notify_store, settings, table[schema.LOAN_ID], MONDAY_1130_IST)
    ids = {loan: row.id for loan, row in _messages(notify_store).items()}
    with notify_store.transaction() as session:  # L0003 waits for a retry tomorrow
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.loan_id == "L0003")
            .values(status="deferred", scheduled_for=MONDAY_1130_IST + timedelta(days=1))
        )
    with pytest.raises(Killed):
        Dispatcher(
            notify_store,
            settings=settings,
            senders={"email": DyingSender()},
            clock=lambda: MONDAY_1130_IST,
        ).send_one(ids["L0000"])
    with pytest.raises(Killed):
        Dispatcher(
            notify_store,
            settings=settings,
            senders={"email": DyingSender(after_handover=True)},
            clock=lambda: MONDAY_1130_IST,
        ).send_one(ids["L0001"])
    _dispatch(notify_store, settings, DyingSender(), MONDAY_1130_IST)  # only L0002 is due
    states = {loan: row.status for loan, row in _messages(notify_store).items()}
    assert states == {
        "L0000": "sending",
        "L0001": "delivering",
        "L0002": "failed",
        "L0003": "deferred",
    }
    runner = CliRunner()
    for state in ("sending", "delivering", "failed", "deferred"):
        listed = runner.invoke(app, ["outbox", "list", "--state", state, "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        assert [item["status"] for item in json.loads(listed.stdout)["items"]] == [state]
    shown = runner.invoke(app, ["outbox", "list"], env=env)
    assert "2 in flight" in shown.stdout
    assert "1 failed" in shown.stdout

    soon = MONDAY_1130_IST + timedelta(minutes=1)
    later = MONDAY_1130_IST + timedelta(minutes=10)
    refused = _release(env, ids["L0000"], "--mark-sent", soon)
    assert refused.exit_code == 2
    assert "cannot have arrived" in refused.output
    requeued = _release(env, ids["L0000"], "--resend", soon)
    assert requeued.exit_code == 0, requeued.output
    assert "now pending" in requeued.stdout
    too_early = _release(env, ids["L0001"], "--mark-sent", soon)
    assert too_early.exit_code == 2
    assert "may be handing it over right now" in too_early.output
    marked = _release(env, ids["L0001"], "--mark-sent", later)
    assert marked.exit_code == 0, marked.output
    final = _release(env, ids["L0002"], "--resend", later)
    assert final.exit_code == 2
    assert "is failed (invalid-address): that is final" in final.output
    now_due = _release(env, ids["L0003"], "--resend", later)
    assert now_due.exit_code == 0, now_due.output
    assert "Traceback" not in refused.output + too_early.output + final.output

    with notify_store.transaction() as session:
        rows = session.execute(sa.select(ContactAttempt.loan_id, ContactAttempt.outcome))
        outcomes = {str(loan): str(outcome) for loan, outcome in rows}
    assert outcomes == {"L0001": "sent"}  # the requeued claim of L0000 is gone
    run_remind(settings=settings, store=notify_store, now=later)
    run_remind(settings=settings, store=notify_store, now=later + timedelta(hours=1))
    assert sorted(smtp_server.recorder.keys()) == [
        "reminder:2026-03-02:L0000",
        "reminder:2026-03-02:L0003",
    ]
    states = {loan: row.status for loan, row in _messages(notify_store).items()}
    assert states == {"L0000": "sent", "L0001": "sent", "L0002": "failed", "L0003": "sent"}


def test_a_bug_met_while_claiming_one_message_fails_that_message_only(
    load_book: Book,
    make_settings: Callable[..., Settings],
    notify_store: Store,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gives a contact-policy check that raises (quoting an address) for one of three
    loans when it is sent; expects that message failed as internal-error with the error's
    type and no address, no contact attempt for it, and the other two sent."""
    table = load_book(_people(3))

    def decide_with_a_bug(recipients: pd.DataFrame, now: datetime, policy: Any) -> pd.DataFrame:
        if "L0001" in set(recipients[schema.LOAN_ID]):
            raise ValueError("cannot decide for borrower1@example.com")
        return decide(recipients, now, policy)

    monkeypatch.setattr(dispatch_module, "decide", decide_with_a_bug)
    outcome = run_remind(
        settings=make_settings(smtp=smtp_server, channels=["email"]),
        store=notify_store,
        extra_targets=_targets(table[schema.LOAN_ID]),
        now=MONDAY_1130_IST,
    )
    assert outcome.dispatch is not None
    assert outcome.dispatch.sent == 2
    assert outcome.dispatch.failed_reasons == {"internal-error": 1}
    bad = _messages(notify_store)["L0001"]
    assert (bad.status, bad.reason) == ("failed", "internal-error")
    assert "ValueError" in (bad.last_error or "")
    assert "borrower1" not in (bad.last_error or "")
    assert _attempts(notify_store) == Counter({"L0000": 1, "L0002": 1})
