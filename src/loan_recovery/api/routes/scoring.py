"""``POST /v1/score`` and ``POST /v1/plan``: the recovery plan of loans sent in the body.

Both validate and plan the loans the way ``loan-recovery plan`` does (see
:mod:`loan_recovery.api.scoring`). Score stores nothing but one audit row naming the
caller, the model version and the number of loans; plan writes the loans, one score per
loan and the planned actions as one run (:func:`store_plan`), whose own audit row names
the caller, version and counts.

Roles: scoring reads, so a viewer may score; planning writes the case store (new scores,
actions created and superseded), so it needs an agent or admin.

Plan takes an ``Idempotency-Key`` header: a retry with the same key and body is scored
again (the key is claimed after scoring, so no database connection waits on the model)
but answered with the first run and stores nothing. Score creates nothing, so it takes
none.

No ``from __future__ import annotations`` here: the body type is built at runtime from the
schema, and FastAPI must see it as an object, not a name.
"""

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from loan_recovery.api.deps import (
    Agent,
    IdempotencyDep,
    MetricsDep,
    ModelsDep,
    Principal,
    SessionDep,
    SettingsDep,
    Viewer,
)
from loan_recovery.api.routes.responses import AUTHENTICATED, IDEMPOTENT, errors
from loan_recovery.api.schemas import ApiSchemas
from loan_recovery.api.scoring import ScoredBatch, ServingModels, response_json, score_records
from loan_recovery.data import schema
from loan_recovery.store.audit import audit_scoring
from loan_recovery.store.plans import store_plan

JSON = "application/json"


def build_router(schemas: ApiSchemas) -> APIRouter:
    """The scoring routes, typed with this app's loan batch (its size limit from settings)."""
    router = APIRouter(tags=["scoring"], responses=errors(*AUTHENTICATED, 413))
    batch_type = schemas.batch

    def records(batch: BaseModel) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = schemas.loans.dump_python(
            batch.loans,  # type: ignore[attr-defined]
            mode="json",
            exclude_unset=True,
        )
        return rows

    def payload(models: ServingModels, scored: ScoredBatch) -> dict[str, Any]:
        return {
            "model_version": models.version,
            "policy": scored.plan.policy,
            "reason_method": scored.reason_method,
            "loans": scored.rows,
        }

    def audit(
        session: Session, principal: Principal, models: ServingModels, n: int, route: str
    ) -> None:
        audit_scoring(
            session,
            actor=principal.name,
            model_version=models.version,
            loans=n,
            details={"route": route, "key_id": principal.key_id},
        )

    @router.post("/score", response_model=schemas.score_response)
    def score(
        batch: batch_type,  # type: ignore[valid-type]
        principal: Viewer,
        models: ModelsDep,
        settings: SettingsDep,
        session: SessionDep,
    ) -> Response:
        """Risk, segment, reasons, every action's value and uplift over holding, and the
        recommended action; nothing stored.

        Role: viewer or above. The whole batch is refused (422, every problem located as
        ``["body", "loans", <index>, <column>]``) if any loan is invalid.
        """
        scored = score_records(records(batch), models, settings)
        audit(session, principal, models, len(scored.rows), "score")
        return Response(response_json(payload(models, scored)), media_type=JSON)

    @router.post("/plan", response_model=schemas.plan_response, responses=errors(*IDEMPOTENT))
    def plan(
        batch: batch_type,  # type: ignore[valid-type]
        principal: Agent,
        models: ModelsDep,
        settings: SettingsDep,
        session: SessionDep,
        idempotency: IdempotencyDep,
        metrics: MetricsDep,
    ) -> Response:
        """Score the loans and store them, their scores and planned actions as one run.

        Role: agent or admin. Loans are upserted by Loan_ID; a loan whose recommended
        action is already open keeps it, other planned actions are superseded. Send an
        Idempotency-Key: a retry with the same key and body gets the first run's answer
        and stores no second run (nor counts its loans again in the metrics).
        """
        scored = score_records(records(batch), models, settings)
        # Claimed after scoring, so no connection is held while the loans are scored.
        if (earlier := idempotency.claim(session, batch)) is not None:
            return idempotency.replay(earlier)
        stored = store_plan(
            session,
            scored.plan.worklist,
            model_version=models.version,
            actor=principal.name,
            policy=scored.plan.policy,
            loans=scored.table,
            model_details=models.details,
        )
        metrics.count_planned(scored.plan.worklist[schema.RECOMMENDED_ACTION].astype(str))
        counts = stored.loans
        body = payload(models, scored)
        body["stored"] = {
            "run_id": stored.run_id,
            "scores": stored.scores,
            "actions_created": stored.actions_created,
            "actions_kept": stored.actions_kept,
            "actions_cancelled": stored.actions_cancelled,
            "loans_inserted": 0 if counts is None else counts.inserted,
            "loans_updated": 0 if counts is None else counts.updated,
            "loans_unchanged": 0 if counts is None else counts.unchanged,
            "loans_outdated": 0 if counts is None else counts.outdated,
        }
        return idempotency.respond(session, status.HTTP_200_OK, response_json(body))

    return router
