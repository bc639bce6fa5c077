"""Helpers the API tests share (a module, not conftest: test modules may import it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from loan_recovery.api.scoring import ServingModels
from loan_recovery.config import Settings
from loan_recovery.store.apikeys import create_api_key, revoke_api_key
from loan_recovery.store.db import Store, create_store_engine, parse_database_url, upgrade
from loan_recovery.store.models import Role

TEST_ACTOR = "tests"


@dataclass(frozen=True)
class ApiWorld:
    """A trained registry, its loaded champion and settings pointing at the registry."""

    models_dir: Path
    settings: Settings
    models: ServingModels


class PostgresDatabases:
    """Creates (from a migrated template) and drops uniquely named test databases."""

    def __init__(self, server_url: str) -> None:
        self.server = parse_database_url(server_url)
        self.admin = sa.create_engine(
            self.server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        self.template: str | None = None

    def _create(self, template: str | None) -> str:
        name = f"lr_api_{uuid.uuid4().hex[:16]}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}{clause}"))
        return name

    def url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def create_migrated(self) -> str:
        if self.template is None:
            self.template = self._create(None)
            engine = create_store_engine(self.url(self.template))
            upgrade(engine)
            engine.dispose()
        return self._create(self.template)

    def drop(self, name: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


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
