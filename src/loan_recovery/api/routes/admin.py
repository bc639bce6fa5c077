"""Admin routes: API keys and the audit log; and the champion model any caller may read.

Roles: keys and the audit log need admin. A new key is shown once in the response and
only its salted hash is stored; revoking stamps the key so it stops working at once while
the audit log keeps pointing at it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import Response
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from loan_recovery.api.deps import Admin, IdempotencyDep, ModelsDep, SessionDep, Viewer
from loan_recovery.api.routes.responses import AUTHENTICATED, IDEMPOTENT, errors
from loan_recovery.api.schemas import TEXT_PATTERN, ApiKeyCreate, ApiKeyCreated, ChampionInfo
from loan_recovery.store.apikeys import ApiKeyInfo, create_api_key, list_api_keys, revoke_api_key
from loan_recovery.store.models import KEY_LENGTH, LABEL_LENGTH, TEXT_LENGTH
from loan_recovery.store.queries import MAX_PAGE_SIZE, AuditRecord, Page, audit_entries

MAX_OFFSET = 10**12


def _text_time(value: object) -> object:
    """Refuse a bare number: pydantic would read ``since=-46`` as a Unix timestamp."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("give the time as ISO 8601, e.g. 2026-07-01T00:00:00Z.")
    return value


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC; refused (422) when it lies outside the calendar after conversion."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC.") from None


KeyId = Annotated[str, Path(min_length=1, max_length=KEY_LENGTH, pattern=TEXT_PATTERN)]
Text = Annotated[str | None, Query(max_length=TEXT_LENGTH, pattern=TEXT_PATTERN)]
Label = Annotated[str | None, Query(max_length=LABEL_LENGTH, pattern=TEXT_PATTERN)]
Since = Annotated[
    AwareDatetime | None,
    BeforeValidator(_text_time),
    AfterValidator(lambda value: None if value is None else _in_utc(value)),
    Query(description="Entries at or after this time (with a UTC offset)"),
]

router = APIRouter(responses=errors(*AUTHENTICATED))


@router.get("/models/champion", response_model=ChampionInfo, tags=["models"])
def champion(_principal: Viewer, models: ModelsDep) -> ChampionInfo:
    """The model version serving this API and its cross-validated metrics. Role: viewer."""
    return models.champion


@router.get("/apikeys", response_model=list[ApiKeyInfo], tags=["admin"])
def get_keys(_principal: Admin, session: SessionDep) -> list[ApiKeyInfo]:
    """Every API key (ids, names, roles; never a key). Role: admin."""
    return list_api_keys(session)


@router.post(
    "/apikeys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=errors(*IDEMPOTENT),
    tags=["admin"],
)
def post_key(
    body: ApiKeyCreate, principal: Admin, session: SessionDep, idempotency: IdempotencyDep
) -> Response:
    """Create a key; the response holds it this once. Role: admin.

    With an Idempotency-Key a retry creates no second key, but it cannot show the secret
    again (it is never stored): it answers 409 naming the key created, to revoke if the
    first answer was lost.
    """
    if (earlier := idempotency.claim(session, body)) is not None:
        key_id = json.loads(earlier.body)["info"]["key_id"]
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the first request with this Idempotency-Key already created API key {key_id}; "
            "its secret is shown only once and never stored, so it cannot be sent again. "
            f"If that answer was lost, revoke {key_id} and create a new key with a new "
            "Idempotency-Key.",
        )
    created = create_api_key(session, name=body.name, role=body.role, actor=principal.name)
    shown = ApiKeyCreated(key=created.key, info=created.info)
    return idempotency.respond(
        session,
        status.HTTP_201_CREATED,
        shown.model_dump_json().encode("utf-8"),
        saved=json.dumps({"info": {"key_id": created.info.key_id}}).encode("utf-8"),
    )


@router.delete(
    "/apikeys/{key_id}", response_model=ApiKeyInfo, responses=errors(404), tags=["admin"]
)
def delete_key(key_id: KeyId, principal: Admin, session: SessionDep) -> ApiKeyInfo:
    """Revoke a key: it stops working at once; its audit trail stays. Role: admin."""
    return revoke_api_key(session, key_id=key_id, actor=principal.name)


@router.get("/audit", response_model=Page[AuditRecord], tags=["admin"])
def get_audit(
    _principal: Admin,
    session: SessionDep,
    actor: Text = None,
    action: Label = None,
    entity: Label = None,
    entity_id: Text = None,
    since: Since = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[AuditRecord]:
    """The audit log, newest first: who wrote or scored what, when. Role: admin."""
    return audit_entries(
        session,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        since=since,
        limit=limit,
        offset=offset,
    )
