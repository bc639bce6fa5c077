"""``GET /metrics``: request latency by route template, loans planned by action, the
outbox by status, the models served; who may read it; nothing personal in it."""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from api_support import PLANTED_MARKERS, ApiClient, ApiWorld, with_planted_contacts
from prometheus_client.parser import text_string_to_metric_families

from loan_recovery.data import schema
from loan_recovery.store.models import OutboxStatus, Role
from loan_recovery.store.outbox import enqueue

LATENCY = "loan_recovery_http_request_duration_seconds"
REQUESTS = "loan_recovery_http_requests_total"
PLANNED = "loan_recovery_planned_loans_total"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: ApiClient, role: Role = Role.VIEWER) -> str:
    answer = api.client.get("/metrics", headers=api.as_role(role))
    assert answer.status_code == 200, answer.text
    return answer.text


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_the_latency_histogram_counts_each_request_under_its_route_template(
    api: ApiClient,
) -> None:
    """Sends 3 GETs to /v1/segments, 3 to /v1/loans/<id> with unknown ids and an empty
    plan; expects histogram counts of 3 under each template, the +Inf bucket equal to
    the count, statuses counted apart, and none of the ids in the output."""
    viewer = api.as_role(Role.VIEWER)
    for _ in range(3):
        assert api.client.get("/v1/segments", headers=viewer).status_code == 200
    ids = [f"LN-METRIC-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for loan_id in ids:
        assert api.client.get(f"/v1/loans/{loan_id}", headers=viewer).status_code == 404
    empty = api.client.post("/v1/plan", json={"loans": []}, headers=api.as_role(Role.AGENT))
    assert empty.status_code == 422
    text = scrape(api)
    found = samples(text)
    segments = {"method": "GET", "route": "/v1/segments"}
    loans = {"method": "GET", "route": "/v1/loans/{loan_id}"}
    assert value(found, f"{LATENCY}_count", **segments) == 3
    assert value(found, f"{LATENCY}_bucket", **segments, le="+Inf") == 3
    assert value(found, f"{LATENCY}_count", **loans) == 3
    assert value(found, REQUESTS, **loans, status="404") == 3
    assert value(found, REQUESTS, method="POST", route="/v1/plan", status="422") == 1
    assert (value(found, f"{LATENCY}_sum", **segments) or 0.0) > 0.0
    for loan_id in ids:
        assert loan_id not in text


def test_requests_refused_before_routing_are_named_by_template_or_unmatched(
    api: ApiClient,
) -> None:
    """Sends a keyless POST /v1/plan (401 from the limits middleware, before routing) and
    a GET to an unknown path holding a phone number; expects the first under /v1/plan,
    the second as 'unmatched', and the number nowhere."""
    assert api.client.post("/v1/plan", json={"loans": []}).status_code == 401
    unknown = api.client.get("/nowhere/+447911123456", headers=api.as_role(Role.VIEWER))
    assert unknown.status_code == 404
    text = scrape(api)
    found = samples(text)
    assert value(found, REQUESTS, method="POST", route="/v1/plan", status="401") == 1
    assert value(found, REQUESTS, method="GET", route="unmatched", status="404") == 1
    assert "447911123456" not in text
    assert "nowhere" not in text


def test_planned_loans_are_counted_by_recommended_action(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Plans 40 loans, then retries with the same Idempotency-Key; expects the counter to
    equal the plan's action mix, unchanged by the replay, and scoring to count nothing."""
    agent = {**api.as_role(Role.AGENT), "Idempotency-Key": uuid.uuid4().hex}
    body = {"loans": fresh_loans[100:140]}
    first = api.client.post("/v1/plan", json=body, headers=agent)
    assert first.status_code == 200, first.text
    mix = collections.Counter(row[schema.RECOMMENDED_ACTION] for row in first.json()["loans"])
    replay = api.client.post("/v1/plan", json=body, headers=agent)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    scored = api.client.post("/v1/score", json=body, headers=api.as_role(Role.VIEWER))
    assert scored.status_code == 200
    found = samples(scrape(api))
    counted = {
        dict(labels)["action"]: count for (name, labels), count in found.items() if name == PLANNED
    }
    assert counted == {action: float(loans) for action, loans in mix.items()}
    assert sum(counted.values()) == 40


def _outbox_row(key: str, loan_id: str, status: OutboxStatus) -> dict[str, Any]:
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    return {
        "idempotency_key": key,
        "loan_id": loan_id,
        "campaign": "reminder",
        "campaign_date": date(2026, 3, 2),
        "channel": "sms",
        "template": "reminder",
        "language": "en",
        "status": status.value,
        "reason": None,
        "scheduled_for": now,
        "context": {"amount_due": 1.0},
        "created_at": now,
        "updated_at": now,
    }


def test_the_outbox_is_counted_by_status_at_each_scrape(
    api: ApiClient, fresh_loans: list[dict[str, Any]]
) -> None:
    """Plans 3 loans and queues 2 pending reminders, 1 sent and 1 held; expects every
    status listed (zero where none), those counts, outbox_up 1, and no loan id."""
    loans = fresh_loans[200:203]
    planned = api.client.post("/v1/plan", json={"loans": loans}, headers=api.as_role(Role.AGENT))
    assert planned.status_code == 200
    assert value(samples(scrape(api)), "loan_recovery_outbox_messages", status="pending") == 0
    ids = [str(loan[schema.LOAN_ID]) for loan in loans]
    queued = [
        (ids[0], OutboxStatus.PENDING),
        (ids[1], OutboxStatus.PENDING),
        (ids[2], OutboxStatus.SENT),
        (ids[0], OutboxStatus.HELD),
    ]
    with api.store.engine.begin() as connection:
        enqueue(connection, [_outbox_row(f"k{n}", *row) for n, row in enumerate(queued)])
    text = scrape(api)
    found = samples(text)
    expected = dict.fromkeys((status.value for status in OutboxStatus), 0.0)
    expected |= {"pending": 2.0, "sent": 1.0, "held": 1.0}
    counted = {
        dict(labels)["status"]: count
        for (name, labels), count in found.items()
        if name == "loan_recovery_outbox_messages"
    }
    assert counted == expected
    assert value(found, "loan_recovery_outbox_up") == 1
    assert all(loan_id not in text for loan_id in ids)


def test_an_outbox_that_cannot_be_counted_says_so_and_the_scrape_still_answers(
    make_api: Callable[..., ApiClient], sqlite_url: str, api_world: ApiWorld
) -> None:
    """Drops the outbox table under a running app; expects /metrics 200 with outbox_up 0,
    no outbox series, and the rest of the metrics (the served model) still there."""
    api = make_api(sqlite_url)
    with api.store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE outbox")
    found = samples(scrape(api))
    assert value(found, "loan_recovery_outbox_up") == 0
    assert not any(name == "loan_recovery_outbox_messages" for name, _ in found)
    version = api_world.models.version
    assert value(found, "loan_recovery_model_info", model="recovery", version=version) == 1


def test_the_served_model_versions_are_labelled(api: ApiClient, api_world: ApiWorld) -> None:
    """Scrapes an app serving the session's champion and no early-warning model; expects
    one model_info series, for the recovery model at its version."""
    found = samples(scrape(api))
    served = {
        dict(labels)["model"]: (dict(labels)["version"], count)
        for (name, labels), count in found.items()
        if name == "loan_recovery_model_info"
    }
    assert served == {"recovery": (api_world.models.version, 1.0)}


def test_metrics_need_a_viewer_key_and_speak_openmetrics_when_asked(api: ApiClient) -> None:
    """Scrapes without a key, with a revoked one, as each role and asking for OpenMetrics;
    expects 401 problems, then 200 for every role, in the format asked for."""
    assert api.client.get("/metrics").status_code == 401
    revoked = api.client.get("/metrics", headers={"Authorization": f"Bearer {api.keys.revoked}"})
    assert revoked.status_code == 401
    assert revoked.headers["content-type"] == "application/problem+json"
    for role in Role:
        answer = api.client.get("/metrics", headers=api.as_role(role))
        assert answer.status_code == 200, role
        assert answer.headers["content-type"].startswith("text/plain")
    openmetrics = api.client.get(
        "/metrics",
        headers={**api.as_role(Role.VIEWER), "Accept": "application/openmetrics-text"},
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_each_app_counts_only_its_own_requests(
    make_api: Callable[..., ApiClient], sqlite_url: str
) -> None:
    """Builds two apps in one process and calls one of them twice; expects the other's
    registry to hold none of those requests (no shared global registry)."""
    first, second = make_api(sqlite_url), make_api(sqlite_url)
    for _ in range(2):
        answer = first.client.get("/v1/segments", headers=first.as_role(Role.VIEWER))
        assert answer.status_code == 200
    route = {"method": "GET", "route": "/v1/segments"}
    assert value(samples(scrape(first)), f"{LATENCY}_count", **route) == 2
    assert value(samples(scrape(second)), f"{LATENCY}_count", **route) is None


@pytest.mark.parametrize("path", ["/v1/plan", "/v1/score"])
def test_no_personal_data_reaches_the_metrics(
    api: ApiClient, fresh_loans: list[dict[str, Any]], path: str
) -> None:
    """Sends loans with a planted phone and email, reads one by its Loan_ID and sends a
    request id holding the phone number; expects none of it in /metrics."""
    loans = with_planted_contacts(fresh_loans[300:305])
    role = Role.AGENT if path == "/v1/plan" else Role.VIEWER
    headers = {**api.as_role(role), "X-Request-ID": "+447911123456"}
    assert api.client.post(path, json={"loans": loans}, headers=headers).status_code == 200
    loan_id = str(loans[0][schema.LOAN_ID])
    api.client.get(f"/v1/loans/{loan_id}", headers=api.as_role(Role.AGENT))
    text = scrape(api)
    for marker in [*PLANTED_MARKERS, *(str(loan[schema.LOAN_ID]) for loan in loans)]:
        assert marker not in text
