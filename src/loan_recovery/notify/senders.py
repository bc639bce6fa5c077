"""Senders: email over SMTP (:mod:`smtplib`) and SMS over an HTTP gateway (:mod:`httpx`).

Both take an :class:`OutgoingMessage` and a ``handing_over`` callback that they call at
the last moment before the message can reach the other side: the dispatcher records
``delivering`` there, so after a crash it knows whether a message may have arrived.

* **Addresses.** Before anything is sent, the address is checked offline and put in the
  form the server gets (:func:`email_recipient`, :func:`sms_recipient`): one email
  address (``email-validator``, no deliverability lookup; an internationalised domain
  goes out in its ASCII ``xn--`` form) or one phone number (``+`` and 6 to 15 digits;
  spaces, dots, dashes and brackets are dropped). Anything else (a list such as
  ``a@b, c@d``, a display name, spaces, a part too long) raises
  :class:`InvalidAddressError`; a message that cannot be encoded raises
  :class:`MessageBuildError`. :func:`check_message` runs the same checks for the
  dispatcher, before it claims a message, so a bad address never becomes an attempt.
* **Email.** The SMTP conversation is driven step by step: ``MAIL``, ``RCPT``, ``DATA``
  and the message text, then ``handing_over()``, then the final ``.`` line, which is the
  moment the server takes responsibility for the message. A server that loses the
  connection before that line discards the message, so a crash up to the callback means
  "not sent", and only the few microseconds between the callback and the server's reply
  are in doubt. SMTP has no idempotency key, so a message in doubt is never resent
  automatically (see :mod:`loan_recovery.notify.dispatch`). Replies: 4xx is transient,
  5xx permanent. An address with non-ASCII characters before the ``@``
  (``müller.naidu@example.com``) is sent with ``MAIL FROM ... SMTPUTF8`` and UTF-8
  headers (RFC 6531/6532) when the server advertises ``SMTPUTF8``; otherwise it fails at
  once (``smtputf8-unsupported``) with nothing sent: such an address has no ASCII form.
  Any error leaves the connection clean for the next message (``RSET``, or a new one).
  A server that cannot be reached (or refuses the login) is not tried again by the same
  sender: the following messages fail fast as transient, so a dead server costs one
  timeout per run, not one per message.
* **SMS.** One JSON ``POST`` per message with the outbox key in an ``Idempotency-Key``
  header (and the body), retried on 5xx and timeouts with exponential backoff, never on
  4xx. 429 (rate limited) is not retried at once either, but counts as transient, so the
  message is tried again later instead of failing. A gateway that does not drop repeated
  keys (``notify.sms.idempotent = false``) gets no retry after a read timeout: the first
  request may have gone through, so the message is reported unconfirmed instead.

Error messages never hold the address (server replies that echo it are masked), so they
can go to logs and the outbox.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY
from email.utils import formatdate
from hashlib import sha256
from typing import Protocol

import httpx
from email_validator import EmailNotValidError, validate_email

from loan_recovery.config import NotifySettings, SmsGatewaySettings, SmtpSettings
from loan_recovery.data.contacts import MAX_LOCAL_PART_OCTETS
from loan_recovery.notify.errors import (
    FailureReason,
    InvalidAddressError,
    MessageBuildError,
    PermanentSendError,
    SenderNotConfiguredError,
    SendError,
    TransientSendError,
    UnconfirmedSendError,
)
from loan_recovery.store.models import Channel

#: Header carrying the outbox key on every email and SMS request.
KEY_HEADER = "X-Reminder-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_MESSAGE_POLICY = SMTP_POLICY.clone(cte_type="7bit")  # 7-bit safe: any server takes it
_UTF8_MESSAGE_POLICY = SMTPUTF8_POLICY.clone(cte_type="7bit")  # UTF-8 headers, 7-bit body
_LEADING_DOT = re.compile(rb"(?m)^\.")
_EOL = re.compile(rb"\r\n|\r|\n")
_ADDRESS = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d\s-]{7,}\d")
_PHONE_LAYOUT = re.compile(r"[\s().-]")
_PHONE_NUMBER = re.compile(r"\+?[0-9]{6,15}")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A rendered reminder and its address (personal data: never log it)."""

    outbox_id: int
    idempotency_key: str
    channel: str
    to: str
    subject: str | None
    body: str


class Sender(Protocol):
    """Delivers messages of one channel."""

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None]) -> None:
        """Deliver ``message``; raise a :class:`SendError` subclass when it was not."""

    def close(self) -> None:
        """Release connections."""


def _no_op() -> None:
    return None


def scrub(text: str) -> str:
    """``text`` with anything that looks like an email address or phone number masked.

    Server replies often echo the recipient; errors end up in logs and the outbox.
    """
    return _PHONE.sub("***", _ADDRESS.sub("***", text))


def redact(text: str, *secrets: str) -> str:
    """``text`` without any of ``secrets`` (an address, its parts), then :func:`scrub`-bed.

    For error texts that may quote what they choke on (a server reply, a library's
    message): the known address goes whatever its form, the rest by pattern.
    """
    for secret in sorted({item for item in secrets if item and len(item) > 2}, key=len)[::-1]:
        text = text.replace(secret, "***")
    return scrub(text)


# --- addresses ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EmailRecipient:
    """An email address as the server gets it, and whether it needs ``SMTPUTF8``."""

    address: str
    smtputf8: bool


def email_recipient(raw: object) -> EmailRecipient:
    """The one email address in ``raw``, ready for ``RCPT TO``; :class:`InvalidAddressError`
    when ``raw`` is not exactly one valid address.

    The domain goes out in ASCII (``xn--`` for an internationalised one); only a
    non-ASCII part before the ``@`` needs a server with ``SMTPUTF8``.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InvalidAddressError("no email address")
    try:
        valid = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        problem = redact(str(error), text, *text.split("@"))
        raise InvalidAddressError(f"not one valid email address: {problem}"[:300]) from None
    if len(valid.local_part.encode("utf-8")) > MAX_LOCAL_PART_OCTETS:
        raise InvalidAddressError(
            f"not one valid email address: the part before the @ is longer than "
            f"{MAX_LOCAL_PART_OCTETS} octets"
        )
    if valid.ascii_email:
        return EmailRecipient(address=valid.ascii_email, smtputf8=False)
    return EmailRecipient(address=valid.normalized, smtputf8=True)


def sms_recipient(raw: object) -> str:
    """The one phone number in ``raw`` (``+`` and 6 to 15 digits, layout dropped), or
    :class:`InvalidAddressError`."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InvalidAddressError("no phone number")
    number = _PHONE_LAYOUT.sub("", text)
    if not _PHONE_NUMBER.fullmatch(number):
        raise InvalidAddressError(
            "not one valid phone number: expected + and 6 to 15 digits (spaces, dots, "
            "dashes and brackets allowed)"
        )
    return number


# --- email ------------------------------------------------------------------------------------
def email_message(
    message: OutgoingMessage, sender: str, *, recipient: EmailRecipient | None = None
) -> EmailMessage:
    """The MIME message of a reminder: plain text, UTF-8, a Message-ID derived from its key.

    A resent message (after a transient failure) keeps its Message-ID, so mail clients
    and servers that deduplicate by it see one message. Headers are UTF-8 (RFC 6532)
    only for a recipient that needs ``SMTPUTF8``; otherwise every line is 7-bit.
    """
    recipient = recipient or email_recipient(message.to)
    policy = _UTF8_MESSAGE_POLICY if recipient.smtputf8 else _MESSAGE_POLICY
    email = EmailMessage(policy=policy)
    email["From"] = sender
    email["To"] = recipient.address
    email["Subject"] = message.subject or ""
    email["Date"] = formatdate(localtime=False, usegmt=True)
    digest = sha256(message.idempotency_key.encode("utf-8")).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "loan-recovery.invalid"
    email["Message-ID"] = f"<{digest}@{domain}>"
    email[KEY_HEADER] = message.idempotency_key
    email.set_content(message.body, charset="utf-8")
    return email


def _smtp_data(email: EmailMessage) -> bytes:
    """The DATA payload without the final dot: CRLF line ends, leading dots doubled."""
    raw = _EOL.sub(b"\r\n", email.as_bytes())
    raw = _LEADING_DOT.sub(b"..", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def prepare_email(message: OutgoingMessage, sender: str) -> tuple[EmailRecipient, bytes]:
    """The recipient and the DATA payload of an email, or the reason it cannot be sent.

    Raises :class:`InvalidAddressError` or :class:`MessageBuildError` (``encoding-error``
    for text that cannot be encoded, ``build-error`` for anything else the MIME builder
    refuses); the error text never holds the address.
    """
    recipient = email_recipient(message.to)
    try:
        return recipient, _smtp_data(email_message(message, sender, recipient=recipient))
    except UnicodeError as error:
        raise MessageBuildError(
            f"the message cannot be encoded: {type(error).__name__}",
            reason=FailureReason.ENCODING_ERROR.value,
        ) from None
    except (ValueError, TypeError, LookupError) as error:
        problem = redact(str(error), message.to, recipient.address)
        raise MessageBuildError(
            f"the message cannot be built: {type(error).__name__}: {problem}"[:300]
        ) from None


def prepare_sms(message: OutgoingMessage) -> str:
    """The phone number of an SMS; raises like :func:`prepare_email` when it cannot go."""
    number = sms_recipient(message.to)
    try:
        message.body.encode("utf-8")
    except UnicodeError as error:
        raise MessageBuildError(
            f"the message cannot be encoded: {type(error).__name__}",
            reason=FailureReason.ENCODING_ERROR.value,
        ) from None
    return number


def check_message(message: OutgoingMessage, settings: NotifySettings) -> None:
    """Raise what sending ``message`` would raise before any network step, if anything.

    The dispatcher calls it before claiming a message, so a message that cannot be built
    or addressed fails without becoming a contact attempt.
    """
    if message.channel == Channel.EMAIL:
        prepare_email(message, settings.smtp.sender)
    elif message.channel == Channel.SMS:
        prepare_sms(message)
    else:
        raise MessageBuildError(f"unknown channel {message.channel!r}")


def _smtp_error(code: int, reply: bytes | str, what: str, *secrets: str) -> SendError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    message = f"SMTP {what} refused: {code} {redact(text.strip(), *secrets)}"[:500]
    if 400 <= code < 500:
        return TransientSendError(message)
    if what == "recipient":
        return PermanentSendError(message, reason=FailureReason.RECIPIENT_REFUSED.value)
    return PermanentSendError(message)


def _no_delay(smtp: smtplib.SMTP) -> None:
    """Send small writes at once: the text and the final dot go out as separate writes,
    and Nagle's algorithm would hold the dot back until the server's delayed ACK."""
    if smtp.sock is not None:
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SmtpEmailSender:
    """Sends reminders through one SMTP connection, opened on first use and reused."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        #: Why the server could not be used, once it could not: later sends fail fast.
        self._unusable: str | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        if self._unusable is not None:
            raise TransientSendError(
                f"{self._unusable} (not tried again in this run)", sent_nothing=True
            )
        settings = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            if settings.ssl:
                smtp = smtplib.SMTP_SSL(
                    settings.host,
                    settings.port,
                    timeout=settings.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            _no_delay(smtp)
            smtp.ehlo()
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                password = "" if settings.password is None else settings.password.get_secret_value()
                smtp.login(settings.username, password)
        except smtplib.SMTPAuthenticationError as error:
            problem = f"SMTP login refused ({error.smtp_code}); check notify.smtp.username/password"
            raise self._unreachable(smtp, problem) from None
        except smtplib.SMTPNotSupportedError as error:
            problem = f"SMTP server does not support {error}; check notify.smtp"
            raise self._unreachable(smtp, problem) from None
        except (smtplib.SMTPException, OSError) as error:
            problem = (
                f"cannot reach SMTP server {settings.host}:{settings.port}: {scrub(str(error))}"
            )
            raise self._unreachable(smtp, problem) from None
        self._smtp = smtp
        return smtp

    def _unreachable(self, smtp: smtplib.SMTP | None, problem: str) -> TransientSendError:
        """Remember that the server cannot be used; the error for this message."""
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()
        self._unusable = problem
        return TransientSendError(problem, sent_nothing=True)

    def _drop_connection(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None] = _no_op) -> None:
        """Send one email; the server's reply to the final dot decides the outcome."""
        recipient, data = prepare_email(message, self.settings.sender)
        secrets = (message.to, recipient.address)
        smtp = self._connection()
        options: list[str] = []
        if recipient.smtputf8:
            if not smtp.has_extn("smtputf8"):
                raise PermanentSendError(
                    "the address has non-ASCII characters before the @ and the SMTP server "
                    "does not offer SMTPUTF8; nothing was sent",
                    reason=FailureReason.SMTPUTF8_UNSUPPORTED.value,
                    sent_nothing=True,
                )
            options.append("SMTPUTF8")
        try:
            smtp.command_encoding = "ascii"  # smtplib keeps UTF-8 after an SMTPUTF8 message
            code, reply = smtp.mail(self.settings.sender, options)
            if code != 250:
                raise _smtp_error(code, reply, "sender", *secrets)
            code, reply = smtp.rcpt(recipient.address)
            if code not in (250, 251):
                raise _smtp_error(code, reply, "recipient", *secrets)
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise _smtp_error(code, reply, "DATA", *secrets)
            smtp.send(data)
        except SendError:
            self._reset()
            raise
        except (smtplib.SMTPException, OSError) as error:
            self._drop_connection()
            raise TransientSendError(
                f"SMTP connection failed before handover: {redact(str(error), *secrets)}"
            ) from None
        except BaseException:
            self._drop_connection()  # half a transaction: never reuse this connection
            raise
        try:
            handing_over()
        except BaseException:
            self._drop_connection()  # no final dot: the server discards the message
            raise
        try:
            smtp.send(b".\r\n")
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as error:
            self._drop_connection()
            raise UnconfirmedSendError(
                "SMTP connection lost after the message was handed over: "
                f"{redact(str(error), *secrets)}"
            ) from None
        if code != 250:
            raise _smtp_error(code, reply, "message", *secrets)

    def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop_connection()

    def close(self) -> None:
        """Say QUIT and close the connection."""
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._drop_connection()


# --- SMS ----------------------------------------------------------------------------------------
class HttpSmsSender:
    """Posts reminders to an HTTP SMS gateway as JSON, with retries and backoff.

    Request body: ``{"to", "text", "sender", "reference"}``; headers ``Idempotency-Key``
    (the outbox key) and, with an API key, ``Authorization: Bearer``. Any 2xx is success.
    """

    def __init__(
        self,
        settings: SmsGatewaySettings,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.url:
            raise SenderNotConfiguredError(
                "notify.sms.url is not set; set the gateway URL or remove sms from notify.channels."
            )
        self.settings = settings
        self.url = settings.url
        self._client = client
        self._own_client = client is None
        self._sleep = sleep
        #: Requests made by the last :meth:`send` (tests and logs).
        self.last_requests = 0

    def _headers(self, key: str) -> dict[str, str]:
        headers = {IDEMPOTENCY_HEADER: key, KEY_HEADER: key}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        return headers

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): doubling, capped."""
        delay = self.settings.backoff_seconds * (2**retry)
        return float(min(delay, self.settings.backoff_max_seconds))

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None] = _no_op) -> None:
        """Post one SMS; retry 5xx and timeouts, stop at once on 4xx.

        A try that failed to connect sent nothing; when every try did, the transient
        error says so (``sent_nothing``), and the try is no contact attempt.
        """
        payload: Mapping[str, str] = {
            "to": prepare_sms(message),
            "text": message.body,
            "sender": self.settings.sender_id,
            "reference": message.idempotency_key,
        }
        headers = self._headers(message.idempotency_key)
        handing_over()
        self.last_requests = 0
        problem = ""
        reached = False
        for retry in range(self.settings.max_retries + 1):
            if retry:
                self._sleep(self.backoff(retry - 1))
            self.last_requests += 1
            try:
                response = self._http().post(
                    self.url, json=payload, headers=headers, timeout=self.settings.timeout
                )
            except httpx.TimeoutException as error:
                problem = f"gateway timed out ({type(error).__name__})"
                sent = not isinstance(error, httpx.ConnectTimeout)
                reached = reached or sent
                if sent and not self.settings.idempotent:
                    # the gateway may have taken it and cannot drop a repeat: stop here
                    raise UnconfirmedSendError(f"{problem}; it may have been sent") from None
                continue
            except httpx.TransportError as error:
                problem = f"gateway unreachable ({type(error).__name__})"
                reached = reached or not isinstance(error, httpx.ConnectError)
                continue
            reached = True
            status = response.status_code
            if 200 <= status < 300:
                return
            if status == 429:
                raise TransientSendError("gateway rate limit: HTTP 429")
            if 400 <= status < 500:
                raise PermanentSendError(f"gateway refused the message: HTTP {status}")
            problem = f"gateway error: HTTP {status}"
        raise TransientSendError(
            f"{problem} after {self.last_requests} tries", sent_nothing=not reached
        )

    def _http(self) -> httpx.Client:
        """The HTTP client, made on first use (a run with no SMS due opens nothing)."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.timeout)
        return self._client

    def close(self) -> None:
        """Close the HTTP client (if this sender made it)."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None


def build_senders(
    settings: NotifySettings, *, channels: tuple[str, ...] | None = None
) -> dict[str, Sender]:
    """The senders of ``channels`` (default: every channel the settings use)."""
    wanted = channels if channels is not None else tuple(settings.channels)
    senders: dict[str, Sender] = {}
    if Channel.EMAIL in wanted:
        senders[Channel.EMAIL] = SmtpEmailSender(settings.smtp)
    if Channel.SMS in wanted:
        senders[Channel.SMS] = HttpSmsSender(settings.sms)
    return senders
