"""Payments and reminders: installment history, the reminder outbox, contacts, opt-outs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Additive: four new tables, nothing existing changes. Types are spelled out here rather
than imported from the models, so this revision keeps creating the same schema whatever
the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIMESTAMP = sa.DateTime(timezone=True)
_CHANNELS = "'email', 'sms'"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "payments",
        sa.Column("loan_id", sa.String(length=255), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount_due", sa.Double(), nullable=False),
        sa.Column("amount_paid", sa.Double(), nullable=False),
        sa.Column("paid_date", sa.Date(), nullable=True),
        sa.Column(
            "content_hash",
            sa.BigInteger(),
            nullable=False,
            comment="64-bit hash of the stored canonical values; equal hash, unchanged row",
        ),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_payments_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("loan_id", "due_date", name=op.f("pk_payments")),
        comment="Monthly installments per (Loan_ID, Due_Date): amount due, paid, and when.",
    )
    op.create_table(
        "outbox",
        sa.Column("id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=512), nullable=False),
        sa.Column("loan_id", sa.String(length=255), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("campaign_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "reason",
            sa.String(length=64),
            nullable=True,
            comment="Why the contact policy held or deferred it last",
        ),
        sa.Column("scheduled_for", _TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "attempted_at",
            _TIMESTAMP,
            nullable=True,
            comment="When the latest send attempt was claimed",
        ),
        sa.Column("sent_at", _TIMESTAMP, nullable=True),
        sa.Column("context", _JSON, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.CheckConstraint(f"channel IN ({_CHANNELS})", name=op.f("ck_outbox_channel")),
        sa.CheckConstraint(
            "status IN ('pending', 'deferred', 'sending', 'delivering', 'sent', 'failed', 'held')",
            name=op.f("ck_outbox_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_attempts")),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_outbox_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_outbox_loan_id"), "outbox", ["loan_id"], unique=False)
    op.create_index(
        op.f("ix_outbox_status_scheduled_for"), "outbox", ["status", "scheduled_for"], unique=False
    )
    op.create_table(
        "contact_attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("loan_id", sa.String(length=255), nullable=False),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.CheckConstraint(f"channel IN ({_CHANNELS})", name=op.f("ck_contact_attempts_channel")),
        sa.CheckConstraint(
            "outcome IN ('started', 'sent', 'failed', 'unconfirmed', 'abandoned')",
            name=op.f("ck_contact_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_contact_attempts_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_contact_attempts_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempts")),
    )
    op.create_index(
        op.f("ix_contact_attempts_loan_id_at"), "contact_attempts", ["loan_id", "at"], unique=False
    )
    op.create_table(
        "opt_outs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("borrower_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            f"channel IS NULL OR channel IN ({_CHANNELS})", name=op.f("ck_opt_outs_channel")
        ),
        sa.ForeignKeyConstraint(
            ["borrower_id"],
            ["borrowers.borrower_id"],
            name=op.f("fk_opt_outs_borrower_id_borrowers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opt_outs")),
    )
    op.create_index(op.f("ix_opt_outs_borrower_id"), "opt_outs", ["borrower_id"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_opt_outs_borrower_id"), table_name="opt_outs")
    op.drop_table("opt_outs")
    op.drop_index(op.f("ix_contact_attempts_loan_id_at"), table_name="contact_attempts")
    op.drop_table("contact_attempts")
    op.drop_index(op.f("ix_outbox_status_scheduled_for"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_loan_id"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("payments")
