"""Claims name their owner's process (host, pid, start time, run), so a claim of a process known dead on this host
is released at once; a claim can mark a pair its owner failed, so other runners do not pay to retry it. Guidelines
record their file's sha256 beside their hash (which now covers only what the judge reads).

Revision ID: 0009
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer, nullable=True))
        batch.add_column(sa.Column("proc_start", sa.String(40), nullable=True))
        batch.add_column(sa.Column("run_id", sa.String(80), nullable=True))
        batch.add_column(sa.Column("failed", sa.Text, nullable=True))
    op.create_index("ix_claims_host", "claims", ["host"])
    op.add_column("guidelines", sa.Column("file_hash", sa.String(64), nullable=True))
    op.create_index("ix_guidelines_file_hash", "guidelines", ["file_hash"])


def downgrade() -> None:
    op.drop_index("ix_guidelines_file_hash", "guidelines")
    with op.batch_alter_table("guidelines") as batch:
        batch.drop_column("file_hash")
    op.drop_index("ix_claims_host", "claims")
    with op.batch_alter_table("claims") as batch:
        for name in ("failed", "run_id", "proc_start", "pid", "host"):
            batch.drop_column(name)
