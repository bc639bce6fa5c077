"""Helpers the API tests share (a module, not conftest: test modules may import it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from loan_recovery.api.scoring import ServingModels
from loan_recovery.config import Settings
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
