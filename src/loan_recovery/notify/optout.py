"""Opt-out: a borrower's STOP, from an inbound SMS, the API or an agent.

:func:`opt_out` is what ``POST /v1/contacts/opt-out`` calls. It records the request in
``opt_outs`` (which the contact policy reads before every send, and which no import can
undo), sets the borrower's flag (``Do_Not_Contact`` for every channel, else the channel's
consent to ``No``) and writes one audit row, all in the caller's transaction.
Committing is the caller's business.

An opt-out of every channel holds the borrower's queued reminders at once. An opt-out of
one channel leaves them queued: when one comes due, the contact policy picks another
channel the borrower allows, or holds it (reason ``opted-out``) if there is none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loan_recovery.data import schema
from loan_recovery.notify.policy import Reason
from loan_recovery.store.audit import change, write_audit
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.loans import content_hashes, typed_frame
from loan_recovery.store.models import (
    BORROWER_SPECS,
    CONTENT_HASH,
    UPDATED_AT,
    Channel,
    OptOut,
    borrower_key,
    borrowers,
    db_column,
    loan_key,
    loans,
    utc_now,
)
from loan_recovery.store.outbox import hold_open_messages

OPT_OUT_ACTION = "contact.opt_out"
_YES, _NO = schema.YES_NO
_FLAG_OF_CHANNEL: dict[str, str] = {
    Channel.SMS: schema.CONSENT_SMS,
    Channel.EMAIL: schema.CONSENT_EMAIL,
}
_BORROWER_OF_LOAN = loans.c[db_column(schema.BORROWER_ID)]


@dataclass(frozen=True, slots=True)
class OptOutRecord:
    """What an opt-out did (as the API returns it; no personal data)."""

    id: int
    borrower_id: str
    channel: str | None
    source: str
    loans: list[str]
    held_messages: int
    at: datetime


def opt_out(
    session: Session,
    *,
    actor: str,
    loan_id: str | None = None,
    borrower_id: str | None = None,
    channel: str | None = None,
    source: str = "api",
) -> OptOutRecord:
    """Stop reminders to a borrower, named by one of their loans or by their id.

    ``channel`` ``sms`` or ``email`` stops that channel only; None stops every contact.
    Raises :class:`InvalidRequestError` unless exactly one of ``loan_id`` and
    ``borrower_id`` is given or for an unknown channel, :class:`NotFoundError` for a loan
    or borrower the store does not hold. Opting out twice is harmless.
    """
    if (loan_id is None) == (borrower_id is None):
        raise InvalidRequestError("give exactly one of loan_id and borrower_id.")
    if channel is not None and channel not in set(Channel):
        allowed = ", ".join(item.value for item in Channel)
        raise InvalidRequestError(f"channel must be one of {allowed} or empty; got {channel!r}.")
    if loan_id is not None:
        found = session.scalar(sa.select(_BORROWER_OF_LOAN).where(loan_key == loan_id))
        if found is None:
            raise NotFoundError(f"no loan {loan_id!r} in the store.")
        borrower_id = str(found)
    if borrower_id is None:  # pragma: no cover - excluded above; narrows the type
        raise InvalidRequestError("give exactly one of loan_id and borrower_id.")
    current = _borrower_row(session, borrower_id)
    now = utc_now()
    flag = schema.DO_NOT_CONTACT if channel is None else _FLAG_OF_CHANNEL[channel]
    value = _YES if channel is None else _NO
    changes: dict[str, Any] = {}
    if current[flag] != value:
        changes[flag] = change(flag, current[flag], value)
        _set_flag(session, borrower_id, current, flag, value, now)
    row = OptOut(borrower_id=borrower_id, channel=channel, source=source, actor=actor, at=now)
    session.add(row)
    session.flush()
    loan_ids = list(
        session.scalars(
            sa.select(loan_key)
            .where(loans.c[db_column(schema.BORROWER_ID)] == borrower_id)
            .order_by(loan_key)
        )
    )
    held = 0
    if channel is None:  # one channel: the sender re-decides, switching channel if it may
        held = hold_open_messages(
            session, loan_ids=loan_ids, channel=None, reason=Reason.OPTED_OUT.value, now=now
        )
    write_audit(
        session,
        actor=actor,
        action=OPT_OUT_ACTION,
        entity="borrower",
        entity_id=borrower_id,
        details={
            "channel": channel,
            "source": source,
            "loans": len(loan_ids),
            "held_messages": held,
            "changes": changes,
        },
    )
    return OptOutRecord(
        id=row.id,
        borrower_id=borrower_id,
        channel=channel,
        source=source,
        loans=loan_ids,
        held_messages=held,
        at=now,
    )


def _borrower_row(session: Session, borrower_id: str) -> dict[str, Any]:
    names = [spec.name for spec in BORROWER_SPECS]
    row = session.execute(
        sa.select(*(borrowers.c[db_column(name)] for name in names)).where(
            borrower_key == borrower_id
        )
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no borrower {borrower_id!r} in the store.")
    return dict(zip(names, row, strict=True))


def _set_flag(
    session: Session,
    borrower_id: str,
    current: dict[str, Any],
    flag: str,
    value: str,
    now: datetime,
) -> None:
    """Set one flag and refresh the row's content hash, as an import would have."""
    updated = {**current, flag: value}
    frame = pd.DataFrame([updated], dtype=object)
    content_hash = int(content_hashes(typed_frame(frame, BORROWER_SPECS), BORROWER_SPECS)[0])
    session.execute(
        sa.update(borrowers)
        .where(borrower_key == borrower_id)
        .values({db_column(flag): value, CONTENT_HASH: content_hash, UPDATED_AT: now})
    )


def opted_out(session: Session, *, borrower_id: str) -> list[str | None]:
    """The channels ``borrower_id`` opted out of (None: every channel), oldest first."""
    statement = (
        sa.select(OptOut.channel).where(OptOut.borrower_id == borrower_id).order_by(OptOut.id)
    )
    return list(session.scalars(statement))
