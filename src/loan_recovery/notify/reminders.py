"""From target loans to queued reminders: who, by which channel, saying what, and when.

:func:`prepare_reminders` works on a whole frame of targets at once (one query per
table, pandas for the rest): it reads contact details, opt-outs, recent attempts and
unpaid installments, asks the contact policy for a decision per loan, fixes the message's
facts (amount due, due date, references) and renders each message once to prove its
template works for it. :func:`queue_reminders` then inserts the rows into the outbox, once
per idempotency key. Nothing here sends: :mod:`loan_recovery.notify.dispatch` does.

What a reminder says is due: the unpaid remainder of the loan's installments due on or
before the campaign date, with the oldest unpaid due date; failing that, its next
unpaid installment; failing that (no history in the store), one ``Monthly_EMI`` due
``notify.pay_within_days`` after the campaign date.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.money import MoneyFormat
from loan_recovery.notify.policy import (
    CAP_FREE_AT,
    CHANNEL,
    DECISION,
    REASON,
    SCHEDULED_FOR,
    ZONE,
    ContactPolicy,
    Decision,
    Reason,
    address_column,
    cap_free_times,
    decide,
    log_decisions,
    zone_or_none,
)
from loan_recovery.notify.templates import (
    REMINDER_TEMPLATE,
    MessageVariables,
    TemplateRenderer,
    format_date,
    message_language,
    reminder_amount,
)
from loan_recovery.store.models import OutboxStatus
from loan_recovery.store.outbox import attempt_times, contact_rows, enqueue, idempotency_key
from loan_recovery.store.payments import UNPAID_AMOUNT, unpaid_installments

logger = logging.getLogger(__name__)

#: Columns of a targets frame: the loan and the campaign that wants it reminded.
CAMPAIGN = "campaign"
#: Columns :func:`prepare_reminders` adds (besides the policy's decision columns).
IDEMPOTENCY_KEY = "idempotency_key"
CAMPAIGN_DATE = "campaign_date"
LANGUAGE = "language"
AMOUNT_DUE_VALUE = "amount_due_value"
DUE_DATE_VALUE = "due_date_value"
PAYMENT_REFERENCE = "payment_reference"
ADDRESS = "address"
QUEUED = "queued"

#: Outbox status of each policy decision when a reminder is queued.
_QUEUED_STATUS: dict[str, OutboxStatus] = {
    Decision.SEND: OutboxStatus.PENDING,
    Decision.DEFER: OutboxStatus.DEFERRED,
    Decision.HOLD: OutboxStatus.HELD,
}


def campaign_date(now: datetime, settings: Settings) -> date:
    """The date a run's reminders are keyed by: ``now`` in ``notify.default_time_zone``."""
    zone = zone_or_none(settings.notify.default_time_zone)
    return now.astimezone(zone).date()


def reminder_targets(loan_ids: Any, campaign: str) -> pd.DataFrame:
    """A targets frame: every loan of ``loan_ids`` for ``campaign``."""
    ids = pd.Series(loan_ids, dtype=object).astype(str)
    return pd.DataFrame({schema.LOAN_ID: ids.to_numpy(dtype=object), CAMPAIGN: campaign})


def payment_reference(loan_id: str, due: date) -> str:
    """The reference a borrower quotes when paying: loan and due date."""
    return f"{loan_id}-{due:%Y%m%d}"


def _facts(
    connection: sa.Connection, contacts: pd.DataFrame, day: date, settings: Settings
) -> pd.DataFrame:
    """Amount due and due date per loan of ``contacts`` (see the module docstring)."""
    loan_ids = contacts[schema.LOAN_ID].tolist()
    unpaid = unpaid_installments(connection, loan_ids)
    overdue = unpaid[unpaid[schema.DUE_DATE] <= day]
    upcoming = unpaid[unpaid[schema.DUE_DATE] > day].sort_values(schema.DUE_DATE, kind="stable")
    arrears = overdue.groupby(schema.LOAN_ID).agg(
        amount=(UNPAID_AMOUNT, "sum"), due=(schema.DUE_DATE, "min")
    )
    following = upcoming.drop_duplicates(schema.LOAN_ID).set_index(schema.LOAN_ID)
    index = pd.Index(loan_ids, dtype=object)
    emi = pd.to_numeric(contacts[schema.MONTHLY_EMI], errors="coerce").to_numpy(dtype=float)
    fallback_due = day + timedelta(days=settings.notify.pay_within_days)
    amount = arrears["amount"].reindex(index).to_numpy(dtype=float)
    amount = np.where(
        np.isnan(amount), following[UNPAID_AMOUNT].reindex(index).to_numpy(dtype=float), amount
    )
    due = arrears["due"].reindex(index).to_numpy(dtype=object)
    next_due = following[schema.DUE_DATE].reindex(index).to_numpy(dtype=object)
    due = np.where(pd.isna(due), next_due, due)
    no_history = np.isnan(amount)
    amount = np.where(no_history, emi, amount)
    due[no_history | pd.isna(due)] = fallback_due
    return pd.DataFrame(
        {AMOUNT_DUE_VALUE: np.round(amount, 2), DUE_DATE_VALUE: due}, index=contacts.index
    )


def prepare_reminders(
    connection: sa.Connection,
    targets: pd.DataFrame,
    *,
    settings: Settings,
    now: datetime,
    renderer: TemplateRenderer,
) -> pd.DataFrame:
    """Decide, for every target, what would be queued now (nothing is written).

    Returns one row per distinct (``Loan_ID``, ``campaign``) with the policy's decision,
    reason, channel, scheduled time and zone, the idempotency key, language, facts, and
    the recipient's address (personal data: for the sender and masked displays only).
    Loans the store does not hold come back held with reason ``unknown-loan`` and are
    never queued. Every message that could be sent is rendered once here: a broken
    template has stopped the run before
    (:func:`~loan_recovery.notify.templates.check_templates`); a message that fails for
    its own facts is logged and queued, and fails alone when it is sent.
    """
    policy = ContactPolicy.from_settings(settings.notify)
    day = campaign_date(now, settings)
    wanted = targets.drop_duplicates(subset=[schema.LOAN_ID, CAMPAIGN]).reset_index(drop=True)
    wanted[schema.LOAN_ID] = wanted[schema.LOAN_ID].astype(str)
    if wanted.empty:
        return _no_reminders(wanted)
    loan_ids = pd.unique(wanted[schema.LOAN_ID]).tolist()
    contacts = contact_rows(connection, loan_ids)
    attempts = attempt_times(connection, loan_ids, since=now - policy.window)
    _, free_at = cap_free_times(attempts, now, policy)
    contacts[CAP_FREE_AT] = free_at.reindex(
        pd.Index(contacts[schema.LOAN_ID], dtype=object)
    ).to_numpy()
    contacts = contacts.join(_facts(connection, contacts, day, settings))
    frame = wanted.merge(contacts, on=schema.LOAN_ID, how="left", indicator=True)
    known = (frame.pop("_merge") == "both").to_numpy()
    decisions = decide(frame, now, policy)
    decisions.loc[~known, DECISION] = Decision.HOLD.value
    decisions.loc[~known, REASON] = Reason.UNKNOWN_LOAN.value
    frame = frame.join(decisions)
    frame[CAMPAIGN_DATE] = day
    frame[IDEMPOTENCY_KEY] = [
        idempotency_key(campaign=campaign, campaign_date=day, loan_id=loan_id)
        for loan_id, campaign in zip(frame[schema.LOAN_ID], frame[CAMPAIGN], strict=True)
    ]
    frame[LANGUAGE] = [
        message_language(value) for value in _cells(frame, schema.PREFERRED_LANGUAGE)
    ]
    frame[PAYMENT_REFERENCE] = [
        payment_reference(loan_id, due) if isinstance(due, date) else None
        for loan_id, due in zip(frame[schema.LOAN_ID], frame[DUE_DATE_VALUE], strict=True)
    ]
    frame[ADDRESS] = [
        row_address(row)
        for row in frame[[CHANNEL, schema.PHONE, schema.EMAIL]].itertuples(index=False)
    ]
    _check_renders(frame, renderer, settings)
    for campaign, rows in frame.groupby(CAMPAIGN, sort=False):
        log_decisions(rows[schema.LOAN_ID], rows, campaign=str(campaign), stage="queue")
    return frame


#: Columns of a prepared frame besides the targets' and the contact details.
_PREPARED_COLUMNS: tuple[str, ...] = (
    DECISION,
    REASON,
    CHANNEL,
    SCHEDULED_FOR,
    ZONE,
    AMOUNT_DUE_VALUE,
    DUE_DATE_VALUE,
    CAMPAIGN_DATE,
    IDEMPOTENCY_KEY,
    LANGUAGE,
    PAYMENT_REFERENCE,
    ADDRESS,
)


def _no_reminders(wanted: pd.DataFrame) -> pd.DataFrame:
    """The prepared frame of no targets (a run with nothing new skips every query)."""
    empty = wanted.copy()
    for column in _PREPARED_COLUMNS:
        empty[column] = pd.Series(dtype=object)
    empty[SCHEDULED_FOR] = pd.Series(dtype="datetime64[ns, UTC]")
    return empty


def row_address(row: Any) -> str | None:
    """The address of a (channel, phone, email) row on its channel."""
    channel, phone, email = row
    value = phone if address_column(channel) == schema.PHONE else email
    return value if isinstance(value, str) and value.strip() else None


def _cells(frame: pd.DataFrame, column: str) -> list[Any]:
    if column not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(value) else value for value in frame[column]]


def message_variables(
    *,
    borrower_name: str | None,
    loan_id: str,
    context: Mapping[str, Any],
    language: str,
    settings: Settings,
) -> MessageVariables:
    """The template variables of one message, formatted for ``language``."""
    due = context["due_date"]
    due_day = due if isinstance(due, date) else date.fromisoformat(str(due))
    name = (borrower_name or "").strip() or {"hi": "ग्राहक"}.get(language, "Customer")
    return MessageVariables(
        borrower_name=name,
        amount_due=reminder_amount(float(context["amount_due"]), MoneyFormat(settings.display)),
        due_date=format_date(due_day, language),
        loan_reference=str(context.get("loan_reference", loan_id)),
        payment_reference=str(context["payment_reference"]),
        lender_name=settings.notify.lender_name,
    )


def message_context(row: Any) -> dict[str, Any]:
    """The facts stored with a queued message (JSON; no personal data)."""
    return {
        "amount_due": float(getattr(row, AMOUNT_DUE_VALUE)),
        "due_date": getattr(row, DUE_DATE_VALUE).isoformat(),
        "loan_reference": str(getattr(row, schema.LOAN_ID)),
        "payment_reference": str(getattr(row, PAYMENT_REFERENCE)),
    }


def _check_renders(frame: pd.DataFrame, renderer: TemplateRenderer, settings: Settings) -> int:
    """Render every message that is not held; how many could not be rendered.

    A broken template has stopped the run already
    (:func:`~loan_recovery.notify.templates.check_templates` renders each one with a
    sample message). What fails here fails for one message's own facts: it is
    logged with its loan id and still queued, and the dispatcher records it ``failed``
    (``template-error``) when it comes due, so one message never stops a run.
    """
    sendable = frame[frame[DECISION] != Decision.HOLD.value]
    names = _cells(sendable, schema.BORROWER_NAME)
    failures = 0
    for row, name in zip(sendable.itertuples(index=False), names, strict=True):
        try:
            variables = message_variables(
                borrower_name=name,
                loan_id=str(getattr(row, schema.LOAN_ID)),
                context=message_context(row),
                language=str(getattr(row, LANGUAGE)),
                settings=settings,
            )
            renderer.render(
                channel=str(getattr(row, CHANNEL)),
                language=str(getattr(row, LANGUAGE)),
                variables=variables,
            )
        except Exception as error:  # one message's facts: recorded when it is sent
            failures += 1
            logger.warning(
                "queue loan=%s cannot be rendered (%s); it fails when it is sent",
                getattr(row, schema.LOAN_ID),
                type(error).__name__,
            )
    return failures


def queue_reminders(
    connection: sa.Connection, prepared: pd.DataFrame, *, now: datetime
) -> pd.Series:
    """Insert the prepared reminders into the outbox; True where a row was new.

    Keys already queued (an earlier run of the same day) are left as they are. Loans the
    store does not hold are not queued (False).
    """
    queueable = prepared[prepared[REASON] != Reason.UNKNOWN_LOAN.value]
    rows: list[dict[str, Any]] = []
    for row in queueable.itertuples(index=False):
        decision = str(getattr(row, DECISION))
        rows.append(
            {
                "idempotency_key": getattr(row, IDEMPOTENCY_KEY),
                "loan_id": getattr(row, schema.LOAN_ID),
                "campaign": getattr(row, CAMPAIGN),
                "campaign_date": getattr(row, CAMPAIGN_DATE),
                "channel": getattr(row, CHANNEL),
                "template": REMINDER_TEMPLATE,
                "language": getattr(row, LANGUAGE),
                "status": _QUEUED_STATUS[decision].value,
                "reason": None if decision == Decision.SEND.value else getattr(row, REASON),
                "scheduled_for": pd.Timestamp(getattr(row, SCHEDULED_FOR)).to_pydatetime(),
                "context": message_context(row),
                "created_at": now,
                "updated_at": now,
            }
        )
    inserted = enqueue(connection, rows)
    return prepared[IDEMPOTENCY_KEY].isin(inserted).rename(QUEUED)


def decision_counts(prepared: pd.DataFrame) -> dict[str, int]:
    """Targets per decision (send, defer, hold)."""
    counts = prepared[DECISION].value_counts()
    return {decision.value: int(counts.get(decision.value, 0)) for decision in Decision}
