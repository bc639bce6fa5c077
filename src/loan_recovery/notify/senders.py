"""Senders: email over SMTP (:mod:`smtplib`) and SMS over an HTTP gateway (:mod:`httpx`).

Both take an :class:`OutgoingMessage` and a ``handing_over`` callback that they call at
the last moment before the message can reach the other side: the dispatcher records
``delivering`` there, so after a crash it knows whether a message may have arrived.

* **Email.** The SMTP conversation is driven step by step: ``MAIL``, ``RCPT``, ``DATA``
  and the message text, then ``handing_over()``, then the final ``.`` line, which is the
  moment the server takes responsibility for the message. A server that loses the
  connection before that line discards the message, so a crash up to the callback means
  "not sent", and only the few microseconds between the callback and the server's reply
  are in doubt. SMTP has no idempotency key, so a message in doubt is never resent
  automatically (see :mod:`loan_recovery.notify.dispatch`). Replies: 4xx is transient,
  5xx permanent.
* **SMS.** One JSON ``POST`` per message with the outbox key in an ``Idempotency-Key``
  header (and the body), retried on 5xx and timeouts with exponential backoff, never on
  4xx. 429 (rate limited) is not retried at once either, but counts as transient, so the
  message is tried again later instead of failing. A gateway that does not drop repeated
  keys (``notify.sms.idempotent = false``) gets no retry after a read timeout: the first
  request may have gone through, so the message is reported unconfirmed instead.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from hashlib import sha256
from typing import Protocol

import httpx

from loan_recovery.config import NotifySettings, SmsGatewaySettings, SmtpSettings
from loan_recovery.notify.errors import (
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
_LEADING_DOT = re.compile(rb"(?m)^\.")
_EOL = re.compile(rb"\r\n|\r|\n")
_ADDRESS = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d\s-]{7,}\d")


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


# --- email ------------------------------------------------------------------------------------
def email_message(message: OutgoingMessage, sender: str) -> EmailMessage:
    """The MIME message of a reminder: plain text, UTF-8, a Message-ID derived from its key.

    A resent message (after a transient failure) keeps its Message-ID, so mail clients
    and servers that deduplicate by it see one message.
    """
    email = EmailMessage(policy=_MESSAGE_POLICY)
    email["From"] = sender
    email["To"] = message.to
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


def scrub(text: str) -> str:
    """``text`` with anything that looks like an email address or phone number masked.

    Server replies often echo the recipient; errors end up in logs and the outbox.
    """
    return _PHONE.sub("***", _ADDRESS.sub("***", text))


def _smtp_error(code: int, reply: bytes | str, what: str) -> SendError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    message = f"SMTP {what} refused: {code} {scrub(text.strip())}"
    if 400 <= code < 500:
        return TransientSendError(message)
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

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        settings = self.settings
        try:
            smtp: smtplib.SMTP
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
            raise PermanentSendError(f"SMTP login refused: {error.smtp_code}") from None
        except smtplib.SMTPNotSupportedError as error:
            raise PermanentSendError(f"SMTP server does not support {error}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise TransientSendError(
                f"cannot reach SMTP server {settings.host}:{settings.port}: {scrub(str(error))}"
            ) from None
        self._smtp = smtp
        return smtp

    def _drop_connection(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def send(self, message: OutgoingMessage, *, handing_over: Callable[[], None] = _no_op) -> None:
        """Send one email; the server's reply to the final dot decides the outcome."""
        data = _smtp_data(email_message(message, self.settings.sender))
        smtp = self._connection()
        try:
            code, reply = smtp.mail(self.settings.sender)
            if code != 250:
                raise _smtp_error(code, reply, "sender")
            code, reply = smtp.rcpt(message.to)
            if code not in (250, 251):
                raise _smtp_error(code, reply, "recipient")
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise _smtp_error(code, reply, "DATA")
            smtp.send(data)
        except SendError:
            self._reset()
            raise
        except (smtplib.SMTPException, OSError) as error:
            self._drop_connection()
            raise TransientSendError(
                f"SMTP connection failed before handover: {scrub(str(error))}"
            ) from None
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
                f"SMTP connection lost after the message was handed over: {scrub(str(error))}"
            ) from None
        if code != 250:
            raise _smtp_error(code, reply, "message")

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
        """Post one SMS; retry 5xx and timeouts, stop at once on 4xx."""
        payload: Mapping[str, str] = {
            "to": message.to,
            "text": message.body,
            "sender": self.settings.sender_id,
            "reference": message.idempotency_key,
        }
        headers = self._headers(message.idempotency_key)
        handing_over()
        self.last_requests = 0
        problem = ""
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
                if sent and not self.settings.idempotent:
                    # the gateway may have taken it and cannot drop a repeat: stop here
                    raise UnconfirmedSendError(f"{problem}; it may have been sent") from None
                continue
            except httpx.TransportError as error:
                problem = f"gateway unreachable ({type(error).__name__})"
                continue
            status = response.status_code
            if 200 <= status < 300:
                return
            if status == 429:
                raise TransientSendError("gateway rate limit: HTTP 429")
            if 400 <= status < 500:
                raise PermanentSendError(f"gateway refused the message: HTTP {status}")
            problem = f"gateway error: HTTP {status}"
        raise TransientSendError(f"{problem} after {self.last_requests} tries")

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
