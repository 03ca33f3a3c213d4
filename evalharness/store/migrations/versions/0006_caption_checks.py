"""Caption-check decisions (caption mode): whether a caption is informative for a query, by a vote of models.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caption_checks",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("checker", sa.String(400), nullable=False),
        sa.Column("keep", sa.Boolean, nullable=False),
        sa.Column("votes", sa.JSON, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("caption_checks")
