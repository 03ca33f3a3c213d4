"""Trust measurements: each judge's agreement with a reference label source, read by the gate.

Revision ID: 0015
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trust_measurements",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("judge_id", sa.String(400), primary_key=True),
        sa.Column("pairs", sa.Integer, nullable=False),
        sa.Column("queries", sa.Integer, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("ci", sa.JSON, nullable=False),
        sa.Column("measured_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trust_measurements")
