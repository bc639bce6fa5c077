"""Error answers as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has one shape, whoever raised it (a route, a dependency,
FastAPI's validation, Starlette's routing, the request-limits middleware, the error
boundary), so a client parses one document::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "loan 'LN-1' is not in the case store.",
     "instance": "/v1/loans/LN-1", "request_id": "4f0c..."}

``type`` is ``about:blank`` throughout: the status says what kind of problem it is and
``title`` is its RFC 9110 phrase, as RFC 9457 section 4.2.1 prescribes for that type. ``detail``
is a sentence for a person; a 422 adds ``errors``, one entry per problem with its
location, message and code (pydantic's ``loc``/``msg``/``type``, which the API has always
used). ``request_id`` is the request's ``X-Request-ID``: quoting it finds the request's
log lines. ``instance`` is the path the client requested; it is only ever sent back to
that client, never logged.

Bodies never echo a value the client sent (it may be a borrower's phone number): field
problems name the field and the reason, not the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Message, Scope, Send

from loan_recovery.api.request_id import current_request_id, new_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: RFC 9457's type of a problem that needs no more than its status to be understood.
BLANK_TYPE = "about:blank"


class FieldProblem(BaseModel):
    """One problem of a request: where (``loc``), what (``msg``) and its code (``type``)."""

    loc: list[str | int] = Field(description='Where, e.g. ["body", "loans", 0, "Age"]')
    msg: str = Field(description="Why it was refused (never the value sent)")
    type: str = Field(description="A stable code, e.g. missing, string_too_long")


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details), sent as ``application/problem+json``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": BLANK_TYPE,
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "1 problem(s) in the request; each is listed in errors.",
                    "instance": "/v1/actions",
                    "request_id": "9f86d081884c4d65a5c8a1e3b1b2c3d4",
                    "errors": [
                        {"loc": ["body", "loan_id"], "msg": "Field required", "type": "missing"}
                    ],
                }
            ]
        }
    )

    type: str = Field(default=BLANK_TYPE, description="The problem type (a URI)")
    title: str = Field(description="The status's phrase, e.g. Not Found")
    status: int = Field(ge=400, le=599, description="The HTTP status, repeated")
    detail: str = Field(description="What went wrong with this request, for a person")
    instance: str | None = Field(
        default=None, description="The path requested (absent if the request was not read)"
    )
    request_id: str = Field(description="The request's X-Request-ID: quote it to find its logs")
    errors: list[FieldProblem] | None = Field(
        default=None, description="422 only: every problem with its location and reason"
    )


#: RFC 9110's phrases where Python's (before 3.13) still use RFC 7231's: a title must not
#: change with the interpreter the server runs on.
RFC_9110_TITLES: dict[int, str] = {
    413: "Content Too Large",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def title_of(status: int) -> str:
    """The problem title of ``status``: its RFC 9110 reason phrase."""
    return RFC_9110_TITLES.get(status) or HTTPStatus(status).phrase


def problem(
    status: int,
    detail: str,
    *,
    instance: str | None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> Problem:
    """The problem of ``status``, stamped with the current request's id."""
    return Problem(
        title=title_of(status),
        status=status,
        detail=detail,
        instance=instance,
        request_id=current_request_id() or new_request_id(),
        errors=None if errors is None else [FieldProblem.model_validate(e) for e in errors],
    )


class ProblemResponse(JSONResponse):
    """A JSON response with the problem-details media type."""

    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    scope: Scope,
    status: int,
    detail: str,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """The answer of a problem with the request of ``scope``; ``errors`` for a 422."""
    body = problem(status, detail, instance=scope.get("path"), errors=errors)
    return ProblemResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Send a problem straight through ASGI ``send``.

    For middleware that answers outside FastAPI's handlers (the error boundary, a request
    refused by its head), so its answers keep the shape of every other error.
    """
    await problem_response(scope, status, detail, headers=headers)(scope, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - responses never read the request
    return {"type": "http.disconnect"}


def install_problem_openapi(app: FastAPI) -> None:
    """Document error answers under ``application/problem+json``, their actual media type.

    FastAPI files every declared response model under the route's media type
    (``application/json``); this moves the ones whose schema is :class:`Problem`.
    """
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # built once, then cached on app.openapi_schema
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for answer in operation.get("responses", {}).values():
                    _file_as_problem(answer.get("content", {}))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _file_as_problem(content: dict[str, Any]) -> None:
    declared = content.get("application/json")
    if declared is not None and declared.get("schema", {}).get("$ref", "").endswith("/Problem"):
        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
