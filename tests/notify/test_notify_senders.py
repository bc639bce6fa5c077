"""Senders against real local servers: SMTP (aiosmtpd) and an HTTP SMS gateway."""

from __future__ import annotations

import httpx
import pytest
from notify_servers import SmsGateway, SmtpServer, free_port

from loan_recovery.config import SmsGatewaySettings, SmtpSettings
from loan_recovery.notify.errors import (
    PermanentSendError,
    SenderNotConfiguredError,
    TransientSendError,
    UnconfirmedSendError,
)
from loan_recovery.notify.senders import (
    IDEMPOTENCY_HEADER,
    HttpSmsSender,
    OutgoingMessage,
    SmtpEmailSender,
    scrub,
)


def _email(
    key: str, to: str = "asha@example.com", body: str = "Pay ₹1,200.00 by 5 March"
) -> OutgoingMessage:
    return OutgoingMessage(
        outbox_id=1, idempotency_key=key, channel="email", to=to, subject="Reminder", body=body
    )


def _sms(key: str = "reminder:2026-03-02:L1") -> OutgoingMessage:
    return OutgoingMessage(
        outbox_id=1, idempotency_key=key, channel="sms", to="+919800000000", subject=None, body="hi"
    )


def test_smtp_sender_delivers_each_message_once_with_its_key(smtp_server: SmtpServer) -> None:
    """Gives two emails on one connection; expects the server to get both, intact."""
    sender = SmtpEmailSender(
        SmtpSettings(
            host=smtp_server.host, port=smtp_server.port, starttls=False, sender="r@l.example"
        )
    )
    handovers: list[str] = []
    sender.send(_email("k1"), handing_over=lambda: handovers.append("k1"))
    sender.send(_email("k2", to="ravi@example.com", body="..starts with dots\nline two"))
    sender.close()
    mails = smtp_server.recorder.messages
    assert [mail.key for mail in mails] == ["k1", "k2"]
    assert handovers == ["k1"]
    assert mails[0].recipients == ["asha@example.com"]
    assert mails[0].mail_from == "r@l.example"
    assert mails[0].message["Subject"] == "Reminder"
    assert mails[0].body.strip() == "Pay ₹1,200.00 by 5 March"
    assert mails[1].body.splitlines()[0] == "..starts with dots"  # dot-stuffing undone
    assert mails[0].message["Message-ID"] != mails[1].message["Message-ID"]


def test_smtp_failure_before_handover_is_transient_and_sends_nothing(
    smtp_server: SmtpServer,
) -> None:
    """Expects a handover callback that raises to abort the message: the server keeps none."""
    sender = SmtpEmailSender(
        SmtpSettings(host=smtp_server.host, port=smtp_server.port, starttls=False)
    )

    def crash() -> None:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        sender.send(_email("k1"), handing_over=crash)
    sender.send(_email("k2"))
    sender.close()
    assert smtp_server.recorder.keys() == ["k2"]


def test_unreachable_smtp_server_is_transient() -> None:
    """Expects a refused connection to be a TransientSendError (retry later)."""
    sender = SmtpEmailSender(SmtpSettings(host="127.0.0.1", port=free_port(), starttls=False))
    with pytest.raises(TransientSendError, match="cannot reach"):
        sender.send(_email("k1"))


def _gateway_sender(gateway: SmsGateway, **options: object) -> HttpSmsSender:
    settings = SmsGatewaySettings(
        url=gateway.url, timeout=0.3, backoff_seconds=0.0, max_retries=3, **options
    )
    return HttpSmsSender(settings, sleep=lambda _seconds: None)


def test_sms_is_posted_as_json_with_the_idempotency_key(sms_gateway: SmsGateway) -> None:
    """Expects one POST with the text, number, sender id and the key as a header."""
    sender = _gateway_sender(sms_gateway, api_key="secret-token")
    sender.send(_sms())
    sender.close()
    (request,) = sms_gateway.requests
    assert request.payload == {
        "to": "+919800000000",
        "text": "hi",
        "sender": "LNRCVR",
        "reference": "reminder:2026-03-02:L1",
    }
    assert request.headers[IDEMPOTENCY_HEADER] == "reminder:2026-03-02:L1"
    assert request.headers["Authorization"] == "Bearer secret-token"


def test_sms_retries_5xx_with_backoff_then_succeeds(sms_gateway: SmsGateway) -> None:
    """Gives 500, 503, then 200; expects three requests and backoff 0.5 s then 1 s."""
    sms_gateway.script = [500, 503]
    waits: list[float] = []
    sender = HttpSmsSender(
        SmsGatewaySettings(url=sms_gateway.url, backoff_seconds=0.5, max_retries=3),
        sleep=waits.append,
    )
    sender.send(_sms())
    assert len(sms_gateway.requests) == 3
    assert sender.last_requests == 3
    assert waits == [0.5, 1.0]
    assert len(sms_gateway.delivered()) == 1


def test_sms_gives_up_after_max_retries_on_5xx(sms_gateway: SmsGateway) -> None:
    """Gives only 502s; expects 1 + max_retries requests, then a transient error."""
    sms_gateway.script = [502] * 10
    sender = _gateway_sender(sms_gateway)
    with pytest.raises(TransientSendError, match="HTTP 502 after 4 tries"):
        sender.send(_sms())
    assert len(sms_gateway.requests) == 4


def test_sms_retries_timeouts(sms_gateway: SmsGateway) -> None:
    """Gives a gateway that answers too late once; expects a retry that succeeds."""
    sms_gateway.script = ["slow"]
    sms_gateway.slow_seconds = 0.8
    sender = _gateway_sender(sms_gateway)
    sender.send(_sms())
    assert len(sms_gateway.requests) == 2


def test_sms_timeout_on_a_non_idempotent_gateway_is_unconfirmed(sms_gateway: SmsGateway) -> None:
    """Expects no retry after a read timeout when the gateway cannot drop repeats."""
    sms_gateway.script = ["slow"]
    sms_gateway.slow_seconds = 0.8
    sender = _gateway_sender(sms_gateway, idempotent=False)
    with pytest.raises(UnconfirmedSendError):
        sender.send(_sms())
    assert len(sms_gateway.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_sms_4xx_is_permanent_and_never_retried(sms_gateway: SmsGateway, status: int) -> None:
    """Expects exactly one request and a permanent error for a client error."""
    sms_gateway.script = [status]
    sender = _gateway_sender(sms_gateway)
    with pytest.raises(PermanentSendError, match=f"HTTP {status}"):
        sender.send(_sms())
    assert len(sms_gateway.requests) == 1


def test_sms_rate_limit_is_not_retried_now_but_is_transient(sms_gateway: SmsGateway) -> None:
    """Expects 429 to stop at one request yet stay retryable later (not failed)."""
    sms_gateway.script = [429]
    with pytest.raises(TransientSendError, match="429"):
        _gateway_sender(sms_gateway).send(_sms())
    assert len(sms_gateway.requests) == 1


def test_unreachable_gateway_is_retried_then_transient() -> None:
    """Expects connection errors to be retried (nothing was sent) and end transient."""
    sender = HttpSmsSender(
        SmsGatewaySettings(
            url=f"http://127.0.0.1:{free_port()}/sms", backoff_seconds=0, max_retries=2
        ),
        client=httpx.Client(),
        sleep=lambda _seconds: None,
    )
    with pytest.raises(TransientSendError, match="3 tries"):
        sender.send(_sms())


def test_sms_sender_needs_a_gateway_url() -> None:
    """Expects a clear configuration error without notify.sms.url."""
    with pytest.raises(SenderNotConfiguredError, match=r"notify\.sms\.url"):
        HttpSmsSender(SmsGatewaySettings())


def test_scrub_masks_addresses_and_numbers() -> None:
    """Expects server replies that echo a recipient to lose the address in errors."""
    text = scrub("550 5.1.1 <asha.rao@example.com>: no such user; call +91 98000 00000")
    assert "asha" not in text
    assert "98000" not in text
