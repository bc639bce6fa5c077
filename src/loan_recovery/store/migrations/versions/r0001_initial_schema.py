"""Initial schema: borrowers, loans, model versions, scores, actions, outcomes, keys, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Types are spelled out here rather than imported from the models, so this revision keeps
creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "api_keys",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'agent', 'admin')", name=op.f("ck_api_keys_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=255), nullable=True),
        sa.Column("details", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(
        op.f("ix_audit_log_entity_entity_id"), "audit_log", ["entity", "entity_id"], unique=False
    )
    op.create_table(
        "borrowers",
        sa.Column("borrower_id", sa.String(length=255), nullable=False),
        sa.Column("borrower_name", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("preferred_language", sa.String(length=64), nullable=True),
        sa.Column("time_zone", sa.String(length=255), nullable=True),
        sa.Column("consent_sms", sa.String(length=64), nullable=True),
        sa.Column("consent_email", sa.String(length=64), nullable=True),
        sa.Column("do_not_contact", sa.String(length=64), nullable=True),
        sa.Column(
            "content_hash",
            sa.BigInteger(),
            nullable=False,
            comment="64-bit hash of the stored canonical values; equal hash, unchanged row",
        ),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("borrower_id", name=op.f("pk_borrowers")),
        comment="One row per Borrower_ID: contact details and consent (personal data).",
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=True),
        sa.Column("trained_at", _TIMESTAMP, nullable=True),
        sa.Column("registered_at", _TIMESTAMP, nullable=False),
        sa.Column("details", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_model_versions")),
    )
    op.create_table(
        "loans",
        sa.Column("borrower_id", sa.String(length=255), nullable=False),
        sa.Column("age", sa.BigInteger(), nullable=False),
        sa.Column("gender", sa.String(length=64), nullable=False),
        sa.Column("employment_type", sa.String(length=64), nullable=False),
        sa.Column("monthly_income", sa.Double(), nullable=False),
        sa.Column("num_dependents", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.String(length=255), nullable=False),
        sa.Column("loan_amount", sa.Double(), nullable=False),
        sa.Column("loan_tenure", sa.BigInteger(), nullable=False),
        sa.Column("interest_rate", sa.Double(), nullable=False),
        sa.Column("loan_type", sa.String(length=64), nullable=False),
        sa.Column("collateral_value", sa.Double(), nullable=False),
        sa.Column("outstanding_loan_amount", sa.Double(), nullable=False),
        sa.Column("monthly_emi", sa.Double(), nullable=False),
        sa.Column("payment_history", sa.String(length=64), nullable=False),
        sa.Column("num_missed_payments", sa.BigInteger(), nullable=False),
        sa.Column("days_past_due", sa.BigInteger(), nullable=False),
        sa.Column("collection_attempts", sa.BigInteger(), nullable=False),
        sa.Column("collection_method", sa.String(length=64), nullable=False),
        sa.Column("legal_action_taken", sa.String(length=64), nullable=False),
        sa.Column("recovery_status", sa.String(length=64), nullable=True),
        sa.Column("amount_recovered", sa.Double(), nullable=True),
        sa.Column("action_propensity", sa.Double(), nullable=True),
        sa.Column("action_taken", sa.String(length=64), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=True),
        sa.Column(
            "content_hash",
            sa.BigInteger(),
            nullable=False,
            comment="64-bit hash of the stored canonical values; equal hash, unchanged row",
        ),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.borrower_id"], name=op.f("fk_loans_borrower_id_borrowers")
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_loans")),
        comment="The latest canonical row of every loan (no personal data).",
    )
    op.create_index(op.f("ix_loans_borrower_id"), "loans", ["borrower_id"], unique=False)
    op.create_table(
        "scores",
        sa.Column("id", _ID, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=255), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("risk_score", sa.Double(), nullable=False),
        sa.Column("risk_band", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=255), nullable=True),
        sa.Column("recommended_action", sa.String(length=64), nullable=False),
        sa.Column("expected_net_recovery", sa.Double(), nullable=False),
        sa.Column("expected_recovered", sa.Double(), nullable=False),
        sa.Column("expected_cost", sa.Double(), nullable=False),
        sa.Column("priority", sa.Double(), nullable=False),
        sa.Column(
            "expected_net",
            _JSON,
            nullable=False,
            comment="Expected net recovery of every action, by action name",
        ),
        sa.Column("reasons", _JSON, nullable=False, comment="Reason codes, strongest first"),
        sa.Column("guardrails", sa.Text(), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_scores_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["model_versions.version"],
            name=op.f("fk_scores_model_version_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
    )
    op.create_index(op.f("ix_scores_loan_id_id"), "scores", ["loan_id", "id"], unique=False)
    op.create_index(op.f("ix_scores_run_id"), "scores", ["run_id"], unique=False)
    op.create_table(
        "actions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("loan_id", sa.String(length=255), nullable=False),
        sa.Column("score_id", _ID, nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_agent", sa.String(length=255), nullable=True),
        sa.Column("cost", sa.Double(), nullable=True),
        sa.Column("promise_amount", sa.Double(), nullable=True, comment="Promise-to-pay amount"),
        sa.Column("promise_date", sa.Date(), nullable=True, comment="Promise-to-pay date"),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=True),
        sa.Column("completed_at", _TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('planned', 'in-progress', 'done', 'cancelled')",
            name=op.f("ck_actions_status"),
        ),
        sa.CheckConstraint("cost IS NULL OR cost >= 0", name=op.f("ck_actions_cost")),
        sa.CheckConstraint(
            "promise_amount IS NULL OR promise_amount >= 0", name=op.f("ck_actions_promise_amount")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_actions_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["score_id"], ["scores.id"], name=op.f("fk_actions_score_id_scores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
    )
    op.create_index(op.f("ix_actions_loan_id"), "actions", ["loan_id"], unique=False)
    op.create_index(op.f("ix_actions_status"), "actions", ["status"], unique=False)
    op.create_table(
        "outcomes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("loan_id", sa.String(length=255), nullable=False),
        sa.Column("action_id", _ID, nullable=True),
        sa.Column("amount_recovered", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("outcome_date", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('Fully Recovered', 'Partially Recovered', 'Written Off')",
            name=op.f("ck_outcomes_status"),
        ),
        sa.CheckConstraint("amount_recovered >= 0", name=op.f("ck_outcomes_amount_recovered")),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_outcomes_action_id_actions")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_outcomes_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    op.create_index(op.f("ix_outcomes_loan_id"), "outcomes", ["loan_id"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_outcomes_loan_id"), table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index(op.f("ix_actions_status"), table_name="actions")
    op.drop_index(op.f("ix_actions_loan_id"), table_name="actions")
    op.drop_table("actions")
    op.drop_index(op.f("ix_scores_run_id"), table_name="scores")
    op.drop_index(op.f("ix_scores_loan_id_id"), table_name="scores")
    op.drop_table("scores")
    op.drop_index(op.f("ix_loans_borrower_id"), table_name="loans")
    op.drop_table("loans")
    op.drop_table("model_versions")
    op.drop_table("borrowers")
    op.drop_index(op.f("ix_audit_log_entity_entity_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
