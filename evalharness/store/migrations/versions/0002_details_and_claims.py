"""Judgment details (votes, verdicts, fallbacks) and claims, so concurrent runners pay for a pair once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stores created by main between 0.1.0 and the first migration already have the column.
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("judgments")}
    if "details" not in existing:
        op.add_column("judgments", sa.Column("details", sa.JSON))
    op.create_table(
        "claims",
        sa.Column("cache_key", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_claims_owner", "claims", ["owner"])


def downgrade() -> None:
    op.drop_table("claims")
    with op.batch_alter_table("judgments") as batch:
        batch.drop_column("details")
