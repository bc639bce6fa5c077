"""Sending queued reminders: claim, check the policy again, build, send, record.

Each due message goes through short transactions of its own:

1. **Claim** (one transaction): lock the row if it is still due, re-read the borrower's
   contact details, opt-outs and recent attempts, and ask the contact policy again (the
   borrower may have opted out, or the hour passed, since it was queued). Hold or defer
   it with the reason if the policy says so. Otherwise build it: render its template,
   check its address and encode it (:func:`~loan_recovery.notify.senders.check_message`).
   A message that cannot be built is ``failed`` there and then, with its reason
   (``template-error``, ``invalid-address``, ``encoding-error``, ``build-error``), and
   no contact attempt. Otherwise mark it ``sending`` with the attempt time, recording the
   contact attempt, and commit.
2. **Handover** (one transaction): just before the message can reach the server, mark it
   ``delivering`` and commit (for email: after ``DATA`` and the text, before the final
   dot; for SMS: before the request).
3. **Result** (one transaction): ``sent``; or ``failed`` with its reason (refused for
   good, or ``retries-exhausted`` after ``notify.max_send_attempts`` transient failures);
   or ``deferred`` for a later try (transient failure); or ``held`` as *unconfirmed* when
   the handover began and no answer came.

**One message never stops a run.** Whatever goes wrong with one message (its address,
its text, its template, the server's answer to it, or a bug met on its way) ends as that
message's outcome, and the run goes on with the next. Only a failing store (a database
error) or a missing sender stops a run: those are not one message's fault. Reasons are
short codes (:class:`~loan_recovery.notify.errors.FailureReason`); error texts and logs
carry the loan id, never an address or a name.

**What counts towards the contact cap.** The claim records the attempt, so a message in
flight counts at once; a try that ends before its handover began (``sending``), or whose
sender knows it sent nothing, had its attempt deleted again
(:mod:`loan_recovery.store.outbox`): only a message that may have reached the borrower
uses up the 7-in-7.

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
``pending`` (it never left), or to ``failed`` (``abandoned``) once it has had
``notify.max_send_attempts`` tries, so a message that kills its sender cannot do so on
every run; ``delivering`` becomes ``unconfirmed`` as above.

The one gap: between committing ``delivering`` and the server's reply to the final dot
(a network round trip and the server's own work: milliseconds, or up to ``smtp.timeout``
on a slow server) a crash leaves an email that may or may not have arrived marked
unconfirmed; it is visible, never silently lost or blindly resent, and the runbook
settles it from the mail server's log. A lease shorter than the longest send would let a second
sender take over a live message, so keep it well above ``smtp.timeout``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.notify.errors import (
    FailureReason,
    PermanentSendError,
    SenderNotConfiguredError,
    SendError,
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
from loan_recovery.notify.senders import OutgoingMessage, Sender, check_message, redact
from loan_recovery.notify.templates import TemplateRenderer, check_templates
from loan_recovery.store.db import Store
from loan_recovery.store.models import DUE_STATUSES, Channel, OutboxMessage, OutboxStatus, utc_now
from loan_recovery.store.outbox import (
    MessageMovedError,
    Recovered,
    apply_policy,
    attempt_times,
    claim,
    contact_rows,
    due_message_ids,
    fail_unclaimed,
    latest_attempt,
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
#: Longest error text kept for one message.
_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class DispatchCounts:
    """What one dispatch run did with the messages that were due.

    ``failed_reasons`` counts this run's failed messages by reason (``invalid-address``,
    ``retries-exhausted``, ...; see :class:`~loan_recovery.notify.errors.FailureReason`).
    """

    sent: int = 0
    deferred: int = 0
    held: int = 0
    failed: int = 0
    retrying: int = 0
    unconfirmed: int = 0
    skipped: int = 0
    recovered: int = 0
    recovered_unconfirmed: int = 0
    failed_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The counts by name, and ``failed_reasons`` (reason -> count)."""
        counts: dict[str, Any] = {
            item.name: getattr(self, item.name)
            for item in self.__dataclass_fields__.values()
            if item.name != "failed_reasons"
        }
        counts["failed_reasons"] = dict(self.failed_reasons)
        return counts


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of one message: a :class:`DispatchCounts` field and, if it failed, why."""

    name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _Claimed:
    message: OutgoingMessage
    loan_id: str
    attempt_id: int
    attempts: int
    #: What an error text must never contain (the address, the name).
    secrets: tuple[str, ...] = ()


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
        Anything wrong with one message is that message's outcome: the run goes on.
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
        reasons: dict[str, int] = {}
        if recovered.failed:
            outcomes["failed"] = recovered.failed
            reasons[FailureReason.ABANDONED.value] = recovered.failed
        for outbox_id in due:
            outcome = self.dispatch_one(outbox_id)
            outcomes[outcome.name] = outcomes.get(outcome.name, 0) + 1
            if outcome.name == "failed":
                reason = outcome.reason or FailureReason.INTERNAL_ERROR.value
                reasons[reason] = reasons.get(reason, 0) + 1
        if reasons:
            logger.warning(
                "dispatch failed=%d by reason: %s",
                sum(reasons.values()),
                ", ".join(f"{name}={count}" for name, count in sorted(reasons.items())),
            )
        return DispatchCounts(
            **outcomes,
            recovered=recovered.requeued + recovered.unconfirmed_requeued,
            recovered_unconfirmed=recovered.unconfirmed_held,
            failed_reasons=dict(sorted(reasons.items())),
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
                max_attempts=self.settings.notify.max_send_attempts,
                abandoned_reason=FailureReason.ABANDONED.value,
            )
        if (
            recovered.requeued
            or recovered.unconfirmed_held
            or recovered.unconfirmed_requeued
            or recovered.failed
        ):
            logger.warning(
                "recovered abandoned messages: requeued=%d unconfirmed_held=%d "
                "unconfirmed_requeued=%d failed=%d",
                recovered.requeued,
                recovered.unconfirmed_held,
                recovered.unconfirmed_requeued,
                recovered.failed,
            )
        return recovered

    def send_one(self, outbox_id: int) -> str:
        """Claim, send and record one message; returns the :class:`DispatchCounts` field."""
        return self.dispatch_one(outbox_id).name

    def dispatch_one(self, outbox_id: int) -> Outcome:
        """Claim, send and record one message; never raises for the message's own sake.

        A database error is raised (the store is failing, not this message); anything
        else that escapes the steps below settles this message by its status
        (:meth:`_give_up`).
        """
        try:
            return self._dispatch_one(outbox_id)
        except SQLAlchemyError:
            raise
        except Exception as error:  # one message's problem must not stop the run
            return self._give_up(outbox_id, error)

    def _dispatch_one(self, outbox_id: int) -> Outcome:
        claimed = self._claim(outbox_id)
        if isinstance(claimed, Outcome):
            return claimed
        sender = self.senders[claimed.message.channel]
        handed_over = False

        def handing_over() -> None:
            nonlocal handed_over
            with self.store.transaction() as session:
                mark_delivering(session, outbox_id, now=self.clock())
            handed_over = True

        try:
            sender.send(claimed.message, handing_over=handing_over)
        except MessageMovedError:  # lease ran out before the handover: not sent by us
            logger.warning("send loan=%s outbox_id=%d lost its claim", claimed.loan_id, outbox_id)
            return Outcome("skipped")
        except UnconfirmedSendError as error:
            return self._finish(claimed, "unconfirmed", error)
        except TransientSendError as error:
            if claimed.attempts >= self.settings.notify.max_send_attempts:
                return self._finish(
                    claimed, "failed", error, reason=FailureReason.RETRIES_EXHAUSTED.value
                )
            return self._finish(claimed, "retrying", error)
        except SendError as error:  # PermanentSendError and any other refusal
            return self._finish(claimed, "failed", error)
        except SQLAlchemyError:
            raise
        except Exception as error:  # a bug in a sender: settle by what may have arrived
            detail = _describe(error, claimed.secrets)
            if handed_over:
                failure: SendError = UnconfirmedSendError(detail)
                return self._finish(claimed, "unconfirmed", failure)
            failure = PermanentSendError(detail, reason=FailureReason.INTERNAL_ERROR.value)
            return self._finish(claimed, "failed", failure)
        return self._finish(claimed, "sent", None)

    def _claim(self, outbox_id: int) -> _Claimed | Outcome:
        try:
            return self._try_claim(outbox_id)
        except MessageMovedError:  # another sender was faster: its message now
            return Outcome("skipped")

    def _try_claim(self, outbox_id: int) -> _Claimed | Outcome:
        now = self.clock()
        with self.store.transaction() as session:
            message = lock_due_message(session, outbox_id, now=now)
            if message is None:
                return Outcome("skipped")
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
                return Outcome("held")
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
                return Outcome("held")
            if verdict == Decision.DEFER:
                apply_policy(
                    session,
                    outbox_id,
                    now=now,
                    status=OutboxStatus.DEFERRED,
                    reason=reason,
                    scheduled_for=pd.Timestamp(decision[SCHEDULED_FOR]).to_pydatetime(),
                )
                return Outcome("deferred")
            channel = str(decision[CHANNEL])
            contact = contacts.iloc[0]
            name = _text(contact[schema.BORROWER_NAME])
            address = _text(contact[address_column(channel)]) or ""
            secrets = tuple(item for item in (address.strip(), name) if item)
            try:
                outgoing = self._build(message, channel=channel, name=name, address=address)
            except SQLAlchemyError:
                raise
            except Exception as error:  # this message cannot be built: failed, not claimed
                failure = _build_failure(error, secrets)
                fail_unclaimed(
                    session,
                    message,
                    now=now,
                    channel=channel,
                    reason=failure.reason,
                    error=str(failure),
                )
                self._log_result(message.loan_id, outbox_id, channel, "failed", failure)
                return Outcome("failed", failure.reason)
            attempt_id = claim(session, message, now=now, channel=channel)
            return _Claimed(
                message=outgoing,
                loan_id=message.loan_id,
                attempt_id=attempt_id,
                attempts=message.attempts + 1,
                secrets=secrets,
            )

    def _build(
        self, message: OutboxMessage, *, channel: str, name: str | None, address: str
    ) -> OutgoingMessage:
        """The message ready for its sender; raises whatever makes it unsendable."""
        variables = message_variables(
            borrower_name=name,
            loan_id=message.loan_id,
            context=message.context,
            language=message.language,
            settings=self.settings,
        )
        try:
            rendered = self.renderer.render(
                channel=channel,
                language=message.language,
                variables=variables,
                template=message.template,
            )
        except Exception as error:
            raise _TemplateRenderingError(error) from error
        outgoing = OutgoingMessage(
            outbox_id=message.id,
            idempotency_key=message.idempotency_key,
            channel=channel,
            to=address.strip(),
            subject=rendered.subject,
            body=rendered.body,
        )
        check_message(outgoing, self.settings.notify)
        return outgoing

    def _give_up(self, outbox_id: int, error: Exception) -> Outcome:
        """Settle a message whose dispatch raised something unexpected, by its status.

        Still due (the claim failed): ``failed``, no attempt. ``sending``: ``failed``, its
        attempt deleted. ``delivering``: it may have arrived, so ``held`` as unconfirmed.
        Already final: left as it is (``skipped``).
        """
        detail = _describe(error, ())
        logger.error(
            "dispatch outbox_id=%d failed unexpectedly: %s", outbox_id, detail, exc_info=False
        )
        now = self.clock()
        with self.store.transaction() as session:
            message = session.get(OutboxMessage, outbox_id)
            if message is None:  # pragma: no cover - rows are never deleted
                return Outcome("skipped")
            status = message.status
            reason = FailureReason.INTERNAL_ERROR.value
            try:
                if status in {item.value for item in DUE_STATUSES}:
                    fail_unclaimed(
                        session,
                        message,
                        now=now,
                        channel=message.channel,
                        reason=reason,
                        error=detail,
                    )
                    return Outcome("failed", reason)
                attempt = latest_attempt(session, outbox_id)  # the claim's own
                if status == OutboxStatus.SENDING:
                    mark_failed(session, outbox_id, attempt, now=now, error=detail, reason=reason)
                    return Outcome("failed", reason)
                if status == OutboxStatus.DELIVERING:
                    mark_unconfirmed(
                        session,
                        outbox_id,
                        attempt,
                        now=now,
                        reason=Reason.UNCONFIRMED.value,
                        error=detail,
                    )
                    return Outcome("unconfirmed")
            except MessageMovedError:  # pragma: no cover - moved by another sender meanwhile
                return Outcome("skipped")
        return Outcome("skipped")

    def _finish(
        self, claimed: _Claimed, outcome: str, error: SendError | None, *, reason: str | None = None
    ) -> Outcome:
        if error is not None:
            reason = reason or error.reason
        try:
            self._record(claimed, outcome, error, reason)
        except MessageMovedError:  # pragma: no cover - needs a send longer than the lease
            logger.error(
                "send loan=%s outbox_id=%d outcome=%s could not be recorded: the claim "
                "lease ran out during the send; raise notify.claim_lease_seconds",
                claimed.loan_id,
                claimed.message.outbox_id,
                outcome,
            )
            return Outcome(outcome, reason)
        self._log_result(
            claimed.loan_id, claimed.message.outbox_id, claimed.message.channel, outcome, error
        )
        return Outcome(outcome, reason if outcome == "failed" else None)

    def _record(
        self, claimed: _Claimed, outcome: str, error: SendError | None, reason: str | None
    ) -> None:
        now = self.clock()
        outbox_id = claimed.message.outbox_id
        text = "" if error is None else redact(str(error), *claimed.secrets)[:_ERROR_LENGTH]
        sent_nothing = error is not None and error.sent_nothing
        with self.store.transaction() as session:
            if outcome == "sent":
                mark_sent(session, outbox_id, claimed.attempt_id, now=now)
            elif outcome == "failed":
                mark_failed(
                    session,
                    outbox_id,
                    claimed.attempt_id,
                    now=now,
                    error=text,
                    reason=reason,
                    sent_nothing=sent_nothing,
                )
            elif outcome == "unconfirmed":
                mark_unconfirmed(
                    session,
                    outbox_id,
                    claimed.attempt_id,
                    now=now,
                    reason=Reason.UNCONFIRMED.value,
                    error=text,
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
                    error=text,
                    sent_nothing=sent_nothing,
                )

    @staticmethod
    def _log_result(
        loan_id: str, outbox_id: int, channel: str, outcome: str, error: SendError | None
    ) -> None:
        """One line per message result: loan id, outcome, reason and a safe error text."""
        if error is None:
            logger.info(
                "send loan=%s outbox_id=%d channel=%s outcome=%s",
                loan_id,
                outbox_id,
                channel,
                outcome,
            )
            return
        logger.log(
            logging.WARNING if outcome == "failed" else logging.INFO,
            "send loan=%s outbox_id=%d channel=%s outcome=%s reason=%s error=%s",
            loan_id,
            outbox_id,
            channel,
            outcome,
            error.reason,
            _log_text(str(error)),
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


class _TemplateRenderingError(Exception):
    """Rendering one message's template raised ``error`` (wrapped to name the step)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _describe(error: BaseException, secrets: tuple[str, ...]) -> str:
    """A short text of an unexpected error: its type and its message, addresses masked."""
    text = redact(str(error), *secrets)
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:_ERROR_LENGTH]


def _build_failure(error: Exception, secrets: tuple[str, ...]) -> SendError:
    """The failure of a message that could not be built, with its reason."""
    if isinstance(error, _TemplateRenderingError):
        return PermanentSendError(
            _describe(error.error, secrets), reason=FailureReason.TEMPLATE_ERROR.value
        )
    if isinstance(error, SendError):  # invalid address, encoding: already safe texts
        return error
    return PermanentSendError(
        f"the message's facts cannot be formatted: {_describe(error, secrets)}",
        reason=FailureReason.BUILD_ERROR.value,
    )


def _log_text(text: str) -> str:
    """``text`` fit for a log line: patterns of addresses masked, one line, bounded."""
    return " ".join(redact(text).split())[:_ERROR_LENGTH]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
