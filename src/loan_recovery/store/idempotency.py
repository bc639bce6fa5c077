"""Idempotent writes: a creating request sent again with its idempotency key creates nothing.

A client that retries a POST after a timeout cannot know whether the first attempt
created something. It sends an ``Idempotency-Key`` (any unique text, e.g. a UUID) with
the request and the same key with every retry; the store remembers the first answer for
each (API key, route, idempotency key) and a retry gets that answer back instead of a
second row. How it stays right under concurrency and failure:

* the key is claimed in the request's own transaction, before anything is created, by one
  ``INSERT ... ON CONFLICT`` against a unique constraint. A concurrent retry's claim waits
  for the first transaction (PostgreSQL's unique index, SQLite's single writer) and then
  finds the key taken; it never creates;
* the answer is saved in the same transaction as the write (:func:`save_response`), so a
  claim is visible to others only together with the write it describes and its answer. A
  request that fails rolls its claim back with everything else: a retry runs it again;
* the body is compared by the SHA-256 of its canonical JSON (:func:`request_hash`): the
  same key with another body is refused (:class:`IdempotencyConflictError`, API 409),
  because answering it with the first request's result would hide the difference;
* keys live ``ttl`` (the API's ``idempotency_ttl_seconds``); an expired key counts as
  absent (a new claim takes its row over) and every :data:`PURGE_EVERY`-th claim deletes
  the expired ones (:func:`purge_expired`).

The stored answer holds what the first response held (an agent's notes included), for as
long as the key lives, and only the same API key can read it back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loan_recovery.store.errors import InvalidRequestError
from loan_recovery.store.models import IdempotencyRecord

#: The table of stored answers.
IDEMPOTENCY_TABLE: sa.Table = IdempotencyRecord.__table__  # type: ignore[assignment]
#: A claim whose row id is a multiple of this purges the expired keys (about 1 in 100).
PURGE_EVERY = 100
_SCOPE_COLUMNS = ("api_key_id", "route", "idempotency_key")


class IdempotencyConflictError(InvalidRequestError):
    """An idempotency key reused for a different request, or one still running (API: 409)."""


@dataclass(frozen=True, slots=True)
class IdempotencyScope:
    """Where a key is unique: the API key that sent it, the route, and the key itself."""

    api_key_id: str
    route: str
    key: str


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer given to a key: its status and JSON body, as sent."""

    status_code: int
    body: str


def request_hash(payload: Any) -> str:
    """SHA-256 (hex) of ``payload``'s canonical JSON: keys sorted, no spaces, UTF-8.

    ``payload`` is the request body as the API understood it (the validated model dumped
    to JSON values), so retries that differ only in key order, spacing or number spelling
    (``1`` or ``1.0``) count as the same request.
    """
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _in_scope(scope: IdempotencyScope) -> sa.ColumnElement[bool]:
    table = IDEMPOTENCY_TABLE
    return sa.and_(
        table.c.api_key_id == scope.api_key_id,
        table.c.route == scope.route,
        table.c.idempotency_key == scope.key,
    )


def find_response(
    session: Session, *, scope: IdempotencyScope, request_hash: str, now: datetime
) -> StoredResponse | None:
    """The answer already given to this key (None: unused or expired); writes nothing.

    Raises :class:`IdempotencyConflictError` when the key was used with another body.
    """
    table = IDEMPOTENCY_TABLE
    row = session.execute(
        sa.select(table.c.request_hash, table.c.status_code, table.c.response).where(
            _in_scope(scope), table.c.expires_at > now
        )
    ).first()
    if row is None:
        return None
    stored_hash, status_code, body = row
    if stored_hash != request_hash:
        raise IdempotencyConflictError(
            f"the Idempotency-Key {scope.key!r} was already used for a different request to "
            f"{scope.route}; a retry must repeat the body exactly, and a new request needs a "
            "new key."
        )
    if status_code is None or body is None:  # only if a writer claimed and never answered
        raise IdempotencyConflictError(
            f"a request with the Idempotency-Key {scope.key!r} to {scope.route} has not "
            "finished; retry it in a moment."
        )
    return StoredResponse(status_code=int(status_code), body=str(body))


def claim(
    session: Session,
    *,
    scope: IdempotencyScope,
    request_hash: str,
    now: datetime,
    ttl: timedelta,
) -> StoredResponse | None:
    """Claim the key for this transaction, or return the answer an earlier request got.

    None: the key is this request's; do the write, then :func:`save_response` in the
    same transaction. A :class:`StoredResponse`: the key was used by a committed request
    with the same body; create nothing and send that answer. A concurrent request with
    the same key makes this wait until that request's transaction ends. Raises
    :class:`IdempotencyConflictError` when the key was used with another body.
    """
    table = IDEMPOTENCY_TABLE
    values = {
        "api_key_id": scope.api_key_id,
        "route": scope.route,
        "idempotency_key": scope.key,
        "request_hash": request_hash,
        "status_code": None,
        "response": None,
        "created_at": now,
        "expires_at": now + ttl,
    }
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    taken_over = {name: value for name, value in values.items() if name not in _SCOPE_COLUMNS}
    statement = (
        insert.values(values)
        .on_conflict_do_update(
            index_elements=[table.c[name] for name in _SCOPE_COLUMNS],
            set_=taken_over,
            where=table.c.expires_at <= now,  # an expired key is free again
        )
        .returning(table.c.id)
    )
    claimed = session.execute(statement).scalar_one_or_none()
    if claimed is not None:
        if claimed % PURGE_EVERY == 0:
            purge_expired(session, now=now)
        return None
    earlier = find_response(session, scope=scope, request_hash=request_hash, now=now)
    if earlier is None:  # pragma: no cover - the row the conflict found is live
        raise IdempotencyConflictError(
            f"the Idempotency-Key {scope.key!r} to {scope.route} is in use; retry in a moment."
        )
    return earlier


def save_response(
    session: Session, *, scope: IdempotencyScope, status_code: int, body: str
) -> None:
    """Record the answer to the key this transaction claimed (see :func:`claim`)."""
    table = IDEMPOTENCY_TABLE
    session.execute(
        sa.update(table).where(_in_scope(scope)).values(status_code=status_code, response=body)
    )


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete every key that expired at or before ``now``; returns how many."""
    table = IDEMPOTENCY_TABLE
    result = session.execute(sa.delete(table).where(table.c.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
