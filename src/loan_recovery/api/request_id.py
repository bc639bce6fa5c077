"""The request id: one token per request, in its logs, its answer and its error bodies.

A client may send its own ``X-Request-ID`` so its logs and ours can be joined; it is kept
only if it is a plain token (1 to 64 of ``A-Z a-z 0-9 . _ -``), because it is written
into every log line and response of the request: anything else (spaces, quotes, control
characters, a phone number with ``+``, a long text) could forge log fields or smuggle
personal data into them, so it is replaced, not cleaned. Otherwise the server makes one
(a uuid4 in hex).

The id of the request being served lives in a context variable set by
:class:`~loan_recovery.api.observe.ObservabilityMiddleware`: the ASGI task and the
worker threads FastAPI runs sync routes in (which copy the context) all see it, so a log
line written anywhere while a request is served carries its id.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

#: The header a client may send and every answer carries.
REQUEST_ID_HEADER = "X-Request-ID"
#: What a client-sent id must look like to be kept.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")

_current: ContextVar[str | None] = ContextVar("loan_recovery_request_id", default=None)


def new_request_id() -> str:
    """A fresh id: 32 hex digits, unguessable and unique enough to join logs by."""
    return uuid.uuid4().hex


def accepted_request_id(sent: str | None) -> str:
    """``sent`` if it is a sane token, else a new id (never a cleaned-up ``sent``)."""
    if sent is not None and REQUEST_ID_PATTERN.fullmatch(sent):
        return sent
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request being served here, or None outside a request."""
    return _current.get()


def bind_request_id(request_id: str) -> Token[str | None]:
    """Make ``request_id`` the current one; reset with :func:`unbind_request_id`."""
    return _current.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    """Restore the id that was current before :func:`bind_request_id`."""
    _current.reset(token)
