"""Turning errors into HTTP answers: domain errors, bad input, oversized bodies, crashes.

This is the only place that maps :class:`~loan_recovery.exceptions.LoanRecoveryError`
subclasses to statuses. Every error answer is JSON ``{"detail": ...}``: a sentence, or for
422 a list of ``{"loc", "msg", "type"}`` problems. A 422 never echoes the offending value
(it may be a borrower's phone number); the message names the field and the reason.

Nothing a client sent is ever logged. An unexpected exception is answered with a 500 that
holds only an error id, and logged with that id, its type and its stack frames but not its
message: messages of library errors can quote input values.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def _problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without ``input``/``ctx``/``url``: location, message and code."""
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error["loc"]],
            "msg": str(error["msg"]),
            "type": str(error["type"]),
        }
        for error in errors
    ]


async def _request_invalid(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        {"detail": _problems(error.errors())}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LoanRecoveryError)
    code = status_of(error)
    if isinstance(error, RejectedRowsError):
        return JSONResponse({"detail": error.errors}, status_code=code)
    if code == status.HTTP_503_SERVICE_UNAVAILABLE:
        logger.warning("503: %s", error)
    return JSONResponse({"detail": str(error)}, status_code=code)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
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
        request.url.path,
        type(error).__name__,
        type(orig).__name__,
    )
    return JSONResponse({"detail": text}, status_code=code)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers of validation, domain and database errors on ``app``."""
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(LoanRecoveryError, _domain_error)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, _database_error)


async def send_json(
    send: Send, status_code: int, detail: str, headers: Mapping[str, str] | None = None
) -> None:
    """Send ``{"detail": detail}`` straight through ASGI ``send``.

    For middleware that answers outside FastAPI's handlers (an error boundary, a request
    refused by its head), so their answers keep the shape of every other error.
    """
    response = JSONResponse({"detail": detail}, status_code=status_code, headers=headers)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - responses never read the request
    return {"type": "http.disconnect"}


class ErrorBoundaryMiddleware:
    """Answer any unexpected exception with a JSON 500 and log it without its message.

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
            error_id = uuid.uuid4().hex[:12]
            frames = "".join(traceback.format_tb(error.__traceback__))
            logger.error(
                "unexpected %s in %s %s (error id %s); frames:\n%s",
                type(error).__name__,
                scope.get("method", ""),
                scope.get("path", ""),
                error_id,
                frames,
            )
            if not started:
                await send_json(
                    send,
                    status.HTTP_500_INTERNAL_SERVER_ERROR,
                    f"internal error (error id {error_id}); the server log has details.",
                )
