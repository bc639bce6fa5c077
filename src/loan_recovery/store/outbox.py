"""The reminder outbox, contact attempts and opt-outs in the store.

A reminder is queued once per idempotency key (loan, campaign, date) with
``INSERT ... ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL spell it the same way
through their SQLAlchemy dialects), so a rerun queues nothing twice. A sender then moves
each message through its statuses, one short transaction per step, every update
conditional on the status it expects (compare-and-set), so two senders never both own a
message::

    pending/deferred --claim--> sending --handover begins--> delivering --> sent
      |   |                       |                              \\--> failed / deferred /
      |   |                       |                                   held (unconfirmed)
      |   |                       \\--> failed (refused, out of tries) / deferred (retry)
      |   \\--> held (policy) / deferred (policy)
      \\--> failed (cannot be built or addressed: never claimed)

Claiming records a contact attempt (what the rolling cap counts), so a message in flight
counts at once. An attempt counts only if the message may have reached the borrower:
when a try ends before its handover began (``sending``: refused at ``RCPT``, server
unreachable, no ``SMTPUTF8``, the sender died) or the sender knows it sent nothing, its
attempt row is deleted again; the outbox row keeps the try in ``attempts`` and
``last_error``. Why those steps make a crash or rerun send each reminder at most once,
and lose none silently, is argued in :mod:`loan_recovery.notify.dispatch`;
:func:`recover_abandoned` is the restart half and :func:`release_message` a person's.

The API reads :func:`outbox_messages` and :func:`outbox_counts`; nothing here holds
personal data (names and addresses stay in ``borrowers``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loan_recovery.data import schema
from loan_recovery.store.audit import write_audit
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.loans import LOOKUP_CHUNK, key_in
from loan_recovery.store.models import (
    BORROWER_COLUMNS,
    DUE_STATUSES,
    AttemptOutcome,
    Channel,
    ContactAttempt,
    OptOut,
    OutboxMessage,
    OutboxStatus,
    borrower_key,
    borrowers,
    db_column,
    loan_key,
    loans,
)
from loan_recovery.store.queries import MAX_PAGE_SIZE, Page

OUTBOX: sa.Table = OutboxMessage.__table__  # type: ignore[assignment]
ATTEMPTS: sa.Table = ContactAttempt.__table__  # type: ignore[assignment]
OPT_OUTS: sa.Table = OptOut.__table__  # type: ignore[assignment]
#: Rows per ``INSERT ... ON CONFLICT`` statement.
ENQUEUE_CHUNK = 1_000
#: Column of :func:`attempt_times`: when an attempt was made (UTC).
AT = "at"

_DUE = [status.value for status in DUE_STATUSES]
_BORROWER_OF_LOAN = loans.c[db_column(schema.BORROWER_ID)]


def idempotency_key(*, campaign: str, campaign_date: date, loan_id: str) -> str:
    """The outbox key of a reminder: one per loan, campaign and date."""
    return f"{campaign}:{campaign_date.isoformat()}:{loan_id}"


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An outbox message as the API shows it (no personal data)."""

    id: int
    idempotency_key: str
    loan_id: str
    campaign: str
    campaign_date: date
    channel: str
    template: str
    language: str
    status: str
    reason: str | None
    scheduled_for: datetime
    attempts: int
    last_error: str | None
    attempted_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: OutboxMessage) -> OutboxRecord:
        """The record of an ORM row."""
        return cls(
            id=row.id,
            idempotency_key=row.idempotency_key,
            loan_id=row.loan_id,
            campaign=row.campaign,
            campaign_date=row.campaign_date,
            channel=row.channel,
            template=row.template,
            language=row.language,
            status=row.status,
            reason=row.reason,
            scheduled_for=row.scheduled_for,
            attempts=row.attempts,
            last_error=row.last_error,
            attempted_at=row.attempted_at,
            sent_at=row.sent_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


# --- queueing -----------------------------------------------------------------------------------
def enqueue(connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert outbox rows whose key is new; returns the keys actually inserted.

    Each row maps outbox columns to values (``idempotency_key``, ``loan_id``, ``campaign``,
    ``campaign_date``, ``channel``, ``template``, ``language``, ``status``, ``reason``,
    ``scheduled_for``, ``context``, ``created_at``, ``updated_at``). A key already in the
    outbox is left exactly as it is (``ON CONFLICT DO NOTHING``), whatever its status.
    """
    inserted: set[str] = set()
    if not rows:
        return inserted
    dialect = connection.dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(OUTBOX)
    elif dialect == "sqlite":
        insert = sqlite.insert(OUTBOX)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise InvalidRequestError(f"the outbox needs SQLite or PostgreSQL; got {dialect}.")
    statement = insert.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(
        OUTBOX.c.idempotency_key
    )
    for start in range(0, len(rows), ENQUEUE_CHUNK):
        chunk = [dict(row) for row in rows[start : start + ENQUEUE_CHUNK]]
        for row in chunk:
            row.setdefault("attempts", 0)
        result = connection.execute(statement, chunk)
        inserted.update(result.scalars().all())
    return inserted


def existing_keys(connection: sa.Connection, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are already in the outbox."""
    found: set[str] = set()
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = list(keys[start : start + LOOKUP_CHUNK])
        condition = key_in(connection, OUTBOX.c.idempotency_key, chunk)
        found.update(
            connection.execute(sa.select(OUTBOX.c.idempotency_key).where(condition)).scalars()
        )
    return found


# --- what the policy needs to know --------------------------------------------------------------
def contact_rows(connection: sa.Connection, loan_ids: Sequence[str]) -> pd.DataFrame:
    """Contact details, consent and opt-outs of the borrowers of ``loan_ids``.

    One row per loan found (canonical column names: ``Loan_ID``, ``Borrower_ID``,
    ``Monthly_EMI`` and the borrower columns), plus the opt-out flags ``opted_out_all``,
    ``opted_out_sms`` and ``opted_out_email``. Personal data: keep it in memory, never log
    it or store it elsewhere.
    """
    names = (schema.LOAN_ID, schema.BORROWER_ID, schema.MONTHLY_EMI, *BORROWER_COLUMNS)
    columns = [
        loan_key,
        _BORROWER_OF_LOAN,
        loans.c[db_column(schema.MONTHLY_EMI)],
        *(borrowers.c[db_column(name)] for name in BORROWER_COLUMNS),
    ]
    parts: list[pd.DataFrame] = []
    for start in range(0, len(loan_ids), LOOKUP_CHUNK):
        chunk = list(loan_ids[start : start + LOOKUP_CHUNK])
        statement = (
            sa.select(*columns)
            .join(borrowers, borrower_key == _BORROWER_OF_LOAN)
            .where(key_in(connection, loan_key, chunk))
        )
        rows = connection.execute(statement).all()
        parts.append(pd.DataFrame([tuple(row) for row in rows], columns=list(names), dtype=object))
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=list(names), dtype=object)
    )
    flags = _opt_out_flags(connection, frame[schema.BORROWER_ID].dropna().unique().tolist())
    for flag in ("all", *Channel):
        chosen = flags.get(flag, set())
        frame[f"opted_out_{flag}"] = frame[schema.BORROWER_ID].isin(chosen).to_numpy(dtype=bool)
    return frame


def _opt_out_flags(connection: sa.Connection, borrower_ids: Sequence[str]) -> dict[str, set[str]]:
    """Borrowers opted out, by channel (``all``: every channel)."""
    flags: dict[str, set[str]] = {}
    for start in range(0, len(borrower_ids), LOOKUP_CHUNK):
        chunk = list(borrower_ids[start : start + LOOKUP_CHUNK])
        statement = sa.select(OPT_OUTS.c.borrower_id, OPT_OUTS.c.channel).where(
            key_in(connection, OPT_OUTS.c.borrower_id, chunk)
        )
        for borrower_id, channel in connection.execute(statement):
            flags.setdefault(channel or "all", set()).add(borrower_id)
    return flags


def attempt_times(
    connection: sa.Connection, loan_ids: Sequence[str], *, since: datetime
) -> pd.DataFrame:
    """Contact attempts after ``since`` on ``loan_ids``: columns ``Loan_ID`` and ``at`` (UTC).

    Every recorded attempt counts, whatever came of it: a send that failed after its
    handover began, or whose delivery is unconfirmed, may still have reached the borrower.
    A try that cannot have reached the borrower leaves no attempt (see the module doc).
    """
    parts: list[pd.DataFrame] = []
    for start in range(0, len(loan_ids), LOOKUP_CHUNK):
        chunk = list(loan_ids[start : start + LOOKUP_CHUNK])
        statement = sa.select(ATTEMPTS.c.loan_id, ATTEMPTS.c.at).where(
            key_in(connection, ATTEMPTS.c.loan_id, chunk), ATTEMPTS.c.at > since
        )
        rows = connection.execute(statement).all()
        parts.append(pd.DataFrame([tuple(row) for row in rows], columns=[schema.LOAN_ID, AT]))
    frame = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[schema.LOAN_ID, AT])
    )
    frame[AT] = pd.to_datetime(frame[AT], utc=True)
    return frame


def known_loans(connection: sa.Connection, loan_ids: Sequence[str]) -> set[str]:
    """Which of ``loan_ids`` the store holds."""
    found: set[str] = set()
    for start in range(0, len(loan_ids), LOOKUP_CHUNK):
        chunk = list(loan_ids[start : start + LOOKUP_CHUNK])
        found.update(
            connection.execute(
                sa.select(loan_key).where(key_in(connection, loan_key, chunk))
            ).scalars()
        )
    return found


# --- a sender's steps (each in its caller's transaction) ----------------------------------------
def due_message_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Ids of pending or deferred messages whose time has come, oldest schedule first."""
    statement = (
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status.in_(_DUE), OutboxMessage.scheduled_for <= now)
        .order_by(OutboxMessage.scheduled_for, OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def lock_due_message(session: Session, outbox_id: int, *, now: datetime) -> OutboxMessage | None:
    """The message, locked for this transaction, if it is still due; else None.

    PostgreSQL locks the row (``FOR UPDATE SKIP LOCKED``: a message another sender holds
    is skipped, not waited for); SQLite serialises writers anyway. The status is checked
    again under the lock, so a message another sender already claimed is never taken.
    """
    statement = (
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.status.in_(_DUE),
            OutboxMessage.scheduled_for <= now,
        )
        .with_for_update(skip_locked=True)
    )
    return session.scalars(statement).one_or_none()


class MessageMovedError(InvalidRequestError):
    """The message is no longer in the status a step expects: another sender took it."""


def _transition(
    session: Session,
    outbox_id: int,
    *,
    expected: Collection[OutboxStatus],
    values: Mapping[str, Any],
) -> None:
    """Update one message only if its status is one of ``expected`` (compare-and-set).

    Raises :class:`MessageMovedError` when it is not (the caller rolls back).
    """
    result = session.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == outbox_id, OUTBOX.c.status.in_([status.value for status in expected]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise MessageMovedError(
            f"outbox message {outbox_id} is no longer {'/'.join(expected)}; another sender "
            "or a recovery moved it."
        )


def claim(session: Session, message: OutboxMessage, *, now: datetime, channel: str) -> int:
    """Mark a locked due message ``sending`` on ``channel``, record the attempt; its id.

    The attempt is recorded before anything is sent, so the rolling cap counts it while
    the message is in flight (another sender deciding on the same loan sees it); it is
    deleted again if the try ends before its handover began. ``channel`` may differ from
    the queued one when the borrower's allowed channels changed. Raises
    :class:`MessageMovedError` if another sender claimed it first.
    """
    _transition(
        session,
        message.id,
        expected=DUE_STATUSES,
        values={
            "status": OutboxStatus.SENDING.value,
            "channel": channel,
            "attempts": message.attempts + 1,
            "attempted_at": now,
            "updated_at": now,
        },
    )
    attempt = ContactAttempt(
        loan_id=message.loan_id,
        outbox_id=message.id,
        channel=channel,
        at=now,
        outcome=AttemptOutcome.STARTED.value,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


def fail_unclaimed(
    session: Session,
    message: OutboxMessage,
    *,
    now: datetime,
    channel: str,
    reason: str,
    error: str,
) -> None:
    """A locked due message that cannot be built or addressed: ``failed`` at once.

    Counted as a try (``attempts``) but not as a contact attempt: nothing left the
    process. Raises :class:`MessageMovedError` if another sender claimed it first.
    """
    _transition(
        session,
        message.id,
        expected=DUE_STATUSES,
        values={
            "status": OutboxStatus.FAILED.value,
            "channel": channel,
            "reason": reason,
            "last_error": error[:2_000],
            "attempts": message.attempts + 1,
            "attempted_at": now,
            "updated_at": now,
        },
    )


def mark_delivering(session: Session, outbox_id: int, *, now: datetime) -> None:
    """The handover begins: from here on the message may have arrived."""
    _transition(
        session,
        outbox_id,
        expected=(OutboxStatus.SENDING,),
        values={"status": OutboxStatus.DELIVERING.value, "updated_at": now},
    )


def _attempt_outcome(session: Session, attempt_id: int | None, outcome: AttemptOutcome) -> None:
    if attempt_id is not None:
        session.execute(
            sa.update(ATTEMPTS).where(ATTEMPTS.c.id == attempt_id).values(outcome=outcome.value)
        )


def _drop_open_attempt(session: Session, attempt_id: int | None) -> None:
    """Delete an attempt that cannot have reached the borrower (still ``started``)."""
    if attempt_id is not None:
        session.execute(
            sa.delete(ATTEMPTS).where(
                ATTEMPTS.c.id == attempt_id, ATTEMPTS.c.outcome == AttemptOutcome.STARTED.value
            )
        )


def latest_attempt(session: Session, outbox_id: int) -> int | None:
    """The id of the latest contact attempt of a message (None: none recorded)."""
    latest: int | None = session.scalar(
        sa.select(sa.func.max(ATTEMPTS.c.id)).where(ATTEMPTS.c.outbox_id == outbox_id)
    )
    return latest


_IN_FLIGHT = (OutboxStatus.SENDING, OutboxStatus.DELIVERING)


def _in_flight_status(session: Session, outbox_id: int) -> OutboxStatus:
    """The status of a message a sender holds; :class:`MessageMovedError` if it holds none."""
    status = session.scalar(sa.select(OUTBOX.c.status).where(OUTBOX.c.id == outbox_id))
    if status not in {item.value for item in _IN_FLIGHT}:
        raise MessageMovedError(
            f"outbox message {outbox_id} is no longer sending/delivering; another sender or a "
            "recovery moved it."
        )
    return OutboxStatus(status)


def _settle_failed_attempt(
    session: Session, attempt_id: int | None, *, handed_over: bool, sent_nothing: bool
) -> None:
    """A try that did not deliver: counted if it may have reached the borrower, else gone."""
    if handed_over and not sent_nothing:
        _attempt_outcome(session, attempt_id, AttemptOutcome.FAILED)
    else:
        _drop_open_attempt(session, attempt_id)


def mark_sent(session: Session, outbox_id: int, attempt_id: int | None, *, now: datetime) -> None:
    """The server accepted the message."""
    _transition(
        session,
        outbox_id,
        expected=_IN_FLIGHT,
        values={
            "status": OutboxStatus.SENT.value,
            "reason": None,
            "last_error": None,
            "sent_at": now,
            "updated_at": now,
        },
    )
    _attempt_outcome(session, attempt_id, AttemptOutcome.SENT)


def mark_failed(
    session: Session,
    outbox_id: int,
    attempt_id: int | None,
    *,
    now: datetime,
    error: str,
    reason: str | None = None,
    sent_nothing: bool = False,
) -> None:
    """The message cannot be delivered (refused for good, or too many transient failures).

    ``reason`` is the short code shown with it (``invalid-address``, ...). The attempt
    counts only if the handover had begun (``delivering``) and the sender does not know
    that it sent nothing; otherwise it is deleted.
    """
    status = _in_flight_status(session, outbox_id)
    _transition(
        session,
        outbox_id,
        expected=(status,),
        values={
            "status": OutboxStatus.FAILED.value,
            "reason": reason,
            "last_error": error[:2_000],
            "updated_at": now,
        },
    )
    _settle_failed_attempt(
        session,
        attempt_id,
        handed_over=status == OutboxStatus.DELIVERING,
        sent_nothing=sent_nothing,
    )


def mark_retry(
    session: Session,
    outbox_id: int,
    attempt_id: int | None,
    *,
    now: datetime,
    until: datetime,
    reason: str,
    error: str,
    sent_nothing: bool = False,
) -> None:
    """Not delivered this time: back to ``deferred`` until ``until``.

    The attempt counts as :func:`mark_failed` says.
    """
    status = _in_flight_status(session, outbox_id)
    _transition(
        session,
        outbox_id,
        expected=(status,),
        values={
            "status": OutboxStatus.DEFERRED.value,
            "reason": reason,
            "last_error": error[:2_000],
            "scheduled_for": until,
            "updated_at": now,
        },
    )
    _settle_failed_attempt(
        session,
        attempt_id,
        handed_over=status == OutboxStatus.DELIVERING,
        sent_nothing=sent_nothing,
    )


def mark_unconfirmed(
    session: Session,
    outbox_id: int,
    attempt_id: int | None,
    *,
    now: datetime,
    reason: str,
    error: str,
) -> None:
    """Whether it arrived is unknown: ``held`` for a person to check, never resent blindly."""
    _transition(
        session,
        outbox_id,
        expected=_IN_FLIGHT,
        values={
            "status": OutboxStatus.HELD.value,
            "reason": reason,
            "last_error": error[:2_000],
            "updated_at": now,
        },
    )
    _attempt_outcome(session, attempt_id, AttemptOutcome.UNCONFIRMED)


def apply_policy(
    session: Session,
    outbox_id: int,
    *,
    now: datetime,
    status: OutboxStatus,
    reason: str,
    scheduled_for: datetime | None = None,
) -> None:
    """Record the contact policy's hold or deferral of a due message."""
    values: dict[str, Any] = {"status": status.value, "reason": reason, "updated_at": now}
    if scheduled_for is not None:
        values["scheduled_for"] = scheduled_for
    _transition(session, outbox_id, expected=DUE_STATUSES, values=values)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What :func:`recover_abandoned` did with messages a dead sender left behind."""

    requeued: int = 0
    unconfirmed_held: int = 0
    unconfirmed_requeued: int = 0
    failed: int = 0


def recover_abandoned(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    resend_unconfirmed: Collection[str] = (),
    unconfirmed_reason: str = "unconfirmed",
    max_attempts: int | None = None,
    abandoned_reason: str = "abandoned",
) -> Recovered:
    """Settle messages claimed longer than ``lease`` ago by a sender that never finished.

    * ``sending``: the handover never began, so nothing can have arrived: back to
      ``pending`` for an immediate retry, and its attempt is deleted (it contacted no
      one). After ``max_attempts`` tries it is ``failed`` with ``abandoned_reason``
      instead: a message that stops its sender every time must not stop every run.
    * ``delivering``: it may have arrived. On a channel in ``resend_unconfirmed`` (an SMS
      gateway that drops repeated idempotency keys) it is queued again; otherwise it is
      ``held`` with ``unconfirmed_reason``: sending twice is worse than asking a person.
      Its attempt counts either way.
    """
    cutoff = now - lease
    stale = (
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.status.in_([status.value for status in _IN_FLIGHT]),
            OutboxMessage.attempted_at <= cutoff,
        )
        .order_by(OutboxMessage.id)
        .with_for_update(skip_locked=True)
    )
    requeued = held = resent = failed = 0
    for message in session.scalars(stale).all():
        attempt = latest_attempt(session, message.id)
        if message.status == OutboxStatus.SENDING:
            _drop_open_attempt(session, attempt)
            if max_attempts is not None and message.attempts >= max_attempts:
                _transition(
                    session,
                    message.id,
                    expected=(OutboxStatus.SENDING,),
                    values={
                        "status": OutboxStatus.FAILED.value,
                        "reason": abandoned_reason,
                        "last_error": f"the sender stopped while holding it on each of "
                        f"{message.attempts} tries; not tried again",
                        "updated_at": now,
                    },
                )
                failed += 1
                continue
            _requeue(session, message.id, now=now, expected=OutboxStatus.SENDING)
            requeued += 1
        elif message.channel in resend_unconfirmed:
            _requeue(session, message.id, now=now, expected=OutboxStatus.DELIVERING)
            _attempt_outcome(session, attempt, AttemptOutcome.UNCONFIRMED)
            resent += 1
        else:
            mark_unconfirmed(
                session,
                message.id,
                attempt,
                now=now,
                reason=unconfirmed_reason,
                error="sender stopped after handing the message over, before the server "
                "confirmed it; check the mail server's log, then release it",
            )
            held += 1
    return Recovered(
        requeued=requeued, unconfirmed_held=held, unconfirmed_requeued=resent, failed=failed
    )


def _requeue(session: Session, outbox_id: int, *, now: datetime, expected: OutboxStatus) -> None:
    _transition(
        session,
        outbox_id,
        expected=(expected,),
        values={
            "status": OutboxStatus.PENDING.value,
            "scheduled_for": now,
            "last_error": "sender stopped before confirming; queued again",
            "updated_at": now,
        },
    )


def hold_open_messages(
    session: Session, *, loan_ids: Sequence[str], channel: str | None, reason: str, now: datetime
) -> int:
    """Hold every pending or deferred message of ``loan_ids`` (on ``channel``, or all)."""
    if not loan_ids:
        return 0
    statement = (
        sa.update(OUTBOX)
        .where(OUTBOX.c.loan_id.in_(list(loan_ids)), OUTBOX.c.status.in_(_DUE))
        .values(status=OutboxStatus.HELD.value, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if channel is not None:
        statement = statement.where(OUTBOX.c.channel == channel)
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- reading (the API's outbox routes) ----------------------------------------------------------
def outbox_messages(
    session: Session,
    *,
    loan_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    reason: str | None = None,
) -> Page[OutboxRecord]:
    """Outbox messages, newest first, filtered by loan, status and reason, paged."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidRequestError(f"limit must be 1 to {MAX_PAGE_SIZE}; got {limit}.")
    if offset < 0:
        raise InvalidRequestError(f"offset must be >= 0; got {offset}.")
    if status is not None and status not in set(OutboxStatus):
        allowed = ", ".join(item.value for item in OutboxStatus)
        raise InvalidRequestError(f"status must be one of {allowed}; got {status!r}.")
    statement = sa.select(OutboxMessage)
    if loan_id is not None:
        statement = statement.where(OutboxMessage.loan_id == loan_id)
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    if reason is not None:
        statement = statement.where(OutboxMessage.reason == reason)
    total = session.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))
    rows = session.scalars(
        statement.order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)
    ).all()
    return Page(
        items=[OutboxRecord.of(row) for row in rows],
        total=int(total or 0),
        limit=limit,
        offset=offset,
    )


def outbox_counts(session: Session, *, campaign: str | None = None) -> dict[str, int]:
    """Messages per status (every status present, zero when none)."""
    statement = sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
    if campaign is not None:
        statement = statement.where(OutboxMessage.campaign == campaign)
    counts = dict.fromkeys((status.value for status in OutboxStatus), 0)
    for status, count in session.execute(statement):
        counts[str(status)] = int(count)
    return counts


# --- a person's way out: release ---------------------------------------------------------------
#: Audit ``action`` of releasing a message.
RELEASE_ACTION = "outbox.release"
#: How long after its claim a message in flight is left to its sender by default: a
#: ``delivering`` message younger than this may be being handed over right now.
RELEASE_GUARD = timedelta(minutes=5)


def release_message(
    session: Session,
    outbox_id: int,
    *,
    resend: bool,
    actor: str,
    now: datetime,
    unconfirmed_reason: str = "unconfirmed",
    guard: timedelta = RELEASE_GUARD,
) -> OutboxRecord:
    """Settle a message that is not final, or held as unconfirmed, as a person decided.

    ``resend`` (it never arrived, or it should go now): back to ``pending``, due now; the
    next dispatch asks the contact policy again and sends it. Otherwise (it did arrive):
    ``sent``, at its last attempt's time, and that attempt counts as sent. By status:

    * ``pending``, ``deferred``: ``resend`` makes it due now; it cannot be marked sent.
    * ``sending``: its handover never began, so it cannot have arrived: ``resend`` queues
      it again and deletes its open attempt; it cannot be marked sent. Safe even while a
      sender holds it: that sender's handover then finds it moved and sends nothing.
    * ``delivering`` (claimed at least ``guard`` ago, so no sender is still waiting for
      the server) and ``held`` as ``unconfirmed_reason``: either choice; the attempt
      keeps counting.
    * ``sent``, ``failed`` and ``held`` by the contact policy are final:
      :class:`InvalidRequestError`, as for a ``delivering`` message younger than
      ``guard``; an unknown id raises :class:`NotFoundError`.

    The change is conditional on the message not having moved meanwhile (compare-and-set)
    and audited.
    """
    message = session.get(OutboxMessage, outbox_id)
    if message is None:
        raise NotFoundError(f"no outbox message {outbox_id}.")
    status = OutboxStatus(message.status)
    state = status.value + (f" ({message.reason})" if message.reason else "")
    _check_releasable(message, status, state, resend, now, unconfirmed_reason, guard)
    target = OutboxStatus.PENDING if resend else OutboxStatus.SENT
    values: dict[str, Any] = {"status": target.value, "reason": None, "updated_at": now}
    if resend:
        values["scheduled_for"] = now
    else:
        values["sent_at"] = message.attempted_at or now
        values["last_error"] = None
    condition = [OUTBOX.c.id == outbox_id, OUTBOX.c.status == status.value]
    if status == OutboxStatus.HELD:
        condition.append(OUTBOX.c.reason == unconfirmed_reason)
    result = session.execute(
        sa.update(OUTBOX)
        .where(*condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise MessageMovedError(
            f"outbox message {outbox_id} changed while it was being released; list it again."
        )
    latest = latest_attempt(session, outbox_id)
    if not resend:  # the attempt in doubt did reach the borrower
        _attempt_outcome(session, latest, AttemptOutcome.SENT)
    elif status == OutboxStatus.SENDING:  # never handed over: it contacted no one
        _drop_open_attempt(session, latest)
    elif status == OutboxStatus.DELIVERING:
        _attempt_outcome(session, latest, AttemptOutcome.UNCONFIRMED)
    write_audit(
        session,
        actor=actor,
        action=RELEASE_ACTION,
        entity="outbox",
        entity_id=str(outbox_id),
        details={
            "loan_id": message.loan_id,
            "campaign": message.campaign,
            "channel": message.channel,
            "from": {"status": status.value, "reason": message.reason},
            "to": target.value,
        },
    )
    session.expire(message)
    refreshed = session.get(OutboxMessage, outbox_id)
    if refreshed is None:  # pragma: no cover - updated just above in this transaction
        raise NotFoundError(f"no outbox message {outbox_id}.")
    return OutboxRecord.of(refreshed)


def _check_releasable(
    message: OutboxMessage,
    status: OutboxStatus,
    state: str,
    resend: bool,
    now: datetime,
    unconfirmed_reason: str,
    guard: timedelta,
) -> None:
    """Raise :class:`InvalidRequestError` when ``message`` cannot be released so."""
    name = f"outbox message {message.id} is {state}"
    if status in (OutboxStatus.SENT, OutboxStatus.FAILED):
        raise InvalidRequestError(f"{name}: that is final; there is nothing to release.")
    if status == OutboxStatus.HELD and message.reason != unconfirmed_reason:
        raise InvalidRequestError(
            f"{name}: held by the contact rules, which is final; only a message whose "
            f"delivery is in doubt ({unconfirmed_reason}, delivering) or that is not sent "
            "yet can be released."
        )
    if status == OutboxStatus.DELIVERING:
        claimed = message.attempted_at or message.updated_at
        if claimed > now - guard:
            raise InvalidRequestError(
                f"{name}: a sender claimed it at {claimed:%Y-%m-%d %H:%M:%S} UTC and may be "
                f"handing it over right now; release it after {claimed + guard:%H:%M:%S} UTC "
                "(or let the next `remind` run settle it)."
            )
    if not resend and status in (*DUE_STATUSES, OutboxStatus.SENDING):
        raise InvalidRequestError(
            f"{name}: its handover never began, so it cannot have arrived; use --resend "
            "to send it now."
        )
