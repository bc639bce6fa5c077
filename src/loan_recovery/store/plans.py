"""Writing a recovery plan to the store: one score row per loan per run, planned actions.

:func:`store_plan` takes the worklist that :func:`loan_recovery.strategy.plan.plan_loans`
returns, so the CLI's ``plan --store`` and an API route write plans the same way. Each
call is one *run* (a random ``run_id``): every loan gets a new score row; the latest row
of a loan is its current score. Actions follow the recommendation:

* a loan whose recommended action is already open (planned or in progress) keeps it;
* other *planned* actions of the loan are cancelled: the new plan supersedes them
  (actions an agent has started are left alone, also when the agent started one while
  the plan was being stored: the cancel is compare-and-set on ``planned``);
* otherwise a new action is created with status ``planned`` and the expected cost;
* ``hold`` creates no action.

A score row keeps the recommended action's expected net recovery and, in its
``expected_net`` JSON, the value of every arm: each action's and hold's (the value of
leaving the loan alone), so the uplift the plan decided on can be read back.

Everything is written in bulk inside the caller's transaction, with one audit row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from loan_recovery.data import schema
from loan_recovery.store.audit import json_value, write_audit
from loan_recovery.store.bulk import Column, Same, bulk_insert
from loan_recovery.store.errors import InvalidRequestError, NotFoundError
from loan_recovery.store.loans import LOOKUP_CHUNK, UpsertCounts, key_in, upsert_loans
from loan_recovery.store.models import (
    OPEN_STATUSES,
    Action,
    ActionStatus,
    ModelVersion,
    Score,
    loan_key,
    utc_now,
)

#: The plan label of "no action this cycle": creates no action.
HOLD = schema.HOLD
PLAN_STORE = "plan.store"
_MAX_LISTED = 5

#: Worklist columns a stored plan needs (per-action values and reasons are found by name).
REQUIRED_WORKLIST_COLUMNS: tuple[str, ...] = (
    schema.LOAN_ID,
    schema.RECOMMENDED_ACTION,
    schema.EXPECTED_NET_RECOVERY,
    schema.EXPECTED_RECOVERED,
    schema.EXPECTED_COST,
    schema.PRIORITY,
    schema.RISK_SCORE,
    schema.RISK_BAND,
)

SCORES: sa.Table = Score.__table__  # type: ignore[assignment]
ACTIONS: sa.Table = Action.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """What one stored plan run wrote."""

    run_id: str
    model_version: str
    scores: int
    actions_created: int
    actions_kept: int
    actions_cancelled: int
    loans: UpsertCounts | None = None


def ensure_model_version(
    session: Session,
    *,
    version: str,
    family: str | None = None,
    trained_at: datetime | None = None,
    details: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """The ``model_versions`` row of ``version``, created from the given metadata if new."""
    existing = session.get(ModelVersion, version)
    if existing is not None:
        return existing
    row = ModelVersion(
        version=version,
        family=family,
        trained_at=trained_at,
        details=None if details is None else json_value(dict(details)),
    )
    session.add(row)
    session.flush()
    return row


def store_plan(
    session: Session,
    worklist: pd.DataFrame,
    *,
    model_version: str,
    actor: str,
    policy: str = "learned",
    loans: pd.DataFrame | None = None,
    model_details: Mapping[str, Any] | None = None,
) -> StoredPlan:
    """Write the scores and planned actions of ``worklist`` as one run.

    ``loans`` (the validated table the plan was made from) is upserted first when given;
    otherwise every loan of the worklist must already be in the store. Raises
    :class:`NotFoundError` naming loans the store does not hold and
    :class:`InvalidRequestError` for a worklist without the plan's columns.
    """
    missing_columns = [name for name in REQUIRED_WORKLIST_COLUMNS if name not in worklist]
    if missing_columns:
        raise InvalidRequestError(
            f"the worklist lacks column(s) {', '.join(missing_columns)}; store the output "
            "of plan_loans."
        )
    if not worklist[schema.LOAN_ID].is_unique:
        raise InvalidRequestError("the worklist repeats Loan_IDs; a plan has one row per loan.")
    connection = session.connection()
    loan_counts = None
    if loans is not None:
        loan_counts = upsert_loans(connection, loans, actor=actor, source="plan")
    keys = worklist[schema.LOAN_ID].astype(str).to_numpy(dtype=object)
    _check_loans_exist(connection, keys)
    family = None if model_details is None else model_details.get("champion_family")
    ensure_model_version(
        session,
        version=model_version,
        family=None if family is None else str(family),
        trained_at=_parse_time(None if model_details is None else model_details.get("created_at")),
        details=model_details,
    )
    now = utc_now()
    run_id = uuid.uuid4().hex
    written = bulk_insert(
        connection, SCORES, _score_columns(worklist, run_id, model_version, policy, now)
    )
    score_ids = _score_ids(connection, run_id)
    created, kept, cancelled = _plan_actions(connection, worklist, keys, score_ids, actor, now)
    result = StoredPlan(
        run_id=run_id,
        model_version=model_version,
        scores=written,
        actions_created=created,
        actions_kept=kept,
        actions_cancelled=len(cancelled),
        loans=loan_counts,
    )
    write_audit(
        session,
        actor=actor,
        action=PLAN_STORE,
        entity="plan",
        entity_id=run_id,
        details={
            "model_version": model_version,
            "policy": policy,
            "scores": written,
            "actions_created": created,
            "actions_kept": kept,
            "actions_cancelled": len(cancelled),
            "cancelled_action_ids": cancelled,
            **({} if loan_counts is None else {"loans": loan_counts.as_dict()}),
        },
    )
    return result


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _check_loans_exist(connection: sa.Connection, keys: np.ndarray[Any, Any]) -> None:
    found: set[str] = set()
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK].tolist()
        rows = connection.execute(sa.select(loan_key).where(key_in(connection, loan_key, chunk)))
        found.update(row[0] for row in rows)
    missing = [key for key in keys.tolist() if key not in found]
    if missing:
        shown = ", ".join(missing[:_MAX_LISTED]) + (" ..." if len(missing) > _MAX_LISTED else "")
        raise NotFoundError(
            f"{len(missing):,} loan(s) of the plan are not in the store ({shown}); import "
            "them first (`loan-recovery import FILE`)."
        )


def _score_columns(
    worklist: pd.DataFrame, run_id: str, model_version: str, policy: str, now: datetime
) -> dict[str, Column]:
    """The score rows of a worklist, column by column."""
    expected_net = _arm_values(worklist)
    reason_names: list[str] = []
    while schema.reason_column(len(reason_names) + 1) in worklist:
        reason_names.append(schema.reason_column(len(reason_names) + 1))
    reason_values = worklist[reason_names].to_numpy(dtype=object)
    reasons = [
        [str(value) for value in row if isinstance(value, str) and value]
        for row in reason_values.tolist()
    ]

    def floats(name: str) -> list[float]:
        values: list[float] = worklist[name].to_numpy(dtype=np.float64).tolist()
        return values

    def texts(name: str) -> list[str | None]:
        if name not in worklist:
            return [None] * len(worklist)
        values = worklist[name].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        return [None if value is None else str(value) for value in values.tolist()]

    return {
        "run_id": Same(run_id),
        "loan_id": worklist[schema.LOAN_ID].astype(str).tolist(),
        "model_version": Same(model_version),
        "policy": Same(policy),
        "risk_score": floats(schema.RISK_SCORE),
        "risk_band": texts(schema.RISK_BAND),
        "segment": texts(schema.SEGMENT_NAME),
        "recommended_action": texts(schema.RECOMMENDED_ACTION),
        "expected_net_recovery": floats(schema.EXPECTED_NET_RECOVERY),
        "expected_recovered": floats(schema.EXPECTED_RECOVERED),
        "expected_cost": floats(schema.EXPECTED_COST),
        "priority": floats(schema.PRIORITY),
        "expected_net": expected_net,
        "reasons": reasons,
        "guardrails": texts(schema.GUARDRAILS),
        "created_at": Same(now),
    }


def _arm_values(worklist: pd.DataFrame) -> list[dict[str, float]]:
    """Per loan, arm name -> discounted expected net recovery, hold included.

    Stored in the score's ``expected_net`` JSON (no migration: the column already holds a
    value per arm name). Hold's value (``value_if_left_alone``) is kept beside the actions'
    (``value_<action>``), so every action's uplift over leaving the loan alone, the number
    the plan decided on, is ``expected_net[action] - expected_net["hold"]``. Arms the
    worklist has no column for, and non-finite values, are left out.
    """
    columns = {HOLD: schema.VALUE_IF_LEFT_ALONE} | {
        name: schema.value_column(name) for name in schema.ACTION_NAMES
    }
    arms = [arm for arm, column in columns.items() if column in worklist]
    matrix = worklist[[columns[arm] for arm in arms]].to_numpy(dtype=np.float64)
    return [
        {arm: float(value) for arm, value in zip(arms, row, strict=True) if np.isfinite(value)}
        for row in matrix.tolist()
    ]


def _score_ids(connection: sa.Connection, run_id: str) -> dict[str, int]:
    rows = connection.execute(
        sa.select(SCORES.c.loan_id, SCORES.c.id).where(SCORES.c.run_id == run_id)
    )
    return {loan_id: score_id for loan_id, score_id in rows}


def _open_actions(connection: sa.Connection, keys: np.ndarray[Any, Any]) -> pd.DataFrame:
    columns = [ACTIONS.c.id, ACTIONS.c.loan_id, ACTIONS.c.action, ACTIONS.c.status]
    open_values = [status.value for status in OPEN_STATUSES]
    frames: list[pd.DataFrame] = []
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK].tolist()
        statement = sa.select(*columns).where(
            key_in(connection, ACTIONS.c.loan_id, chunk), ACTIONS.c.status.in_(open_values)
        )
        rows = connection.execute(statement).fetchall()
        frames.append(
            pd.DataFrame(
                [tuple(row) for row in rows], columns=["id", "loan_id", "action", "status"]
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["id", "loan_id", "action", "status"])
    )


def _ids_in(connection: sa.Connection, ids: list[int]) -> sa.ColumnElement[bool]:
    """``actions.id IN ids``: one array parameter on PostgreSQL (as :func:`key_in`)."""
    if connection.dialect.name == "postgresql":
        array = sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.BigInteger()))
        return ACTIONS.c.id == sa.any_(array)
    return ACTIONS.c.id.in_(ids)


def _cancel_planned(connection: sa.Connection, ids: list[int], now: datetime) -> list[int]:
    """Cancel the actions of ``ids`` that are still planned; returns the ids cancelled.

    Compare-and-set (``WHERE status = 'planned'``), as every status change of an action:
    one an agent started, finished or cancelled since the plan read it stays as it is.
    """
    cancelled: list[int] = []
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = connection.execute(
            sa.update(ACTIONS)
            .where(
                _ids_in(connection, ids[start : start + LOOKUP_CHUNK]),
                ACTIONS.c.status == ActionStatus.PLANNED.value,
            )
            .values(status=ActionStatus.CANCELLED.value, updated_at=now, completed_at=now)
            .returning(ACTIONS.c.id)
        )
        cancelled.extend(int(value) for value in rows.scalars())
    return sorted(cancelled)


def _plan_actions(
    connection: sa.Connection,
    worklist: pd.DataFrame,
    keys: np.ndarray[Any, Any],
    score_ids: Mapping[str, int],
    actor: str,
    now: datetime,
) -> tuple[int, int, list[int]]:
    """Create, keep and cancel actions; returns (created, kept, cancelled action ids)."""
    recommended = pd.Series(
        worklist[schema.RECOMMENDED_ACTION].astype(str).to_numpy(dtype=object), index=keys
    )
    existing = _open_actions(connection, keys)
    existing["recommended"] = recommended.reindex(existing["loan_id"].to_numpy()).to_numpy()
    matches = existing["action"] == existing["recommended"]
    covered = set(existing.loc[matches, "loan_id"])
    stale = existing["status"].eq(ActionStatus.PLANNED.value) & ~matches
    cancelled = _cancel_planned(
        connection, [int(value) for value in existing.loc[stale, "id"].tolist()], now
    )
    wanted = (recommended != HOLD) & ~recommended.index.isin(list(covered))
    new = worklist.loc[wanted.to_numpy()]
    new_keys = keys[wanted.to_numpy()].tolist()
    created = bulk_insert(
        connection,
        ACTIONS,
        {
            "loan_id": new_keys,
            "score_id": [score_ids.get(key) for key in new_keys],
            "action": new[schema.RECOMMENDED_ACTION].astype(str).tolist(),
            "status": Same(ActionStatus.PLANNED.value),
            "cost": [
                value if np.isfinite(value) and value >= 0 else None
                for value in new[schema.EXPECTED_COST].to_numpy(dtype=np.float64).tolist()
            ],
            "created_by": Same(actor),
            "created_at": Same(now),
            "updated_at": Same(now),
        },
    )
    kept = int(((recommended != HOLD) & recommended.index.isin(list(covered))).sum())
    return created, kept, cancelled
