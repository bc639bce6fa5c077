"""Liveness and readiness, without authentication (for load balancers and orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from loan_recovery.api.deps import StateDep
from loan_recovery.api.routes.responses import errors
from loan_recovery.api.schemas import Health, Readiness
from loan_recovery.store.db import check_migrated
from loan_recovery.store.errors import DatabaseNotMigratedError, DatabaseUnavailableError

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process answers (no check of models or database)."""
    return Health()


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}, **errors()})
def ready(state: StateDep) -> JSONResponse:
    """Models loaded and database reachable and migrated: 200, else 503 saying what is not.

    The early-warning model is reported but optional: without it only alerts are missing.
    """
    models = "ok" if state.models is not None else "not loaded (the server log says why)"
    if state.store is None:
        database = "not open"
    else:
        try:
            check_migrated(state.store.engine)
            database = "ok"
        except DatabaseNotMigratedError:
            database = "not migrated: run `loan-recovery db upgrade`"
        except DatabaseUnavailableError:
            database = "unreachable"
    is_ready = models == "ok" and database == "ok"
    warning = state.early_warning
    warning_version = None if warning is None or warning.bundle is None else warning.bundle.version
    body = Readiness(
        status="ready" if is_ready else "not ready",
        models=models,
        database=database,
        model_version=None if state.models is None else state.models.version,
        early_warning="ok" if warning_version else "not loaded (GET /v1/alerts answers 503)",
        early_warning_version=warning_version,
    )
    code = status.HTTP_200_OK if is_ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(body.model_dump(), status_code=code)
