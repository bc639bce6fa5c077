"""Errors of reminders: templates, senders and their settings.

Every :class:`SendError` carries a short :attr:`~SendError.reason` (a
:class:`FailureReason` value) that the dispatcher records on the outbox row and counts in
a run's summary, and a message that names no borrower and no address: both end up in
logs, the outbox and the terminal.
"""

from __future__ import annotations

from enum import StrEnum

from loan_recovery.exceptions import LoanRecoveryError


class FailureReason(StrEnum):
    """Why a message was not delivered: the ``reason`` of a ``failed`` (or retried) message.

    Short, stable codes an operator can filter on (``outbox list --state failed --reason
    invalid-address``); never personal data.
    """

    #: The template could not be rendered for this message (missing variable, bad file).
    TEMPLATE_ERROR = "template-error"
    #: The message's stored facts (amount, due date, references) could not be formatted.
    BUILD_ERROR = "build-error"
    #: The address is not one address of the channel's form (empty parts, a list, spaces,
    #: too long, not a phone number ...).
    INVALID_ADDRESS = "invalid-address"
    #: The email address needs SMTPUTF8 (non-ASCII before the @) and the server lacks it.
    SMTPUTF8_UNSUPPORTED = "smtputf8-unsupported"
    #: The message text cannot be encoded for the server.
    ENCODING_ERROR = "encoding-error"
    #: The server refused the recipient for good (SMTP 5xx to RCPT).
    RECIPIENT_REFUSED = "recipient-refused"
    #: The server or gateway refused the message for good (SMTP 5xx, HTTP 4xx).
    REFUSED = "refused"
    #: A temporary failure (connection refused, timeout, SMTP 4xx, HTTP 5xx or 429).
    TEMPORARY = "temporary-failure"
    #: Temporary failures on every one of ``notify.max_send_attempts`` tries.
    RETRIES_EXHAUSTED = "retries-exhausted"
    #: A sender stopped while holding the message on every one of its tries.
    ABANDONED = "abandoned"
    #: Anything else that went wrong with this one message (a bug: the log has its type).
    INTERNAL_ERROR = "internal-error"
    #: A person gave the message up (``outbox release ID --mark-failed``).
    CANCELLED = "cancelled"


class NotifyError(LoanRecoveryError, RuntimeError):
    """A reminder cannot be prepared or sent."""


class TemplateRenderError(NotifyError, ValueError):
    """A template is missing, broken or uses a variable the message does not have."""


class SenderNotConfiguredError(NotifyError):
    """A channel is in use but its sender has no settings (no SMS gateway URL...)."""


class SendError(NotifyError):
    """A message could not be handed over; subclasses say whether to try again.

    ``reason`` is the short code recorded on the outbox row (see :class:`FailureReason`).
    ``sent_nothing`` is True when the sender knows that no byte of this message reached
    any server (every try failed to connect, or the message was refused before the
    conversation): such a try is not a contact attempt.
    """

    reason: str = FailureReason.REFUSED.value

    def __init__(self, message: str, *, reason: str | None = None, sent_nothing: bool = False):
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.sent_nothing = sent_nothing


class PermanentSendError(SendError):
    """The server refused the message for good (bad address, HTTP 4xx, SMTP 5xx)."""


class InvalidAddressError(PermanentSendError, ValueError):
    """The recipient is not one valid address of the channel; nothing was sent."""

    reason = FailureReason.INVALID_ADDRESS.value


class MessageBuildError(PermanentSendError, ValueError):
    """The message cannot be built (rendered, formatted or encoded); nothing was sent."""

    reason = FailureReason.BUILD_ERROR.value


class TransientSendError(SendError):
    """The message was not delivered but may be later (HTTP 5xx, timeout, SMTP 4xx)."""

    reason = FailureReason.TEMPORARY.value


class UnconfirmedSendError(SendError):
    """The message may or may not have arrived: the handover began, no answer came."""

    reason = "unconfirmed"
