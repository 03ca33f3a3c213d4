"""Behaviour label sources (`behaviour:NAME`): each pair's log evidence and each source's position model.

Revision ID: 0011
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "behaviour_sources",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "behaviour_evidence",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("query_key", sa.String(1000), primary_key=True),
        sa.Column("doc_id", sa.String(200), primary_key=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("impressions", sa.Integer, nullable=False),
        sa.Column("clicks", sa.Integer, nullable=False),
        sa.Column("carts", sa.Integer, nullable=False),
        sa.Column("purchases", sa.Integer, nullable=False),
        sa.Column("mean_position", sa.Float, nullable=True),
        sa.Column("expected_clicks", sa.Float, nullable=False),
        sa.Column("coec", sa.Float, nullable=True),
        sa.Column("pbm", sa.Float, nullable=True),
        sa.Column("estimate", sa.Float, nullable=True),
        sa.Column("label", sa.String(40), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("behaviour_evidence")
    op.drop_table("behaviour_sources")
