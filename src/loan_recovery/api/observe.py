"""Per-request observability: the request id, one JSON access line, latency metrics.

:class:`ObservabilityMiddleware` is the outermost of the app's middleware, so it sees
every answer, including the ones the request limits and the error boundary send
without reaching a route. For each request it

* takes the client's ``X-Request-ID`` if it is a sane token, else makes one, binds it
  for the request's log lines and problem documents, and echoes it on the answer;
* logs one access line (``loan_recovery.api.access``): method, route template, status
  and duration;
* observes the latency histogram and the request counter of
  :class:`~loan_recovery.api.metrics.ApiMetrics`.

Requests are named by their route's *template* (``/v1/loans/{loan_id}``), never their
path: paths carry Loan_IDs, and one label value per loan would swell Prometheus without
bound. A request that matched no route is ``unmatched``; a method outside HTTP's usual
ones is ``other``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loan_recovery.api.logs import ACCESS_LOGGER
from loan_recovery.api.metrics import ApiMetrics
from loan_recovery.api.request_id import (
    REQUEST_ID_HEADER,
    accepted_request_id,
    bind_request_id,
    unbind_request_id,
)

access_logger = logging.getLogger(ACCESS_LOGGER)

#: The route label of a path no route template matches (the router answers it 404).
UNMATCHED = "unmatched"
#: The method label of a method outside :data:`METHODS` (clients may send any token).
OTHER_METHOD = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Where the middleware leaves a request's route template for code further in.
ROUTE_SCOPE_KEY = "loan_recovery.route"
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")


def route_of(scope: Scope) -> str:
    """The route template :class:`ObservabilityMiddleware` named ``scope`` by, for logs."""
    route = scope.get(ROUTE_SCOPE_KEY)
    return route if isinstance(route, str) else UNMATCHED


def method_label(scope: Scope) -> str:
    """The request's method, or ``other`` for one outside :data:`METHODS`."""
    method = str(scope.get("method", ""))
    return method if method in METHODS else OTHER_METHOD


@dataclass(frozen=True)
class RouteTemplates:
    """The app's full route templates, matched against a request's path.

    Matched here, once, when the request arrives rather than read from the router: the
    limits middleware answers some requests (no key, too large) before the router runs,
    and the route FastAPI records for a route of an included router carries that
    router's own path only (``/loans/{loan_id}``, not ``/v1/loans/{loan_id}``).
    """

    patterns: tuple[tuple[re.Pattern[str], str], ...]

    @classmethod
    def of(cls, mounted: Iterable[tuple[str, Iterable[BaseRoute]]]) -> RouteTemplates:
        """The templates of ``(prefix, routes)`` groups, in the router's matching order."""
        patterns: list[tuple[re.Pattern[str], str]] = []
        for prefix, routes in mounted:
            for route in routes:
                if isinstance(route, Route):
                    regex, template, _ = compile_path(prefix + route.path)
                    patterns.append((regex, template))
        return cls(tuple(patterns))

    def label(self, scope: Scope) -> str:
        """The template ``scope``'s path matches (whatever the method), or ``unmatched``."""
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for regex, template in self.patterns:
            if regex.match(path):
                return template
        return UNMATCHED


def _sent_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_NAME:
            return bytes(value).decode("latin-1")
    return None


class ObservabilityMiddleware:
    """Request id, access line and latency of every HTTP request (see the module)."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, templates: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(_sent_request_id(scope))
        token = bind_request_id(request_id)
        scope[ROUTE_SCOPE_KEY] = self.templates.label(scope)
        started = time.perf_counter()
        # Nothing sent means the server will answer 500 (or the client went away).
        status = 500

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)
            unbind_request_id(token)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        method, route = method_label(scope), route_of(scope)
        self.metrics.observe_request(method=method, route=route, status=status, seconds=seconds)
        access_logger.info(
            "%s %s %s",
            method,
            route,
            status,
            extra={
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
            },
        )
