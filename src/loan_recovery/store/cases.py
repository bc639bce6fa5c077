"""Working a case: create and update recovery actions, record outcomes.

These are the writes an agent makes through the API (or a script). Each takes the
session, the ``actor`` (the API key's name, or ``"cli"``) and keyword-only fields, checks
them, writes one audit row in the same transaction and returns a plain record the API
can serialise. Committing is the caller's business.

Finished actions stay finished. A status change is a compare-and-set: the row is updated
``WHERE status = <the status read>`` and a count of 0 rows means another request changed
it first (:class:`ConcurrentUpdateError`, API 409), so two agents closing one action can
never both win, and a late edit never lands on an action that was closed meanwhile. Every
other change of an action goes through the same guarded update. Once an action is done
or cancelled its money and promise (:data:`FINAL_FIELDS`) are refused
(:class:`FinalActionError`, API 409): they are what the economics and the next training
run read. Notes and the assigned agent may still be corrected.

Free text (notes, assigned agent) goes to the audit log redacted (see
:func:`loan_recovery.store.audit.redact_text`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loan_recovery.data import schema
from loan_recovery.store.audit import masked, write_audit
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.models import (
    ALLOWED_TRANSITIONS,
    OPEN_STATUSES,
    Action,
    ActionStatus,
    Outcome,
    loan_key,
    utc_now,
)


class _Unset(Enum):
    UNSET = "unset"


#: "Leave this field as it is" in :func:`update_action` (None clears a field).
UNSET = _Unset.UNSET
#: Statuses after which an action's money and promise never change.
FINAL_STATUSES: tuple[ActionStatus, ...] = (ActionStatus.DONE, ActionStatus.CANCELLED)
#: Fields of an action fixed once it is final: its cost and its promise to pay.
FINAL_FIELDS: tuple[str, ...] = ("cost", "promise_amount", "promise_date")


class FinalActionError(InvalidRequestError):
    """A change to the money or promise of a done or cancelled action (API: 409)."""


class ConcurrentUpdateError(InvalidRequestError):
    """Another request changed the action between this one's read and write (API: 409)."""


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A recovery action as the API shows it."""

    id: int
    loan_id: str
    action: str
    status: str
    assigned_agent: str | None
    cost: float | None
    promise_amount: float | None
    promise_date: date | None
    notes: str | None
    score_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, row: Action) -> ActionRecord:
        """The record of an ORM row."""
        return cls(
            id=row.id,
            loan_id=row.loan_id,
            action=row.action,
            status=row.status,
            assigned_agent=row.assigned_agent,
            cost=row.cost,
            promise_amount=row.promise_amount,
            promise_date=row.promise_date,
            notes=row.notes,
            score_id=row.score_id,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
        )


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """A recorded outcome as the API shows it."""

    id: int
    loan_id: str
    action_id: int | None
    amount_recovered: float
    status: str
    outcome_date: date
    recorded_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: Outcome) -> OutcomeRecord:
        """The record of an ORM row."""
        return cls(
            id=row.id,
            loan_id=row.loan_id,
            action_id=row.action_id,
            amount_recovered=row.amount_recovered,
            status=row.status,
            outcome_date=row.outcome_date,
            recorded_by=row.recorded_by,
            created_at=row.created_at,
        )


# --- checks -----------------------------------------------------------------------------------
def _require_loan(session: Session, loan_id: str) -> None:
    if session.scalar(sa.select(loan_key).where(loan_key == loan_id)) is None:
        raise NotFoundError(f"no loan {loan_id!r} in the store.")


def _action_name(action: str) -> str:
    if action not in schema.ACTION_NAMES:
        raise InvalidRequestError(
            f"action must be one of {', '.join(schema.ACTION_NAMES)}; got {action!r}."
        )
    return action


def _status(status: str) -> ActionStatus:
    try:
        return ActionStatus(status)
    except ValueError:
        allowed = ", ".join(item.value for item in ActionStatus)
        raise InvalidRequestError(f"status must be one of {allowed}; got {status!r}.") from None


def _amount(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise InvalidRequestError(f"{name} must be a finite amount >= 0; got {value!r}.")
    return float(value)


def _stamped(
    status: ActionStatus, now: datetime, *, started_at: datetime | None = None
) -> dict[str, Any]:
    """The status and the timestamps it implies, as column values."""
    values: dict[str, Any] = {"status": status.value}
    if status is ActionStatus.IN_PROGRESS and started_at is None:
        values["started_at"] = now
    if status in FINAL_STATUSES:
        values["completed_at"] = now
    return values


# --- actions ----------------------------------------------------------------------------------
def create_action(
    session: Session,
    *,
    loan_id: str,
    action: str,
    actor: str,
    status: str = ActionStatus.PLANNED.value,
    assigned_agent: str | None = None,
    cost: float | None = None,
    promise_amount: float | None = None,
    promise_date: date | None = None,
    notes: str | None = None,
) -> ActionRecord:
    """Create an action on ``loan_id`` (planned unless said otherwise) and audit it."""
    _require_loan(session, loan_id)
    checked = _status(status)
    if checked not in OPEN_STATUSES:
        raise InvalidRequestError(
            f"a new action starts planned or in-progress; got {checked.value!r}."
        )
    now = utc_now()
    row = Action(
        loan_id=loan_id,
        action=_action_name(action),
        assigned_agent=assigned_agent,
        cost=_amount("cost", cost),
        promise_amount=_amount("promise_amount", promise_amount),
        promise_date=promise_date,
        notes=notes,
        created_by=actor,
        created_at=now,
        updated_at=now,
        **_stamped(checked, now),
    )
    session.add(row)
    session.flush()
    record = ActionRecord.of(row)
    write_audit(
        session,
        actor=actor,
        action="action.create",
        entity="action",
        entity_id=str(row.id),
        details={
            "loan_id": loan_id,
            "action": row.action,
            "status": row.status,
            "assigned_agent": masked("assigned_agent", assigned_agent),
            "cost": row.cost,
            "promise_amount": row.promise_amount,
            "promise_date": promise_date,
            "notes": masked("notes", notes),
        },
    )
    return record


def update_action(
    session: Session,
    *,
    action_id: int,
    actor: str,
    status: str | _Unset = UNSET,
    assigned_agent: str | _Unset | None = UNSET,
    cost: float | _Unset | None = UNSET,
    promise_amount: float | _Unset | None = UNSET,
    promise_date: date | _Unset | None = UNSET,
    notes: str | _Unset | None = UNSET,
) -> ActionRecord:
    """Change the fields given (``UNSET`` leaves one alone) and audit old and new values.

    Status moves only forward: planned -> in-progress -> done, and planned or in-progress
    -> cancelled; done and cancelled actions are final, and so are their cost and promise
    (:class:`FinalActionError`). The write is compare-and-set on the status read, so a
    concurrent change raises :class:`ConcurrentUpdateError` instead of being overwritten.
    """
    row = session.get(Action, action_id)
    if row is None:
        raise NotFoundError(f"no action {action_id} in the store.")
    now = utc_now()
    current = ActionStatus(row.status)
    values: dict[str, Any] = {}
    changes: dict[str, dict[str, Any]] = {}

    def put(name: str, value: Any) -> None:
        old = getattr(row, name)
        if old != value:
            changes[name] = {"old": masked(name, old), "new": masked(name, value)}
            values[name] = value

    if not isinstance(status, _Unset):
        target = _status(status)
        if target is not current:
            if target not in ALLOWED_TRANSITIONS[current]:
                raise InvalidRequestError(
                    f"action {action_id} is {current.value}; it cannot become {target.value}."
                )
            changes["status"] = {"old": current.value, "new": target.value}
            values.update(_stamped(target, now, started_at=row.started_at))
    if not isinstance(assigned_agent, _Unset):
        put("assigned_agent", assigned_agent)
    if not isinstance(cost, _Unset):
        put("cost", _amount("cost", cost))
    if not isinstance(promise_amount, _Unset):
        put("promise_amount", _amount("promise_amount", promise_amount))
    if not isinstance(promise_date, _Unset):
        put("promise_date", promise_date)
    if not isinstance(notes, _Unset):
        put("notes", notes)
    frozen = [name for name in FINAL_FIELDS if name in values]
    if current in FINAL_STATUSES and frozen:
        raise FinalActionError(
            f"action {action_id} is {current.value}, so its {', '.join(frozen)} cannot "
            f"change: a done or cancelled action keeps the {', '.join(FINAL_FIELDS)} it "
            "closed with (notes and assigned_agent may still change). Log a new action "
            "for new work."
        )
    if changes:
        _compare_and_set(session, row, expected=current, values={**values, "updated_at": now})
        write_audit(
            session,
            actor=actor,
            action="action.update",
            entity="action",
            entity_id=str(action_id),
            details={"loan_id": row.loan_id, "changes": changes},
        )
    return ActionRecord.of(row)


def _compare_and_set(
    session: Session, row: Action, *, expected: ActionStatus, values: dict[str, Any]
) -> None:
    """``UPDATE actions SET values WHERE id = row.id AND status = expected``; exactly one row.

    Anything else means another transaction changed the status after ``row`` was read:
    :class:`ConcurrentUpdateError`, and this request's transaction rolls back.
    """
    result = cast(
        "sa.CursorResult[Any]",
        session.execute(
            sa.update(Action)
            .where(Action.id == row.id, Action.status == expected.value)
            .values(values)
            .execution_options(synchronize_session="fetch")
        ),
    )
    if result.rowcount != 1:
        now_status = session.scalar(
            sa.select(Action.status)
            .where(Action.id == row.id)
            .execution_options(populate_existing=True)
        )
        raise ConcurrentUpdateError(
            f"action {row.id} was changed by another request while this one ran (it was "
            f"{expected.value}, it is now {now_status}); read it again and retry."
        )


# --- outcomes ---------------------------------------------------------------------------------
def record_outcome(
    session: Session,
    *,
    loan_id: str,
    amount_recovered: float,
    status: str,
    outcome_date: date,
    actor: str,
    action_id: int | None = None,
) -> OutcomeRecord:
    """Record what a loan's recovery brought; an open action it names becomes done.

    ``status`` is a Recovery_Status label (Fully Recovered, Partially Recovered, Written
    Off), so outcomes feed the next training run as labels.
    """
    _require_loan(session, loan_id)
    if status not in schema.RECOVERY_STATUSES:
        raise InvalidRequestError(
            f"status must be one of {', '.join(schema.RECOVERY_STATUSES)}; got {status!r}."
        )
    amount = _amount("amount_recovered", amount_recovered) or 0.0
    now = utc_now()
    if action_id is not None:
        action = session.get(Action, action_id)
        if action is None or action.loan_id != loan_id:
            raise NotFoundError(f"no action {action_id} on loan {loan_id!r}.")
        if ActionStatus(action.status) in OPEN_STATUSES:
            update_action(session, action_id=action_id, actor=actor, status=ActionStatus.DONE)
    row = Outcome(
        loan_id=loan_id,
        action_id=action_id,
        amount_recovered=amount,
        status=status,
        outcome_date=outcome_date,
        recorded_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    write_audit(
        session,
        actor=actor,
        action="outcome.record",
        entity="outcome",
        entity_id=str(row.id),
        details={
            "loan_id": loan_id,
            "action_id": action_id,
            "amount_recovered": amount,
            "status": status,
            "outcome_date": outcome_date,
        },
    )
    return OutcomeRecord.of(row)
