"""Working a case: final actions keep their money, status changes are compare-and-set, and
free text reaches the audit log redacted and viewers masked. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from loan_recovery.data import schema
from loan_recovery.store.audit import MASK, redact_text
from loan_recovery.store.cases import (
    ConcurrentUpdateError,
    FinalActionError,
    create_action,
    record_outcome,
    update_action,
)
from loan_recovery.store.db import Store
from loan_recovery.store.loans import import_loans
from loan_recovery.store.models import Action, AuditEntry, utc_now
from loan_recovery.store.plans import _cancel_planned
from loan_recovery.store.queries import loan_detail

PHONE = "+44 7700 900123"
EMAIL = "zed.quill@private.example"
NOTE = f"borrower asked to call {PHONE} or mail {EMAIL}; acct 004455667788"


@pytest.fixture
def loan_id(store: Store, loans_table: pd.DataFrame) -> str:
    """Three loans imported; the first one's id."""
    import_loans(store.engine, loans_table.head(3), actor="test", batch_size=100)
    return str(loans_table[schema.LOAN_ID].iloc[0])


def _new_action(store: Store, loan_id: str, **fields: object) -> int:
    with store.transaction() as session:
        return create_action(session, loan_id=loan_id, action="call", actor="agent", **fields).id


def _status(store: Store, action_id: int) -> str:
    with store.transaction() as session:
        return str(session.scalar(sa.select(Action.status).where(Action.id == action_id)))


@pytest.mark.parametrize("final", ["done", "cancelled"])
def test_a_final_action_keeps_its_money_and_promise(store: Store, loan_id: str, final: str) -> None:
    """Closes an action, then changes its cost, promise amount and promise date, its notes
    and agent; expects 409's error for each money field (naming it), the rest accepted."""
    action_id = _new_action(store, loan_id, cost=100.0, promise_amount=500.0)
    with store.transaction() as session:
        closed = update_action(session, action_id=action_id, actor="agent", status=final)
    assert closed.completed_at is not None
    changes = {"cost": 250.0, "promise_amount": 0.0, "promise_date": date(2027, 2, 1)}
    for name, value in changes.items():
        with (
            pytest.raises(FinalActionError, match=rf"is {final}, so its {name} cannot change"),
            store.transaction() as session,
        ):
            update_action(session, action_id=action_id, actor="agent", **{name: value})
    with store.transaction() as session:
        same = update_action(session, action_id=action_id, actor="agent", cost=100.0)
        edited = update_action(
            session, action_id=action_id, actor="agent", notes="closed", assigned_agent="b"
        )
    assert (same.cost, same.promise_amount) == (100.0, 500.0)
    assert (edited.notes, edited.assigned_agent, edited.status) == ("closed", "b", final)


def test_closing_an_action_may_set_its_final_cost(store: Store, loan_id: str) -> None:
    """Marks an open action done and changes its cost in one update; expects both."""
    action_id = _new_action(store, loan_id, cost=100.0)
    with store.transaction() as session:
        record = update_action(
            session, action_id=action_id, actor="agent", status="done", cost=120.0
        )
    assert (record.status, record.cost) == ("done", 120.0)


def test_a_status_change_is_compare_and_set(store: Store, loan_id: str) -> None:
    """Reads a planned action in one transaction, lets another transaction finish it, then
    cancels it from the first; expects ConcurrentUpdateError and the action still done."""
    action_id = _new_action(store, loan_id)
    with store.transaction() as stale:
        read = stale.get(Action, action_id)  # read while planned, kept in the session
        assert read is not None
        with store.transaction() as other:
            update_action(other, action_id=action_id, actor="other", status="done")
        with pytest.raises(ConcurrentUpdateError, match="it is now done"):
            update_action(stale, action_id=action_id, actor="agent", status="cancelled")
    assert _status(store, action_id) == "done"


def test_an_edit_racing_a_close_is_refused(store: Store, loan_id: str) -> None:
    """Reads an open action, lets another transaction cancel it, then changes its cost;
    expects ConcurrentUpdateError: the cost of a cancelled action never changes."""
    action_id = _new_action(store, loan_id, cost=100.0)
    with store.transaction() as stale:
        read = stale.get(Action, action_id)  # read while open, kept in the session
        assert read is not None
        with store.transaction() as other:
            update_action(other, action_id=action_id, actor="other", status="cancelled")
        with pytest.raises(ConcurrentUpdateError):
            update_action(stale, action_id=action_id, actor="agent", cost=999.0)
    with store.transaction() as session:
        assert session.get(Action, action_id).cost == 100.0  # type: ignore[union-attr]


def test_a_plan_cancels_only_actions_still_planned(store: Store, loan_id: str) -> None:
    """Gives a planned, an in-progress and a done action to the plan's cancel step;
    expects only the planned one cancelled."""
    planned = _new_action(store, loan_id)
    started = _new_action(store, loan_id, status="in-progress")
    finished = _new_action(store, loan_id)
    with store.transaction() as session:
        update_action(session, action_id=finished, actor="agent", status="done")
    with store.transaction() as session:
        ids = [started, finished, planned]
        cancelled = _cancel_planned(session.connection(), ids, utc_now())
    assert cancelled == [planned]
    assert [_status(store, i) for i in (planned, started, finished)] == [
        "cancelled",
        "in-progress",
        "done",
    ]


def test_an_outcome_closes_its_action_through_the_same_guard(store: Store, loan_id: str) -> None:
    """Records an outcome naming an open action; expects the action done, with its cost."""
    action_id = _new_action(store, loan_id, cost=50.0)
    with store.transaction() as session:
        record_outcome(
            session,
            loan_id=loan_id,
            amount_recovered=10.0,
            status="Fully Recovered",
            outcome_date=date(2027, 1, 1),
            actor="agent",
            action_id=action_id,
        )
    assert _status(store, action_id) == "done"


def test_free_text_is_redacted_in_the_audit_log_and_masked_for_viewers(
    store: Store, loan_id: str
) -> None:
    """Writes notes and an agent holding a phone, an email and an account number, then
    changes and clears them; expects none of them in any audit row, the redacted text
    there instead, '***' notes for a viewer and the notes as typed for an agent."""
    action_id = _new_action(store, loan_id, notes=NOTE, assigned_agent=f"desk {PHONE}")
    with store.transaction() as session:
        update_action(session, action_id=action_id, actor="agent", notes=f"{NOTE} again")
        update_action(session, action_id=action_id, actor="agent", assigned_agent=EMAIL)
    with store.transaction() as session:
        rows = session.execute(sa.select(AuditEntry.actor, AuditEntry.details)).all()
        viewer = loan_detail(session, loan_id=loan_id)
        agent = loan_detail(session, loan_id=loan_id, include_personal=True)
    text = json.dumps([list(row) for row in rows])
    for secret in (PHONE, EMAIL, "004455667788", "7700 900123", "private.example"):
        assert secret not in text
    assert redact_text(NOTE) in text
    for placeholder in ("[phone]", "[email]", "[number]"):
        assert placeholder in text
    assert viewer.actions[0].notes == MASK
    assert viewer.actions[0].assigned_agent == "[email]"
    assert agent.actions[0].notes == f"{NOTE} again"
    assert agent.actions[0].assigned_agent == EMAIL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +91 99900 12345 today", "call [phone] today"),
        ("(555) 123-4567", "[phone]"),
        ("mail priya.k@example.com, then", "mail [email], then"),
        ("acct 0012345678901", "acct [number]"),
        (
            "promised 15000 by 2026-07-20 or 20/07/2026",
            "promised 15000 by 2026-07-20 or 20/07/2026",
        ),
        ("no digits here", "no digits here"),
    ],
)
def test_redaction_keeps_amounts_and_dates(text: str, expected: str) -> None:
    """Gives notes with phones, emails, account numbers, amounts and dates; expects only
    the first three replaced."""
    assert redact_text(text) == expected
