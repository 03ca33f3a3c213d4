"""The schema of release 0.1.0 (commit 76f565c): the baseline every store is migrated from.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queries",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("segment", sa.String(40), nullable=False),
    )
    op.create_table(
        "guidelines",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("writer", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("requirements", sa.JSON, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column("engine_config", sa.String(200), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("judge_id", sa.String(400), nullable=False),
        sa.Column("top_k", sa.Integer, nullable=False),
        sa.Column("queries_source", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("metrics", sa.JSON),
        sa.Column("counts", sa.JSON),
        sa.Column("cost_usd", sa.Float),
        sa.Column("elapsed_s", sa.Float),
    )
    op.create_index("ix_runs_engine_config", "runs", ["engine_config"])
    op.create_table(
        "run_queries",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column("query_id", sa.String(200), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("segment", sa.String(40), nullable=False),
        sa.Column("guideline_hash", sa.String(64), nullable=False),
        sa.Column("n_hits", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "run_results",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column("query_id", sa.String(200), primary_key=True),
        sa.Column("rank", sa.Integer, primary_key=True),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("hit", sa.JSON, nullable=False),
    )
    op.create_table(
        "judgments",
        sa.Column("cache_key", sa.String(64), primary_key=True),
        sa.Column("judge_id", sa.String(400), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("doc_id", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("guideline_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(20), nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_judgments_pool", "judgments", ["guideline_hash", "judge_id"])
    op.create_table(
        "captions",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("caption", sa.Text, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    for table in ("captions", "judgments", "run_results", "run_queries", "runs", "guidelines", "queries"):
        op.drop_table(table)
