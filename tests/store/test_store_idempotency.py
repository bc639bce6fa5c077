"""Idempotency keys: claimed once under a unique constraint, answers replayed, TTL, purge.

Every test runs on SQLite and on PostgreSQL. The concurrent cases use two real
transactions on two connections: the second claim must wait for the first to end.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from loan_recovery.store.db import Store
from loan_recovery.store.idempotency import (
    IDEMPOTENCY_TABLE,
    PURGE_EVERY,
    IdempotencyConflictError,
    IdempotencyScope,
    StoredResponse,
    claim,
    find_response,
    purge_expired,
    request_hash,
    save_response,
)

NOW = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
SCOPE = IdempotencyScope(api_key_id="k1", route="POST /v1/actions", key="retry-me")
BODY_HASH = request_hash({"loan_id": "L1", "action": "call"})


def _rows(store: Store) -> int:
    with store.transaction() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(IDEMPOTENCY_TABLE)) or 0)


def _answer(store: Store, scope: IdempotencyScope = SCOPE, body: str = '{"id":1}') -> None:
    """Claim ``scope`` and save an answer in one transaction (what a route does)."""
    with store.transaction() as session:
        assert claim(session, scope=scope, request_hash=BODY_HASH, now=NOW, ttl=DAY) is None
        save_response(session, scope=scope, status_code=201, body=body)


def test_the_canonical_hash_ignores_key_order_and_spacing() -> None:
    """Gives one body in two key orders, and another body; expects equal, then different."""
    first = request_hash({"a": 1, "b": [1, 2], "c": {"x": None, "y": "é"}})
    second = request_hash({"c": {"y": "é", "x": None}, "b": [1, 2], "a": 1})
    assert first == second
    assert len(first) == 64
    assert request_hash({"a": 2, "b": [1, 2], "c": {"x": None, "y": "é"}}) != first


def test_a_claimed_key_replays_its_answer_and_refuses_another_body(store: Store) -> None:
    """Claims and answers a key, then claims it again with the same and another body;
    expects the stored answer, then 409's error, and one row."""
    _answer(store)
    with store.transaction() as session:
        again = claim(session, scope=SCOPE, request_hash=BODY_HASH, now=NOW, ttl=DAY)
        found = find_response(session, scope=SCOPE, request_hash=BODY_HASH, now=NOW)
    assert again == found == StoredResponse(status_code=201, body='{"id":1}')
    other = request_hash({"loan_id": "L1", "action": "legal"})
    with store.transaction() as session, pytest.raises(IdempotencyConflictError) as raised:
        claim(session, scope=SCOPE, request_hash=other, now=NOW, ttl=DAY)
    assert "different request" in str(raised.value)
    assert "retry-me" in str(raised.value)
    assert _rows(store) == 1


def test_keys_are_scoped_by_api_key_and_route(store: Store) -> None:
    """Uses one key text from two API keys and on two routes; expects three claims."""
    _answer(store)
    _answer(store, IdempotencyScope("k2", SCOPE.route, SCOPE.key))
    _answer(store, IdempotencyScope("k1", "POST /v1/outcomes", SCOPE.key))
    assert _rows(store) == 3


def test_a_rolled_back_claim_leaves_the_key_free(store: Store) -> None:
    """Claims in a transaction that fails; expects no row, and the next claim succeeds."""
    with store.sessions() as session:
        claim(session, scope=SCOPE, request_hash=BODY_HASH, now=NOW, ttl=DAY)
        session.rollback()  # the write after the claim failed
    assert _rows(store) == 0
    _answer(store)
    assert _rows(store) == 1


def test_an_expired_key_is_free_again_and_purged(store: Store) -> None:
    """Answers a key, then looks a day later with another body; expects no answer, a new
    claim taking the row over, and purge deleting only what expired."""
    _answer(store)
    later = NOW + DAY
    other = request_hash({"different": True})
    with store.transaction() as session:
        assert find_response(session, scope=SCOPE, request_hash=other, now=later) is None
        assert claim(session, scope=SCOPE, request_hash=other, now=later, ttl=DAY) is None
        save_response(session, scope=SCOPE, status_code=201, body='{"id":2}')
    with store.transaction() as session:
        found = find_response(session, scope=SCOPE, request_hash=other, now=later)
    assert found == StoredResponse(201, '{"id":2}')
    _answer(store, IdempotencyScope("k2", SCOPE.route, "old"))
    with store.transaction() as session:
        assert purge_expired(session, now=later) == 1  # "old", created at NOW
    assert _rows(store) == 1


def test_every_hundredth_claim_purges_expired_keys(store: Store) -> None:
    """Claims PURGE_EVERY keys, the first ones long expired by the last claim's clock;
    expects the expired ones gone after the claim whose id is a multiple of 100."""
    with store.transaction() as session:
        for index in range(PURGE_EVERY - 1):
            scope = IdempotencyScope("k1", SCOPE.route, f"key-{index}")
            claim(session, scope=scope, request_hash=BODY_HASH, now=NOW, ttl=DAY)
            save_response(session, scope=scope, status_code=201, body="{}")
    assert _rows(store) == PURGE_EVERY - 1
    later = NOW + 2 * DAY
    with store.transaction() as session:
        last = IdempotencyScope("k1", SCOPE.route, "last")
        claim(session, scope=last, request_hash=BODY_HASH, now=later, ttl=DAY)
        save_response(session, scope=last, status_code=201, body="{}")
    assert _rows(store) == 1


def test_a_concurrent_claim_waits_for_the_first_and_gets_its_answer(store: Store) -> None:
    """Holds a claim open in one thread while a second transaction claims the same key;
    expects the second to wait until the first commits, then to get its answer."""
    claimed, results = threading.Event(), {}

    def first() -> None:
        with store.transaction() as session:
            claim(session, scope=SCOPE, request_hash=BODY_HASH, now=NOW, ttl=DAY)
            claimed.set()
            time.sleep(0.5)  # the second claim is waiting meanwhile
            save_response(session, scope=SCOPE, status_code=201, body='{"first":true}')

    def second() -> None:
        assert claimed.wait(10)
        started = time.monotonic()
        with store.transaction() as session:
            results["answer"] = claim(
                session, scope=SCOPE, request_hash=BODY_HASH, now=NOW, ttl=DAY
            )
        results["waited"] = time.monotonic() - started

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results["answer"] == StoredResponse(201, '{"first":true}')
    assert results["waited"] >= 0.3
    assert _rows(store) == 1


def test_a_concurrent_claim_takes_the_key_when_the_first_rolls_back(store: Store) -> None:
    """Holds a claim open in one thread, then rolls it back; expects the waiting claim to
    get the key (None) instead of an answer."""
    claimed, results = threading.Event(), {}

    def first() -> None:
        with store.sessions() as session:
            claim(session, scope=SCOPE, request_hash=BODY_HASH, now=NOW, ttl=DAY)
            claimed.set()
            time.sleep(0.3)
            session.rollback()  # the write after the claim failed

    def second() -> None:
        assert claimed.wait(10)
        with store.transaction() as session:
            results["answer"] = claim(
                session, scope=SCOPE, request_hash=BODY_HASH, now=NOW, ttl=DAY
            )
            save_response(session, scope=SCOPE, status_code=201, body='{"second":true}')

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {"answer": None}
    with store.transaction() as session:
        found = find_response(session, scope=SCOPE, request_hash=BODY_HASH, now=NOW)
    assert found == StoredResponse(201, '{"second":true}')
