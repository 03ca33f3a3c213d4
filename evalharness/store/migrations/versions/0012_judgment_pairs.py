"""An index on (guideline, judge, doc): a comparison reads the labels of exactly the pairs in the runs it compares.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_judgments_pairs", "judgments", ["guideline_hash", "judge_id", "doc_id"])


def downgrade() -> None:
    op.drop_index("ix_judgments_pairs", table_name="judgments")
