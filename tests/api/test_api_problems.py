"""Every error is an RFC 9457 problem (``application/problem+json``), and documented so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import ApiClient

from loan_recovery.api.problems import PROBLEM_MEDIA_TYPE, Problem
from loan_recovery.store.models import Role


def problem_of(answer: httpx.Response, status: int) -> Problem:
    """The answer's problem, checked: status, media type, title, and its request id."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = Problem.model_validate_json(answer.content, strict=True)
    assert problem.status == status
    assert problem.type == "about:blank"
    assert problem.request_id == answer.headers["x-request-id"]
    assert set(answer.json()) >= {"type", "title", "status", "detail", "request_id"}
    return problem


def test_a_422_lists_its_field_errors(api: ApiClient) -> None:
    """Posts an action with an unknown action name and a negative cost; expects a 422
    problem with one error per field, located, and the path as its instance."""
    answer = api.client.post(
        "/v1/actions",
        json={"loan_id": "LN-1", "action": "pray", "cost": -1},
        headers=api.as_role(Role.AGENT),
    )
    problem = problem_of(answer, 422)
    assert problem.title == "Unprocessable Content"
    assert problem.instance == "/v1/actions"
    assert problem.errors is not None
    assert {tuple(error.loc) for error in problem.errors} == {
        ("body", "action"),
        ("body", "cost"),
    }
    assert "2 problem(s)" in problem.detail
    assert "pray" not in answer.text  # the value sent is never echoed


def test_rows_refused_by_validation_are_a_422_problem_too(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Scores a loan whose outstanding amount breaks a cross-field rule (a domain error,
    not pydantic's); expects the same problem shape with the row's error."""
    bad = {**fresh_loans[0], "Outstanding_Loan_Amount": fresh_loans[0]["Loan_Amount"] * 4}
    answer = api.client.post("/v1/score", json={"loans": [bad]}, headers=api.as_role(Role.VIEWER))
    problem = problem_of(answer, 422)
    assert problem.errors is not None
    assert problem.errors[0].type == "outstanding_exceeds_limit"


def test_not_found_is_a_problem_from_the_router_and_the_store(api: ApiClient) -> None:
    """Requests an unknown path and an unknown loan with a valid key; expects 404 problems,
    without errors, the store's naming the loan."""
    viewer = api.as_role(Role.VIEWER)
    routed = problem_of(api.client.get("/v1/nothing-here", headers=viewer), 404)
    assert routed.title == "Not Found"
    assert routed.errors is None
    stored = problem_of(api.client.get("/v1/loans/LN-NOPE", headers=viewer), 404)
    assert "LN-NOPE" in stored.detail
    assert stored.instance == "/v1/loans/LN-NOPE"


def test_a_wrong_method_is_a_405_problem_with_allow(api: ApiClient) -> None:
    """Deletes /v1/segments; expects a 405 problem that keeps the Allow header."""
    answer = api.client.delete("/v1/segments", headers=api.as_role(Role.ADMIN))
    problem_of(answer, 405)
    assert answer.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # refused by the limits middleware, before routing
        ({"Authorization": "Bearer lr_0123456789ab.not-a-real-secret"}, 401),  # by the route
        ("viewer", 403),
    ],
    ids=["no key", "unknown key", "viewer on an admin route"],
)
def test_auth_failures_are_problems(
    api: ApiClient, headers: dict[str, str] | str, status: int
) -> None:
    """Lists API keys with no key, an unknown one and a viewer's; expects 401 problems
    with a Bearer challenge, then a 403 naming the role needed."""
    sent = api.as_role(Role.VIEWER) if headers == "viewer" else headers
    answer = api.client.get("/v1/apikeys", headers=sent)
    problem = problem_of(answer, status)
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    else:
        assert "admin" in problem.detail


def test_a_body_over_the_cap_is_a_413_problem(api: ApiClient) -> None:
    """Posts a 70 kB action (the record routes take 64 KiB); expects a 413 problem naming
    the limit."""
    body = {"loan_id": "LN-1", "action": "call", "notes": "n" * 70_000}
    answer = api.client.post("/v1/actions", json=body, headers=api.as_role(Role.AGENT))
    assert "65,536 bytes" in problem_of(answer, 413).detail


def test_the_openapi_document_files_errors_as_problems(api: ApiClient) -> None:
    """Reads /openapi.json; expects every 4xx/5xx a route declares (but /ready's 503) to be
    application/problem+json with the Problem schema, and no FastAPI default error."""
    document = api.client.get("/openapi.json").json()
    schema = document["components"]["schemas"]["Problem"]
    assert set(schema["required"]) == {"title", "status", "detail", "request_id"}
    assert "errors" in schema["properties"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    errors = [
        (path, method, code, answer)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for code, answer in operation["responses"].items()
        if int(code) >= 400 and not (path == "/ready" and code == "503")
    ]
    assert len(errors) > 50
    for path, method, code, answer in errors:
        assert list(answer["content"]) == [PROBLEM_MEDIA_TYPE], (path, method, code)
        reference = answer["content"][PROBLEM_MEDIA_TYPE]["schema"]["$ref"]
        assert reference == "#/components/schemas/Problem", (path, method, code)
    assert "/metrics" in document["paths"]
