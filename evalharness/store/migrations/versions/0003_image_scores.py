"""Image-quality scores cached by image bytes hash and scorer, and a memo of local image files' hashes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_scores",
        sa.Column("image_sha", sa.String(64), primary_key=True),
        sa.Column("scorer_id", sa.String(300), primary_key=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("aspects", sa.JSON, nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("reasoning", sa.Text, nullable=False),
        sa.Column("details", sa.JSON),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "image_files",
        sa.Column("path_key", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("image_sha", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_files")
    op.drop_table("image_scores")
