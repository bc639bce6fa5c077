"""HTTP limits against a real server: header size and count, slow clients, body caps, keys.

One server for the module: ``run_server`` (what ``loan-recovery serve`` runs) in a
subprocess on a free loopback port, with 1-second header and body timeouts so the slow
client tests take a second each. It has no model and an empty database: every request
here is refused, or answered by ``/health``, before either matters. Requests are raw
sockets, so a test controls exactly which bytes are sent and when; that a 401 or 413
arrives while the body is still unsent shows it was decided before the body was read.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loan_recovery.api.deps import KEY_INVALID, KEY_REQUIRED
from loan_recovery.api.limits import open_paths
from loan_recovery.api.problems import Problem
from loan_recovery.api.routes import admin, health

TIMEOUT = 1.0  # header and body timeouts of the test server, seconds
#: Well-formed (it could be a key), so requests carrying it get past the key check.
SOME_KEY = "lr_0123456789ab.not-a-real-secret"
SERVER = """
import sys
from loan_recovery.api.server import run_server
from loan_recovery.config import load_settings
run_server(host="127.0.0.1", port=int(sys.argv[1]), workers=1, log_level="warning",
           limits=load_settings().api.limits)
"""


@dataclass(frozen=True)
class Server:
    """The running server: its port, its process (for its memory) and its log."""

    port: int
    pid: int
    log: Path

    def memory_kib(self) -> tuple[int, int]:
        """The server's resident memory now and at its peak (VmRSS, VmHWM), KiB."""
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{self.pid}/status").read_text().split("\n")
            if ":" in line
        )
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The API served with 1 s header and body timeouts and default sizes."""
    root = tmp_path_factory.mktemp("limits")
    env = {
        **os.environ,
        "LOAN_RECOVERY_VAR_DIR": str(root / "var"),
        "LOAN_RECOVERY_DATABASE_URL": f"sqlite:///{root / 'store.db'}",
        "LOAN_RECOVERY_API__LIMITS__HEADER_TIMEOUT": str(TIMEOUT),
        "LOAN_RECOVERY_API__LIMITS__BODY_TIMEOUT": str(TIMEOUT),
    }
    env.pop("LOAN_RECOVERY_CONFIG", None)
    port = _free_port()
    log = root / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"the server never answered /health:\n{log.read_text()}")
        yield Server(port=port, pid=process.pid, log=log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _read_response(sock: socket.socket, wait: float = 5.0) -> bytes:
    """One response (or what came of it): read until it is whole, the server closes, or
    ``wait`` seconds pass."""
    sock.settimeout(wait)
    received = b""
    try:
        while not _whole(received) and (chunk := sock.recv(65_536)):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def _whole(response: bytes) -> bool:
    head, separator, body = response.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _status(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response[9:12])


def _head(response: bytes) -> str:
    return response.partition(b"\r\n\r\n")[0].decode("latin-1").lower()


def _problem(response: bytes, status: int) -> Problem:
    """The response's problem document, checked against its head: media type, status and
    the request id it echoes."""
    head, _, body = response.partition(b"\r\n\r\n")
    fields = dict(line.decode("latin-1").lower().split(": ", 1) for line in head.split(b"\r\n")[1:])
    assert fields["content-type"] == "application/problem+json"
    problem = Problem.model_validate_json(body)
    assert problem.status == status
    assert problem.request_id == fields["x-request-id"]
    return problem


def _request(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _health(server: Server) -> int:
    return httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).status_code


# --- the head -------------------------------------------------------------------------------
def test_a_64_mib_header_is_refused_and_costs_the_server_little(server: Server) -> None:
    """Sends a 64 MiB header to /health in 1 MiB writes; expects 431 or a closed connection
    within seconds, server memory (now and peak) up by well under 50 MB, /health still 200."""
    rss_before, peak_before = server.memory_kib()
    started = time.monotonic()
    sent = 0
    with server.connect() as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * (1 << 20)
        try:
            while sent < 64 << 20:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = _read_response(sock)
    assert _status(response) in (None, 431)
    assert sent < 64 << 20, "the server read the whole header"
    assert time.monotonic() - started < 5
    rss_after, peak_after = server.memory_kib()
    assert rss_after - rss_before < 50 * 1024
    assert peak_after - peak_before < 50 * 1024
    assert _health(server) == 200


def test_a_head_over_the_limit_sent_at_once_gets_431(server: Server) -> None:
    """Sends a 20 kB header in one write (under one socket read); expects a 431 problem."""
    with server.connect() as sock:
        sock.sendall(_request("GET", "/health", {"X-Big": "a" * 20_000}))
        response = _read_response(sock)
    assert _status(response) == 431
    assert "16,384 bytes" in _problem(response, 431).detail


def test_too_many_header_fields_get_431(server: Server) -> None:
    """Sends 150 small headers, then 90; expects 431 naming the limit of 100 (connection
    closed), then 200."""
    with server.connect() as sock:
        sock.sendall(_request("GET", "/health", {f"X-H{i}": "1" for i in range(150)}))
        response = _read_response(sock)
    assert _status(response) == 431
    assert "connection: close" in _head(response)
    assert "at most 100" in _problem(response, 431).detail
    with server.connect() as sock:
        sock.sendall(_request("GET", "/health", {f"X-H{i}": "1" for i in range(90)}))
        assert _status(_read_response(sock, wait=2)) == 200


def test_a_slow_loris_client_is_cut_off_by_the_header_timeout(server: Server) -> None:
    """Sends a head one byte every 50 ms; expects 408 and the connection closed after ~1 s."""
    started = time.monotonic()
    with server.connect() as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sock.settimeout(0.05)
        response = b""
        while time.monotonic() - started < 5:
            try:
                sock.sendall(b"a")
                if chunk := sock.recv(4_096):
                    response += chunk
                else:
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    elapsed = time.monotonic() - started
    assert TIMEOUT <= elapsed < TIMEOUT + 1.5
    assert _status(response) == 408
    problem = _problem(response, 408)
    assert problem.instance is None  # no request line was read whole
    assert problem.title == "Request Timeout"


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    """Connects and sends nothing; expects the server to hang up after the header timeout."""
    started = time.monotonic()
    with server.connect() as sock:
        assert _read_response(sock) == b""
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 1.5


def test_an_idle_keep_alive_connection_outlives_the_header_timeout(server: Server) -> None:
    """Sends a request, waits 1.5 s (over the header timeout, under keep-alive), sends
    another on the same connection; expects both answered 200."""
    request = _request("GET", "/health", {})
    with server.connect() as sock:
        sock.sendall(request)
        assert _status(_read_response(sock, wait=0.5)) == 200
        time.sleep(TIMEOUT + 0.5)
        sock.sendall(request)
        assert _status(_read_response(sock, wait=0.5)) == 200


# --- the body -------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "limit"), [("/v1/score", "4,194,304"), ("/v1/actions", "65,536")])
def test_a_declared_body_over_the_cap_gets_413_before_it_is_sent(
    server: Server, path: str, limit: str
) -> None:
    """Declares 10 MiB to a batch and a record route, sends no body; expects 413 with the
    route's limit and Connection: close."""
    headers = {
        "Authorization": f"Bearer {SOME_KEY}",
        "Content-Type": "application/json",
        "Content-Length": str(10 << 20),
    }
    with server.connect() as sock:
        sock.sendall(_request("POST", path, headers))
        response = _read_response(sock, wait=3)
    assert _status(response) == 413
    assert "connection: close" in _head(response)
    assert f"{limit} bytes" in _problem(response, 413).detail


def test_a_chunked_body_over_the_cap_gets_413_while_streaming(server: Server) -> None:
    """Streams a chunked body to /v1/actions 4 KiB at a time; expects 413 once it passes
    64 KiB, before the rest is sent."""
    headers = {
        "Authorization": f"Bearer {SOME_KEY}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    chunk = b"1000\r\n" + b" " * 4_096 + b"\r\n"
    sent = 0
    response = b""
    with server.connect() as sock:
        sock.sendall(_request("POST", "/v1/actions", headers))
        sock.settimeout(0.02)
        while sent < 1 << 20 and not response:
            try:
                sock.sendall(chunk)
                sent += 4_096
                response = sock.recv(65_536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        response += _read_response(sock, wait=2)
    assert _status(response) == 413
    assert b"65,536 bytes" in response
    assert 64 * 1024 < sent < 256 * 1024


def test_a_body_that_arrives_too_slowly_gets_408(server: Server) -> None:
    """Declares 100 bytes to /v1/actions and sends 10; expects 408 after the body timeout."""
    headers = {
        "Authorization": f"Bearer {SOME_KEY}",
        "Content-Type": "application/json",
        "Content-Length": "100",
    }
    started = time.monotonic()
    with server.connect() as sock:
        sock.sendall(_request("POST", "/v1/actions", headers) + b'{"loan_id"')
        response = _read_response(sock)
    assert _status(response) == 408
    assert "connection: close" in _head(response)
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 1.5


# --- the key --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key_headers", "detail"),
    [
        ({}, KEY_REQUIRED),
        ({"X-API-Key": ""}, KEY_REQUIRED),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, KEY_REQUIRED),
        ({"Authorization": "Bearer not-a-key"}, KEY_INVALID),
        ({"X-API-Key": "not-a-key"}, KEY_INVALID),
    ],
    ids=["no key", "empty key", "basic auth", "malformed bearer", "malformed header"],
)
def test_a_keyless_3_6_mb_post_gets_401_before_its_body(
    server: Server, key_headers: dict[str, str], detail: str
) -> None:
    """Declares a 3.6 MB scoring body without a usable key and sends none of it; expects
    401 with a Bearer challenge and Connection: close (nothing was read or parsed)."""
    headers = {**key_headers, "Content-Type": "application/json", "Content-Length": "3600000"}
    with server.connect() as sock:
        sock.sendall(_request("POST", "/v1/score", headers))
        response = _read_response(sock, wait=3)
    assert _status(response) == 401
    head = _head(response)
    assert "www-authenticate: bearer" in head
    assert "connection: close" in head
    assert _problem(response, 401).detail == detail


def test_open_routes_need_no_key(server: Server) -> None:
    """Calls /health and /openapi.json without a key; expects 200 from both."""
    assert _health(server) == 200
    openapi = httpx.get(f"http://127.0.0.1:{server.port}/openapi.json", timeout=10)
    assert openapi.status_code == 200


def test_open_paths_are_the_routes_that_do_not_depend_on_the_caller() -> None:
    """Gives the health and admin routes; expects /health and /ready open, no admin route."""
    paths = open_paths([*health.router.routes, *admin.router.routes])
    assert paths == {"/health", "/ready"}
