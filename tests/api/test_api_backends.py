"""A smoke run of the API on SQLite and on PostgreSQL (``LOAN_RECOVERY_TEST_POSTGRES_URL``).

The full auth matrix and the fuzzing run on SQLite; here one pass through every kind of
route shows the same answers on both databases: plan, read, work a case, summarise,
audit, manage keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api_support import ApiClient, bearer

from loan_recovery.data import schema
from loan_recovery.store.audit import SCORING_CALL
from loan_recovery.store.models import Role
from loan_recovery.store.queries import audit_entries


def test_plan_read_work_and_audit_on_each_database(
    make_api: Callable[..., ApiClient], database_url: str, fresh_loans: list[dict[str, Any]]
) -> None:
    """Plans 25 loans, reads them, logs an action and an outcome; expects consistent answers."""
    api = make_api(database_url)
    client, agent, viewer = api.client, api.as_role(Role.AGENT), api.as_role(Role.VIEWER)
    assert client.get("/ready").json()["status"] == "ready"
    loans = fresh_loans[200:225]
    planned = client.post("/v1/plan", json={"loans": loans}, headers=agent)
    assert planned.status_code == 200, planned.text
    assert planned.json()["stored"]["loans_inserted"] == 25
    scored = client.post("/v1/score", json={"loans": loans[:3]}, headers=viewer).json()
    by_id = {row[schema.LOAN_ID]: row for row in planned.json()["loans"]}
    for row in scored["loans"]:
        assert row[schema.RISK_SCORE] == by_id[row[schema.LOAN_ID]][schema.RISK_SCORE]

    worklist = client.get("/v1/worklist", params={"limit": 10}, headers=viewer).json()
    assert worklist["total"] == 25
    top = worklist["items"][0]
    assert top["priority"] == max(row[schema.PRIORITY] for row in by_id.values())

    loan_id = top["loan_id"]
    detail = client.get(f"/v1/loans/{loan_id}", headers=viewer).json()
    assert detail["loan"][schema.LOAN_ID] == loan_id
    action = client.post(
        "/v1/actions", json={"loan_id": loan_id, "action": "call"}, headers=agent
    ).json()
    moved = client.patch(
        f"/v1/actions/{action['id']}", json={"status": "in-progress"}, headers=agent
    )
    assert moved.json()["status"] == "in-progress"
    outcome = client.post(
        "/v1/outcomes",
        json={
            "loan_id": loan_id,
            "amount_recovered": 5000,
            "status": "Fully Recovered",
            "outcome_date": "2026-07-01",
            "action_id": action["id"],
        },
        headers=agent,
    )
    assert outcome.status_code == 201
    summary = client.get("/v1/portfolio/summary", headers=viewer).json()
    assert (summary["loans"], summary["outcomes"]) == (25, 1)
    assert summary["amount_recovered"] == 5000
    segments = client.get("/v1/segments", headers=viewer).json()
    assert sum(segment["loans"] for segment in segments) == 25
    with api.store.transaction() as session:
        assert audit_entries(session, action=SCORING_CALL).total == 1


def test_keys_and_refusals_on_each_database(
    make_api: Callable[..., ApiClient], database_url: str
) -> None:
    """Creates and revokes a key, sends a NUL in a path; expects 201/200/401 and a 422."""
    api = make_api(database_url)
    admin = api.as_role(Role.ADMIN)
    created = api.client.post("/v1/apikeys", json={"name": "smoke", "role": "agent"}, headers=admin)
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["info"]["key_id"]
    assert api.client.get("/v1/worklist", headers=bearer(key)).status_code == 200
    assert api.client.delete(f"/v1/apikeys/{key_id}", headers=admin).status_code == 200
    assert api.client.get("/v1/worklist", headers=bearer(key)).status_code == 401
    assert api.client.get("/v1/loans/a%00b", headers=admin).status_code == 422
    assert (
        api.client.get("/v1/worklist", params={"segment": "a\x00b"}, headers=admin).status_code
        == 422
    )
    assert api.client.get("/v1/apikeys", headers=api.as_role(Role.AGENT)).status_code == 403
