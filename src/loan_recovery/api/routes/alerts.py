"""Early-warning alerts of the stored book: loans likely to default soon, and what to do.

Role: viewer. The alerts are computed from the case store (the loans and the
installments ``import-payments`` loaded) with the early-warning champion the app loaded
at start-up, exactly as ``loan-recovery alerts --from-store`` computes them; each item
carries the columns of the file ``alerts --out`` writes (names from the schema), its
reason codes as a list. No early-warning model: 503 saying how to train one. No
installments stored: an empty list with a note.

No ``from __future__ import annotations`` here: the response models are built at runtime
from the schema.
"""

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, create_model

from loan_recovery.api.deps import SessionDep, SettingsDep, Viewer
from loan_recovery.api.early_warning import EarlyWarningDep
from loan_recovery.api.routes.responses import AUTHENTICATED, errors
from loan_recovery.api.schemas import ActionName, one_of
from loan_recovery.data import schema
from loan_recovery.jobs.alerts import NoStoredHistoryError, alerts_page
from loan_recovery.store.queries import MAX_PAGE_SIZE

#: Largest offset a listing accepts (as the other listings).
MAX_OFFSET = 10**12
#: Why a store without installments (or loans) lists no alert.
NOTES: dict[str, str] = {
    "loans": "the case store holds no loans yet, so there is nothing to score; load them "
    "with `loan-recovery import FILE`.",
    "installments": "the case store holds no installments yet, so early warning has nothing "
    "to score; load them with `loan-recovery import-payments FILE`.",
}

if TYPE_CHECKING:
    AlertPattern = str
else:
    AlertPattern = one_of(schema.ALERT_PATTERNS)


def alert_model() -> type[BaseModel]:
    """One alert: the columns of an alerts file, with the reason codes as a list."""
    fields: dict[str, Any] = {
        schema.LOAN_ID: (str, ...),
        schema.BORROWER_ID: (str | None, Field(default=None, description="The loan's borrower")),
        schema.CUTOFF_DATE: (date, Field(description="Scored as of the end of this day")),
        schema.DPD_AT_CUTOFF: (int, Field(ge=0, description="Days past due at the cut-off")),
        schema.EARLY_WARNING_SCORE: (
            float,
            Field(ge=0, le=1, description="P(reaching default DPD within the horizon)"),
        ),
        schema.ALERT_PATTERN: (
            AlertPattern,
            Field(description="The behaviour behind the risk (first match wins)"),
        ),
        schema.SUGGESTED_ACTION: (
            ActionName,
            Field(description="Pre-emptive action early_warning.alert_actions maps it to"),
        ),
        "reasons": (list[str], Field(description="Reason codes, strongest first")),
    }
    return create_model("Alert", **fields)


def alerts_page_model(alert: type[BaseModel]) -> type[BaseModel]:
    """A page of alerts, how many there are in all, and what they were computed with."""
    return create_model(
        "AlertsPage",
        items=(list[alert], Field(description="Highest probability first")),  # type: ignore[valid-type]
        total=(int, Field(ge=0, description="Alerts at this threshold and filter")),
        limit=(int, ...),
        offset=(int, ...),
        threshold=(float, Field(gt=0, lt=1)),
        cutoff=(date | None, Field(description="Cut-off scored at (null: nothing scored)")),
        model_version=(str, Field(description="Early-warning version that scored")),
        scored=(int, Field(ge=0, description="Loans eligible and scored at the cut-off")),
        note=(str | None, Field(default=None, description="Why the list is empty, if it is")),
    )


def alert_items(alerts: pd.DataFrame, top_k: int) -> list[dict[str, Any]]:
    """Rows of an alerts table as response items (reasons gathered, blanks dropped)."""
    reasons = [schema.reason_column(rank + 1) for rank in range(top_k)]
    items: list[dict[str, Any]] = []
    for record in alerts.to_dict(orient="records"):
        borrower = record.get(schema.BORROWER_ID)
        items.append(
            {
                schema.LOAN_ID: str(record[schema.LOAN_ID]),
                schema.BORROWER_ID: None if pd.isna(borrower) else str(borrower),
                schema.CUTOFF_DATE: pd.Timestamp(record[schema.CUTOFF_DATE]).date(),
                schema.DPD_AT_CUTOFF: int(record[schema.DPD_AT_CUTOFF]),
                schema.EARLY_WARNING_SCORE: float(record[schema.EARLY_WARNING_SCORE]),
                schema.ALERT_PATTERN: str(record[schema.ALERT_PATTERN]),
                schema.SUGGESTED_ACTION: str(record[schema.SUGGESTED_ACTION]),
                "reasons": [
                    str(record[name])
                    for name in reasons
                    if isinstance(record.get(name), str) and record[name]
                ],
            }
        )
    return items


def build_router() -> APIRouter:
    """The alerts route, with its response models built from the schema."""
    page_model = alerts_page_model(alert_model())
    router = APIRouter(tags=["alerts"], responses=errors(*AUTHENTICATED))

    @router.get("/alerts", response_model=page_model)
    def get_alerts(
        _principal: Viewer,
        session: SessionDep,
        settings: SettingsDep,
        serving: EarlyWarningDep,
        threshold: Annotated[
            float | None,
            Query(
                gt=0,
                lt=1,
                allow_inf_nan=False,
                description="Alert at this probability or above (default: settings, 0.3)",
            ),
        ] = None,
        suggested_action: Annotated[
            ActionName | None, Query(description="Only alerts suggesting this action")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        """Stored loans likely to reach 60+ DPD within 3 months, with reasons. Role: viewer."""
        bundle = serving.require()
        level = settings.early_warning.threshold if threshold is None else threshold
        answer: dict[str, Any] = {
            "items": [],
            "total": 0,
            "limit": limit,
            "offset": offset,
            "threshold": level,
            "cutoff": None,
            "model_version": bundle.version,
            "scored": 0,
            "note": None,
        }
        try:
            book = serving.scored_book(session, settings=settings)
        except NoStoredHistoryError as error:
            return answer | {"note": NOTES.get(error.missing, str(error))}
        alerts, total = alerts_page(
            book.scored,
            book.loans,
            model=bundle,
            settings=settings,
            threshold=level,
            suggested_action=suggested_action,
            limit=limit,
            offset=offset,
        )
        return answer | {
            "items": alert_items(alerts, settings.explain.top_k),
            "total": total,
            "cutoff": book.cutoff.date(),
            "scored": len(book.scored),
        }

    return router
