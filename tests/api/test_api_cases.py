"""Case routes: worklist, loan detail, actions, outcomes, summaries, champion, health, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from api_support import ApiClient, JsonLog
from fastapi.testclient import TestClient

from loan_recovery.api.app import create_app
from loan_recovery.api.deps import get_models
from loan_recovery.data import schema
from loan_recovery.store.audit import MASK
from loan_recovery.store.models import Role


@pytest.fixture
def planned(api: ApiClient, fresh_loans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """30 loans planned into the store by an agent; returns the scored rows."""
    answer = api.client.post(
        "/v1/plan", json={"loans": fresh_loans[:30]}, headers=api.as_role(Role.AGENT)
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["loans"]
    return rows


def test_worklist_filters_and_pages_in_priority_order(
    api: ApiClient, planned: list[dict[str, Any]]
) -> None:
    """Gives 30 planned loans; expects filters to match the rows and pages to tile the list."""
    headers = api.as_role(Role.VIEWER)
    everything = api.client.get("/v1/worklist", params={"limit": 1000}, headers=headers).json()
    assert everything["total"] == 30
    pages = [
        api.client.get(
            "/v1/worklist", params={"limit": 7, "offset": offset}, headers=headers
        ).json()["items"]
        for offset in range(0, 30, 7)
    ]
    assert [item["loan_id"] for page in pages for item in page] == [
        item["loan_id"] for item in everything["items"]
    ]
    action = planned[0][schema.RECOMMENDED_ACTION]
    filtered = api.client.get("/v1/worklist", params={"action": action}, headers=headers).json()
    assert filtered["total"] == sum(row[schema.RECOMMENDED_ACTION] == action for row in planned)
    band = planned[0][schema.RISK_BAND]
    by_band = api.client.get("/v1/worklist", params={"risk_band": band}, headers=headers).json()
    assert all(item["risk_band"] == band for item in by_band["items"])
    rich = api.client.get("/v1/worklist", params={"min_exposure": 1e6}, headers=headers).json()
    assert all(item["exposure"] >= 1e6 for item in rich["items"])
    refused = api.client.get("/v1/worklist", params={"limit": 0}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["query", "limit"]


def test_loan_detail_masks_contact_details_for_viewers_only(
    api: ApiClient, planned: list[dict[str, Any]], fresh_loans: list[dict[str, Any]]
) -> None:
    """Gives a planned loan with a name and phone; expects '***' for a viewer, values for agents."""
    loan = fresh_loans[0]
    path = f"/v1/loans/{loan['Loan_ID']}"
    viewer = api.client.get(path, headers=api.as_role(Role.VIEWER)).json()
    agent = api.client.get(path, headers=api.as_role(Role.AGENT)).json()
    assert viewer["borrower"][schema.BORROWER_NAME] == MASK
    assert viewer["borrower"][schema.PHONE] == MASK
    assert agent["borrower"][schema.BORROWER_NAME] == loan[schema.BORROWER_NAME]
    assert agent["borrower"][schema.PHONE] == loan[schema.PHONE]
    assert viewer["loan"][schema.DAYS_PAST_DUE] == loan[schema.DAYS_PAST_DUE]
    assert schema.BORROWER_NAME not in viewer["loan"]
    assert len(viewer["scores"]) == 1
    assert viewer["scores"][0]["recommended_action"] == planned[0][schema.RECOMMENDED_ACTION]
    assert api.client.get("/v1/loans/nope", headers=api.as_role(Role.VIEWER)).status_code == 404


def test_actions_move_forward_only_and_outcomes_close_them(
    api: ApiClient, planned: list[dict[str, Any]]
) -> None:
    """Creates an action, starts it, records an outcome; expects done, then 409 on reopening."""
    headers = api.as_role(Role.AGENT)
    loan_id = planned[0][schema.LOAN_ID]
    created = api.client.post(
        "/v1/actions",
        json={"loan_id": loan_id, "action": "settlement", "cost": 2000, "notes": "offer 70%"},
        headers=headers,
    )
    assert created.status_code == 201
    action = created.json()
    assert (action["status"], action["created_by"]) == ("planned", action["created_by"])
    path = f"/v1/actions/{action['id']}"
    started = api.client.patch(path, json={"status": "in-progress"}, headers=headers).json()
    assert started["status"] == "in-progress"
    assert started["started_at"] is not None
    assert started["notes"] == "offer 70%"
    cleared = api.client.patch(path, json={"notes": None}, headers=headers).json()
    assert cleared["notes"] is None
    outcome = api.client.post(
        "/v1/outcomes",
        json={
            "loan_id": loan_id,
            "amount_recovered": 12345.5,
            "status": "Partially Recovered",
            "outcome_date": "2026-07-20",
            "action_id": action["id"],
        },
        headers=headers,
    )
    assert outcome.status_code == 201
    detail = api.client.get(f"/v1/loans/{loan_id}", headers=headers).json()
    assert detail["outcomes"][0]["amount_recovered"] == 12345.5
    assert next(a for a in detail["actions"] if a["id"] == action["id"])["status"] == "done"
    reopened = api.client.patch(path, json={"status": "planned"}, headers=headers)
    assert reopened.status_code == 409
    assert "done" in reopened.json()["detail"]


def test_case_writes_refuse_unknown_loans_and_bad_fields(api: ApiClient) -> None:
    """Gives an unknown loan, a bad action name and a negative cost; expects 404, 422, 422."""
    headers = api.as_role(Role.AGENT)
    unknown = api.client.post(
        "/v1/actions", json={"loan_id": "nope", "action": "call"}, headers=headers
    )
    assert unknown.status_code == 404
    bad = api.client.post("/v1/actions", json={"loan_id": "x", "action": "pray"}, headers=headers)
    assert bad.json()["errors"][0]["loc"] == ["body", "action"]
    negative = api.client.post(
        "/v1/actions", json={"loan_id": "x", "action": "call", "cost": -1}, headers=headers
    )
    assert negative.json()["errors"][0]["loc"] == ["body", "cost"]
    missing = api.client.patch("/v1/actions/999999", json={"notes": "x"}, headers=headers)
    assert missing.status_code == 404


def test_summaries_count_the_stored_plan(api: ApiClient, planned: list[dict[str, Any]]) -> None:
    """Gives 30 planned loans; expects the summary and segments to add up to them."""
    headers = api.as_role(Role.VIEWER)
    summary = api.client.get("/v1/portfolio/summary", headers=headers).json()
    assert summary["loans"] == summary["scored_loans"] == 30
    assert sum(summary["recommended_actions"].values()) == 30
    segments = api.client.get("/v1/segments", headers=headers).json()
    assert sum(segment["loans"] for segment in segments) == 30
    assert {segment["segment"] for segment in segments} == {
        row[schema.SEGMENT_NAME] for row in planned
    }


def test_champion_route_names_the_serving_version_and_its_metrics(
    api: ApiClient, api_world: Any
) -> None:
    """Gives the trained registry; expects its version, family and CV metrics per candidate."""
    body = api.client.get("/v1/models/champion", headers=api.as_role(Role.VIEWER)).json()
    assert body["version"] == api_world.models.version
    assert body["champion_family"] in body["metrics"]
    assert body["metrics"][body["champion_family"]]["roc_auc_mean"] > 0.5


def test_ready_reports_an_unmigrated_database(
    make_api: Callable[..., ApiClient], tmp_path: Any, api_world: Any
) -> None:
    """Gives an empty SQLite file; expects /health 200 and /ready 503 saying 'not migrated'."""
    settings = api_world.settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'empty.db'}"}
    )
    with TestClient(create_app(settings, models=api_world.models)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["database"].startswith("not migrated")
        assert ready.json()["models"] == "ok"


def test_ready_when_models_and_database_are_fine(api: ApiClient, api_world: Any) -> None:
    """Gives a migrated store and loaded models; expects 200 ready with the version."""
    body = api.client.get("/ready").json()
    assert body == {
        "status": "ready",
        "models": "ok",
        "database": "ok",
        "model_version": api_world.models.version,
        "early_warning": "not loaded (GET /v1/alerts answers 503)",
        "early_warning_version": None,
    }


def test_an_unexpected_error_is_a_500_problem_without_internals(
    api: ApiClient, caplog: pytest.LogCaptureFixture, json_log: JsonLog
) -> None:
    """Makes a dependency raise with a secret message; expects a 500 problem hiding it
    everywhere, naming the request id its log line carries."""
    secret = "secret-internal-detail-4711"

    def broken() -> None:
        raise RuntimeError(secret)

    app = api.client.app
    app.dependency_overrides[get_models] = broken  # type: ignore[attr-defined]
    try:
        answer = api.client.get("/v1/models/champion", headers=api.as_role(Role.VIEWER))
    finally:
        app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert secret not in answer.text
    request_id = answer.headers["x-request-id"]
    assert answer.json()["request_id"] == request_id
    assert request_id in answer.json()["detail"]
    (logged,) = [line for line in json_log.lines() if "RuntimeError" in line["message"]]
    assert logged["request_id"] == request_id
    assert logged["level"] == "ERROR"
    assert secret not in caplog.text
    assert secret not in json_log.text()


def test_a_loan_id_with_slashes_can_be_read(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Plans a loan whose id holds slashes; expects GET /v1/loans/LN/2024/7 to find it."""
    loan = {**fresh_loans[50], "Loan_ID": "LN/2024/7"}
    headers = api.as_role(Role.AGENT)
    assert api.client.post("/v1/plan", json={"loans": [loan]}, headers=headers).status_code == 200
    for path in ("/v1/loans/LN/2024/7", "/v1/loans/LN%2F2024%2F7"):
        answer = api.client.get(path, headers=headers)
        assert answer.status_code == 200, path
        assert answer.json()["loan"][schema.LOAN_ID] == "LN/2024/7"


def test_the_audit_log_filters_by_time_and_refuses_bare_numbers(
    api: ApiClient, planned: list[dict[str, Any]]
) -> None:
    """Gives an ISO time and '-46'; expects filtered entries, then 422 (not a timestamp)."""
    admin = api.as_role(Role.ADMIN)
    recent = api.client.get("/v1/audit", params={"since": "2000-01-01T00:00:00Z"}, headers=admin)
    assert recent.status_code == 200
    assert recent.json()["total"] >= 1
    future = api.client.get(
        "/v1/audit", params={"since": "2999-01-01T00:00:00+05:30"}, headers=admin
    )
    assert future.json()["total"] == 0
    for bad in ("-46", "2026-07-01"):
        assert api.client.get("/v1/audit", params={"since": bad}, headers=admin).status_code == 422


def test_a_query_parameter_given_twice_is_refused_not_read_as_its_last_value(
    api: ApiClient, planned: list[dict[str, Any]]
) -> None:
    """Gives ?actor=a&actor=b and ?action=call&action=legal; expects 422 located at the
    repeated parameter, where FastAPI alone would answer for the last value only."""
    admin = api.as_role(Role.ADMIN)
    audit = api.client.get("/v1/audit", params=[("actor", "cli"), ("actor", "x")], headers=admin)
    assert audit.status_code == 422
    assert audit.json()["errors"] == [
        {
            "loc": ["query", "actor"],
            "msg": "query parameter 'actor' takes one value; it was given more.",
            "type": "repeated_parameter",
        }
    ]
    worklist = api.client.get(
        "/v1/worklist", params=[("action", "call"), ("action", "legal")], headers=admin
    )
    assert worklist.status_code == 422
    assert worklist.json()["errors"][0]["loc"] == ["query", "action"]
    single = api.client.get("/v1/worklist", params={"action": "call"}, headers=admin)
    assert single.status_code == 200
