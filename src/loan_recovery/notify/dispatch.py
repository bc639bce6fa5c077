"""Sending queued reminders: claim, check the policy again, render, send, record.

Each due message goes through short transactions of its own:

1. **Claim** (one transaction): lock the row if it is still due, re-read the borrower's
   contact details, opt-outs and recent attempts, and ask the contact policy again (the
   borrower may have opted out, or the hour passed, since it was queued). Hold or defer
   it with the reason if the policy says so. Otherwise render it (a template error stops
   the run here, with this message unsent) and mark it ``sending`` with the attempt
   time, recording the contact attempt, and commit.
2. **Handover** (one transaction): just before the message can reach the server, mark it
   ``delivering`` and commit (for email: after ``DATA`` and the text, before the final
   dot; for SMS: before the request).
3. **Result** (one transaction): ``sent``; or ``failed`` (refused for good, or out of
   retries); or ``deferred`` for a later try (transient failure); or ``held`` as
   *unconfirmed* when the handover began and no answer came.

**Why a crash or rerun never sends a reminder twice.** A message is only sent by the
sender that moved it from ``pending``/``deferred`` to ``sending``, a compare-and-set on
its status under a row lock; the outbox key is unique, so a rerun cannot queue it again;
and only two states are ever sent from again: ``pending``/``deferred`` (never handed
over) and ``sending`` (claimed, but the handover had not begun, so the server cannot
have it). A message that reached ``delivering`` is sent again only on a channel whose
server drops repeats of its idempotency key (an SMS gateway with
``notify.sms.idempotent``); SMTP has no such key, so an email in doubt is **held** as
``unconfirmed`` for a person to check against the mail server's log, rather than risk a
second copy. The contact policy makes the same choice: at most once, then ask.

**Why none is lost.** Every message ends ``sent``, ``failed`` or ``held`` with a reason,
or is still queued with a time: nothing is deleted and no step drops a row. A sender
that dies leaves ``sending``/``delivering`` rows with their attempt time; the next run
treats those older than ``notify.claim_lease_seconds`` as abandoned
(:func:`~loan_recovery.store.outbox.recover_abandoned`): ``sending`` goes back to
``pending`` (it never left), ``delivering`` becomes ``unconfirmed`` as above.

The one gap: between committing ``delivering`` and the final dot leaving the socket (a
few microseconds) a crash leaves an email that did not arrive marked unconfirmed; it is
visible, not silently lost. A lease shorter than the longest send would let a second
sender take over a live message, so keep it well above ``smtp.timeout``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.notify.errors import (
    PermanentSendError,
    SenderNotConfiguredError,
    TransientSendError,
    UnconfirmedSendError,
)
from loan_recovery.notify.policy import (
    CAP_FREE_AT,
    CHANNEL,
    DECISION,
    REASON,
    SCHEDULED_FOR,
    ContactPolicy,
    Decision,
    Reason,
    address_column,
    cap_free_times,
    decide,
)
from loan_recovery.notify.reminders import message_variables
from loan_recovery.notify.senders import OutgoingMessage, Sender
from loan_recovery.notify.templates import TemplateRenderer, check_templates
from loan_recovery.store.db import Store
from loan_recovery.store.models import Channel, OutboxStatus, utc_now
from loan_recovery.store.outbox import (
    MessageMovedError,
    Recovered,
    apply_policy,
    attempt_times,
    claim,
    contact_rows,
    due_message_ids,
    lock_due_message,
    mark_delivering,
    mark_failed,
    mark_retry,
    mark_sent,
    mark_unconfirmed,
    recover_abandoned,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class DispatchCounts:
    """What one dispatch run did with the messages that were due."""

    sent: int = 0
    deferred: int = 0
    held: int = 0
    failed: int = 0
    retrying: int = 0
    unconfirmed: int = 0
    skipped: int = 0
    recovered: int = 0
    recovered_unconfirmed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True, slots=True)
class _Claimed:
    message: OutgoingMessage
    loan_id: str
    attempt_id: int
    attempts: int


class Dispatcher:
    """Sends due outbox messages through the given senders, one message at a time.

    ``clock`` gives the current instant (UTC); a simulation passes a fixed one.
    """

    def __init__(
        self,
        store: Store,
        *,
        settings: Settings,
        senders: Mapping[str, Sender],
        clock: Clock = utc_now,
        renderer: TemplateRenderer | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.senders = senders
        self.clock = clock
        self.policy = ContactPolicy.from_settings(settings.notify)
        self.renderer = renderer or TemplateRenderer(settings.notify.template_dir)

    def run(self, *, limit: int | None = None) -> DispatchCounts:
        """Recover abandoned messages, then send every due one (up to ``limit``).

        Raises :class:`TemplateRenderError` before anything is sent when a template is
        broken, and :class:`SenderNotConfiguredError` when a channel in use has no sender.
        """
        missing = sorted(set(self.policy.channels) - set(self.senders))
        if missing:
            raise SenderNotConfiguredError(f"no sender for channel(s) {', '.join(missing)}.")
        check_templates(self.renderer, channels=self.policy.channels)
        recovered = self.recover()
        with self.store.transaction() as session:
            due = due_message_ids(
                session, now=self.clock(), limit=limit or self.settings.notify.dispatch_limit
            )
        outcomes: dict[str, int] = {}
        for outbox_id in due:
            outcome = self.send_one(outbox_id)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return DispatchCounts(
            **outcomes,
            recovered=recovered.requeued + recovered.unconfirmed_requeued,
            recovered_unconfirmed=recovered.unconfirmed_held,
        )

    def recover(self) -> Recovered:
        """Settle messages a dead sender left ``sending`` or ``delivering``."""
        resend = (Channel.SMS.value,) if self.settings.notify.sms.idempotent else ()
        with self.store.transaction() as session:
            recovered = recover_abandoned(
                session,
                now=self.clock(),
                lease=timedelta(seconds=self.settings.notify.claim_lease_seconds),
                resend_unconfirmed=resend,
                unconfirmed_reason=Reason.UNCONFIRMED.value,
            )
        if recovered.requeued or recovered.unconfirmed_held or recovered.unconfirmed_requeued:
            logger.warning(
                "recovered abandoned messages: requeued=%d unconfirmed_held=%d "
                "unconfirmed_requeued=%d",
                recovered.requeued,
                recovered.unconfirmed_held,
                recovered.unconfirmed_requeued,
            )
        return recovered

    def send_one(self, outbox_id: int) -> str:
        """Claim, send and record one message; returns the :class:`DispatchCounts` field."""
        claimed = self._claim(outbox_id)
        if isinstance(claimed, str):
            return claimed
        sender = self.senders[claimed.message.channel]

        def handing_over() -> None:
            with self.store.transaction() as session:
                mark_delivering(session, outbox_id, now=self.clock())

        try:
            sender.send(claimed.message, handing_over=handing_over)
        except MessageMovedError:  # lease ran out before the handover: not sent by us
            logger.warning("send loan=%s outbox_id=%d lost its claim", claimed.loan_id, outbox_id)
            return "skipped"
        except PermanentSendError as error:
            return self._finish(claimed, "failed", str(error))
        except UnconfirmedSendError as error:
            return self._finish(claimed, "unconfirmed", str(error))
        except TransientSendError as error:
            out_of_tries = claimed.attempts >= self.settings.notify.max_send_attempts
            return self._finish(claimed, "failed" if out_of_tries else "retrying", str(error))
        return self._finish(claimed, "sent", "")

    def _claim(self, outbox_id: int) -> _Claimed | str:
        try:
            return self._try_claim(outbox_id)
        except MessageMovedError:  # another sender was faster: its message now
            return "skipped"

    def _try_claim(self, outbox_id: int) -> _Claimed | str:
        now = self.clock()
        with self.store.transaction() as session:
            message = lock_due_message(session, outbox_id, now=now)
            if message is None:
                return "skipped"
            connection = session.connection()
            contacts = contact_rows(connection, [message.loan_id])
            if contacts.empty:  # pragma: no cover - foreign keys keep loan and borrower
                apply_policy(
                    session,
                    outbox_id,
                    now=now,
                    status=OutboxStatus.HELD,
                    reason=Reason.UNKNOWN_LOAN.value,
                )
                return "held"
            attempts = attempt_times(connection, [message.loan_id], since=now - self.policy.window)
            _, free_at = cap_free_times(attempts, now, self.policy)
            contacts[CAP_FREE_AT] = free_at.reindex(
                pd.Index(contacts[schema.LOAN_ID], dtype=object)
            ).to_numpy()
            decision = decide(contacts, now, self.policy).iloc[0]
            verdict, reason = str(decision[DECISION]), str(decision[REASON])
            self._log(message.loan_id, message.campaign, verdict, reason, decision)
            if verdict == Decision.HOLD:
                apply_policy(session, outbox_id, now=now, status=OutboxStatus.HELD, reason=reason)
                return "held"
            if verdict == Decision.DEFER:
                apply_policy(
                    session,
                    outbox_id,
                    now=now,
                    status=OutboxStatus.DEFERRED,
                    reason=reason,
                    scheduled_for=pd.Timestamp(decision[SCHEDULED_FOR]).to_pydatetime(),
                )
                return "deferred"
            channel = str(decision[CHANNEL])
            contact = contacts.iloc[0]
            rendered = self.renderer.render(
                channel=channel,
                language=message.language,
                variables=message_variables(
                    borrower_name=_text(contact[schema.BORROWER_NAME]),
                    loan_id=message.loan_id,
                    context=message.context,
                    language=message.language,
                    settings=self.settings,
                ),
                template=message.template,
            )
            attempt_id = claim(session, message, now=now, channel=channel)
            outgoing = OutgoingMessage(
                outbox_id=outbox_id,
                idempotency_key=message.idempotency_key,
                channel=channel,
                to=str(contact[address_column(channel)]).strip(),
                subject=rendered.subject,
                body=rendered.body,
            )
            return _Claimed(
                message=outgoing,
                loan_id=message.loan_id,
                attempt_id=attempt_id,
                attempts=message.attempts + 1,
            )

    def _finish(self, claimed: _Claimed, outcome: str, error: str) -> str:
        try:
            self._record(claimed, outcome, error)
        except MessageMovedError:  # pragma: no cover - needs a send longer than the lease
            logger.error(
                "send loan=%s outbox_id=%d outcome=%s could not be recorded: the claim "
                "lease ran out during the send; raise notify.claim_lease_seconds",
                claimed.loan_id,
                claimed.message.outbox_id,
                outcome,
            )
            return outcome
        logger.info(
            "send loan=%s outbox_id=%d channel=%s outcome=%s%s",
            claimed.loan_id,
            claimed.message.outbox_id,
            claimed.message.channel,
            outcome,
            f" error={error}" if error else "",
        )
        return outcome

    def _record(self, claimed: _Claimed, outcome: str, error: str) -> None:
        now = self.clock()
        outbox_id = claimed.message.outbox_id
        with self.store.transaction() as session:
            if outcome == "sent":
                mark_sent(session, outbox_id, claimed.attempt_id, now=now)
            elif outcome == "failed":
                mark_failed(session, outbox_id, claimed.attempt_id, now=now, error=error)
            elif outcome == "unconfirmed":
                mark_unconfirmed(
                    session,
                    outbox_id,
                    claimed.attempt_id,
                    now=now,
                    reason=Reason.UNCONFIRMED.value,
                    error=error,
                )
            else:
                until = now + timedelta(seconds=self.settings.notify.retry_delay_seconds)
                mark_retry(
                    session,
                    outbox_id,
                    claimed.attempt_id,
                    now=now,
                    until=until,
                    reason=Reason.SEND_ERROR.value,
                    error=error,
                )

    @staticmethod
    def _log(loan_id: str, campaign: str, verdict: str, reason: str, decision: pd.Series) -> None:
        logger.info(
            "dispatch loan=%s campaign=%s decision=%s reason=%s channel=%s scheduled_for=%s",
            loan_id,
            campaign,
            verdict,
            reason,
            decision[CHANNEL],
            pd.Timestamp(decision[SCHEDULED_FOR]).isoformat(),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
