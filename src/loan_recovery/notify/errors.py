"""Errors of reminders: templates, senders and their settings."""

from __future__ import annotations

from loan_recovery.exceptions import LoanRecoveryError


class NotifyError(LoanRecoveryError, RuntimeError):
    """A reminder cannot be prepared or sent."""


class TemplateRenderError(NotifyError, ValueError):
    """A template is missing, broken or uses a variable the message does not have."""


class SenderNotConfiguredError(NotifyError):
    """A channel is in use but its sender has no settings (no SMS gateway URL...)."""


class SendError(NotifyError):
    """A message could not be handed over; subclasses say whether to try again."""


class PermanentSendError(SendError):
    """The server refused the message for good (bad address, HTTP 4xx, SMTP 5xx)."""


class TransientSendError(SendError):
    """The message was not delivered but may be later (HTTP 5xx, timeout, SMTP 4xx)."""


class UnconfirmedSendError(SendError):
    """The message may or may not have arrived: the handover began, no answer came."""
