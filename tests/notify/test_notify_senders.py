"""Senders against real local servers: SMTP (aiosmtpd) and an HTTP SMS gateway.

Also what one bad message does to a sender: an address that is not one address, a
non-ASCII address with and without SMTPUTF8, a refused recipient; each fails alone, with
its reason and without the address in the error, and the next message goes out.
"""

from __future__ import annotations

import httpx
import pytest
from notify_servers import SmsGateway, SmtpServer, free_port

from loan_recovery.config import SmsGatewaySettings, SmtpSettings
from loan_recovery.notify.errors import (
    InvalidAddressError,
    PermanentSendError,
    SenderNotConfiguredError,
    TransientSendError,
    UnconfirmedSendError,
)
from loan_recovery.notify.senders import (
    IDEMPOTENCY_HEADER,
    EmailRecipient,
    HttpSmsSender,
    OutgoingMessage,
    SmtpEmailSender,
    email_recipient,
    scrub,
    sms_recipient,
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


# --- addresses and failures of one message --------------------------------------------------
def _smtp(server: SmtpServer) -> SmtpEmailSender:
    return SmtpEmailSender(
        SmtpSettings(host=server.host, port=server.port, starttls=False, sender="r@l.example")
    )


@pytest.mark.parametrize(
    ("raw", "address", "smtputf8"),
    [
        ("asha@example.com", "asha@example.com", False),
        ("  asha@example.com \n", "asha@example.com", False),
        ("x@müller.de", "x@xn--mller-kva.de", False),
        ("müller.naidu@example.com", "müller.naidu@example.com", True),
    ],
)
def test_email_recipient_gives_the_address_the_server_gets(
    raw: str, address: str, smtputf8: bool
) -> None:
    """Expects one address trimmed, an IDN domain in ASCII, SMTPUTF8 only for a
    non-ASCII part before the @."""
    assert email_recipient(raw) == EmailRecipient(address=address, smtputf8=smtputf8)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        float("nan"),
        "a@b",
        "a@b, c@d",
        "asha@example.com, ravi@example.com",
        "asha@example.com;ravi@example.com",
        "Asha Rao <asha@example.com>",
        "asha rao@example.com",
        "asha..rao@example.com",
        "asha@example.com\r\nBcc: all@example.com",
        "asha@",
        "@example.com",
        "no-at-sign.example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_email_recipient_refuses_anything_but_one_address(raw: object) -> None:
    """Expects InvalidAddressError (reason invalid-address) whose text holds no address."""
    with pytest.raises(InvalidAddressError) as caught:
        email_recipient(raw)
    assert caught.value.reason == "invalid-address"
    local = raw.split("@")[0].strip() if isinstance(raw, str) else ""
    if len(local) > 2:
        assert local not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "number"),
    [("+919800000000", "+919800000000"), (" +91 98000-00000 ", "+919800000000")],
)
def test_sms_recipient_drops_layout(raw: str, number: str) -> None:
    """Expects spaces and dashes dropped from a phone number."""
    assert sms_recipient(raw) == number


@pytest.mark.parametrize("raw", ["", "12ab", "+91 98000 00000, +91 97000 00000", "1" * 16, "++91"])
def test_sms_recipient_refuses_anything_but_one_number(raw: str) -> None:
    """Expects InvalidAddressError for letters, lists and too many digits."""
    with pytest.raises(InvalidAddressError):
        sms_recipient(raw)


def test_non_ascii_address_without_smtputf8_fails_at_once_and_the_next_goes_out(
    smtp_server: SmtpServer,
) -> None:
    """Gives müller.naidu@... to a server without SMTPUTF8, then a plain address on the
    same sender; expects a permanent smtputf8-unsupported error that sent nothing (no
    RCPT), no address in it, and the next message delivered on the same connection."""
    sender = _smtp(smtp_server)
    handovers: list[str] = []
    with pytest.raises(PermanentSendError) as caught:
        sender.send(
            _email("k1", to="müller.naidu@example.com"), handing_over=lambda: handovers.append("1")
        )
    assert caught.value.reason == "smtputf8-unsupported"
    assert caught.value.sent_nothing
    assert "müller" not in str(caught.value)
    sender.send(_email("k2"))
    sender.close()
    assert handovers == []
    assert smtp_server.recorder.rcpts == ["asha@example.com"]
    assert smtp_server.recorder.keys() == ["k2"]


def test_non_ascii_address_is_sent_with_smtputf8_when_offered(smtputf8_server: SmtpServer) -> None:
    """Gives müller.naidu@... to a server that offers SMTPUTF8, then a plain address;
    expects MAIL FROM with SMTPUTF8, the UTF-8 address in RCPT and in the To header,
    and the next (ASCII) message sent without SMTPUTF8 and with 7-bit headers."""
    sender = _smtp(smtputf8_server)
    sender.send(_email("k1", to="müller.naidu@example.com"))
    sender.send(_email("k2"))
    sender.close()
    first, second = smtputf8_server.recorder.messages
    assert first.recipients == ["müller.naidu@example.com"]
    assert "SMTPUTF8" in first.mail_options
    assert "To: müller.naidu@example.com".encode() in first.raw
    assert first.body.strip() == "Pay ₹1,200.00 by 5 March"
    assert second.recipients == ["asha@example.com"]
    assert "SMTPUTF8" not in second.mail_options
    assert second.raw.isascii()


@pytest.mark.parametrize(
    ("reply", "error", "reason"),
    [
        ("550 5.1.1 <nobody@example.com>: no such user", PermanentSendError, "recipient-refused"),
        ("451 4.3.0 nobody@example.com: try again later", TransientSendError, "temporary-failure"),
    ],
)
def test_refused_recipient_keeps_the_connection_usable(
    smtp_server: SmtpServer, reply: str, error: type[Exception], reason: str
) -> None:
    """Gives a RCPT refusal (5xx, 4xx) then a good message; expects the matching error
    with its reason and no address in it, and the next message delivered."""
    smtp_server.recorder.refuse["nobody@example.com"] = reply
    sender = _smtp(smtp_server)
    with pytest.raises(error) as caught:
        sender.send(_email("k1", to="nobody@example.com"))
    assert getattr(caught.value, "reason", None) == reason
    assert "nobody" not in str(caught.value)
    sender.send(_email("k2"))
    sender.close()
    assert smtp_server.recorder.keys() == ["k2"]


def test_unreachable_smtp_server_is_not_tried_again_by_the_same_sender() -> None:
    """Expects the first message to try (and fail) to connect, the second to fail at once
    without a new connection, both transient and known to have sent nothing."""
    sender = SmtpEmailSender(SmtpSettings(host="127.0.0.1", port=free_port(), starttls=False))
    with pytest.raises(TransientSendError) as first:
        sender.send(_email("k1"))
    with pytest.raises(TransientSendError, match="not tried again") as second:
        sender.send(_email("k2"))
    assert first.value.sent_nothing
    assert second.value.sent_nothing


def test_invalid_sms_number_is_refused_before_any_request(sms_gateway: SmsGateway) -> None:
    """Expects a list of numbers to fail as invalid-address with no request and no
    handover."""
    handovers: list[str] = []
    message = OutgoingMessage(
        outbox_id=1,
        idempotency_key="k",
        channel="sms",
        to="+91 98000 00000, +91 97000 00000",
        subject=None,
        body="hi",
    )
    with pytest.raises(InvalidAddressError):
        _gateway_sender(sms_gateway).send(message, handing_over=lambda: handovers.append("x"))
    assert sms_gateway.requests == []
    assert handovers == []
