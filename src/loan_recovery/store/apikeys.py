"""API keys: shown once, stored only as a salted hash, looked up by a public id.

A key reads ``lr_<key id>.<secret>``. The key id (12 hex digits) is stored in clear so a
presented key is found with one indexed lookup; the secret (``secrets.token_urlsafe``,
256 bits) is stored only as HMAC-SHA256 under a random per-key salt and compared in
constant time. A leaked database therefore yields no usable key, and revoking a key
only stamps ``revoked_at`` so the audit log keeps pointing at it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loan_recovery.store.audit import write_audit
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.models import ApiKey, Role, utc_now

KEY_PREFIX = "lr_"
_KEY_ID_BYTES = 6
_SECRET_BYTES = 32
_SALT_BYTES = 16
_KEY_PATTERN = re.compile(
    rf"^{KEY_PREFIX}(?P<key_id>[0-9a-f]{{{2 * _KEY_ID_BYTES}}})\.(?P<secret>[A-Za-z0-9_-]+)$"
)
#: Compared against when the key id is unknown, so a miss costs what a hit costs.
_DUMMY_SALT = "0" * (2 * _SALT_BYTES)
_DUMMY_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key: never the key nor its hash."""

    key_id: str
    name: str
    role: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the key still opens the API."""
        return self.revoked_at is None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyInfo:
        """The public view of a stored key."""
        return cls(
            key_id=key.key_id,
            name=key.name,
            role=key.role,
            created_by=key.created_by,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just created: ``key`` is the only copy of the secret; show it once."""

    info: ApiKeyInfo
    key: str


def hash_secret(salt: str, secret: str) -> str:
    """HMAC-SHA256 of the secret under the key's salt, as hex."""
    return hmac.new(bytes.fromhex(salt), secret.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_role(role: str) -> Role:
    """The :class:`Role` named ``role``, or :class:`InvalidRequestError` listing the roles."""
    try:
        return Role(role)
    except ValueError:
        roles = ", ".join(item.value for item in Role)
        raise InvalidRequestError(f"role must be one of {roles}; got {role!r}.") from None


def create_api_key(session: Session, *, name: str, role: str, actor: str) -> NewApiKey:
    """Create a key for ``name`` with ``role``; the returned ``key`` is never stored.

    Refuses a blank name and a name an active key already has, because the name is what
    the audit log records as the actor of every request made with the key.
    """
    name = name.strip()
    if not name:
        raise InvalidRequestError("an API key needs a name (who or what uses it).")
    checked = parse_role(role)
    clash = session.scalar(
        sa.select(ApiKey.key_id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    )
    if clash is not None:
        raise InvalidRequestError(
            f"an active API key named {name!r} exists ({clash}); revoke it or pick another name."
        )
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    salt = secrets.token_hex(_SALT_BYTES)
    row = ApiKey(
        key_id=key_id,
        name=name,
        role=checked.value,
        salt=salt,
        key_hash=hash_secret(salt, secret),
        created_by=actor,
        created_at=utc_now(),
    )
    session.add(row)
    session.flush()
    write_audit(
        session,
        actor=actor,
        action="apikey.create",
        entity="api_key",
        entity_id=key_id,
        details={"name": name, "role": checked.value},
    )
    return NewApiKey(info=ApiKeyInfo.of(row), key=f"{KEY_PREFIX}{key_id}.{secret}")


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKeyInfo]:
    """Every key, oldest first (revoked ones too unless ``include_revoked`` is False)."""
    statement = sa.select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return [ApiKeyInfo.of(key) for key in session.scalars(statement)]


def revoke_api_key(session: Session, *, key_id: str, actor: str) -> ApiKeyInfo:
    """Stop ``key_id`` from opening the API (idempotent: revoking twice keeps the first time)."""
    key = session.scalar(sa.select(ApiKey).where(ApiKey.key_id == key_id.strip()))
    if key is None:
        raise NotFoundError(
            f"no API key with id {key_id!r}; `loan-recovery apikey list` shows them."
        )
    if key.revoked_at is None:
        key.revoked_at = utc_now()
        session.flush()
        write_audit(
            session,
            actor=actor,
            action="apikey.revoke",
            entity="api_key",
            entity_id=key.key_id,
            details={"name": key.name},
        )
    return ApiKeyInfo.of(key)


def verify_api_key(session: Session, presented: str) -> ApiKey | None:
    """The active key ``presented`` opens, or None (malformed, unknown, wrong or revoked).

    The comparison runs in constant time, and an unknown key id still pays for one hash,
    so timing tells an attacker nothing about which ids exist.
    """
    match = _KEY_PATTERN.match(presented.strip()) if presented else None
    if match is None:
        return None
    key = session.scalar(sa.select(ApiKey).where(ApiKey.key_id == match["key_id"]))
    salt, expected = (key.salt, key.key_hash) if key is not None else (_DUMMY_SALT, _DUMMY_HASH)
    valid = hmac.compare_digest(hash_secret(salt, match["secret"]), expected)
    if key is None or not valid or key.revoked_at is not None:
        return None
    return key
