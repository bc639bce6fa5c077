"""Control characters are refused in every string field of every request body.

Every request model's string fields are found by introspection (so a field added later is
covered by these tests without an edit) and each is sent NUL, other C0 characters (tab and
newline included), DEL and C1 characters: each must be a 422 at that field, of type
``string_pattern_mismatch``, whose message names the character and never the text. The
app's OpenAPI document lists which models are request bodies, so a new route's body
model that these tests do not know fails :func:`test_every_request_body_is_checked_here`.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import pytest
from api_support import ApiClient
from pydantic import BaseModel, ValidationError

from loan_recovery.api.app import create_app
from loan_recovery.api.routes.contacts import OptOutRequest
from loan_recovery.api.schemas import (
    ActionCreate,
    ActionUpdate,
    ApiKeyCreate,
    OutcomeCreate,
    RequestModel,
    build_schemas,
)
from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.store.models import Role

#: C0 (NUL, SOH, tab, newline, carriage return, US), DEL, and C1 (PAD, NEL, APC).
CONTROL_CHARACTERS = ("\x00", "\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\x80", "\x85", "\x9f")

_SCHEMAS = build_schemas(10)
LOAN: dict[str, Any] = {
    schema.BORROWER_ID: "B1",
    schema.AGE: 35,
    schema.GENDER: "Female",
    schema.EMPLOYMENT_TYPE: "Salaried",
    schema.MONTHLY_INCOME: 60_000.0,
    schema.NUM_DEPENDENTS: 2,
    schema.LOAN_ID: "L1",
    schema.LOAN_AMOUNT: 100_000.0,
    schema.LOAN_TENURE: 12,
    schema.INTEREST_RATE: 12.0,
    schema.LOAN_TYPE: "Personal",
    schema.COLLATERAL_VALUE: 0.0,
    schema.OUTSTANDING_LOAN_AMOUNT: 50_000.0,
    schema.PAYMENT_HISTORY: "On-Time",
    schema.NUM_MISSED_PAYMENTS: 0,
    schema.DAYS_PAST_DUE: 0,
    schema.COLLECTION_ATTEMPTS: 1,
    schema.COLLECTION_METHOD: "Calls",
    schema.LEGAL_ACTION_TAKEN: "No",
}
#: Every request body model with a valid body (the field under test is set on top of it).
BODIES: dict[type[BaseModel], dict[str, Any]] = {
    _SCHEMAS.loan: LOAN,
    ActionCreate: {"loan_id": "L1", "action": "call"},
    ActionUpdate: {},
    OutcomeCreate: {
        "loan_id": "L1",
        "amount_recovered": 100.0,
        "status": schema.FULLY_RECOVERED,
        "outcome_date": "2026-07-01",
    },
    ApiKeyCreate: {"name": "ops", "role": "viewer"},
    OptOutRequest: {"loan_id": "L1"},
}


def _holds_str(annotation: Any) -> bool:
    """Whether a field's type accepts free text (``str``, possibly optional or annotated)."""
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return False
    if origin is Annotated:
        return _holds_str(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_holds_str(arg) for arg in get_args(annotation))
    return False


STRING_FIELDS = [
    (model, name)
    for model in BODIES
    for name, field in model.model_fields.items()
    if _holds_str(field.annotation)
]


def test_every_request_body_is_checked_here(tmp_path: Path) -> None:
    """Gives the app's OpenAPI document; expects its request bodies to be exactly the
    batch of loans and the models of :data:`BODIES`, and the string fields found."""
    document = create_app(load_settings(var_dir=tmp_path)).openapi()
    bodies = {
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
        for path in document["paths"].values()
        for operation in path.values()
        if "requestBody" in operation
    }
    known = {model.__name__ for model in BODIES} - {"Loan"} | {"LoanBatch"}
    assert bodies == known
    assert {(model.__name__, name) for model, name in STRING_FIELDS} >= {
        ("Loan", schema.EMAIL),
        ("Loan", schema.BORROWER_NAME),
        ("ActionCreate", "notes"),
        ("ActionUpdate", "assigned_agent"),
        ("ApiKeyCreate", "name"),
        ("OptOutRequest", "source"),
    }


@pytest.mark.parametrize(
    ("model", "name"), STRING_FIELDS, ids=[f"{m.__name__}.{n}" for m, n in STRING_FIELDS]
)
def test_control_characters_are_refused_in_every_string_field(
    model: type[BaseModel], name: str
) -> None:
    """Gives a valid body with one string field holding each control character in turn;
    expects a 422-shaped error at that field naming the character, never the text."""
    for character in CONTROL_CHARACTERS:
        text = f"ok{character}text"
        with pytest.raises(ValidationError) as raised:
            model.model_validate({**BODIES[model], name: text})
        errors = [error for error in raised.value.errors() if error["loc"] == (name,)]
        assert [error["type"] for error in errors] == ["string_pattern_mismatch"], character
        assert text not in errors[0]["msg"]


def test_our_request_models_say_which_character_and_where() -> None:
    """Gives NUL and NEL in request fields; expects the code point and position named."""
    with pytest.raises(ValidationError, match=r"found U\+0000 at position 2"):
        ActionCreate.model_validate({"loan_id": "L1", "action": "call", "notes": "ok\x00"})
    with pytest.raises(ValidationError, match=r"found U\+0085 at position 1"):
        _SCHEMAS.loan.model_validate({**LOAN, schema.BORROWER_NAME: "A\x85"})
    assert all(issubclass(model, RequestModel) for model in BODIES if model is not OptOutRequest)


def test_nested_loans_of_a_batch_are_checked_too() -> None:
    """Gives a batch whose second loan's id holds a NUL; expects the error located there."""
    body = {"loans": [LOAN, {**LOAN, schema.LOAN_ID: "L\x002"}]}
    with pytest.raises(ValidationError) as raised:
        _SCHEMAS.batch.model_validate(body)
    assert [error["loc"] for error in raised.value.errors()] == [("loans", 1, schema.LOAN_ID)]


@pytest.mark.parametrize(
    ("model", "name", "text"),
    [
        (_SCHEMAS.loan, schema.BORROWER_NAME, "Müller Naidu नमस्ते"),
        (ActionCreate, "notes", "offer 70% — ₹5,000 «final»"),
        (ApiKeyCreate, "name", "équipe-recouvrement"),
        (_SCHEMAS.loan, schema.LOAN_TYPE, "Gold ✓"),
    ],
)
def test_printable_non_ascii_text_is_accepted(model: type[BaseModel], name: str, text: str) -> None:
    """Gives printable Unicode (accents, Devanagari, symbols); expects it kept as sent."""
    assert getattr(model.model_validate({**BODIES[model], name: text}), name) == text


# --- through the app ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "role", "body", "loc"),
    [
        (
            "post",
            "/v1/score",
            Role.VIEWER,
            {"loans": [{**LOAN, schema.BORROWER_NAME: "Asha\x00Rao"}]},
            ["body", "loans", 0, schema.BORROWER_NAME],
        ),
        (
            "post",
            "/v1/actions",
            Role.AGENT,
            {"loan_id": "L1", "action": "call", "notes": "called\x00twice"},
            ["body", "notes"],
        ),
        (
            "patch",
            "/v1/actions/1",
            Role.AGENT,
            {"notes": "called\ntwice"},
            ["body", "notes"],
        ),
        (
            "post",
            "/v1/outcomes",
            Role.AGENT,
            {**BODIES[OutcomeCreate], "loan_id": "L\x851"},
            ["body", "loan_id"],
        ),
        (
            "post",
            "/v1/apikeys",
            Role.ADMIN,
            {"name": "ops\x7f", "role": "viewer"},
            ["body", "name"],
        ),
        (
            "post",
            "/v1/contacts/opt-out",
            Role.AGENT,
            {"loan_id": "L1", "source": "STOP\x00"},
            ["body", "source"],
        ),
    ],
    ids=["score", "action", "action-update", "outcome", "apikey", "opt-out"],
)
def test_the_app_answers_422_without_echoing_the_text(
    api: ApiClient, method: str, path: str, role: Role, body: dict[str, Any], loc: list[Any]
) -> None:
    """Sends a control character in a string field of each kind of body; expects 422 at
    that field, before anything is stored, and the text nowhere in the answer."""
    answer = getattr(api.client, method)(path, json=body, headers=api.as_role(role))
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert [item["loc"] for item in errors] == [loc]
    assert errors[0]["type"] == "string_pattern_mismatch"
    for value in ("Asha", "called", "STOP", "ops"):
        assert value not in answer.text
