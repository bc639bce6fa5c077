"""The audit log: who did what, when, for every write and every scoring call.

Audit rows are written in the same transaction as the change they describe, so the log
never claims a write that rolled back nor misses one that committed. Their details never
hold personal data: values of :data:`schema.PERSONAL_DATA_COLUMNS` are replaced by
:data:`MASK` before anything is written (the columns' names stay, so "phone changed" is
still visible).

Free text (an action's notes, the agent it is assigned to, an API key's name: the fields
of :data:`FREE_TEXT_FIELDS`) is what people type, and agents type a borrower's phone
number or email into a note. Its audited value goes through :func:`redact_text`: email
addresses, phone numbers and runs of 7 or more digits (account and card numbers) become
``[email]``, ``[phone]`` and ``[number]``, the rest of the text stays, so "notes changed
from 'call back' to 'promised [number] by Friday'" is still readable. Redaction, not a
hash of the whole text: an unsalted hash of a short note (a phone number alone) is
reversed by trying every number, and a hash tells an auditor nothing. What redaction
cannot catch is a borrower's name or address written out in words: notes are shown in
full only to agents and admins (see :mod:`loan_recovery.store.queries`).
"""

from __future__ import annotations

import math
import re
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

#: Audit-detail keys holding free text people type; their values are redacted.
FREE_TEXT_FIELDS: frozenset[str] = frozenset({"notes", "assigned_agent", "name"})
#: Digits a phone number or account number has at least (shorter runs are amounts, days).
MIN_REDACTED_DIGITS = 7
EMAIL_PLACEHOLDER = "[email]"
PHONE_PLACEHOLDER = "[phone]"
NUMBER_PLACEHOLDER = "[number]"
#: Anything shaped like an address: a word, an at sign, a word (matched from a word's
#: start only, so a long text without one costs one pass).
_EMAIL = re.compile(r"(?<![^\s@<>()\[\],;:\"])[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+")
#: Digits, optionally led by "+" and split by spaces, dots, dashes, slashes or brackets.
_DIGITS = re.compile(r"\+?\(?\d(?:[\s./()-]{0,2}\d)*")
#: Dates are kept: 2026-07-20, 20/07/2026, 2026.07.20 (digits split by one - / or .).
_DATE = re.compile(r"\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2\d{4}")


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


def _digits_redacted(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(character.isdigit() for character in text)
    if digits < MIN_REDACTED_DIGITS or _DATE.fullmatch(text.strip()):
        return text
    return NUMBER_PLACEHOLDER if text.isdigit() else PHONE_PLACEHOLDER


def redact_text(text: str) -> str:
    """``text`` with email addresses, phone numbers and long digit runs replaced.

    A run of :data:`MIN_REDACTED_DIGITS` or more digits, allowing the separators phone
    numbers are written with, becomes ``[phone]`` when it has a "+" or separators and
    ``[number]`` when it is bare digits (an account number); a date keeps its digits.
    """
    if not text:
        return text
    return _DIGITS.sub(_digits_redacted, _EMAIL.sub(EMAIL_PLACEHOLDER, text))


def masked(column: str, value: Any) -> Any:
    """The JSON value to audit for ``column``: :data:`MASK` for personal data, free text
    (:data:`FREE_TEXT_FIELDS`) redacted."""
    if column in _PERSONAL:
        return None if json_value(value) is None else MASK
    if column in FREE_TEXT_FIELDS and isinstance(value, str):
        return redact_text(value)
    return json_value(value)


def redact_details(details: Any, field: str | None = None) -> Any:
    """JSON ``details`` with every free-text value redacted, at any depth.

    A value counts as free text when its key is in :data:`FREE_TEXT_FIELDS`, or when it is
    the ``old``/``new`` of such a key's change record (``{"notes": {"old": ..}}``).
    """
    if isinstance(details, Mapping):
        return {
            key: redact_details(value, field if key in ("old", "new") else str(key))
            for key, value in details.items()
        }
    if isinstance(details, list):
        return [redact_details(item, field) for item in details]
    if isinstance(details, str) and field in FREE_TEXT_FIELDS:
        return redact_text(details)
    return details


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
    """Add one audit row to the session's transaction and return it (flushed, with id).

    Free text in ``details`` is redacted here whatever the caller did (see
    :func:`redact_details`): one row at a time, the pass costs nothing.
    """
    record = audit_record(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=None if details is None else redact_details(json_value(dict(details))),
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
