"""Local servers for reminder tests: a real SMTP server (aiosmtpd) and an HTTP SMS gateway.

Plain helpers (no fixtures), importable by test modules: ``conftest.py`` wraps them in
fixtures, the crash test also uses the SMTP server on its own.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from loan_recovery.notify.senders import KEY_HEADER


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- SMTP -------------------------------------------------------------------------------------
@dataclass
class ReceivedMail:
    """One message the SMTP server accepted (``raw``: the DATA bytes as they came)."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes = b""
    mail_options: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return str(self.message[KEY_HEADER])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class SmtpRecorder:
    """aiosmtpd handler that keeps every accepted message; ``delay`` slows each reply.

    ``refuse`` maps a recipient address to the reply its ``RCPT`` gets instead of 250
    (``"451 4.3.0 try later"``, ``"550 5.1.1 no such user"``); ``rcpts`` records every
    ``RCPT`` address the server was given, accepted or not.
    """

    delay: float = 0.0
    messages: list[ReceivedMail] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    rcpts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            self.rcpts.append(address)
            answer = self.refuse.get(address)
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        mail = ReceivedMail(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            parsed,
            raw=bytes(envelope.content),
            mail_options=list(envelope.mail_options),
        )
        with self.lock:
            self.messages.append(mail)
        if self.delay:
            time.sleep(self.delay)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def keys(self) -> list[str]:
        with self.lock:
            return [mail.key for mail in self.messages]


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: SmtpRecorder


@contextmanager
def running_smtp_server(delay: float = 0.0, *, smtputf8: bool = False) -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 and a free port, recording what it accepts.

    ``smtputf8``: advertise ``SMTPUTF8`` (RFC 6531) and accept UTF-8 addresses.
    """
    recorder = SmtpRecorder(delay=delay)
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield SmtpServer(host="127.0.0.1", port=port, recorder=recorder)
    finally:
        controller.stop()


# --- SMS gateway --------------------------------------------------------------------------------
@dataclass
class GatewayRequest:
    headers: dict[str, str]
    payload: dict[str, Any]


@dataclass
class SmsGateway:
    """A JSON gateway; ``script`` lists the answers to the next requests (an int status,
    or ``"slow"`` to answer 200 after ``slow_seconds``), then 200 for every request."""

    url: str
    requests: list[GatewayRequest] = field(default_factory=list)
    accepted: list[GatewayRequest] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    slow_seconds: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> int | str:
        with self.lock:
            return self.script.pop(0) if self.script else 200

    def record(self, request: GatewayRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def accept(self, request: GatewayRequest) -> None:
        with self.lock:
            self.accepted.append(request)

    def delivered(self) -> list[GatewayRequest]:
        """The requests answered 2xx: what the gateway accepted."""
        with self.lock:
            return list(self.accepted)


@contextmanager
def running_sms_gateway() -> Iterator[SmsGateway]:
    """A local HTTP SMS gateway that records every POST and answers by its script."""
    port = free_port()
    gateway = SmsGateway(url=f"http://127.0.0.1:{port}/v1/sms")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length) or b"{}")
            request = GatewayRequest(dict(self.headers.items()), payload)
            gateway.record(request)
            answer = gateway.next_answer()
            if answer == "slow":
                time.sleep(gateway.slow_seconds)
                answer = 200
            status = int(answer)
            if 200 <= status < 300:
                gateway.accept(request)
            body = json.dumps({"status": status}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
