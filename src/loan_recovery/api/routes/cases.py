"""The case store's reads and an agent's writes: worklist, loans, actions, outcomes, summaries.

Roles: every read needs viewer or above; logging actions and outcomes needs agent or
above. A loan's borrower contact details (name, phone, email) and its actions' notes are
shown to agents and admins, who work the case, and masked for viewers.

Creating an action or an outcome takes an ``Idempotency-Key`` header (see
:class:`loan_recovery.api.deps.Idempotency`): a retried request creates nothing new.

No ``from __future__ import annotations`` here: the loan detail's response type is built
at runtime from the schema.
"""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import TypeAdapter

from loan_recovery.api.deps import Agent, IdempotencyDep, SessionDep, Viewer
from loan_recovery.api.routes.responses import AUTHENTICATED, IDEMPOTENT, errors
from loan_recovery.api.schemas import (
    MAX_NUMBER,
    TEXT_PATTERN,
    ActionCreate,
    ActionUpdate,
    ApiSchemas,
    OutcomeCreate,
    PlanAction,
)
from loan_recovery.store.cases import (
    UNSET,
    ActionRecord,
    OutcomeRecord,
    create_action,
    record_outcome,
    update_action,
)
from loan_recovery.store.models import LABEL_LENGTH, TEXT_LENGTH, Role
from loan_recovery.store.queries import (
    MAX_PAGE_SIZE,
    Page,
    PortfolioSummary,
    SegmentSummary,
    WorklistItem,
    loan_detail,
    portfolio_summary,
    segments_summary,
    worklist,
)

#: Largest row id a path may name (the store's ids are 64-bit signed integers).
MAX_ID = 2**63 - 1
#: Largest offset a listing accepts: far beyond any book, within every database's range.
MAX_OFFSET = 10**12

Text = Annotated[str | None, Query(max_length=TEXT_LENGTH, pattern=TEXT_PATTERN)]
Label = Annotated[str | None, Query(max_length=LABEL_LENGTH, pattern=TEXT_PATTERN)]
LoanId = Annotated[str, Path(min_length=1, max_length=TEXT_LENGTH, pattern=TEXT_PATTERN)]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def build_router(schemas: ApiSchemas) -> APIRouter:
    """The case routes, with this app's loan-detail model."""
    router = APIRouter(tags=["cases"], responses=errors(*AUTHENTICATED))
    action_json = TypeAdapter(ActionRecord).dump_json
    outcome_json = TypeAdapter(OutcomeRecord).dump_json

    @router.get("/worklist", response_model=Page[WorklistItem])
    def get_worklist(
        _principal: Viewer,
        session: SessionDep,
        segment: Text = None,
        action: Annotated[PlanAction | None, Query(description="Recommended action")] = None,
        risk_band: Label = None,
        min_exposure: Annotated[
            float | None, Query(ge=0, le=MAX_NUMBER, allow_inf_nan=False)
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Page[WorklistItem]:
        """Current scores in priority order (highest first), filtered and paged. Role: viewer."""
        return worklist(
            session,
            segment=segment,
            action=action,
            risk_band=risk_band,
            min_exposure=min_exposure,
            limit=limit,
            offset=offset,
        )

    @router.get("/loans/{loan_id:path}", response_model=schemas.loan_detail, responses=errors(404))
    def get_loan(loan_id: LoanId, principal: Viewer, session: SessionDep) -> dict[str, Any]:
        """A loan with its borrower, scores, actions and outcomes. Role: viewer (contact
        details and notes masked) or agent/admin (shown)."""
        detail = loan_detail(session, loan_id=loan_id, include_personal=principal.has(Role.AGENT))
        return {
            "loan": detail.loan,
            "borrower": detail.borrower,
            "scores": detail.scores,
            "actions": detail.actions,
            "outcomes": detail.outcomes,
        }

    @router.post(
        "/actions",
        response_model=ActionRecord,
        status_code=status.HTTP_201_CREATED,
        responses=errors(404, *IDEMPOTENT),
    )
    def post_action(
        body: ActionCreate, principal: Agent, session: SessionDep, idempotency: IdempotencyDep
    ) -> Response:
        """Log a recovery action on a stored loan (planned or in progress). Role: agent.

        Send an Idempotency-Key: a retry with the same key and body answers as the first
        request did and logs nothing new.
        """
        if (earlier := idempotency.claim(session, body)) is not None:
            return idempotency.replay(earlier)
        record = create_action(
            session,
            loan_id=body.loan_id,
            action=body.action,
            actor=principal.name,
            status=body.status,
            assigned_agent=body.assigned_agent,
            cost=body.cost,
            promise_amount=body.promise_amount,
            promise_date=body.promise_date,
            notes=body.notes,
        )
        return idempotency.respond(session, status.HTTP_201_CREATED, action_json(record))

    @router.patch("/actions/{action_id}", response_model=ActionRecord, responses=errors(404, 409))
    def patch_action(
        action_id: ActionId, body: ActionUpdate, principal: Agent, session: SessionDep
    ) -> ActionRecord:
        """Change an action's status, agent, cost, promise or notes. Role: agent.

        Fields left out stay as they are; ``null`` clears one (status cannot be cleared).
        Status moves forward only; done and cancelled are final, and so are their cost,
        promise_amount and promise_date (409 otherwise). A change that races another one
        on the same action is refused (409): read the action again and retry.
        """
        given = body.model_fields_set

        def field(name: str) -> Any:
            return getattr(body, name) if name in given else UNSET

        new_status = body.status if "status" in given and body.status is not None else UNSET
        promise: date | None = body.promise_date
        return update_action(
            session,
            action_id=action_id,
            actor=principal.name,
            status=new_status,
            assigned_agent=field("assigned_agent"),
            cost=field("cost"),
            promise_amount=field("promise_amount"),
            promise_date=promise if "promise_date" in given else UNSET,
            notes=field("notes"),
        )

    @router.post(
        "/outcomes",
        response_model=OutcomeRecord,
        status_code=status.HTTP_201_CREATED,
        responses=errors(404, *IDEMPOTENT),
    )
    def post_outcome(
        body: OutcomeCreate, principal: Agent, session: SessionDep, idempotency: IdempotencyDep
    ) -> Response:
        """Record what a loan's recovery brought; a named open action becomes done. Role: agent.

        Outcomes are the next training run's labels, so send an Idempotency-Key: a retry
        with the same key and body answers as the first request did and records nothing.
        """
        if (earlier := idempotency.claim(session, body)) is not None:
            return idempotency.replay(earlier)
        record = record_outcome(
            session,
            loan_id=body.loan_id,
            amount_recovered=body.amount_recovered,
            status=body.status,
            outcome_date=body.outcome_date,
            actor=principal.name,
            action_id=body.action_id,
        )
        return idempotency.respond(session, status.HTTP_201_CREATED, outcome_json(record))

    @router.get("/portfolio/summary", response_model=PortfolioSummary)
    def get_portfolio_summary(_principal: Viewer, session: SessionDep) -> PortfolioSummary:
        """Book size, exposure, current scores, actions by status, outcomes. Role: viewer."""
        return portfolio_summary(session)

    @router.get("/segments", response_model=list[SegmentSummary])
    def get_segments(_principal: Viewer, session: SessionDep) -> list[SegmentSummary]:
        """Current scores by borrower segment. Role: viewer."""
        return segments_summary(session)

    return router
