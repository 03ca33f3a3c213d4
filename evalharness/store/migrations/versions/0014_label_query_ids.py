"""People's labels keep the query id their file named (qrels, `query_id` CSVs resolved through `--queries`), so an
export writes the ids the labels came with.

Revision ID: 0014
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("query_id", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("query_id")
