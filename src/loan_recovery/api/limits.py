"""HTTP limits of a request: refused by its head before its body is read, body capped.

A request reaches the application only once its head is parsed; what bounds the head
while it arrives (its buffered size, how long it may take) lives with the server, in
:mod:`loan_recovery.api.server`. Here, :class:`RequestLimitsMiddleware` refuses, before
a byte of the body is read: too many header fields or too large a head (431), a
protected route without a usable API key (401), a declared body over the route's cap
(413). A body without a length is counted as it arrives (413 when it crosses the cap),
and every body must arrive within ``body_timeout`` (408).

Refusing a request whose body was not read closes the connection (``Connection:
close``), so the server never reads, even to discard, what it refused; so does refusing
a head (a client that sends 200 headers is not one to keep talking to). The key check
here only looks at the headers; whether the key is valid stays with
:func:`loan_recovery.api.deps.get_principal`. ``docs/http-limits.md`` lists each limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loan_recovery.api.deps import (
    API_KEY_HEADER,
    AUTH_CHALLENGE,
    KEY_INVALID,
    KEY_REQUIRED,
    get_principal,
)
from loan_recovery.api.problems import send_problem
from loan_recovery.config import HttpLimitsSettings
from loan_recovery.store.apikeys import KEY_PREFIX

_CLOSE = {"Connection": "close"}
_API_KEY_NAME = API_KEY_HEADER.lower().encode("latin-1")


def body_too_large(limit: int) -> str:
    """The 413 message of a body over ``limit`` bytes."""
    return f"the request body is over the limit of {limit:,} bytes."


def open_paths(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """Paths that need no API key: routes that do not depend on the caller.

    Exact paths only, so a parameterised open route would be treated as keyed: a route
    the list misses answers 401 until it is added, it never opens a keyed one.
    """
    return frozenset(
        route.path
        for route in routes
        if isinstance(route, Route)
        and not (isinstance(route, APIRoute) and _depends_on(route.dependant, get_principal))
    )


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


class RequestLimitsMiddleware:
    """Refuse a request by its head before its body is read; cap and time the body.

    In order: more than ``max_headers`` header fields or a head over ``max_header_bytes``
    (431); a path outside ``open_paths`` without an API key, or with one that cannot be a
    key (401, with a Bearer challenge); a declared ``Content-Length`` over the route's cap
    (413). A body is counted as the application reads it (413 past the cap) and must
    arrive within ``body_timeout`` (408). Routes in ``batch_paths`` take
    ``batch_body_bytes``, every other route ``max_record_body_bytes``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: HttpLimitsSettings,
        batch_body_bytes: int,
        batch_paths: Collection[str],
        open_paths: Collection[str],
    ) -> None:
        self.app = app
        self.limits = limits
        self.batch_body_bytes = batch_body_bytes
        self.batch_paths = frozenset(batch_paths)
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = _Head.read(scope)
        too_large = self._head_too_large(head)
        if too_large is not None:
            await _refuse(
                scope, send, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, too_large, head, _CLOSE
            )
            return
        path: str = scope["path"]
        if path not in self.open_paths:
            problem = head.key_problem()
            if problem is not None:
                await _refuse(scope, send, HTTPStatus.UNAUTHORIZED, problem, head, AUTH_CHALLENGE)
                return
        limit = (
            self.batch_body_bytes if path in self.batch_paths else self.limits.max_record_body_bytes
        )
        if head.length is not None and head.length > limit:
            await _refuse(
                scope, send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, body_too_large(limit), head
            )
            return
        if not head.has_body:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _limited_body(receive, limit, self.limits.body_timeout), send)

    def _head_too_large(self, head: _Head) -> str | None:
        """Why the head is refused (the message of 431), or None.

        The server refuses a head over ``max_header_bytes`` while it arrives, but one that
        arrived whole in a single read (up to 256 KiB) reaches this point: measured here.
        """
        if head.fields > self.limits.max_headers:
            return (
                f"the request has {head.fields} header fields; at most "
                f"{self.limits.max_headers} are accepted."
            )
        if head.size > self.limits.max_header_bytes:
            return (
                "the request line and headers are over the limit of "
                f"{self.limits.max_header_bytes:,} bytes."
            )
        return None


class _Head:
    """What the limits need from a request's head, read in one pass over its headers."""

    __slots__ = ("api_key", "authorization", "chunked", "fields", "length", "size")

    def __init__(self) -> None:
        self.fields = 0
        self.size = 0
        self.length: int | None = None
        self.chunked = False
        self.authorization: str | None = None
        self.api_key: str | None = None

    @classmethod
    def read(cls, scope: Scope) -> _Head:
        """The head of ``scope``; ``size`` as sent, give or take a few bytes."""
        head = cls()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        head.fields = len(headers)
        head.size = (
            len(scope["method"])
            + len(scope.get("raw_path") or b"")
            + len(scope.get("query_string") or b"")
            + len(" ? HTTP/1.1\r\n\r\n")
        )
        for name, value in headers:
            head.size += len(name) + len(value) + 4  # ": " and CRLF
            if name == b"content-length" and head.length is None:
                head.length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                head.chunked = True
            elif name == b"authorization" and head.authorization is None:
                head.authorization = value.decode("latin-1")
            elif name == _API_KEY_NAME and head.api_key is None:
                head.api_key = value.decode("latin-1")
        return head

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.length)

    def key_problem(self) -> str | None:
        """Why no key can be valid (the message of 401), or None when one may be.

        Reads the key as :func:`~loan_recovery.api.deps.get_principal` does: a bearer
        token first, else the API-key header; answers with its messages, so a client
        cannot tell which of the two refused it. Only the key's prefix is checked here:
        the full shape and the secret are the store's to judge.
        """
        presented = self.api_key
        if self.authorization:
            scheme, _, credentials = self.authorization.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                presented = credentials
        if not presented:
            return KEY_REQUIRED
        if not presented.strip().startswith(KEY_PREFIX):
            return KEY_INVALID
        return None


async def _refuse(
    scope: Scope,
    send: Send,
    status: HTTPStatus,
    detail: str,
    head: _Head,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer (a problem) before the body is read; close the connection when there is a
    body to skip."""
    extra = {**(headers or {}), **(_CLOSE if head.has_body else {})}
    await send_problem(scope, send, status.value, detail, extra)


def _limited_body(receive: Receive, limit: int, timeout: float) -> Receive:
    """``receive`` that refuses a body over ``limit`` bytes or slower than ``timeout`` s.

    Raised as HTTP errors the application answers (with ``Connection: close``); once the
    body is complete, later calls (waiting for a disconnect) pass straight through.
    """
    received = 0
    deadline: float | None = None
    complete = False

    async def limited() -> Message:
        nonlocal received, deadline, complete
        if complete:
            return await receive()
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise HTTPException(
                HTTPStatus.REQUEST_TIMEOUT.value,
                f"the request body did not arrive within {timeout:g} s.",
                headers=_CLOSE,
            ) from None
        if message["type"] != "http.request":
            complete = True
            return message
        received += len(message.get("body", b""))
        if received > limit:
            raise HTTPException(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE.value, body_too_large(limit), headers=_CLOSE
            )
        complete = not message.get("more_body", False)
        return message

    return limited
