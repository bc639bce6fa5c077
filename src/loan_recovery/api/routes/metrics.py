"""``GET /metrics``: this process's Prometheus metrics (see :mod:`loan_recovery.api.metrics`).

Role: viewer, the least a key can hold. Metrics are counts, latencies and model versions,
nothing a viewer cannot already read (``/v1/models/champion``, ``/v1/portfolio/summary``),
and no personal data; a scraper given a viewer key can do no more than read. The route
stays behind a key like every route but health: request rates and the outbox's state
are still the lender's operational data. Prometheus sends the key with
``authorization: {credentials_file: ...}`` in its scrape config.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loan_recovery.api.deps import MetricsDep, Viewer
from loan_recovery.api.routes.responses import AUTHENTICATED, errors

router = APIRouter(tags=["operations"], responses=errors(*AUTHENTICATED))


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (OpenMetrics when the Accept header asks)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def get_metrics(_principal: Viewer, metrics: MetricsDep, request: Request) -> Response:
    """Request latency by route, loans planned by action, outbox states, models served.

    Role: viewer. A plain ``def``: the outbox is counted in the database while scraping,
    so FastAPI runs it in its thread pool, off the event loop.
    """
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
