"""Dependencies every route shares: state, settings, models, a session, the caller.

The app's state (settings, store, loaded models) lives on ``app.state.api``, set up by
:func:`loan_recovery.api.app.create_app` and its lifespan; routes receive pieces of it
through the ``Annotated`` aliases below and never open sessions or load models
themselves. Tests swap any of them with ``app.dependency_overrides``.

Authentication: an API key in ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``,
checked against the store's salted hashes on every request (no cache, so a revoked key
stops working at once, in every worker). Roles rank viewer < agent < admin;
:func:`require` builds the check of a route's minimum role.

Dependencies that only read memory are ``async``: FastAPI runs a plain ``def`` dependency
in its thread pool, a hop that costs more than the work. Those that touch the database
stay ``def`` so they never block the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from loan_recovery.api.scoring import ServingModels
from loan_recovery.config import Settings
from loan_recovery.store.apikeys import verify_api_key
from loan_recovery.store.db import Store
from loan_recovery.store.models import Role

if TYPE_CHECKING:  # api.early_warning imports this module for its dependency
    from loan_recovery.api.early_warning import EarlyWarningServing

#: Rank of each role: a route open to a role is open to every higher one.
ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2}
API_KEY_HEADER = "X-API-Key"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def single_valued_query(request: Request) -> None:
    """Refuse a query parameter given twice (422 at ``["query", name]``).

    Every query parameter of this API takes one value, and FastAPI would silently keep the
    last of repeated ones (``?actor=a&actor=b`` reads as ``b``): a client filtering by one
    actor and sending two gets an answer to a question it did not ask.
    """
    seen: set[str] = set()
    problems: list[dict[str, Any]] = []
    for name, _value in request.query_params.multi_items():
        if name in seen and all(problem["loc"][1] != name for problem in problems):
            problems.append(
                {
                    "loc": ("query", name),
                    "msg": f"query parameter {name!r} takes one value; it was given more.",
                    "type": "repeated_parameter",
                }
            )
        seen.add(name)
    if problems:
        raise RequestValidationError(problems)


@dataclass
class ApiState:
    """Everything the routes need, built once per process.

    ``store`` and ``models`` are filled by the lifespan; ``models_error`` says why the
    models did not load (the app still starts, ``/ready`` reports it, scoring answers 503).
    """

    settings: Settings
    store: Store | None = None
    models: ServingModels | None = None
    models_error: str | None = "models are loading"
    #: The early-warning model behind ``GET /v1/alerts`` (set by the lifespan; optional).
    early_warning: EarlyWarningServing | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: the key's public id, its name (the audit log's actor) and its role."""

    key_id: str
    name: str
    role: Role

    def has(self, role: Role) -> bool:
        """Whether this caller's role is ``role`` or above."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


async def get_state(request: Request) -> ApiState:
    """The app's :class:`ApiState`."""
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    """The settings the app was built with."""
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def _store(state: ApiState) -> Store:
    if state.store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the database is not open yet.")
    return state.store


async def get_models(state: StateDep) -> ServingModels:
    """The loaded champion, or 503 saying why there is none."""
    if state.models is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "no model is loaded; the server log says why."
        )
    return state.models


ModelsDep = Annotated[ServingModels, Depends(get_models)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    The connection is taken from the pool on first use, so a route that scores before it
    writes does not hold one while it computes.
    """
    with _store(state).transaction() as session:
        yield session


#: ``scope="function"``: the commit runs before the response is sent, so a client never
#: sees a 2xx for a write that failed to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(
    auto_error=False, scheme_name="bearer", description="API key as a bearer token"
)
_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="apiKey", description="API key header"
)


def get_principal(
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller of a valid, active key; 401 without one or with a bad or revoked key."""
    presented = bearer.credentials if bearer is not None else header_key
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"an API key is required: send 'Authorization: Bearer <key>' or '{API_KEY_HEADER}'.",
            headers=_CHALLENGE,
        )
    with _store(state).transaction() as session:
        key = verify_api_key(session, presented)
        principal = None if key is None else Principal(key.key_id, key.name, Role(key.role))
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "the API key is invalid or revoked.", headers=_CHALLENGE
        )
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers whose role is ``role`` or above (else 403)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs the {role.value} role or above; the key "
                f"{principal.key_id} has {principal.role.value}.",
            )
        return principal

    check.__name__ = f"require_{role.value}"
    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Agent = Annotated[Principal, Depends(require(Role.AGENT))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
