"""The FastAPI application: :func:`create_app` builds it, its lifespan loads the models.

Stateless between requests, so several workers (``loan-recovery serve --workers N``) can
serve one database: each worker loads the registry's champion once at start-up, keeps it
on ``app.state.api`` and scores every request with it. Routes live under ``/v1``;
``/health``, ``/ready`` and the OpenAPI document (``/docs``, ``/openapi.json``) are open,
everything else needs an API key (see :mod:`loan_recovery.api.deps`), ``/metrics`` too.
A request without one, with too many headers or with a body over its route's cap is
refused before its body is read (:mod:`loan_recovery.api.limits`).

Middleware, outermost first: observability (request id, access line, latency;
:mod:`loan_recovery.api.observe`), the error boundary, the request limits. Every error is
a problem document (:mod:`loan_recovery.api.problems`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from loan_recovery import __version__
from loan_recovery.api.deps import ApiState, single_valued_query
from loan_recovery.api.early_warning import load_early_warning_serving
from loan_recovery.api.errors import ErrorBoundaryMiddleware, install_error_handlers
from loan_recovery.api.limits import RequestLimitsMiddleware, open_paths
from loan_recovery.api.observe import ObservabilityMiddleware, RouteTemplates
from loan_recovery.api.problems import install_problem_openapi
from loan_recovery.api.routes import admin, alerts, cases, contacts, health, metrics, scoring
from loan_recovery.api.schemas import ApiSchemas, build_schemas
from loan_recovery.api.scoring import ServingModels, load_serving_models, warm_up
from loan_recovery.config import Settings, load_settings
from loan_recovery.exceptions import LoanRecoveryError
from loan_recovery.store.db import open_store, shown_url

logger = logging.getLogger("loan_recovery.api")

DESCRIPTION = """\
Risk, segment, reason codes, the value of leaving each loan alone (hold), the expected net
recovery and uplift over holding of every action, and the action that adds the most, for
loans in the canonical layout; the case store's worklist, loans, actions, outcomes and
summaries.

Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>` (create one with
`loan-recovery apikey create`). Roles: **viewer** reads and scores, **agent** also plans
(stores scores and actions) and logs actions and outcomes, **admin** also manages keys
and reads the audit log. Contact details are masked for viewers.
"""


def _load(state: ApiState) -> ServingModels:
    models = load_serving_models(state.settings)
    warm_up(models, state.settings)
    return models


def _freeze_start_up_objects() -> None:
    """Move everything loaded so far (libraries, models) out of the garbage collector's view.

    A request allocates many short-lived pandas objects, and every so often that triggers a
    full collection, which walks the ~270,000 objects imported and loaded at start-up:
    measured, one-loan scoring's worst case fell from 205 ms to 44 ms and p99 by 2%.
    Those objects live as long as the process, so there is nothing to collect among them.
    Only a server that loaded its own models does this (tests build many apps per process).
    """
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store (lazily connected) and load the champion, once per process.

    A model that cannot load does not stop the server: ``/ready`` answers 503 and scoring
    routes say no model is loaded, while reads of the store keep working.
    """
    state: ApiState = app.state.api
    preloaded = state.models is not None
    state.store = open_store(state.settings, check=False)
    logger.info("case store: %s", shown_url(state.store.engine.url))
    if not preloaded:
        try:
            state.models = await run_in_threadpool(_load, state)
            state.models_error = None
            logger.info("serving model %s", state.models.version)
        except LoanRecoveryError as error:
            state.models_error = str(error)
            logger.error("models not loaded: %s", error)
    early_warning_preloaded = state.early_warning is not None
    if not early_warning_preloaded:  # never fails: without one, /v1/alerts answers 503
        state.early_warning = await run_in_threadpool(load_early_warning_serving, state.settings)
    if not preloaded and state.models is not None:
        _freeze_start_up_objects()
    try:
        yield
    finally:
        state.store.dispose()
        state.store = None
        if not preloaded:
            state.models = None
            state.models_error = "the server is stopping"
        if not early_warning_preloaded:
            state.early_warning = None


def create_app(settings: Settings | None = None, *, models: ServingModels | None = None) -> FastAPI:
    """The API for ``settings`` (default: from the environment and config file).

    ``models`` skips loading in the lifespan (tests share one loaded champion). Uvicorn
    calls this with no arguments in each worker (``--factory``).
    """
    settings = settings if settings is not None else load_settings()
    schemas = build_schemas(settings.api.max_batch, settings.contacts)
    app = FastAPI(
        title="loan-recovery API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.api = ApiState(
        settings=settings, models=models, models_error=None if models else "models are loading"
    )
    install_error_handlers(app)
    install_problem_openapi(app)
    batch = scoring.build_router(schemas)
    v1_routers = _v1_routers(schemas, batch)
    app.include_router(health.router)
    app.include_router(metrics.router)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(single_valued_query)])
    for router in v1_routers:
        v1.include_router(router)
    app.include_router(v1)
    # The included routers' routes, by prefix: app.routes lists only the app's own.
    mounted: list[tuple[str, list[BaseRoute]]] = [
        ("", [*app.routes, *health.router.routes, *metrics.router.routes]),
        *((v1.prefix, router.routes) for router in v1_routers),
    ]
    app.add_middleware(
        RequestLimitsMiddleware,
        limits=settings.api.limits,
        batch_body_bytes=settings.api.max_body_bytes,
        batch_paths={v1.prefix + r.path for r in batch.routes if isinstance(r, APIRoute)},
        open_paths=open_paths(mounted[0][1]),
    )
    app.add_middleware(ErrorBoundaryMiddleware)
    app.add_middleware(  # added last: the outermost, so it sees every answer
        ObservabilityMiddleware,
        metrics=app.state.api.metrics,
        templates=RouteTemplates.of(mounted),
    )
    return app


def _v1_routers(schemas: ApiSchemas, batch: APIRouter) -> list[APIRouter]:
    """The routers under ``/v1``, in matching order (``batch``: the scoring routes)."""
    return [
        batch,
        cases.build_router(schemas),
        admin.router,
        alerts.build_router(),
        contacts.router,
    ]
