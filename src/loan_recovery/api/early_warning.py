"""The early-warning model the API serves: loaded once per process, scores cached by data.

The app's lifespan calls :func:`load_early_warning_serving`; its result lives on
``ApiState.early_warning`` and routes get it through :data:`EarlyWarningDep`, which
answers 503 with the reason when no early-warning model could be loaded (none trained
yet, say). The risk models do not depend on it: the API starts and scores without one.

Scoring the whole book's payment history is the expensive part of an alerts request
(seconds for a large book), and the history changes only when an import runs. So the
scored frame is kept per *stamp* of the data (loans and installments stored, their latest
change) and cut-off: requests that page, filter or change the threshold reuse it, and
the next request after an import scores again. Reasons are computed per page only
(:func:`~loan_recovery.jobs.alerts.alerts_page`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, HTTPException, status
from sqlalchemy.orm import Session

from loan_recovery.api.deps import StateDep
from loan_recovery.config import Settings
from loan_recovery.exceptions import LoanRecoveryError, ModelError
from loan_recovery.jobs.alerts import (
    default_cutoff,
    load_alert_model,
    read_stored_history,
    score_early_warning,
)
from loan_recovery.models.early_warning import EarlyWarningBundle
from loan_recovery.store.payments import payments_stamp
from loan_recovery.store.portfolio_read import book_stamp

logger = logging.getLogger("loan_recovery.api")


@dataclass(frozen=True)
class ScoredBook:
    """Every eligible stored loan scored at ``cutoff`` (features, probability), and the
    loan table the alerts read borrower ids from."""

    scored: pd.DataFrame
    loans: pd.DataFrame
    cutoff: pd.Timestamp


@dataclass
class EarlyWarningServing:
    """The loaded early-warning version (or why there is none) and its scores' cache."""

    bundle: EarlyWarningBundle | None
    error: str | None = None
    _key: tuple[str, ...] | None = field(default=None, repr=False)
    _book: ScoredBook | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def scored_book(
        self, session: Session, *, settings: Settings, cutoff: Any = None
    ) -> ScoredBook:
        """The store's loans scored at ``cutoff`` (default: their latest As_Of_Date).

        Cached until the stored loans or installments change. Raises
        :class:`~loan_recovery.jobs.alerts.NoStoredHistoryError` for a store without
        loans or installments, and :class:`ModelError` when no model is loaded.
        """
        bundle = self.require()
        connection = session.connection()
        engine = connection.engine
        wanted = "" if cutoff is None else pd.Timestamp(cutoff).normalize().isoformat()
        key = (bundle.version, book_stamp(engine), payments_stamp(connection), wanted)
        with self._lock:  # one request scores; the others wait and reuse its result
            if self._key == key and self._book is not None:
                return self._book
            payments, loans = read_stored_history(session)
            stamp = (
                default_cutoff(payments, loans)
                if cutoff is None
                else pd.Timestamp(cutoff).normalize()
            )
            scored = score_early_warning(
                payments, loans, model=bundle, settings=settings, cutoff=stamp
            )
            self._key, self._book = key, ScoredBook(scored=scored, loans=loans, cutoff=stamp)
            logger.info(
                "early warning: scored %d loans at %s with %s",
                len(scored),
                stamp.date(),
                bundle.version,
            )
            return self._book

    def require(self) -> EarlyWarningBundle:
        """The bundle; :class:`ModelError` saying why there is none."""
        if self.bundle is None:
            raise ModelError(self.error or "no early-warning model is loaded.")
        return self.bundle


def load_early_warning_serving(settings: Settings) -> EarlyWarningServing:
    """Load the early-warning champion of the settings' registry; never raises.

    A missing, tampered or incompatible model leaves ``bundle`` None and ``error`` saying
    why: the risk routes keep working and ``GET /v1/alerts`` answers 503 with the reason.
    """
    try:
        bundle = load_alert_model(settings, n_jobs=settings.api.model_threads)
    except LoanRecoveryError as error:
        logger.warning("early-warning model not loaded: %s", error)
        return EarlyWarningServing(
            bundle=None,
            error=f"no early-warning model is loaded: {error} Train one with "
            "`loan-recovery train-early-warning` (the first becomes champion) and restart "
            "the server.",
        )
    logger.info("serving early-warning model %s", bundle.version)
    return EarlyWarningServing(bundle=bundle)


async def get_early_warning(state: StateDep) -> EarlyWarningServing:
    """The loaded early-warning model, or 503 saying why there is none."""
    serving = state.early_warning
    if serving is None or serving.bundle is None:
        reason = serving.error if serving is not None else None
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            reason or "no early-warning model is loaded yet; try again shortly.",
        )
    return serving


EarlyWarningDep = Annotated[EarlyWarningServing, Depends(get_early_warning)]
