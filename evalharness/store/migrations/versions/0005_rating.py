"""The local rating page: samples, their items, and each rater's assignments.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rating_samples",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("design", sa.JSON, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("pool_size", sa.Integer, nullable=False),
        sa.Column("per_pair", sa.Integer, nullable=False),
        sa.Column("raters", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "rating_items",
        sa.Column("sample", sa.String(100), primary_key=True),
        sa.Column("item", sa.Integer, primary_key=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("query_key", sa.Text, nullable=False),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(40), nullable=False),
        sa.Column("query_type", sa.String(60), nullable=False),
        sa.Column("stratum", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("size", sa.Float, nullable=False),
        sa.Column("inclusion_prob", sa.Float, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("guideline_hash", sa.String(64), nullable=False),
        sa.Column("hit", sa.JSON, nullable=False),
        sa.Column("judge_labels", sa.JSON, nullable=False),
    )
    op.create_table(
        "rating_assignments",
        sa.Column("sample", sa.String(100), primary_key=True),
        sa.Column("rater", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("item", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("seq", sa.Integer),
        sa.Column("previous", sa.String(40)),
        sa.Column("updated_at", sa.String(40)),
    )
    op.create_index("ix_rating_assignments_item", "rating_assignments", ["sample", "rater", "item"], unique=True)


def downgrade() -> None:
    op.drop_table("rating_assignments")
    op.drop_table("rating_items")
    op.drop_table("rating_samples")
