"""The error answers routes declare in the OpenAPI document (every body is a ``Problem``).

:func:`loan_recovery.api.problems.install_problem_openapi` files them under
``application/problem+json``, the media type they are sent with.
"""

from __future__ import annotations

from typing import Any

from loan_recovery.api.problems import Problem

_TEXT: dict[int, str] = {
    400: "The body cannot be read (not UTF-8 text)",
    401: "No API key, or a bad or revoked one",
    403: "The key's role is too low for this route",
    404: "Not found",
    409: "Conflicts with the stored state",
    413: "Request body over the configured size limit",
    422: "Invalid request: each problem with its location and reason in errors",
    428: "No Idempotency-Key header, and the server requires one on creating requests",
    500: "Unexpected error (only an error id; details in the server log)",
    503: "Models not loaded, or database unavailable",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for ``codes`` plus the ones every route can give.

    400 and 413 are listed everywhere: any request may carry a body, even where the route
    reads none, and the server refuses an unreadable or oversized one before routing.
    """
    return {
        code: {"model": Problem, "description": _TEXT[code]}
        for code in sorted({*codes, 400, 413, 422, 500, 503})
    }


#: What every authenticated route can answer besides its own codes.
AUTHENTICATED = (401, 403)
#: What a creating POST can answer besides its own codes: 409 for an Idempotency-Key
#: reused with another body, 428 for a missing one when the server requires it.
IDEMPOTENT = (409, 428)
