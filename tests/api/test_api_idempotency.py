"""Idempotent creating POSTs: retries with an Idempotency-Key create nothing new.

Measured here: 100 retried POSTs (the same request sent 100 times, in turn and from 16
threads at once) create one outcome; 100 distinct requests each retried 3 times,
concurrently, create exactly 100. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import ApiClient, bearer

from loan_recovery.api.deps import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from loan_recovery.data import schema
from loan_recovery.store.apikeys import create_api_key
from loan_recovery.store.idempotency import IDEMPOTENCY_TABLE
from loan_recovery.store.models import Action, ApiKey, AuditEntry, OptOut, Outcome, Role

THREADS = 16


@pytest.fixture
def world(
    make_api: Callable[..., ApiClient], database_url: str, fresh_loans: list[dict[str, Any]]
) -> tuple[ApiClient, list[str]]:
    """An app on each database with 3 planned loans (planned without a key)."""
    api = make_api(database_url)
    loans = fresh_loans[300:303]
    planned = api.client.post("/v1/plan", json={"loans": loans}, headers=api.as_role(Role.AGENT))
    assert planned.status_code == 200, planned.text
    return api, [loan[schema.LOAN_ID] for loan in loans]


def _count(api: ApiClient, table: Any, *where: Any) -> int:
    with api.store.transaction() as session:
        statement = sa.select(sa.func.count()).select_from(table)
        return int(session.scalar(statement.where(*where)) or 0)


def _keyed(api: ApiClient, key: str, role: Role = Role.AGENT) -> dict[str, str]:
    return {**api.as_role(role), IDEMPOTENCY_HEADER: key}


def _outcome(loan_id: str, amount: float = 1_000) -> dict[str, Any]:
    return {
        "loan_id": loan_id,
        "amount_recovered": amount,
        "status": "Partially Recovered",
        "outcome_date": "2027-01-10",
    }


def test_a_retried_action_is_created_once_and_answered_alike(
    world: tuple[ApiClient, list[str]],
) -> None:
    """Posts one action twice with one key (the retry re-spelling a number and reordering
    keys); expects one action, one audit row, the same status and body, a replay mark."""
    api, loans = world
    body = {"loan_id": loans[0], "action": "call", "cost": 20, "notes": "first try"}
    first = api.client.post("/v1/actions", json=body, headers=_keyed(api, "a-1"))
    retry = api.client.post(
        "/v1/actions",
        json=dict(reversed({**body, "cost": 20.0}.items())),
        headers=_keyed(api, "a-1"),
    )
    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert REPLAYED_HEADER not in first.headers
    assert retry.headers[REPLAYED_HEADER] == "true"
    assert _count(api, Action.__table__, Action.notes == "first try") == 1
    assert _count(api, AuditEntry.__table__, AuditEntry.action == "action.create") == 1


def test_a_key_reused_with_another_body_is_refused(world: tuple[ApiClient, list[str]]) -> None:
    """Posts an outcome, then another amount with the same key; expects 409 saying why,
    and one outcome."""
    api, loans = world
    first = api.client.post("/v1/outcomes", json=_outcome(loans[0]), headers=_keyed(api, "o-1"))
    assert first.status_code == 201
    other = api.client.post(
        "/v1/outcomes", json=_outcome(loans[0], 2_000), headers=_keyed(api, "o-1")
    )
    assert other.status_code == 409
    assert "already used for a different request to POST /v1/outcomes" in other.json()["detail"]
    assert _count(api, Outcome.__table__) == 1


def test_keys_belong_to_one_api_key_and_one_route(world: tuple[ApiClient, list[str]]) -> None:
    """Uses one key text from two agents, and on two routes; expects each to create."""
    api, loans = world
    with api.store.transaction() as session:
        second_agent = create_api_key(session, name="agent-two", role="agent", actor="tests").key
    body = _outcome(loans[1])
    mine = api.client.post("/v1/outcomes", json=body, headers=_keyed(api, "shared"))
    theirs = api.client.post(
        "/v1/outcomes", json=body, headers={**bearer(second_agent), IDEMPOTENCY_HEADER: "shared"}
    )
    action = api.client.post(
        "/v1/actions", json={"loan_id": loans[1], "action": "call"}, headers=_keyed(api, "shared")
    )
    assert (mine.status_code, theirs.status_code, action.status_code) == (201, 201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert REPLAYED_HEADER not in theirs.headers
    assert _count(api, Outcome.__table__) == 2


def test_100_sequential_retries_create_one_outcome(world: tuple[ApiClient, list[str]]) -> None:
    """Sends one outcome 100 times with one key; expects 1 outcome and 100 equal answers."""
    api, loans = world
    answers = [
        api.client.post("/v1/outcomes", json=_outcome(loans[2]), headers=_keyed(api, "seq"))
        for _ in range(100)
    ]
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.content for answer in answers}) == 1
    assert sum(REPLAYED_HEADER in answer.headers for answer in answers) == 99
    assert _count(api, Outcome.__table__) == 1


def test_concurrent_retries_create_nothing_twice(world: tuple[ApiClient, list[str]]) -> None:
    """From 16 threads: one outcome sent 100 times with one key, then 100 outcomes each
    sent 3 times with its own key, all interleaved; expects 1 + 100 outcomes, every
    retry answered with its first answer, and no error."""
    api, loans = world

    def send(args: tuple[str, float]) -> httpx.Response:
        key, amount = args
        return api.client.post(
            "/v1/outcomes", json=_outcome(loans[0], amount), headers=_keyed(api, key)
        )

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, [("same", 500.0)] * 100))
    assert {answer.status_code for answer in answers} == {201}, {a.text for a in answers}
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert _count(api, Outcome.__table__) == 1

    requests = [(f"distinct-{index}", float(index)) for index in range(100)] * 3
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, requests))
    assert {answer.status_code for answer in answers} == {201}, {a.text for a in answers}
    ids: dict[str, set[int]] = {}
    for (key, _amount), answer in zip(requests, answers, strict=True):
        ids.setdefault(key, set()).add(answer.json()["id"])
    assert all(len(found) == 1 for found in ids.values())
    assert _count(api, Outcome.__table__) == 1 + 100
    assert _count(api, AuditEntry.__table__, AuditEntry.action == "outcome.record") == 101


def test_without_a_key_every_post_creates(world: tuple[ApiClient, list[str]]) -> None:
    """Posts one action twice without a key; expects two actions (unchanged behaviour)."""
    api, loans = world
    body = {"loan_id": loans[0], "action": "legal", "notes": "keyless"}
    for _ in range(2):
        assert api.client.post("/v1/actions", json=body, headers=api.as_role(Role.AGENT)).is_success
    assert _count(api, Action.__table__, Action.notes == "keyless") == 2


def test_a_failed_request_is_not_remembered(world: tuple[ApiClient, list[str]]) -> None:
    """Posts an action for an unknown loan with a key, then the same, then a known loan
    with that key; expects 404 twice (no row kept, nothing replayed), then a new action."""
    api, loans = world
    unknown = {"loan_id": "nope", "action": "call"}
    answers = [
        api.client.post("/v1/actions", json=unknown, headers=_keyed(api, "f-1")) for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [404, 404]
    assert REPLAYED_HEADER not in answers[1].headers
    assert _count(api, IDEMPOTENCY_TABLE) == 0
    known = api.client.post(
        "/v1/actions", json={"loan_id": loans[0], "action": "call"}, headers=_keyed(api, "f-1")
    )
    assert known.status_code == 201
    assert _count(api, IDEMPOTENCY_TABLE) == 1


def test_an_expired_key_creates_again(world: tuple[ApiClient, list[str]]) -> None:
    """Posts an action, ages its key past the TTL, posts again; expects a second action."""
    api, loans = world
    body = {"loan_id": loans[0], "action": "agency", "notes": "ttl"}
    first = api.client.post("/v1/actions", json=body, headers=_keyed(api, "t-1"))
    with api.store.transaction() as session:
        session.execute(
            sa.update(IDEMPOTENCY_TABLE).values(expires_at=IDEMPOTENCY_TABLE.c.created_at)
        )
    second = api.client.post("/v1/actions", json=body, headers=_keyed(api, "t-1"))
    assert (first.status_code, second.status_code) == (201, 201)
    assert REPLAYED_HEADER not in second.headers
    assert first.json()["id"] != second.json()["id"]
    assert _count(api, IDEMPOTENCY_TABLE) == 1


def test_plan_opt_out_and_key_creation_are_idempotent(
    world: tuple[ApiClient, list[str]], fresh_loans: list[dict[str, Any]]
) -> None:
    """Retries a plan, an opt-out and an API key creation with their keys; expects one
    run, one opt-out and one key, the plan and opt-out answers replayed, and the key's
    retry refused (409) because its secret is never stored."""
    api, loans = world
    batch = {"loans": fresh_loans[310:312]}
    plans = [api.client.post("/v1/plan", json=batch, headers=_keyed(api, "p-1")) for _ in range(2)]
    assert [answer.status_code for answer in plans] == [200, 200]
    assert plans[1].content == plans[0].content
    assert plans[1].headers[REPLAYED_HEADER] == "true"
    run_ids = {answer.json()["stored"]["run_id"] for answer in plans}
    assert len(run_ids) == 1
    assert _count(api, AuditEntry.__table__, AuditEntry.action == "plan.store") == 2  # + world's

    body = {"loan_id": loans[0], "source": "STOP"}
    stops = [
        api.client.post("/v1/contacts/opt-out", json=body, headers=_keyed(api, "s-1"))
        for _ in range(2)
    ]
    assert [answer.status_code for answer in stops] == [201, 201]
    assert stops[1].content == stops[0].content
    assert _count(api, OptOut.__table__) == 1

    admin = _keyed(api, "k-1", Role.ADMIN)
    created = api.client.post(
        "/v1/apikeys", json={"name": "robot", "role": "viewer"}, headers=admin
    )
    retried = api.client.post(
        "/v1/apikeys", json={"name": "robot", "role": "viewer"}, headers=admin
    )
    assert created.status_code == 201
    assert retried.status_code == 409
    key_id = created.json()["info"]["key_id"]
    assert f"already created API key {key_id}" in retried.json()["detail"]
    assert _count(api, ApiKey.__table__, ApiKey.name == "robot") == 1
    with api.store.transaction() as session:
        stored = " ".join(session.scalars(sa.select(IDEMPOTENCY_TABLE.c.response)))
    assert created.json()["key"] not in stored  # the secret is never kept


def test_a_required_key_refuses_keyless_creating_posts(
    make_api: Callable[..., ApiClient], sqlite_url: str, fresh_loans: list[dict[str, Any]]
) -> None:
    """Turns api.require_idempotency_key on; expects 428 for every creating POST without a
    key, success with one, and score, PATCH and reads unaffected."""
    base = make_api(sqlite_url)
    api = make_api(
        sqlite_url,
        api=base.settings.api.model_copy(update={"require_idempotency_key": True}),
    )
    agent, admin = api.as_role(Role.AGENT), api.as_role(Role.ADMIN)
    loans = fresh_loans[320:322]
    loan_id = loans[0][schema.LOAN_ID]
    refused = {
        "/v1/plan": ({"loans": loans}, agent),
        "/v1/actions": ({"loan_id": loan_id, "action": "call"}, agent),
        "/v1/outcomes": (_outcome(loan_id), agent),
        "/v1/apikeys": ({"name": "n", "role": "viewer"}, admin),
        "/v1/contacts/opt-out": ({"loan_id": loan_id}, agent),
    }
    for path, (body, headers) in refused.items():
        answer = api.client.post(path, json=body, headers=headers)
        assert answer.status_code == 428, path
        assert f"POST {path} needs an Idempotency-Key header" in answer.json()["detail"]
    assert api.client.post("/v1/score", json={"loans": loans}, headers=agent).status_code == 200
    planned = api.client.post(
        "/v1/plan", json={"loans": loans}, headers={**agent, IDEMPOTENCY_HEADER: str(uuid.uuid4())}
    )
    assert planned.status_code == 200
    action = api.client.post(
        "/v1/actions",
        json={"loan_id": loan_id, "action": "call"},
        headers={**agent, IDEMPOTENCY_HEADER: str(uuid.uuid4())},
    )
    assert action.status_code == 201
    patched = api.client.patch(
        f"/v1/actions/{action.json()['id']}", json={"notes": "ok"}, headers=agent
    )
    assert patched.status_code == 200
    viewer = api.as_role(Role.VIEWER)
    assert api.client.post("/v1/actions", json={}, headers=viewer).status_code == 403


@pytest.mark.parametrize("key", ["has space", "x" * 256, "tab\there", "é"])
def test_a_malformed_key_is_refused(api: ApiClient, key: str) -> None:
    """Sends keys with spaces, over 255 characters, control or non-ASCII characters;
    expects 422 located at the header."""
    headers = {**api.as_role(Role.AGENT), IDEMPOTENCY_HEADER: key}
    try:
        answer = api.client.post("/v1/outcomes", json={}, headers=headers)
    except (UnicodeEncodeError, httpx.LocalProtocolError):
        return  # the client itself refuses to send it
    assert answer.status_code == 422
    assert ["header", IDEMPOTENCY_HEADER] in [problem["loc"] for problem in answer.json()["errors"]]
