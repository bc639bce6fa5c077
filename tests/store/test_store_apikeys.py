"""API keys: the plain key is shown once and never stored; verify, revoke, CLI."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.store.apikeys import (
    KEY_PREFIX,
    create_api_key,
    hash_secret,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from loan_recovery.store.db import Store
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.models import ApiKey, AuditEntry, Base

runner = CliRunner()


def _everything_stored(store: Store) -> str:
    """Every value of every table as one string, to search for leaked secrets."""
    parts: list[str] = []
    with store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def test_created_key_verifies_and_only_its_salted_hash_is_stored(store: Store) -> None:
    """Creates a key; expects it to verify, and neither key nor secret anywhere in the DB."""
    with store.transaction() as session:
        created = create_api_key(session, name="ops-bot", role="agent", actor="cli")
    key = created.key
    assert key.startswith(KEY_PREFIX)
    key_id, secret = key.removeprefix(KEY_PREFIX).split(".", 1)
    assert key_id == created.info.key_id
    stored = _everything_stored(store)
    assert key not in stored
    assert secret not in stored
    with store.transaction() as session:
        row = session.scalar(sa.select(ApiKey).where(ApiKey.key_id == key_id))
        assert row is not None
        assert row.key_hash == hash_secret(row.salt, secret)
        assert len(row.salt) == 32
        verified = verify_api_key(session, key)
        assert verified is not None
        assert (verified.name, verified.role) == ("ops-bot", "agent")
        (audit,) = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "apikey.create")
        ).all()
        assert audit.details == {"name": "ops-bot", "role": "agent"}


def test_two_keys_with_one_secret_would_hash_differently(store: Store) -> None:
    """Expects per-key salts: the same secret under two salts gives two hashes."""
    assert hash_secret("00" * 16, "s3cret") != hash_secret("11" * 16, "s3cret")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # wrong secret
        lambda key: KEY_PREFIX + "0" * 12 + key[len(KEY_PREFIX) + 12 :],  # unknown id
        lambda key: key.replace(".", "-"),  # malformed
        lambda key: "",
        lambda key: "Bearer " + key,
    ],
)
def test_wrong_keys_do_not_verify(store: Store, mangle: object) -> None:
    """Expects altered, unknown and malformed keys to be refused (None)."""
    with store.transaction() as session:
        key = create_api_key(session, name="viewer", role="viewer", actor="cli").key
    assert callable(mangle)
    with store.transaction() as session:
        assert verify_api_key(session, mangle(key)) is None


def test_revoked_key_stops_working_and_frees_its_name(store: Store) -> None:
    """Revokes a key; expects verify None, revoked_at set, the name usable again."""
    with store.transaction() as session:
        created = create_api_key(session, name="alice", role="admin", actor="cli")
    clash = pytest.raises(InvalidRequestError, match="active API key named")
    with clash, store.transaction() as session:
        create_api_key(session, name="alice", role="viewer", actor="cli")
    with store.transaction() as session:
        info = revoke_api_key(session, key_id=created.info.key_id, actor="cli")
        assert not info.active
        assert verify_api_key(session, created.key) is None
        again = revoke_api_key(session, key_id=created.info.key_id, actor="cli")
        assert again.revoked_at == info.revoked_at
        create_api_key(session, name="alice", role="viewer", actor="cli")
        assert [key.active for key in list_api_keys(session)] == [False, True]
        assert len(list_api_keys(session, include_revoked=False)) == 1
    with pytest.raises(NotFoundError), store.transaction() as session:
        revoke_api_key(session, key_id="ffffffffffff", actor="cli")


def test_bad_role_and_blank_name_are_refused(store: Store) -> None:
    """Expects role and name checks before anything is written."""
    bad_role = pytest.raises(InvalidRequestError, match="viewer, agent, admin")
    with bad_role, store.transaction() as session:
        create_api_key(session, name="x", role="root", actor="cli")
    with pytest.raises(InvalidRequestError, match="name"), store.transaction() as session:
        create_api_key(session, name="  ", role="viewer", actor="cli")


def test_cli_create_list_revoke(database_url: str) -> None:
    """Drives `apikey create/list/revoke`; expects the key alone on stdout, once."""
    env = {"LOAN_RECOVERY_DATABASE_URL": database_url}
    created = runner.invoke(app, ["apikey", "create", "--role", "agent", "--name", "bob"], env=env)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith(KEY_PREFIX)
    listed = runner.invoke(app, ["apikey", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "bob"
    assert entry["revoked_at"] is None
    assert key not in listed.stdout
    revoked = runner.invoke(app, ["apikey", "revoke", entry["key_id"]], env=env)
    assert revoked.exit_code == 0, revoked.output
    table = runner.invoke(app, ["apikey", "list"], env=env)
    assert entry["key_id"] in table.stdout
    bad_role = runner.invoke(app, ["apikey", "create", "--role", "root", "--name", "x"], env=env)
    assert bad_role.exit_code == 2
    missing = runner.invoke(app, ["apikey", "revoke", "nope"], env=env)
    assert missing.exit_code == 2
    assert "apikey list" in missing.output
