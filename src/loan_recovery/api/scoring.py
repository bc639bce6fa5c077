"""The scoring hot path: loans of a request -> validated table -> plan -> response rows.

Models are loaded once per process (:func:`load_serving_models`, called by the app's
lifespan) and every request reuses them. A request's loans take the path of
:func:`~loan_recovery.jobs.assess.assess_loans` and ``loan-recovery plan``:
:func:`~loan_recovery.jobs.assess.raw_frame` -> :func:`validate_frame` ->
:func:`action_values` -> :func:`plan_loans`, all vectorised over the batch, so a scored loan
carries exactly the numbers the CLI gives the same row. The API stops there:
``assess_loans`` goes on to a second design matrix and SHAP pass for the dashboard's
per-feature charts, which no route returns and every request would pay for.

Reason codes: a request of up to ``api.approximate_reasons_above`` loans (a single loan
always) is explained with ``explain.method``; a larger one with approximate path
attributions, because exact TreeSHAP dominates the time of a 1,000-loan request (a third
of it with an XGBoost champion, nearly all of it with a random forest). Only the reason
texts can differ; risk, values and the chosen action do not depend on the explanation.
Every response names the method it used.

Response rows are built column by column from NumPy arrays and serialised by
pydantic-core's JSON encoder: constructing one pydantic object per loan would cost more
than the models on a 1,000-loan batch. The routes still declare the response models, and
the tests check every response against them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pydantic_core

from loan_recovery.actions import HOLD
from loan_recovery.api.schemas import UPLIFT_BY_ACTION, VALUE_BY_ACTION, ChampionInfo
from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.validation import COLUMN, LINE, MESSAGE, REASON, validate_frame
from loan_recovery.exceptions import LoanRecoveryError, ModelError
from loan_recovery.jobs.assess import RawValue, raw_frame
from loan_recovery.jobs.report import build_model_card
from loan_recovery.jobs.store import model_details
from loan_recovery.models.bundle import ModelBundle, load_bundle
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.plan import ActionValues, PlanResult, action_values, plan_loans
from loan_recovery.strategy.rules import RULE_SEPARATOR

logger = logging.getLogger(__name__)

#: Where a request's loans sit in the body: the ``loc`` prefix of a row's 422 problems.
LOANS_LOC: tuple[str, ...] = ("body", "loans")
_WARM_UP_LOANS = 8


@dataclass(frozen=True)
class ServingModels:
    """What the API serves with: the champion bundle, its card summary, its store details."""

    bundle: ModelBundle
    champion: ChampionInfo
    details: Mapping[str, Any]

    @property
    def version(self) -> str:
        """The registry version every response names."""
        return self.bundle.version


class RejectedRowsError(LoanRecoveryError, ValueError):
    """Rows of a request failed validation; ``errors`` locate each problem (API: 422)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the loans of the request.")
        self.errors = errors


def _metrics(frame: pd.DataFrame | None) -> dict[str, dict[str, float | None]] | None:
    if frame is None:
        return None
    return {
        str(candidate): {
            str(name): (float(value) if math.isfinite(float(value)) else None)
            for name, value in row.items()
        }
        for candidate, row in frame.astype(float).iterrows()
    }


def load_serving_models(settings: Settings) -> ServingModels:
    """Load and verify the registry's champion once, with its model card and details.

    Raises :class:`~loan_recovery.exceptions.ModelError` (no champion, tampered files, no
    outcome models, or a version trained before the plan valued leaving a loan alone) with
    the registry's own message.
    """
    registry = ModelRegistry(settings.registry_dir)
    bundle = load_bundle(registry)
    if bundle.outcome_model is None:
        raise ModelError(
            f"model version {bundle.version} has no outcome models; retrain it to serve plans."
        )
    if HOLD not in bundle.outcome_model.actions_:
        # Checked here as well as in the plan so /ready says so at start-up, not every
        # scoring request with a 503.
        raise ModelError(
            f"model version {bundle.version} has no model of leaving a loan alone ({HOLD!r}), "
            "so it cannot value uplift; retrain it (loan-recovery train) to serve plans."
        )
    if settings.api.model_threads is not None:
        _pin_threads(bundle, settings.api.model_threads)
    card = build_model_card(settings=settings, version=bundle.version)
    champion = ChampionInfo(
        version=card.version,
        champion_family=card.champion_family,
        created_at=card.created_at,
        calibration_method=card.calibration_method,
        label_definition=card.label_definition,
        excluded_columns=list(card.excluded_columns),
        metrics=_metrics(card.metrics),
    )
    return ServingModels(
        bundle=bundle, champion=champion, details=model_details(registry, bundle.version)
    )


def _pin_threads(bundle: ModelBundle, threads: int) -> None:
    """Run the risk booster's predictions (score and reasons) on ``threads`` threads.

    The registry loads it to use every core, right for batch jobs; in a server one
    request's single-loan prediction split over two busy cores spends more time waiting
    for the second than computing (measured: ~30% slower p50 on a loaded 2-core box). The
    outcome boosters are already single-threaded. A forest champion has no booster.
    """
    booster = getattr(bundle.risk_model.base_, "booster_", None)
    if booster is not None:
        booster.set_param({"nthread": threads})


def warm_up(models: ServingModels, settings: Settings) -> None:
    """Score a few simulated loans so the first client request pays no first-call costs.

    XGBoost and pandas set up caches on their first call; without this the first request
    after a start (or a deploy) is several times slower than the rest.
    """
    loans = simulate_portfolio(_WARM_UP_LOANS, 0, settings=settings).loans
    columns = [spec.name for spec in schema.REQUIRED_SPECS]
    records = cast(list[dict[str, RawValue]], loans[columns].to_dict(orient="records"))
    score_records(records, models, settings)
    score_records(records[:1], models, settings)


@dataclass(frozen=True)
class ScoredBatch:
    """A planned request: the validated table, the plan, and the response rows in order."""

    table: pd.DataFrame
    plan: PlanResult
    reason_method: str
    rows: list[dict[str, Any]]


def explain_settings(settings: Settings, loans: int) -> Settings:
    """``settings`` with the reason-code method a request of ``loans`` loans uses."""
    limit = settings.api.approximate_reasons_above
    if limit is None or loans <= limit or settings.explain.method == "approximate":
        return settings
    return settings.with_explain(method="approximate")


def score_records(
    records: Sequence[Mapping[str, RawValue]], models: ServingModels, settings: Settings
) -> ScoredBatch:
    """Validate and plan ``records`` (column -> value, one per loan) as one batch.

    Raises :class:`RejectedRowsError` naming every problem (row index in the request, column,
    reason) when any row fails validation or a Loan_ID repeats: a request is planned whole
    or not at all, so a client never has to match partial results to its loans.
    """
    validation = validate_frame(raw_frame(records), settings=settings)
    if validation.rejected:
        raise RejectedRowsError(_issue_errors(validation.issues))
    table = validation.table
    _check_unique(table)
    used = explain_settings(settings, len(table))
    inputs = action_values(table, models.bundle, used)
    plan = plan_loans(table, models.bundle, used, inputs=inputs)
    return ScoredBatch(
        table=table,
        plan=plan,
        reason_method=used.explain.method,
        rows=_rows(table, plan, inputs, used),
    )


def _issue_errors(issues: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "loc": [*LOANS_LOC, int(line) - schema.FIRST_DATA_LINE, str(column)],
            "msg": str(message),
            "type": str(reason),
        }
        for line, column, reason, message in zip(
            issues[LINE], issues[COLUMN], issues[REASON], issues[MESSAGE], strict=True
        )
    ]


def _check_unique(table: pd.DataFrame) -> None:
    """Validation lets a Loan_ID repeat on different As_Of_Date snapshots; a request may not."""
    ids = table[schema.LOAN_ID]
    repeated = ids.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return
    values = [str(value) for value in ids.tolist()]
    first = {value: position for position, value in reversed(list(enumerate(values)))}
    errors = [
        {
            "loc": [*LOANS_LOC, position, schema.LOAN_ID],
            "msg": f"{schema.LOAN_ID} '{values[position]}' repeats "
            f"loans[{first[values[position]]}]; a request scores each loan once.",
            "type": "duplicate_loan_id",
        }
        for position in np.flatnonzero(repeated).tolist()
    ]
    raise RejectedRowsError(errors)


def _texts(values: npt.NDArray[Any]) -> list[str]:
    return [value if isinstance(value, str) else "" for value in values.tolist()]


def _rows(
    table: pd.DataFrame, plan: PlanResult, inputs: ActionValues, settings: Settings
) -> list[dict[str, Any]]:
    """One response row per loan of ``table``, in the table's (the request's) order.

    The worklist is in priority order; ``at`` maps each table row to its worklist row, and
    every column is taken as a NumPy array in that order (no per-loan pandas access).
    """
    worklist = plan.worklist
    at = pd.Index(worklist[schema.LOAN_ID]).get_indexer(table[schema.LOAN_ID])
    scores = inputs.scores

    def column(name: str) -> npt.NDArray[Any]:
        values: npt.NDArray[Any] = worklist[name].to_numpy()[at]
        return values

    def floats(name: str) -> list[float]:
        values: list[float] = column(name).astype(np.float64).tolist()
        return values

    actions = list(inputs.catalogue.names)

    def per_action(column_of: Callable[[str], str]) -> list[dict[str, float]]:
        matrix = worklist[[column_of(name) for name in actions]].to_numpy(dtype=np.float64)[at]
        return [dict(zip(actions, row, strict=True)) for row in matrix.tolist()]

    allowed = inputs.guard.allowed[actions].to_numpy(dtype=bool)
    reasons = np.column_stack(
        [column(schema.reason_column(rank)) for rank in range(1, settings.explain.top_k + 1)]
    )
    columns: dict[str, list[Any]] = {
        schema.LOAN_ID: _texts(column(schema.LOAN_ID)),
        schema.RISK_SCORE: floats(schema.RISK_SCORE),
        schema.RISK_BAND: _texts(column(schema.RISK_BAND)),
        schema.SCORED_ASSET_CLASS: _texts(scores[schema.SCORED_ASSET_CLASS].to_numpy()),
        schema.SEGMENT_ID: scores[schema.SEGMENT_ID].to_numpy(dtype=np.int64).tolist(),
        schema.SEGMENT_NAME: _texts(column(schema.SEGMENT_NAME)),
        "reasons": [
            [text for text in row if isinstance(text, str) and text] for row in reasons.tolist()
        ],
        schema.RECOMMENDED_ACTION: _texts(column(schema.RECOMMENDED_ACTION)),
        schema.PRIORITY: floats(schema.PRIORITY),
        schema.EXPECTED_UPLIFT: floats(schema.EXPECTED_UPLIFT),
        schema.VALUE_IF_LEFT_ALONE: floats(schema.VALUE_IF_LEFT_ALONE),
        schema.EXPECTED_NET_RECOVERY: floats(schema.EXPECTED_NET_RECOVERY),
        schema.EXPECTED_RECOVERED: floats(schema.EXPECTED_RECOVERED),
        schema.EXPECTED_COST: floats(schema.EXPECTED_COST),
        schema.BASELINE_ACTION: _texts(column(schema.BASELINE_ACTION)),
        schema.UPLIFT_VS_BASELINE: floats(schema.UPLIFT_VS_BASELINE),
        schema.UPLIFT_VS_NEXT_BEST: [
            value if math.isfinite(value) else None for value in floats(schema.UPLIFT_VS_NEXT_BEST)
        ],
        VALUE_BY_ACTION: per_action(schema.value_column),
        UPLIFT_BY_ACTION: per_action(schema.uplift_column),
        "allowed_actions": [
            [name for name, ok in zip(actions, row, strict=True) if ok] for row in allowed.tolist()
        ],
        schema.GUARDRAILS: [
            [sentence for sentence in text.split(RULE_SEPARATOR) if sentence]
            for text in _texts(column(schema.GUARDRAILS))
        ],
    }
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def response_json(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON of a response (a non-finite number, never expected, becomes null)."""
    return pydantic_core.to_json(payload, inf_nan_mode="null")
