"""Helpers the API tests share (a module, not conftest: test modules may import it)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from loan_recovery.api.logs import JsonFormatter, RequestIdFilter
from loan_recovery.api.scoring import ServingModels
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.store.apikeys import create_api_key, revoke_api_key
from loan_recovery.store.db import Store
from loan_recovery.store.models import Role

TEST_ACTOR = "tests"


@dataclass(frozen=True)
class ApiWorld:
    """A trained registry, its loaded champion and settings pointing at the registry."""

    models_dir: Path
    settings: Settings
    models: ServingModels


@dataclass(frozen=True)
class Keys:
    """One active key per role, plus a revoked viewer key and a well-formed unknown one."""

    viewer: str
    agent: str
    admin: str
    revoked: str
    unknown: str = "lr_0123456789ab.not-a-real-secret"

    def of(self, role: Role) -> str:
        return {Role.VIEWER: self.viewer, Role.AGENT: self.agent, Role.ADMIN: self.admin}[role]


def make_keys(store: Store) -> Keys:
    """Create the keys in ``store`` (names unique per call)."""
    tag = uuid.uuid4().hex[:8]
    with store.transaction() as session:
        made = {
            role: create_api_key(
                session, name=f"{role.value}-{tag}", role=role.value, actor=TEST_ACTOR
            )
            for role in Role
        }
        revoked = create_api_key(session, name=f"revoked-{tag}", role="viewer", actor=TEST_ACTOR)
        revoke_api_key(session, key_id=revoked.info.key_id, actor=TEST_ACTOR)
    return Keys(
        viewer=made[Role.VIEWER].key,
        agent=made[Role.AGENT].key,
        admin=made[Role.ADMIN].key,
        revoked=revoked.key,
    )


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of ``key``."""
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class ApiClient:
    """A running app (lifespan entered), its settings and store, and keys of every role."""

    client: TestClient
    settings: Settings
    store: Store
    keys: Keys

    def as_role(self, role: Role) -> dict[str, str]:
        return bearer(self.keys.of(role))


@dataclass
class JsonLog:
    """The package's log as the server writes it: JSON lines, request ids stamped.

    A handler built like :func:`loan_recovery.api.logs.log_config`'s (its filter and
    formatter), for the ``loan_recovery`` logger (see the ``json_log`` fixture).
    """

    stream: io.StringIO = field(default_factory=io.StringIO)

    def handler(self) -> logging.Handler:
        handler = logging.StreamHandler(self.stream)
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(JsonFormatter())
        return handler

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line parsed (a line that is not a JSON object fails the test)."""
        parsed = [json.loads(line) for line in self.text().splitlines() if line]
        assert all(isinstance(line, dict) for line in parsed)
        return parsed

    def access(self) -> list[dict[str, Any]]:
        """The access lines (one per request)."""
        return [line for line in self.lines() if line["logger"] == "loan_recovery.api.access"]


# --- personal data planted in free text --------------------------------------------------------
PLANTED_PHONE = "+44 7911 123456"
PLANTED_EMAIL = "zed.quill@private.example"
#: A note as an agent might type it: the borrower's phone number and email address.
PLANTED_NOTE = f"borrower says call {PLANTED_PHONE} or write to {PLANTED_EMAIL}"
#: What must never appear in logs or the audit log, however the number is spelled.
PLANTED_MARKERS: tuple[str, ...] = (
    PLANTED_PHONE,
    "7911 123456",
    "447911123456",
    "7911123456",
    PLANTED_EMAIL,
    "zed.quill",
    "private.example",
)


def with_planted_contacts(loans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``loans`` whose contact details are the planted phone number and email."""
    return [
        {**loan, schema.PHONE: PLANTED_PHONE.replace(" ", ""), schema.EMAIL: PLANTED_EMAIL}
        for loan in loans
    ]


def plant_free_text(
    client: Any, headers_of: dict[Role, dict[str, str]], loans: list[dict[str, Any]]
) -> int:
    """Every write route, with the planted phone and email in each of its free-text fields.

    ``client`` is a TestClient or an ``httpx.Client`` on a running server. Plans and
    scores ``loans`` (contact details planted), creates, edits, closes and annotates an
    action (notes and assigned agent), records an outcome, creates and revokes an API
    key named with them, opts a borrower out with them as the source, and sends failing
    requests carrying them. Returns the action's id.
    """
    agent, admin, viewer = headers_of[Role.AGENT], headers_of[Role.ADMIN], headers_of[Role.VIEWER]
    planted = with_planted_contacts(loans)
    loan_id = planted[0][schema.LOAN_ID]

    def keyed(headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Idempotency-Key": uuid.uuid4().hex}

    def ok(answer: Any, status: int) -> Any:
        assert answer.status_code == status, answer.text
        return answer.json()

    ok(client.post("/v1/plan", json={"loans": planted}, headers=keyed(agent)), 200)
    ok(client.post("/v1/score", json={"loans": planted}, headers=viewer), 200)
    action = ok(
        client.post(
            "/v1/actions",
            json={
                "loan_id": loan_id,
                "action": "call",
                "assigned_agent": f"desk {PLANTED_PHONE} {PLANTED_EMAIL}",
                "notes": PLANTED_NOTE,
            },
            headers=keyed(agent),
        ),
        201,
    )
    path = f"/v1/actions/{action['id']}"
    ok(client.patch(path, json={"notes": f"{PLANTED_NOTE}, again"}, headers=agent), 200)
    ok(client.patch(path, json={"assigned_agent": PLANTED_EMAIL}, headers=agent), 200)
    ok(client.patch(path, json={"status": "done", "notes": PLANTED_NOTE}, headers=agent), 200)
    ok(client.patch(path, json={"notes": f"after: {PLANTED_NOTE}"}, headers=agent), 200)
    ok(client.patch(path, json={"cost": 1, "notes": PLANTED_NOTE}, headers=agent), 409)
    outcome = {
        "loan_id": loan_id,
        "amount_recovered": 10,
        "status": "Partially Recovered",
        "outcome_date": "2027-01-10",
        "action_id": action["id"],
    }
    ok(client.post("/v1/outcomes", json=outcome, headers=keyed(agent)), 201)
    name = f"robot {PLANTED_PHONE} {PLANTED_EMAIL}"
    key = ok(
        client.post("/v1/apikeys", json={"name": name, "role": "viewer"}, headers=keyed(admin)),
        201,
    )
    ok(client.post("/v1/apikeys", json={"name": name, "role": "viewer"}, headers=admin), 409)
    ok(client.delete(f"/v1/apikeys/{key['info']['key_id']}", headers=admin), 200)
    source = f"sms {PLANTED_PHONE} {PLANTED_EMAIL}"
    stop = {"loan_id": loan_id, "channel": "sms", "source": source}
    ok(client.post("/v1/contacts/opt-out", json=stop, headers=keyed(agent)), 201)
    unknown = {"loan_id": "no-such-loan", "action": "call", "notes": PLANTED_NOTE}
    ok(client.post("/v1/actions", json=unknown, headers=agent), 404)
    ok(client.post("/v1/actions", json={**unknown, "action": PLANTED_EMAIL}, headers=agent), 422)
    return int(action["id"])
