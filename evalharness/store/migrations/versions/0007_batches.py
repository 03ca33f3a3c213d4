"""Provider batch judging: batches, the pairs they carry, and the runs waiting for them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider_id", sa.String(200)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("provider_status", sa.String(40), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("submitter", sa.JSON),
        sa.Column("details", sa.JSON),
    )
    op.create_index("ix_batches_state", "batches", ["state"])
    op.create_table(
        "batch_pairs",
        sa.Column("cache_key", sa.String(64), primary_key=True),
        sa.Column("judge_id", sa.String(400), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("guideline_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("query_id", sa.String(200), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("fallback", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("repair", sa.JSON),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_batch_pairs_batch", "batch_pairs", ["batch_id"])
    op.create_index("ix_batch_pairs_state", "batch_pairs", ["state"])
    op.create_table(
        "batch_waits",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column("cache_key", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("batch_waits")
    op.drop_table("batch_pairs")
    op.drop_table("batches")
