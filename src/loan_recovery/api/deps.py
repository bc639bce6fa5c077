"""Dependencies every route shares: state, settings, models, a session, the caller.

The app's state (settings, store, loaded models) lives on ``app.state.api``, set up by
:func:`loan_recovery.api.app.create_app` and its lifespan; routes receive pieces of it
through the ``Annotated`` aliases below and never open sessions or load models
themselves. Tests swap any of them with ``app.dependency_overrides``.

Authentication: an API key in ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``,
checked against the store's salted hashes on every request (no cache, so a revoked key
stops working at once, in every worker). Roles rank viewer < agent < admin;
:func:`require` builds the check of a route's minimum role.

Idempotency: every creating POST takes an ``Idempotency-Key`` header (see
:class:`Idempotency` and :mod:`loan_recovery.store.idempotency`); a retry with the same key
and body gets the first answer back and creates nothing.

Dependencies that only read memory are ``async``: FastAPI runs a plain ``def`` dependency
in its thread pool, a hop that costs more than the work. Those that touch the database
stay ``def`` so they never block the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from loan_recovery.api.metrics import ApiMetrics
from loan_recovery.api.scoring import ServingModels
from loan_recovery.config import Settings
from loan_recovery.store import idempotency as stored_answers
from loan_recovery.store.apikeys import verify_api_key
from loan_recovery.store.db import Store
from loan_recovery.store.idempotency import IdempotencyScope, StoredResponse
from loan_recovery.store.models import IDEMPOTENCY_KEY_LENGTH, Role, utc_now

if TYPE_CHECKING:  # api.early_warning imports this module for its dependency
    from loan_recovery.api.early_warning import EarlyWarningServing

#: Rank of each role: a route open to a role is open to every higher one.
ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2}
API_KEY_HEADER = "X-API-Key"
#: The 401 answers of :func:`get_principal`, shared with
#: :mod:`loan_recovery.api.limits`, which refuses the same requests before their body is
#: read: a client sees one wording whichever of the two refuses it.
KEY_REQUIRED = f"an API key is required: send 'Authorization: Bearer <key>' or '{API_KEY_HEADER}'."
KEY_INVALID = "the API key is invalid or revoked."
#: The challenge every 401 carries (RFC 9110 requires one).
AUTH_CHALLENGE = {"WWW-Authenticate": "Bearer"}


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
    ``metrics`` are this app's own (its registry reads the store and models above).
    """

    settings: Settings
    store: Store | None = None
    models: ServingModels | None = None
    models_error: str | None = "models are loading"
    #: The early-warning model behind ``GET /v1/alerts`` (set by the lifespan; optional).
    early_warning: EarlyWarningServing | None = None
    metrics: ApiMetrics = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.metrics = ApiMetrics(self)


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


async def get_metrics(state: StateDep) -> ApiMetrics:
    """The app's metrics (routes count what they did, e.g. loans planned by action)."""
    return state.metrics


MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]


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
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, KEY_REQUIRED, headers=AUTH_CHALLENGE)
    with _store(state).transaction() as session:
        key = verify_api_key(session, presented)
        principal = None if key is None else Principal(key.key_id, key.name, Role(key.role))
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, KEY_INVALID, headers=AUTH_CHALLENGE)
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


# --- idempotent creating POSTs ----------------------------------------------------------------
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Set (``true``) on an answer replayed from an earlier request with the same key.
REPLAYED_HEADER = "Idempotent-Replayed"
#: Visible ASCII without spaces: a UUID, a hash, a client's request id.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7E]+$"
JSON_MEDIA_TYPE = "application/json"


@dataclass
class Idempotency:
    """The request's ``Idempotency-Key``, scoped to its API key and route (or no key).

    A creating route calls :meth:`claim` before it writes: a stored answer means a retry,
    which the route sends back with :meth:`replay` and creates nothing. Otherwise it
    writes and answers with :meth:`respond`, which saves the answer in the same
    transaction. Without a key every call is a pass-through: the request runs as before.
    """

    scope: IdempotencyScope | None
    ttl: timedelta
    _hashes: dict[int, str] = field(default_factory=dict, repr=False)

    def _hash(self, body: BaseModel) -> str:
        if id(body) not in self._hashes:
            self._hashes[id(body)] = stored_answers.request_hash(body.model_dump(mode="json"))
        return self._hashes[id(body)]

    def claim(self, session: Session, body: BaseModel) -> StoredResponse | None:
        """Claim the key in this request's transaction; the earlier answer if it is taken.

        A concurrent request with the same key waits here until the first one commits,
        then gets its answer. 409 when the key came with another body.
        """
        if self.scope is None:
            return None
        return stored_answers.claim(
            session,
            scope=self.scope,
            request_hash=self._hash(body),
            now=utc_now(),
            ttl=self.ttl,
        )

    def replay(self, earlier: StoredResponse) -> Response:
        """The earlier answer, status and body as first sent, marked as a replay."""
        return Response(
            earlier.body,
            status_code=earlier.status_code,
            media_type=JSON_MEDIA_TYPE,
            headers={REPLAYED_HEADER: "true"},
        )

    def respond(
        self, session: Session, status_code: int, content: bytes, *, saved: bytes | None = None
    ) -> Response:
        """The JSON response ``content``, saved as the key's answer when there is a key.

        ``saved`` is stored instead of ``content`` when the response holds a secret that
        must not be kept (a new API key).
        """
        if self.scope is not None:
            stored_answers.save_response(
                session,
                scope=self.scope,
                status_code=status_code,
                body=(content if saved is None else saved).decode("utf-8"),
            )
        return Response(content, status_code=status_code, media_type=JSON_MEDIA_TYPE)


async def get_idempotency(
    request: Request,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(get_principal)],
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=IDEMPOTENCY_KEY_LENGTH,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="A unique key per new request (e.g. a UUID), repeated on every retry "
            "of it: a retry with the same key and body gets the first answer back "
            f"({REPLAYED_HEADER}: true) and creates nothing; the same key with another "
            "body is refused (409). Kept for api.idempotency_ttl_seconds (default 24 h).",
        ),
    ] = None,
) -> Idempotency:
    """The request's :class:`Idempotency`; 428 without a key when settings require one."""
    # The path as requested: creating routes have no path parameters, so it names the route.
    name = f"{request.method} {request.url.path}"
    ttl = timedelta(seconds=settings.api.idempotency_ttl_seconds)
    if key is None:
        if settings.api.require_idempotency_key:
            raise HTTPException(
                status.HTTP_428_PRECONDITION_REQUIRED,
                f"{name} needs an {IDEMPOTENCY_HEADER} header (api.require_idempotency_key "
                "is on): send a new unique key, e.g. a UUID, with each new request and the "
                "same key with its retries.",
            )
        return Idempotency(scope=None, ttl=ttl)
    return Idempotency(scope=IdempotencyScope(principal.key_id, name, key), ttl=ttl)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
