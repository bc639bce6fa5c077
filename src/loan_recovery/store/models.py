"""The case store's tables: SQLAlchemy 2 metadata, changed only through Alembic migrations.

``loans`` and ``borrowers`` are built from the canonical table's column specs
(:mod:`loan_recovery.data.schema`), so the schema module stays the only place that spells
a loan column: a database column is the canonical name in lower case (``Days_Past_Due`` ->
``days_past_due``). They are Core tables because they are only ever written in bulk.
Scores, actions, outcomes, model versions, API keys and the audit log are ORM classes:
the API creates and reads them one at a time. Revision 0002 adds ``payments`` (a Core
table, imported in bulk, keyed by loan and due date) and the reminder tables ``outbox``,
``contact_attempts`` and ``opt_outs``. Revision 0003 adds ``idempotency_keys``: the first
answer to each creating API request sent with an ``Idempotency-Key``, so a retry replays
it instead of creating again.

Personal data (name, phone, email) lives only in ``borrowers``, never in ``loans``, in the
audit log or in logs. Every timestamp is stored and returned in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from loan_recovery.data import schema
from loan_recovery.data.schema import ColumnKind, ColumnSpec

#: Constraint and index names the same on every database, so migrations can name them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Borrower-level columns of the canonical table: contact details, consent, personal data.
BORROWER_COLUMNS: tuple[str, ...] = (
    schema.BORROWER_NAME,
    schema.PHONE,
    schema.EMAIL,
    schema.PREFERRED_LANGUAGE,
    schema.TIME_ZONE,
    schema.CONSENT_SMS,
    schema.CONSENT_EMAIL,
    schema.DO_NOT_CONTACT,
)
#: Optional loan-level columns the store keeps (the rest of OPTIONAL_SPECS is borrower data).
_LOAN_OPTIONAL_COLUMNS: tuple[str, ...] = (
    schema.AMOUNT_RECOVERED,
    schema.ACTION_PROPENSITY,
    schema.ACTION_TAKEN,
    schema.AS_OF_DATE,
)
LOAN_SPECS: tuple[ColumnSpec, ...] = (
    *schema.REQUIRED_SPECS,
    schema.LABEL_SPEC,
    *(spec for spec in schema.OPTIONAL_SPECS if spec.name in _LOAN_OPTIONAL_COLUMNS),
)
BORROWER_SPECS: tuple[ColumnSpec, ...] = tuple(
    schema.SPECS_BY_NAME[name] for name in (schema.BORROWER_ID, *BORROWER_COLUMNS)
)
#: Canonical columns stored in ``loans``, in table order.
LOAN_COLUMNS: tuple[str, ...] = tuple(spec.name for spec in LOAN_SPECS)

#: Lengths of text columns: long enough for any real key, name or label.
KEY_LENGTH = 64
TEXT_LENGTH = 255
LABEL_LENGTH = 64

# Bookkeeping columns of loans and borrowers (not canonical columns).
CONTENT_HASH = "content_hash"
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"


def db_column(name: str) -> str:
    """Database column of a canonical column: its name in lower case."""
    return name.lower()


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp with time zone that always comes back aware and in UTC.

    SQLite keeps no zone, PostgreSQL converts to the session's: normalising on the way in
    and out gives the API and the audit log the same instant on both databases.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware; got {value!r}.")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    """The current instant, aware, in UTC (the only clock the store reads)."""
    return datetime.now(UTC)


#: Integer keys: 64-bit on PostgreSQL, SQLite's rowid alias (INTEGER) so it autoincrements.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base holding the one metadata every table and migration uses."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _sql_type(spec: ColumnSpec) -> sa.types.TypeEngine[Any]:
    if spec.kind is ColumnKind.INTEGER:
        return sa.BigInteger()
    if spec.kind is ColumnKind.NUMBER:
        return sa.Double()
    if spec.kind is ColumnKind.DATE:
        return sa.Date()
    if spec.kind is ColumnKind.CATEGORY:
        return sa.String(LABEL_LENGTH)
    return sa.String(TEXT_LENGTH)


def _spec_columns(specs: tuple[ColumnSpec, ...], required: set[str]) -> list[sa.Column[Any]]:
    """One column per spec. No comments from the specs' descriptions: rewording a
    description in the schema module must not need a migration."""
    return [
        sa.Column(db_column(spec.name), _sql_type(spec), nullable=spec.name not in required)
        for spec in specs
    ]


def _bookkeeping_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column(
            CONTENT_HASH,
            sa.BigInteger(),
            nullable=False,
            comment="64-bit hash of the stored canonical values; equal hash, unchanged row",
        ),
        sa.Column(CREATED_AT, UtcDateTime(), nullable=False),
        sa.Column(UPDATED_AT, UtcDateTime(), nullable=False),
    ]


borrowers = sa.Table(
    "borrowers",
    Base.metadata,
    *_spec_columns(BORROWER_SPECS, {schema.BORROWER_ID}),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint(db_column(schema.BORROWER_ID)),
    comment="One row per Borrower_ID: contact details and consent (personal data).",
)

_REQUIRED_LOAN_COLUMNS = {spec.name for spec in schema.REQUIRED_SPECS}
loans = sa.Table(
    "loans",
    Base.metadata,
    *_spec_columns(LOAN_SPECS, _REQUIRED_LOAN_COLUMNS),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint(db_column(schema.LOAN_ID)),
    sa.ForeignKeyConstraint(
        [db_column(schema.BORROWER_ID)], [f"borrowers.{db_column(schema.BORROWER_ID)}"]
    ),
    sa.Index(None, db_column(schema.BORROWER_ID)),
    comment="The latest canonical row of every loan (no personal data).",
)

loan_key: sa.ColumnElement[str] = loans.c[db_column(schema.LOAN_ID)]
borrower_key: sa.ColumnElement[str] = borrowers.c[db_column(schema.BORROWER_ID)]
_LOAN_FK = f"loans.{db_column(schema.LOAN_ID)}"


class ActionStatus(StrEnum):
    """Where a recovery action stands; ``done`` and ``cancelled`` are final."""

    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_STATUSES: tuple[ActionStatus, ...] = (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS)
#: Status changes an agent may make; anything else is refused.
ALLOWED_TRANSITIONS: Mapping[ActionStatus, frozenset[ActionStatus]] = {
    ActionStatus.PLANNED: frozenset(
        {ActionStatus.IN_PROGRESS, ActionStatus.DONE, ActionStatus.CANCELLED}
    ),
    ActionStatus.IN_PROGRESS: frozenset({ActionStatus.DONE, ActionStatus.CANCELLED}),
    ActionStatus.DONE: frozenset(),
    ActionStatus.CANCELLED: frozenset(),
}


class Role(StrEnum):
    """What an API key may do: read, work actions and outcomes, or everything."""

    VIEWER = "viewer"
    AGENT = "agent"
    ADMIN = "admin"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class ModelVersion(Base):
    """A registry version that produced scores (copied from its metadata when first used)."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(sa.String(KEY_LENGTH), primary_key=True)
    family: Mapped[str | None] = mapped_column(sa.String(LABEL_LENGTH))
    trained_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Score(Base):
    """One loan's score and recommendation from one plan run; the latest one is current."""

    __tablename__ = "scores"
    __table_args__ = (sa.Index(None, "loan_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(KEY_LENGTH), index=True)
    loan_id: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), sa.ForeignKey(_LOAN_FK))
    model_version: Mapped[str] = mapped_column(
        sa.String(KEY_LENGTH), sa.ForeignKey("model_versions.version")
    )
    policy: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    risk_score: Mapped[float] = mapped_column(sa.Double())
    risk_band: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    segment: Mapped[str | None] = mapped_column(sa.String(TEXT_LENGTH))
    recommended_action: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    expected_net_recovery: Mapped[float] = mapped_column(sa.Double())
    expected_recovered: Mapped[float] = mapped_column(sa.Double())
    expected_cost: Mapped[float] = mapped_column(sa.Double())
    priority: Mapped[float] = mapped_column(sa.Double())
    expected_net: Mapped[dict[str, float]] = mapped_column(
        Json, comment="Expected net recovery of every action, by action name"
    )
    reasons: Mapped[list[str]] = mapped_column(Json, comment="Reason codes, strongest first")
    guardrails: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class Action(Base):
    """A recovery action on a loan, from a plan (planned) or an agent, through to done."""

    __tablename__ = "actions"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_in(tuple(ActionStatus))})", name="status"),
        sa.CheckConstraint("cost IS NULL OR cost >= 0", name="cost"),
        sa.CheckConstraint("promise_amount IS NULL OR promise_amount >= 0", name="promise_amount"),
        sa.Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[str] = mapped_column(
        sa.String(TEXT_LENGTH), sa.ForeignKey(_LOAN_FK), index=True
    )
    score_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("scores.id"))
    action: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    status: Mapped[str] = mapped_column(sa.String(16), default=ActionStatus.PLANNED.value)
    assigned_agent: Mapped[str | None] = mapped_column(sa.String(TEXT_LENGTH))
    cost: Mapped[float | None] = mapped_column(sa.Double())
    promise_amount: Mapped[float | None] = mapped_column(
        sa.Double(), comment="Promise-to-pay amount"
    )
    promise_date: Mapped[date | None] = mapped_column(sa.Date(), comment="Promise-to-pay date")
    notes: Mapped[str | None] = mapped_column(sa.Text())
    created_by: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Outcome(Base):
    """What came of a loan's recovery: amount recovered, status and date."""

    __tablename__ = "outcomes"
    __table_args__ = (
        sa.CheckConstraint("amount_recovered >= 0", name="amount_recovered"),
        sa.CheckConstraint(f"status IN ({_in(schema.RECOVERY_STATUSES)})", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[str] = mapped_column(
        sa.String(TEXT_LENGTH), sa.ForeignKey(_LOAN_FK), index=True
    )
    action_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("actions.id"))
    amount_recovered: Mapped[float] = mapped_column(sa.Double())
    status: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    outcome_date: Mapped[date] = mapped_column(sa.Date())
    recorded_by: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class ApiKey(Base):
    """An API key: its public id, role and salted hash; the key itself is never stored."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.CheckConstraint(f"role IN ({_in(tuple(Role))})", name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(KEY_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH))
    role: Mapped[str] = mapped_column(sa.String(16))
    salt: Mapped[str] = mapped_column(sa.String(KEY_LENGTH))
    key_hash: Mapped[str] = mapped_column(sa.String(KEY_LENGTH))
    created_by: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """Who did what, when: one row per write and per scoring call (no personal data)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), index=True)
    action: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    entity: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    entity_id: Mapped[str | None] = mapped_column(sa.String(TEXT_LENGTH))
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)


# --- payments, reminders and contact history (revision 0002) ---------------------------------
#: Payment columns that are never blank (Paid_Date is blank while an installment is unpaid).
_REQUIRED_PAYMENT_COLUMNS = {schema.LOAN_ID, schema.DUE_DATE, schema.AMOUNT_DUE, schema.AMOUNT_PAID}
payments = sa.Table(
    "payments",
    Base.metadata,
    *_spec_columns(schema.PAYMENT_SPECS, _REQUIRED_PAYMENT_COLUMNS),
    *_bookkeeping_columns(),
    sa.PrimaryKeyConstraint(db_column(schema.LOAN_ID), db_column(schema.DUE_DATE)),
    sa.ForeignKeyConstraint([db_column(schema.LOAN_ID)], [_LOAN_FK]),
    comment="Monthly installments per (Loan_ID, Due_Date): amount due, paid, and when.",
)


class Channel(StrEnum):
    """How a reminder reaches a borrower."""

    EMAIL = "email"
    SMS = "sms"


class OutboxStatus(StrEnum):
    """Where a reminder stands in the outbox; ``sent``, ``failed`` and ``held`` are final.

    ``sending``: claimed by a sender (``attempted_at`` says when); nothing handed over yet.
    ``delivering``: the step that hands the message over has begun, so it may have
    arrived; only ``sent`` confirms it. See :mod:`loan_recovery.notify.outbox`.
    """

    PENDING = "pending"
    DEFERRED = "deferred"
    SENDING = "sending"
    DELIVERING = "delivering"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"


#: Statuses a sender may claim once ``scheduled_for`` has come.
DUE_STATUSES: tuple[OutboxStatus, ...] = (OutboxStatus.PENDING, OutboxStatus.DEFERRED)
#: Statuses of a message a sender is working on right now (or died working on).
IN_FLIGHT_STATUSES: tuple[OutboxStatus, ...] = (OutboxStatus.SENDING, OutboxStatus.DELIVERING)


class AttemptOutcome(StrEnum):
    """What came of one contact attempt.

    Only attempts that may have reached the borrower are kept and count towards the cap;
    one that never reached the network is deleted. ``ABANDONED`` is no longer written
    (rows from older versions may still carry it).
    """

    STARTED = "started"
    SENT = "sent"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    ABANDONED = "abandoned"


class OutboxMessage(Base):
    """One reminder to send, keyed by (loan, campaign, date) so it is queued only once.

    ``context`` holds the message's facts (amount due, due date, payment reference), never
    personal data: the name and address are read from ``borrowers`` when it is sent.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_in(tuple(OutboxStatus))})", name="status"),
        sa.CheckConstraint(f"channel IN ({_in(tuple(Channel))})", name="channel"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.Index(None, "status", "scheduled_for"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(512), unique=True)
    loan_id: Mapped[str] = mapped_column(
        sa.String(TEXT_LENGTH), sa.ForeignKey(_LOAN_FK), index=True
    )
    campaign: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    campaign_date: Mapped[date] = mapped_column(sa.Date())
    channel: Mapped[str] = mapped_column(sa.String(16))
    template: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    language: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(
        sa.String(LABEL_LENGTH), comment="Why the contact policy held or deferred it last"
    )
    scheduled_for: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(sa.Integer(), default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text())
    attempted_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="When the latest send attempt was claimed"
    )
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    context: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class ContactAttempt(Base):
    """One attempt to contact a borrower about a loan: what the rolling cap counts."""

    __tablename__ = "contact_attempts"
    __table_args__ = (
        sa.CheckConstraint(f"channel IN ({_in(tuple(Channel))})", name="channel"),
        sa.CheckConstraint(f"outcome IN ({_in(tuple(AttemptOutcome))})", name="outcome"),
        sa.Index(None, "loan_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), sa.ForeignKey(_LOAN_FK))
    outbox_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("outbox.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(sa.String(16))


class OptOut(Base):
    """A borrower's request to stop reminders (one channel, or every one when blank).

    Kept apart from ``borrowers.do_not_contact`` (which an opt-out also sets) so that
    re-importing an older lender file can never undo a STOP.
    """

    __tablename__ = "opt_outs"
    __table_args__ = (
        sa.CheckConstraint(
            f"channel IS NULL OR channel IN ({_in(tuple(Channel))})", name="channel"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    borrower_id: Mapped[str] = mapped_column(
        sa.String(TEXT_LENGTH),
        sa.ForeignKey(f"borrowers.{db_column(schema.BORROWER_ID)}"),
        index=True,
    )
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(LABEL_LENGTH))
    actor: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


# --- idempotent API writes (revision 0003) ---------------------------------------------------
#: Longest ``Idempotency-Key`` header value accepted (a UUID takes 36 characters).
IDEMPOTENCY_KEY_LENGTH = 255


class IdempotencyRecord(Base):
    """The first answer to a creating POST sent with an ``Idempotency-Key`` header.

    One row per (API key, route, idempotency key): the unique constraint is what stops two
    concurrent retries from both creating, on SQLite and PostgreSQL alike. The row is
    written in the request's own transaction, so it exists exactly when the write it
    describes committed; ``status_code`` and ``response`` are null only inside that
    transaction. Rows past ``expires_at`` count as absent and are purged.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("api_key_id", "route", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    api_key_id: Mapped[str] = mapped_column(
        sa.String(KEY_LENGTH), comment="Public id of the API key that sent the request"
    )
    route: Mapped[str] = mapped_column(sa.String(TEXT_LENGTH), comment="Method and path")
    idempotency_key: Mapped[str] = mapped_column(sa.String(IDEMPOTENCY_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(
        sa.String(64), comment="SHA-256 of the canonical request body"
    )
    status_code: Mapped[int | None] = mapped_column(sa.Integer())
    response: Mapped[str | None] = mapped_column(sa.Text(), comment="The first response body")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
