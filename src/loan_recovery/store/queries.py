"""Reading the store: worklist, loan detail, portfolio and segment summaries, audit log.

The API's read routes call these and nothing deeper. Each takes the session and
keyword-only filters and returns plain frozen dataclasses (pydantic serialises them),
so no route touches SQL or ORM rows. "Current" means a loan's latest score row: the
most recent plan run that included it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loan_recovery.data import schema
from loan_recovery.store.audit import MASK, masked
from loan_recovery.store.cases import ActionRecord, OutcomeRecord
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.models import (
    BORROWER_SPECS,
    CREATED_AT,
    LOAN_SPECS,
    OPEN_STATUSES,
    UPDATED_AT,
    Action,
    AuditEntry,
    Outcome,
    Score,
    UtcDateTime,
    borrower_key,
    borrowers,
    db_column,
    loan_key,
    loans,
)

T = TypeVar("T")

#: Largest page any listing returns: bounds the memory and time of one request.
MAX_PAGE_SIZE = 1_000
_EXPOSURE = loans.c[db_column(schema.OUTSTANDING_LOAN_AMOUNT)]
_DAYS_PAST_DUE = loans.c[db_column(schema.DAYS_PAST_DUE)]
_BORROWER_OF_LOAN = loans.c[db_column(schema.BORROWER_ID)]
_OPEN = [status.value for status in OPEN_STATUSES]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the size of the whole listing."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """One loan's score and recommendation from one plan run.

    ``expected_net`` holds every arm's value, hold's included (see
    :mod:`loan_recovery.store.plans`); ``value_if_left_alone`` and ``expected_uplift`` (the
    recommendation's gain over holding) are read from it, and are null for runs stored
    before the plan valued leaving a loan alone.
    """

    id: int
    run_id: str
    loan_id: str
    model_version: str
    policy: str
    risk_score: float
    risk_band: str
    segment: str | None
    recommended_action: str
    expected_net_recovery: float
    expected_recovered: float
    expected_cost: float
    priority: float
    expected_net: dict[str, float]
    reasons: list[str]
    guardrails: str | None
    created_at: datetime
    value_if_left_alone: float | None = None
    expected_uplift: float | None = None

    @classmethod
    def of(cls, row: Score) -> ScoreRecord:
        """The record of an ORM row."""
        held = row.expected_net.get(schema.HOLD)
        left_alone = None if held is None else float(held)
        return cls(
            id=row.id,
            run_id=row.run_id,
            loan_id=row.loan_id,
            model_version=row.model_version,
            policy=row.policy,
            risk_score=row.risk_score,
            risk_band=row.risk_band,
            segment=row.segment,
            recommended_action=row.recommended_action,
            expected_net_recovery=row.expected_net_recovery,
            expected_recovered=row.expected_recovered,
            expected_cost=row.expected_cost,
            priority=row.priority,
            expected_net=dict(row.expected_net),
            reasons=list(row.reasons),
            guardrails=row.guardrails,
            created_at=row.created_at,
            value_if_left_alone=left_alone,
            expected_uplift=(
                None if left_alone is None else row.expected_net_recovery - left_alone
            ),
        )


@dataclass(frozen=True, slots=True)
class WorklistItem:
    """A worklist line: the loan's current score, exposure and open action."""

    loan_id: str
    borrower_id: str
    priority: float
    recommended_action: str
    expected_net_recovery: float
    expected_recovered: float
    expected_cost: float
    risk_score: float
    risk_band: str
    segment: str | None
    exposure: float
    days_past_due: int
    reasons: list[str]
    model_version: str
    score_id: int
    scored_at: datetime
    action_id: int | None
    action_status: str | None


@dataclass(frozen=True, slots=True)
class LoanDetail:
    """A loan with its borrower, score history, actions and outcomes (newest first)."""

    loan: dict[str, Any]
    borrower: dict[str, Any]
    scores: list[ScoreRecord]
    actions: list[ActionRecord]
    outcomes: list[OutcomeRecord]


@dataclass(frozen=True, slots=True)
class PortfolioSummary:
    """Book size, current scores and the state of the work."""

    loans: int
    borrowers: int
    exposure: float
    scored_loans: int
    mean_risk: float | None
    expected_net_recovery: float
    recommended_actions: dict[str, int]
    actions_by_status: dict[str, int]
    outcomes: int
    amount_recovered: float
    last_scored_at: datetime | None


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    """One segment of the current scores."""

    segment: str | None
    loans: int
    exposure: float
    mean_risk: float
    expected_net_recovery: float
    recommended_actions: dict[str, int]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit-log row."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    details: dict[str, Any] | None


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidRequestError(f"limit must be 1 to {MAX_PAGE_SIZE}; got {limit}.")
    if offset < 0:
        raise InvalidRequestError(f"offset must be >= 0; got {offset}.")


def _latest_scores() -> sa.Subquery:
    """Each loan's latest score id (ids grow with time, so the largest is the newest)."""
    return (
        sa.select(Score.loan_id.label("loan_id"), sa.func.max(Score.id).label("score_id"))
        .group_by(Score.loan_id)
        .subquery("latest_scores")
    )


def _latest_open_actions() -> sa.Subquery:
    return (
        sa.select(Action.loan_id.label("loan_id"), sa.func.max(Action.id).label("action_id"))
        .where(Action.status.in_(_OPEN))
        .group_by(Action.loan_id)
        .subquery("open_actions")
    )


# --- worklist ---------------------------------------------------------------------------------
def worklist(
    session: Session,
    *,
    segment: str | None = None,
    action: str | None = None,
    risk_band: str | None = None,
    min_exposure: float | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[WorklistItem]:
    """Current scores in priority order (highest first, then Loan_ID), filtered and paged.

    ``action`` filters the recommended action, ``min_exposure`` the outstanding amount.
    """
    _check_page(limit, offset)
    latest = _latest_scores()
    open_actions = _latest_open_actions()
    statement = (
        sa.select(
            Score,
            _BORROWER_OF_LOAN,
            _EXPOSURE,
            _DAYS_PAST_DUE,
            Action.id,
            Action.status,
        )
        .join(latest, latest.c.score_id == Score.id)
        .join(loans, Score.loan_id == loan_key)
        .outerjoin(open_actions, open_actions.c.loan_id == Score.loan_id)
        .outerjoin(Action, Action.id == open_actions.c.action_id)
    )
    if segment is not None:
        statement = statement.where(Score.segment == segment)
    if action is not None:
        statement = statement.where(Score.recommended_action == action)
    if risk_band is not None:
        statement = statement.where(Score.risk_band == risk_band)
    if min_exposure is not None:
        statement = statement.where(min_exposure <= _EXPOSURE)
    total = session.scalar(
        sa.select(sa.func.count()).select_from(statement.with_only_columns(Score.id).subquery())
    )
    rows = session.execute(
        statement.order_by(Score.priority.desc(), Score.loan_id).limit(limit).offset(offset)
    )
    items = [
        WorklistItem(
            loan_id=score.loan_id,
            borrower_id=borrower_id,
            priority=score.priority,
            recommended_action=score.recommended_action,
            expected_net_recovery=score.expected_net_recovery,
            expected_recovered=score.expected_recovered,
            expected_cost=score.expected_cost,
            risk_score=score.risk_score,
            risk_band=score.risk_band,
            segment=score.segment,
            exposure=float(exposure),
            days_past_due=int(days_past_due),
            reasons=list(score.reasons),
            model_version=score.model_version,
            score_id=score.id,
            scored_at=score.created_at,
            action_id=action_id,
            action_status=action_status,
        )
        for score, borrower_id, exposure, days_past_due, action_id, action_status in rows
    ]
    return Page(items=items, total=int(total or 0), limit=limit, offset=offset)


# --- one loan ---------------------------------------------------------------------------------
def loan_detail(
    session: Session, *, loan_id: str, include_personal: bool = False, history: int = 20
) -> LoanDetail:
    """The loan (canonical names), its borrower, last ``history`` scores, actions, outcomes.

    Personal data (name, phone, email) is masked unless ``include_personal``: the API
    decides by the caller's role, and nothing else ever sees it. The same goes for what
    agents type: without ``include_personal`` an action's notes read :data:`MASK` (a note
    may name the borrower or quote their phone) and its assigned agent is redacted.
    """
    row = session.execute(sa.select(loans).where(loan_key == loan_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no loan {loan_id!r} in the store.")
    loan = {spec.name: row[db_column(spec.name)] for spec in LOAN_SPECS}
    loan[CREATED_AT] = row[CREATED_AT]
    loan[UPDATED_AT] = row[UPDATED_AT]
    person = (
        session.execute(sa.select(borrowers).where(borrower_key == row[_BORROWER_OF_LOAN.name]))
        .mappings()
        .first()
    )
    borrower: dict[str, Any] = {}
    if person is not None:
        for spec in BORROWER_SPECS:
            value = person[db_column(spec.name)]
            borrower[spec.name] = value if include_personal else masked(spec.name, value)
    scores = session.scalars(
        sa.select(Score).where(Score.loan_id == loan_id).order_by(Score.id.desc()).limit(history)
    )
    actions = session.scalars(
        sa.select(Action).where(Action.loan_id == loan_id).order_by(Action.id.desc())
    )
    outcomes = session.scalars(
        sa.select(Outcome).where(Outcome.loan_id == loan_id).order_by(Outcome.id.desc())
    )
    return LoanDetail(
        loan=loan,
        borrower=borrower,
        scores=[ScoreRecord.of(score) for score in scores],
        actions=[
            ActionRecord.of(action) if include_personal else _without_free_text(action)
            for action in actions
        ],
        outcomes=[OutcomeRecord.of(outcome) for outcome in outcomes],
    )


def _without_free_text(row: Action) -> ActionRecord:
    """An action as a viewer sees it: notes masked, the assigned agent redacted."""
    record = ActionRecord.of(row)
    return replace(
        record,
        notes=None if record.notes is None else MASK,
        assigned_agent=masked("assigned_agent", record.assigned_agent),
    )


# --- summaries --------------------------------------------------------------------------------
def portfolio_summary(session: Session) -> PortfolioSummary:
    """Loans, borrowers, exposure, current scores, actions by status and outcomes."""
    loan_count, exposure = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_EXPOSURE), 0.0))
    ).one()
    borrower_count = session.scalar(sa.select(sa.func.count()).select_from(borrowers))
    latest = _latest_scores()
    current = sa.select(Score).join(latest, latest.c.score_id == Score.id).subquery("current")
    scored, mean_risk, expected_net, last_scored = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.avg(current.c.risk_score),
            sa.func.coalesce(sa.func.sum(current.c.expected_net_recovery), 0.0),
            sa.type_coerce(sa.func.max(current.c.created_at), UtcDateTime()),
        )
    ).one()
    recommended = session.execute(
        sa.select(current.c.recommended_action, sa.func.count()).group_by(
            current.c.recommended_action
        )
    )
    by_status = session.execute(sa.select(Action.status, sa.func.count()).group_by(Action.status))
    outcome_count, recovered = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Outcome.amount_recovered), 0.0))
    ).one()
    return PortfolioSummary(
        loans=int(loan_count),
        borrowers=int(borrower_count or 0),
        exposure=float(exposure),
        scored_loans=int(scored),
        mean_risk=None if mean_risk is None else float(mean_risk),
        expected_net_recovery=float(expected_net),
        recommended_actions={str(name): int(count) for name, count in recommended},
        actions_by_status={str(name): int(count) for name, count in by_status},
        outcomes=int(outcome_count),
        amount_recovered=float(recovered),
        last_scored_at=last_scored,
    )


def segments_summary(session: Session) -> list[SegmentSummary]:
    """Current scores by segment: loans, exposure, mean risk, expected net, actions."""
    latest = _latest_scores()
    current = (
        sa.select(
            Score.segment,
            Score.risk_score,
            Score.expected_net_recovery,
            Score.recommended_action,
            _EXPOSURE,
        )
        .join(latest, latest.c.score_id == Score.id)
        .join(loans, Score.loan_id == loan_key)
        .subquery("current")
    )
    exposure = current.c[_EXPOSURE.name]
    totals = session.execute(
        sa.select(
            current.c.segment,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(exposure), 0.0),
            sa.func.avg(current.c.risk_score),
            sa.func.coalesce(sa.func.sum(current.c.expected_net_recovery), 0.0),
        )
        .group_by(current.c.segment)
        .order_by(current.c.segment)
    ).all()
    actions: dict[str | None, dict[str, int]] = {}
    for segment, name, count in session.execute(
        sa.select(current.c.segment, current.c.recommended_action, sa.func.count()).group_by(
            current.c.segment, current.c.recommended_action
        )
    ):
        actions.setdefault(segment, {})[str(name)] = int(count)
    return [
        SegmentSummary(
            segment=segment,
            loans=int(count),
            exposure=float(exposure_sum),
            mean_risk=float(risk),
            expected_net_recovery=float(net),
            recommended_actions=actions.get(segment, {}),
        )
        for segment, count, exposure_sum, risk, net in totals
    ]


# --- audit log --------------------------------------------------------------------------------
def audit_entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[AuditRecord]:
    """Audit rows, newest first, filtered by who, what, which entity and from when."""
    _check_page(limit, offset)
    statement = sa.select(AuditEntry)
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    if entity is not None:
        statement = statement.where(AuditEntry.entity == entity)
    if entity_id is not None:
        statement = statement.where(AuditEntry.entity_id == entity_id)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    total = session.scalar(
        sa.select(sa.func.count()).select_from(
            statement.with_only_columns(AuditEntry.id).subquery()
        )
    )
    rows = session.scalars(statement.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    items = [
        AuditRecord(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            details=row.details,
        )
        for row in rows
    ]
    return Page(items=items, total=int(total or 0), limit=limit, offset=offset)
