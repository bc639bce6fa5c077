"""Prometheus metrics of one app, in the app's own registry (served at ``GET /metrics``).

Each app has its own :class:`~prometheus_client.CollectorRegistry`, not the library's
global one: metrics registered globally would clash the second time a process builds an
app (every test does), and one app's counts would leak into another's.

What is measured, and where it comes from:

* ``loan_recovery_http_request_duration_seconds`` (histogram; ``method``, ``route``) and
  ``loan_recovery_http_requests_total`` (counter; ``method``, ``route``, ``status``):
  observed by :class:`~loan_recovery.api.observe.ObservabilityMiddleware`;
* ``loan_recovery_planned_loans_total`` (counter; ``action``): loans ``POST /v1/plan``
  stored a plan for, by recommended action;
* ``loan_recovery_outbox_messages`` (gauge; ``status``): reminder outbox rows by status,
  counted in the database at each scrape, so every worker reports the same, current,
  numbers; ``loan_recovery_outbox_up`` is 0 when they could not be counted;
* ``loan_recovery_model_info`` (gauge, always 1; ``model``, ``version``): the model
  versions this process serves (``recovery``; ``early_warning`` when one is loaded).

Counters and histograms live in the process: with ``--workers N`` each worker counts
the requests it served, and a scrape reaches one of them (see ``docs/api-operations.md``).

No label holds a value a client chose beyond bounded sets (routes are templates, methods
and statuses are bounded, actions are the catalogue's), so no Loan_ID, name, phone or
email can reach a metric, and series cannot multiply with the book.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

import sqlalchemy.exc
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from loan_recovery.api.scoring import ServingModels
from loan_recovery.store.db import Store
from loan_recovery.store.outbox import outbox_counts

if TYPE_CHECKING:  # api.early_warning imports api.deps, which builds this module's metrics
    from loan_recovery.api.early_warning import EarlyWarningServing

logger = logging.getLogger("loan_recovery.api")

PREFIX = "loan_recovery"
#: Latency buckets, seconds: a one-loan score takes tens of ms, a 1,000-loan plan seconds.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class ServingState(Protocol):
    """What the collectors read at scrape time (``ApiState`` has it)."""

    store: Store | None
    models: ServingModels | None
    early_warning: EarlyWarningServing | None


class OutboxCollector:
    """Reminder outbox rows by status, counted in the database when scraped."""

    def __init__(self, store: Callable[[], Store | None]) -> None:
        self._store = store

    def describe(self) -> Iterable[Metric]:
        """The families :meth:`collect` yields (lets the registry catch name clashes)."""
        return [self._messages(), self._up()]

    def collect(self) -> Iterator[Metric]:
        """The counts, or only ``outbox_up`` 0 when the database cannot count them."""
        up = self._up()
        counts = self._counts()
        up.add_metric([], 0.0 if counts is None else 1.0)
        if counts is not None:
            messages = self._messages()
            for status, count in sorted(counts.items()):
                messages.add_metric([status], float(count))
            yield messages
        yield up

    def _counts(self) -> dict[str, int] | None:
        store = self._store()
        if store is None:
            return None
        try:
            with store.transaction() as session:
                return outbox_counts(session)
        except sqlalchemy.exc.SQLAlchemyError as error:
            logger.warning("metrics: the outbox cannot be counted (%s)", type(error).__name__)
            return None

    @staticmethod
    def _messages() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{PREFIX}_outbox_messages", "Reminder outbox messages by status", labels=["status"]
        )

    @staticmethod
    def _up() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{PREFIX}_outbox_up", "1 if the outbox was counted at this scrape, else 0"
        )


class ModelCollector:
    """The model versions the app serves right now (read from its state when scraped)."""

    def __init__(self, state: ServingState) -> None:
        self._state = state

    def describe(self) -> Iterable[Metric]:
        """The family :meth:`collect` yields (lets the registry catch name clashes)."""
        return [self._family()]

    def collect(self) -> Iterator[Metric]:
        """One series per loaded model, labelled by its kind and version, valued 1."""
        family = self._family()
        for model, version in sorted(serving_versions(self._state).items()):
            family.add_metric([model, version], 1.0)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{PREFIX}_model_info",
            "Model versions this process serves (1 per loaded model)",
            labels=["model", "version"],
        )


def serving_versions(state: ServingState) -> dict[str, str]:
    """Kind of model -> version, for the models loaded (none before the lifespan ran)."""
    versions: dict[str, str] = {}
    if state.models is not None:
        versions["recovery"] = state.models.version
    warning = state.early_warning
    if warning is not None and warning.bundle is not None:
        versions["early_warning"] = warning.bundle.version
    return versions


class ApiMetrics:
    """One app's metrics: the request histogram and counters, and scrape-time collectors."""

    def __init__(self, state: ServingState) -> None:
        self.registry = CollectorRegistry()
        self._latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's arrival to its last response byte, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._requests = Counter(
            f"{PREFIX}_http_requests",
            "Requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._planned = Counter(
            f"{PREFIX}_planned_loans",
            "Loans POST /v1/plan stored a plan for, by recommended action",
            ["action"],
            registry=self.registry,
        )
        self.registry.register(OutboxCollector(lambda: state.store))
        self.registry.register(ModelCollector(state))

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency (labels must be bounded: templates)."""
        self._latency.labels(method, route).observe(seconds)
        self._requests.labels(method, route, str(status)).inc()

    def count_planned(self, actions: Iterable[str]) -> None:
        """Count the loans of a stored plan, one recommended action per loan."""
        for action, loans in Tally(actions).items():
            self._planned.labels(action).inc(loans)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry in the format ``accept`` asks for (text or OpenMetrics), its type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
