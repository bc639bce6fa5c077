"""Authentication and roles: every route x every kind of caller, on SQLite.

Each route is called with no key, an unknown key, a revoked key (401 each), with every
role below its minimum (403) and with every role at or above it (its 2xx). The calls are
real requests with valid bodies, so a 2xx means the route did its work for that role.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiWorld, Keys, bearer, make_keys
from fastapi.testclient import TestClient

from loan_recovery.api.app import create_app
from loan_recovery.api.early_warning import EarlyWarningServing
from loan_recovery.data import schema
from loan_recovery.models.early_warning import EarlyWarningBundle
from loan_recovery.store.apikeys import create_api_key
from loan_recovery.store.db import open_store
from loan_recovery.store.models import Role

ROLES = (Role.VIEWER, Role.AGENT, Role.ADMIN)
RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass
class World:
    """A running app with stored loans, an action to update and keys of every role."""

    client: TestClient
    keys: Keys
    loan_id: str
    action_id: int
    loans: list[dict[str, Any]]
    new_key_id: Callable[[], str]


@pytest.fixture(scope="module")
def world(
    api_world: ApiWorld,
    fresh_loans: list[dict[str, Any]],
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    ew_bundle: EarlyWarningBundle,
) -> Iterator[World]:
    """One app for the whole matrix: 5 loans planned, one action on the first, and an
    early-warning model loaded (so /v1/alerts answers 200)."""
    path = tmp_path_factory.mktemp("auth") / "store.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    store = open_store(url)
    keys = make_keys(store)
    settings = api_world.settings.model_copy(update={"database_url": url})
    loans = fresh_loans[:5]

    def new_key_id() -> str:
        with store.transaction() as session:
            made = create_api_key(
                session, name=f"doomed-{uuid.uuid4().hex[:8]}", role="viewer", actor="tests"
            )
        return made.info.key_id

    app = create_app(settings, models=api_world.models)
    app.state.api.early_warning = EarlyWarningServing(bundle=ew_bundle)
    with TestClient(app) as client:
        planned = client.post("/v1/plan", json={"loans": loans}, headers=bearer(keys.admin))
        assert planned.status_code == 200, planned.text
        loan_id = loans[0]["Loan_ID"]
        made = client.post(
            "/v1/actions", json={"loan_id": loan_id, "action": "call"}, headers=bearer(keys.admin)
        )
        assert made.status_code == 201, made.text
        yield World(client, keys, loan_id, made.json()["id"], loans, new_key_id)
    store.dispose()


@dataclass(frozen=True)
class Route:
    """A route, the smallest role allowed on it, and how to call it successfully."""

    method: str
    path: str
    role: Role
    success: int
    call: Callable[[World], dict[str, Any]]

    def request(self, world: World, headers: dict[str, str]) -> Any:
        kwargs = self.call(world)
        path = kwargs.pop("path", self.path)
        return world.client.request(self.method, path, headers=headers, **kwargs)


def _none(_world: World) -> dict[str, Any]:
    return {}


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/score", Role.VIEWER, 200, lambda w: {"json": {"loans": w.loans[:1]}}),
    Route("POST", "/v1/plan", Role.AGENT, 200, lambda w: {"json": {"loans": w.loans[:2]}}),
    Route("GET", "/v1/worklist", Role.VIEWER, 200, lambda w: {"params": {"limit": 3}}),
    Route("GET", "/v1/loans/{id}", Role.VIEWER, 200, lambda w: {"path": f"/v1/loans/{w.loan_id}"}),
    Route(
        "POST",
        "/v1/actions",
        Role.AGENT,
        201,
        lambda w: {"json": {"loan_id": w.loan_id, "action": "reminder"}},
    ),
    Route(
        "PATCH",
        "/v1/actions/{id}",
        Role.AGENT,
        200,
        lambda w: {"path": f"/v1/actions/{w.action_id}", "json": {"notes": "called twice"}},
    ),
    Route(
        "POST",
        "/v1/outcomes",
        Role.AGENT,
        201,
        lambda w: {
            "json": {
                "loan_id": w.loan_id,
                "amount_recovered": 1500.0,
                "status": "Partially Recovered",
                "outcome_date": "2026-07-15",
            }
        },
    ),
    Route("GET", "/v1/portfolio/summary", Role.VIEWER, 200, _none),
    Route("GET", "/v1/segments", Role.VIEWER, 200, _none),
    Route("GET", "/v1/models/champion", Role.VIEWER, 200, _none),
    Route("GET", "/v1/apikeys", Role.ADMIN, 200, _none),
    Route(
        "POST",
        "/v1/apikeys",
        Role.ADMIN,
        201,
        lambda w: {"json": {"name": f"new-{uuid.uuid4().hex[:8]}", "role": "viewer"}},
    ),
    Route(
        "DELETE",
        "/v1/apikeys/{id}",
        Role.ADMIN,
        200,
        lambda w: {"path": f"/v1/apikeys/{w.new_key_id()}"},
    ),
    Route("GET", "/v1/audit", Role.ADMIN, 200, lambda w: {"params": {"limit": 5}}),
    Route("GET", "/v1/alerts", Role.VIEWER, 200, lambda w: {"params": {"limit": 3}}),
    Route(
        "POST",
        "/v1/contacts/opt-out",
        Role.AGENT,
        201,
        lambda w: {"json": {"loan_id": w.loans[4][schema.LOAN_ID], "source": "STOP"}},
    ),
)
IDS = [f"{route.method} {route.path}" for route in ROUTES]


def test_every_v1_route_is_in_the_matrix(world: World) -> None:
    """Gives the app's OpenAPI paths; expects each /v1 operation to be covered above."""
    paths = world.client.get("/openapi.json").json()["paths"]
    served = {
        (method.upper(), path.replace("{loan_id}", "{id}").replace("{action_id}", "{id}"))
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
    }
    served = {(method, path.replace("{key_id}", "{id}")) for method, path in served}
    assert served == {(route.method, route.path) for route in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
@pytest.mark.parametrize("caller", ["no key", "unknown key", "revoked key", "malformed key"])
def test_without_a_valid_key_every_route_answers_401(
    world: World, route: Route, caller: str
) -> None:
    """Gives no key, an unknown, a revoked or a malformed key; expects 401 with a challenge."""
    headers = {
        "no key": {},
        "unknown key": bearer(world.keys.unknown),
        "revoked key": bearer(world.keys.revoked),
        "malformed key": bearer("not a key at all"),
    }[caller]
    answer = route.request(world, headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    assert isinstance(answer.json()["detail"], str)


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
@pytest.mark.parametrize("role", ROLES, ids=[role.value for role in ROLES])
def test_each_role_is_admitted_exactly_from_the_routes_minimum(
    world: World, route: Route, role: Role
) -> None:
    """Gives a key of each role; expects the route's 2xx at or above its minimum, else 403."""
    answer = route.request(world, bearer(world.keys.of(role)))
    if RANK[role] >= RANK[route.role]:
        assert answer.status_code == route.success, answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert route.role.value in answer.json()["detail"]


def test_the_x_api_key_header_works_like_a_bearer_token(world: World) -> None:
    """Gives the viewer key as X-API-Key; expects 200, and 401 for a revoked one."""
    good = world.client.get("/v1/segments", headers={"X-API-Key": world.keys.viewer})
    bad = world.client.get("/v1/segments", headers={"X-API-Key": world.keys.revoked})
    assert (good.status_code, bad.status_code) == (200, 401)


def test_health_ready_and_docs_need_no_key(world: World) -> None:
    """Gives no key; expects /health, /ready, /docs and /openapi.json to answer 200."""
    for path in ("/health", "/ready", "/docs", "/openapi.json"):
        assert world.client.get(path).status_code == 200, path


def test_a_key_revoked_through_the_api_stops_working_at_once(world: World) -> None:
    """Creates a viewer key as admin, uses it, revokes it; expects 200, then 401."""
    admin = bearer(world.keys.admin)
    created = world.client.post(
        "/v1/apikeys", json={"name": "temp-key", "role": "viewer"}, headers=admin
    )
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["info"]["key_id"]
    assert world.client.get("/v1/segments", headers=bearer(key)).status_code == 200
    revoked = world.client.delete(f"/v1/apikeys/{key_id}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert world.client.get("/v1/segments", headers=bearer(key)).status_code == 401
    listed = world.client.get("/v1/apikeys", headers=admin).json()
    assert all("key" not in item and "key_hash" not in item for item in listed)


def test_key_names_clash_and_unknown_ids_are_reported(world: World) -> None:
    """Creates a key name twice and revokes an unknown id; expects 409 and 404."""
    admin = bearer(world.keys.admin)
    body = {"name": "twice", "role": "agent"}
    assert world.client.post("/v1/apikeys", json=body, headers=admin).status_code == 201
    clash = world.client.post("/v1/apikeys", json=body, headers=admin)
    assert clash.status_code == 409
    assert "twice" in clash.json()["detail"]
    assert world.client.delete("/v1/apikeys/ffffffffffff", headers=admin).status_code == 404
