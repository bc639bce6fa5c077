"""The audit log: who did what, when, for every write and every scoring call.

Audit rows are written in the same transaction as the change they describe, so the log
never claims a write that rolled back nor misses one that committed. Their details never
hold personal data: values of :data:`schema.PERSONAL_DATA_COLUMNS` are replaced by
:data:`MASK` before anything is written (the columns' names stay, so "phone changed" is
still visible).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loan_recovery.data import schema
from loan_recovery.store.bulk import Column, bulk_insert
from loan_recovery.store.models import AuditEntry, utc_now

#: What a personal-data value becomes in audit details (same mask as the CLI's output).
MASK = "***"
#: Actor of commands run from the command line.
CLI_ACTOR = "cli"

_PERSONAL = frozenset(schema.PERSONAL_DATA_COLUMNS)
AUDIT_TABLE: sa.Table = AuditEntry.__table__  # type: ignore[assignment]


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: NumPy scalars unboxed, NaN/NA as null, dates as ISO."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    try:
        if bool(value != value):  # pd.NA, NaT
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def masked(column: str, value: Any) -> Any:
    """The JSON value to audit for ``column``: :data:`MASK` for personal data."""
    if column in _PERSONAL:
        return None if json_value(value) is None else MASK
    return json_value(value)


def change(column: str, old: Any, new: Any) -> dict[str, Any]:
    """One field's audit record ``{"old": ..., "new": ...}``, personal data masked."""
    return {"old": masked(column, old), "new": masked(column, new)}


def audit_record(
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One audit row as a dict, for bulk inserts with :func:`write_audit_records`.

    ``details`` must already hold JSON values (see :func:`change`, :func:`json_value`):
    bulk writers build thousands of these, so no second conversion pass is made here.
    """
    return {
        "at": at or utc_now(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "details": None if details is None else dict(details),
    }


def write_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit row to the session's transaction and return it (flushed, with id)."""
    record = audit_record(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=None if details is None else json_value(dict(details)),
    )
    entry = AuditEntry(**record)
    session.add(entry)
    session.flush()
    return entry


def write_audit_records(connection: sa.Connection, records: Sequence[Mapping[str, Any]]) -> None:
    """Insert many audit rows at once (bulk import and plan writes) on ``connection``."""
    if not records:
        return
    names = ("at", "actor", "action", "entity", "entity_id", "details")
    columns: dict[str, Column] = {name: [record[name] for record in records] for name in names}
    bulk_insert(connection, AUDIT_TABLE, columns)


#: Audit ``action`` of a scoring call that stores nothing else (an API score request).
SCORING_CALL = "score"


def audit_scoring(
    session: Session,
    *,
    actor: str,
    model_version: str,
    loans: int,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Record that ``actor`` scored ``loans`` loans with ``model_version`` (no loan data)."""
    return write_audit(
        session,
        actor=actor,
        action=SCORING_CALL,
        entity="model_version",
        entity_id=model_version,
        details={"loans": loans, **(details or {})},
    )
