"""Idempotent API writes: the first answer to each creating POST with an Idempotency-Key.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-12

Additive: one new table, nothing existing changes. The unique constraint on (API key,
route, idempotency key) is what makes two concurrent retries of one request create once.
Types are spelled out here rather than imported from the models, so this revision keeps
creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "idempotency_keys",
        sa.Column("id", _ID, nullable=False),
        sa.Column(
            "api_key_id",
            sa.String(length=64),
            nullable=False,
            comment="Public id of the API key that sent the request",
        ),
        sa.Column("route", sa.String(length=255), nullable=False, comment="Method and path"),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column(
            "request_hash",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the canonical request body",
        ),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True, comment="The first response body"),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "api_key_id",
            "route",
            "idempotency_key",
            name=op.f("uq_idempotency_keys_api_key_id_route_idempotency_key"),
        ),
    )
    op.create_index(
        op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"], unique=False
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
