"""Turning errors into HTTP answers: domain errors, bad input, oversized bodies, crashes.

This is the only place that maps :class:`~loan_recovery.exceptions.LoanRecoveryError`
subclasses to statuses. Every error answer is a problem document
(:mod:`loan_recovery.api.problems`): ``detail`` is a sentence, and a 422 lists its
``{"loc", "msg", "type"}`` problems in ``errors``. A 422 never echoes the offending value
(it may be a borrower's phone number); the message names the field and the reason.

Nothing a client sent is ever logged, nor a path (it may hold a Loan_ID): log lines name
the route's template. An unexpected exception is answered with a 500 that holds only the
request id, and logged (with that id) by its type and stack frames but not its message:
messages of library errors can quote input values.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loan_recovery.api.observe import route_of
from loan_recovery.api.problems import problem_response, send_problem, title_of
from loan_recovery.api.request_id import current_request_id
from loan_recovery.api.scoring import RejectedRowsError
from loan_recovery.exceptions import (
    DataFileError,
    LoanRecoveryError,
    ModelError,
    SchemaError,
)
from loan_recovery.store.errors import (
    DatabaseNotMigratedError,
    DatabaseUnavailableError,
    InvalidRequestError,
    NotFoundError,
)

logger = logging.getLogger("loan_recovery.api")

#: Domain error -> status, most specific first.
STATUS_OF: tuple[tuple[type[LoanRecoveryError], int], ...] = (
    (RejectedRowsError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (InvalidRequestError, status.HTTP_409_CONFLICT),
    (DatabaseUnavailableError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (DatabaseNotMigratedError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (ModelError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (SchemaError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (DataFileError, status.HTTP_422_UNPROCESSABLE_CONTENT),
)


def status_of(error: LoanRecoveryError) -> int:
    """The HTTP status of a domain error (422 for one this table does not name)."""
    for kind, code in STATUS_OF:
        if isinstance(error, kind):
            return code
    return status.HTTP_422_UNPROCESSABLE_CONTENT


def field_problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without ``input``/``ctx``/``url``: location, message and code."""
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error["loc"]],
            "msg": str(error["msg"]),
            "type": str(error["type"]),
        }
        for error in errors
    ]


def invalid_detail(problems: int) -> str:
    """The ``detail`` of a 422 whose problems are listed in ``errors``."""
    return f"{problems} problem(s) in the request; each is listed in errors."


async def _request_invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = field_problems(error.errors())
    return problem_response(
        request.scope,
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        invalid_detail(len(problems)),
        errors=problems,
    )


async def _http_error(request: Request, error: Exception) -> Response:
    """Every ``HTTPException`` (the routes', and Starlette's 404 and 405), headers kept."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code < status.HTTP_400_BAD_REQUEST:  # pragma: no cover - never raised
        return Response(status_code=error.status_code, headers=error.headers)
    detail = error.detail if isinstance(error.detail, str) else title_of(error.status_code)
    return problem_response(request.scope, error.status_code, detail, headers=error.headers)


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoanRecoveryError)
    code = status_of(error)
    if isinstance(error, RejectedRowsError):
        return problem_response(request.scope, code, str(error), errors=error.errors)
    if code == status.HTTP_503_SERVICE_UNAVAILABLE:
        logger.warning("503: %s", error)
    return problem_response(request.scope, code, str(error))


async def _database_error(request: Request, error: Exception) -> Response:
    """Driver errors: no statement, parameter or server text reaches the client."""
    if isinstance(error, sqlalchemy.exc.IntegrityError):
        code, text = status.HTTP_409_CONFLICT, "the request conflicts with stored data."
    elif isinstance(error, sqlalchemy.exc.DataError):
        code, text = status.HTTP_422_UNPROCESSABLE_CONTENT, "a value cannot be stored as given."
    else:
        code, text = (
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the database is unavailable or not migrated; try again later.",
        )
    orig = getattr(error, "orig", None)
    logger.warning(
        "%s %s: database error %s (%s)",
        request.method,
        route_of(request.scope),
        type(error).__name__,
        type(orig).__name__,
    )
    return problem_response(request.scope, code, text)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers of HTTP, validation, domain and database errors on ``app``."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(LoanRecoveryError, _domain_error)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, _database_error)


class ErrorBoundaryMiddleware:
    """Answer any unexpected exception with a 500 problem and log it without its message.

    Starlette's own last-resort handler would re-raise the exception to the server, which
    logs it with its message; this boundary sits inside it and stops it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            frames = "".join(traceback.format_tb(error.__traceback__))
            logger.error(
                "unexpected %s in %s %s; frames:\n%s",
                type(error).__name__,
                scope.get("method", ""),
                route_of(scope),
                frames,
            )
            if not started:
                await send_problem(
                    scope,
                    send,
                    status.HTTP_500_INTERNAL_SERVER_ERROR,
                    f"internal error; the server log has the details under request id "
                    f"{current_request_id()}.",
                )
